//! `hetal embed` through the binary, on tiny random models the test writes itself
//! (`hetal_embed::tiny`): text and image inputs, the `.npy` it writes, and exit codes.

use std::path::Path;
use std::process::{Command, Output};

use hetal::cli::exit::{BAD_INPUT, USAGE};
use hetal::data::npy::{NpyData, parse_npy};
use hetal_embed::TextEmbedder;
use hetal_embed::tiny::{TinyText, TinyVit, write_tiny_text, write_tiny_vit};

fn hetal(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hetal"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn read_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let array = parse_npy(&std::fs::read(path).unwrap()).unwrap();
    match array.data {
        NpyData::F32(v) => (array.shape, v),
        other => panic!("expected float32, got {:?}", other.dtype()),
    }
}

#[test]
fn text_lines_become_unit_rows_matching_the_library() {
    let model = tempfile::tempdir().unwrap();
    write_tiny_text(model.path(), &TinyText::default()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let lines = [
        "play some music",
        "what is the weather in paris",
        "book a table",
        "",
        "rate this novel",
    ];
    let input = work.path().join("texts.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let out = work.path().join("features.npy");
    let run = hetal(&[
        "embed",
        "--model",
        s(model.path()),
        "--text",
        s(&input),
        "--out",
        s(&out),
        "--batch",
        "2",
        "--threads",
        "1",
    ]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains("embedded 5 inputs"), "{}", text(&run));
    let (shape, values) = read_f32(&out);
    assert_eq!(shape, vec![5, 16]);
    let library = TextEmbedder::load(model.path())
        .unwrap()
        .embed(&lines, 5, &mut |_| {})
        .unwrap();
    for (i, row) in values.chunks(16).enumerate() {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "row {i} norm {norm}");
        let diff = row
            .iter()
            .zip(library.row(i))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "row {i} differs from the library by {diff}");
    }
}

#[test]
fn an_image_directory_becomes_one_row_per_file() {
    let model = tempfile::tempdir().unwrap();
    write_tiny_vit(model.path(), &TinyVit::default()).unwrap();
    let images = tempfile::tempdir().unwrap();
    for k in 0..3u8 {
        image::RgbImage::from_fn(20, 20, |x, y| {
            image::Rgb([x as u8 * 9, y as u8 * 7, k * 60])
        })
        .save(images.path().join(format!("{k}.png")))
        .unwrap();
    }
    let out = images.path().join("features.npy");
    let run = hetal(&[
        "embed",
        "--model",
        s(model.path()),
        "--images",
        s(images.path()),
        "--out",
        s(&out),
        "--pooling",
        "mean",
    ]);
    assert!(run.status.success(), "{}", text(&run));
    let (shape, values) = read_f32(&out);
    assert_eq!(shape, vec![3, 16]);
    assert!(values.iter().all(|v| v.is_finite()));
}

#[test]
fn a_broken_model_exits_3_naming_the_file_and_usage_errors_exit_2() {
    let model = tempfile::tempdir().unwrap();
    write_tiny_text(model.path(), &TinyText::default()).unwrap();
    std::fs::remove_file(model.path().join("tokenizer.json")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("t.txt");
    std::fs::write(&input, "play music\n").unwrap();
    let out = work.path().join("f.npy");
    let run = hetal(&[
        "embed",
        "--model",
        s(model.path()),
        "--text",
        s(&input),
        "--out",
        s(&out),
    ]);
    assert_eq!(run.status.code(), Some(BAD_INPUT), "{}", text(&run));
    assert!(text(&run).contains("tokenizer.json"), "{}", text(&run));
    assert!(!out.exists());
    let run = hetal(&["embed", "--model", s(model.path()), "--out", s(&out)]);
    assert_eq!(run.status.code(), Some(USAGE), "{}", text(&run));
    let help = hetal(&["embed", "--help"]);
    assert!(text(&help).contains("Examples:"), "{}", text(&help));
}
