//! The text pipeline on tiny random MPNet models that the tests write themselves: shapes, unit
//! norm, determinism, padding invariance, the effect of the relative-position bias, and a plain
//! float64 reference of a one-layer, one-head model.

mod reference;

use hetal_embed::TextEmbedder;
use hetal_embed::text::encoder::Family;
use hetal_embed::tiny::{TinyText, write_tiny_text};

const SENTENCES: &[&str] = &[
    "play some music by the beatles",
    "what is the weather in paris ?",
    "book a table for two",
    "rate this novel five stars",
    "find movie times",
    "the cat sat",
    "playing zebras", // an unknown word becomes [UNK]
    "",
];

fn tiny(spec: &TinyText) -> (tempfile::TempDir, TextEmbedder) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_text(dir.path(), spec).unwrap();
    let embedder = TextEmbedder::load(dir.path()).unwrap();
    (dir, embedder)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn rows_have_unit_norm_and_the_configured_width() {
    let (_dir, model) = tiny(&TinyText::default());
    let out = model.embed(SENTENCES, 3, &mut |_| {}).unwrap();
    assert_eq!((out.rows, out.dim), (SENTENCES.len(), 16));
    for i in 0..out.rows {
        let norm = out.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "row {i} norm {norm}");
    }
    // Different sentences give different rows.
    assert!(max_abs_diff(out.row(0), out.row(1)) > 1e-2);
}

#[test]
fn embedding_is_deterministic_and_reports_progress() {
    let (_dir, model) = tiny(&TinyText::default());
    let mut seen = Vec::new();
    let a = model.embed(SENTENCES, 3, &mut |n| seen.push(n)).unwrap();
    let b = model.embed(SENTENCES, 3, &mut |_| {}).unwrap();
    assert_eq!(a, b);
    assert_eq!(seen, vec![3, 6, 8]);
}

#[test]
fn a_padded_batch_equals_single_calls() {
    let (_dir, model) = tiny(&TinyText::default());
    let batch = model
        .embed(SENTENCES, SENTENCES.len(), &mut |_| {})
        .unwrap();
    for (i, s) in SENTENCES.iter().enumerate() {
        let single = model.embed(&[s], 1, &mut |_| {}).unwrap();
        let diff = max_abs_diff(batch.row(i), single.row(0));
        assert!(
            diff < 1e-5,
            "sentence {i}: batch differs from single call by {diff}"
        );
    }
}

#[test]
fn relative_position_bias_makes_word_order_matter() {
    // With all absolute positions alike, only the relative-position bias sees word order:
    // without it, the encoder is permutation-equivariant and mean pooling makes the output
    // invariant to permuting the words.
    let flat = TinyText {
        position_scale: 0.0,
        relative_bias_scale: 0.0,
        ..TinyText::default()
    };
    let biased = TinyText {
        relative_bias_scale: 1.0,
        ..flat.clone()
    };
    let texts = ["play music by the beatles", "the beatles by music play"];
    let (_d1, without) = tiny(&flat);
    let out = without.embed(&texts, 2, &mut |_| {}).unwrap();
    let unbiased_gap = max_abs_diff(out.row(0), out.row(1));
    assert!(
        unbiased_gap < 1e-5,
        "no bias, permuted words differ by {unbiased_gap}"
    );
    let (_d2, with) = tiny(&biased);
    let out = with.embed(&texts, 2, &mut |_| {}).unwrap();
    let biased_gap = max_abs_diff(out.row(0), out.row(1));
    assert!(
        biased_gap > 1e-3,
        "with bias, permuted words differ by only {biased_gap}"
    );
}

#[test]
fn one_layer_one_head_matches_a_float64_reference() {
    for family in [Family::Mpnet, Family::Bert] {
        let spec = TinyText {
            family,
            hidden: 12,
            layers: 1,
            heads: 1,
            intermediate: 20,
            buckets: 8,
            seed: 3,
            ..TinyText::default()
        };
        let (dir, model) = tiny(&spec);
        let weights = reference::Weights::load(&dir.path().join("model.safetensors"));
        let buckets = (family == Family::Mpnet).then_some(spec.buckets);
        let out = model.embed(SENTENCES, 4, &mut |_| {}).unwrap();
        for (i, s) in SENTENCES.iter().enumerate() {
            let ids = model.tokenize(s).unwrap();
            let expected = reference::one_head(&weights, &ids, spec.hidden, buckets);
            let diff = out
                .row(i)
                .iter()
                .zip(&expected)
                .map(|(a, b)| (f64::from(*a) - b).abs())
                .fold(0.0, f64::max);
            assert!(
                diff < 1e-5,
                "{family:?} sentence {i} ({s:?}): max abs diff {diff} vs float64"
            );
        }
    }
}

#[test]
fn bert_rows_are_unit_and_padding_invariant() {
    let spec = TinyText {
        family: Family::Bert,
        ..TinyText::default()
    };
    let (_dir, model) = tiny(&spec);
    let batch = model
        .embed(SENTENCES, SENTENCES.len(), &mut |_| {})
        .unwrap();
    assert_eq!((batch.rows, batch.dim), (SENTENCES.len(), 16));
    for (i, s) in SENTENCES.iter().enumerate() {
        let norm = batch.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "row {i} norm {norm}");
        let single = model.embed(&[s], 1, &mut |_| {}).unwrap();
        let diff = max_abs_diff(batch.row(i), single.row(0));
        assert!(
            diff < 1e-5,
            "sentence {i}: batch differs from single call by {diff}"
        );
    }
    // Absolute positions alone make word order matter.
    let out = model
        .embed(
            &["play music by the beatles", "the beatles by music play"],
            2,
            &mut |_| {},
        )
        .unwrap();
    assert!(max_abs_diff(out.row(0), out.row(1)) > 1e-3);
}

#[test]
fn tokenization_frames_with_special_tokens_and_truncates() {
    let (_dir, model) = tiny(&TinyText::default());
    let ids = model.tokenize("  Play MUSIC  ").unwrap();
    // <s> play music </s> (lower-cased by the normaliser, surrounding space stripped)
    assert_eq!(ids, vec![0, 4, 6, 2]);
    let long = "play ".repeat(100);
    let ids = model.tokenize(&long).unwrap();
    assert_eq!(ids.len(), model.max_seq_length());
    assert_eq!((ids[0], ids[ids.len() - 1]), (0, 2));
}

#[test]
fn zero_batch_is_rejected() {
    let (_dir, model) = tiny(&TinyText::default());
    let err = model.embed(SENTENCES, 0, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("batch size"), "{err}");
}
