//! Encrypted training on the simulator reaches the plaintext reference's accuracy on the bundled
//! digits pack (issue 6 §3: within 0.2 points), with the server holding no key.

mod common;

use std::path::Path;

use hetal_data::FeaturePack;
use hetal_learn::softmax::{ExactSoftmax, SoftmaxVariant};
use hetal_learn::train::{HyperParams, LabeledView, Preset, ReferenceTrainer};

fn digits() -> FeaturePack {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits");
    FeaturePack::load_dir(&dir).expect("bundled data/digits")
}

/// Few epochs to keep the test fast; everything else is the digits preset.
fn hyper() -> HyperParams {
    HyperParams {
        max_epochs: 6,
        ..Preset::Digits.hyper()
    }
}

fn encrypted_accuracy(variant: SoftmaxVariant) -> (f64, f64, Vec<f64>) {
    let pack = digits();
    let hyper = hyper();
    let out = common::train_on_simulator(&pack, hyper, variant, 1 << 14, hyper.shuffle_seed);
    let test = pack.test().unwrap();
    let model_acc = out
        .model
        .accuracy(test.features().view(), test.labels())
        .unwrap();
    let w_max = out
        .model
        .weights()
        .iter()
        .fold(0.0f64, |a, &b| a.max(b.abs()));
    let z_max = out
        .model
        .logits(pack.train().features().view())
        .unwrap()
        .iter()
        .fold(0.0f64, |a, &b| a.max(b.abs()));
    println!("max |W| = {w_max:.3}, max |logit| on train = {z_max:.3}");
    let (softmax, residual, state) = out.bootstraps_per_step();
    println!(
        "{}: {} epochs, {} steps in {:.2?}; encrypted inference accuracy {:.2} %, decrypted model {:.2} %; \
         bootstraps per step: softmax {softmax:.2}, residual {residual:.2}, state {state:.2} ciphertexts",
        variant.name(),
        out.run.verdicts.len(),
        out.totals.steps,
        out.elapsed,
        100.0 * out.enc_acc,
        100.0 * model_acc,
    );
    let losses = out.run.verdicts.iter().map(|v| v.val_loss).collect();
    (out.enc_acc, model_acc, losses)
}

fn reference_accuracy() -> (f64, Vec<f64>) {
    let pack = digits();
    let c = pack.num_classes();
    let train = LabeledView::new(pack.train().features().view(), pack.train().labels(), c).unwrap();
    let val = LabeledView::new(pack.val().features().view(), pack.val().labels(), c).unwrap();
    let out = ReferenceTrainer::new(hyper())
        .unwrap()
        .fit(train, val, c, &ExactSoftmax)
        .unwrap();
    let test = pack.test().unwrap();
    let acc = out
        .model
        .accuracy(test.features().view(), test.labels())
        .unwrap();
    (acc, out.history.iter().map(|r| r.val_loss).collect())
}

#[test]
fn encrypted_hetal_rs_matches_the_plaintext_reference_on_digits() {
    let (ref_acc, ref_losses) = reference_accuracy();
    let (enc_acc, model_acc, losses) = encrypted_accuracy(SoftmaxVariant::HetalRs);
    println!(
        "plaintext reference (exact softmax): {:.2} %",
        100.0 * ref_acc
    );
    assert!((enc_acc - ref_acc).abs() <= 0.002, "{enc_acc} vs {ref_acc}");
    assert_eq!(enc_acc, model_acc, "encrypted inference = decrypted model");
    // The validation losses the client decrypted follow the exact ones closely.
    assert_eq!(losses.len(), ref_losses.len());
    for (e, r) in losses.iter().zip(&ref_losses) {
        assert!((e - r).abs() < 1e-4 * r.max(1.0), "{e} vs {r}");
    }
}

#[test]
fn encrypted_hetal_softmax_stays_within_half_a_point_on_digits() {
    let (ref_acc, _) = reference_accuracy();
    let (enc_acc, _, _) = encrypted_accuracy(SoftmaxVariant::Hetal);
    println!(
        "plaintext reference (exact softmax): {:.2} %",
        100.0 * ref_acc
    );
    assert!((enc_acc - ref_acc).abs() <= 0.005, "{enc_acc} vs {ref_acc}");
}
