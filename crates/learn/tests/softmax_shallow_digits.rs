//! `hetal-shallow` in the training loop: encrypted training on the simulator (HETAL's 12/3
//! level setting, every bootstrap planned) reaches the plaintext reference's test accuracy on
//! the bundled digits pack within 0.2 points (issue 6 §3), like the other variants.

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

#[test]
fn encrypted_hetal_shallow_matches_the_plaintext_reference_on_digits() {
    let pack = digits();
    let c = pack.num_classes();
    let test = pack.test().unwrap();
    let train = LabeledView::new(pack.train().features().view(), pack.train().labels(), c).unwrap();
    let val = LabeledView::new(pack.val().features().view(), pack.val().labels(), c).unwrap();
    let reference = ReferenceTrainer::new(hyper())
        .unwrap()
        .fit(train, val, c, &ExactSoftmax)
        .unwrap();
    let ref_acc = reference
        .model
        .accuracy(test.features().view(), test.labels())
        .unwrap();

    let out = common::train_on_simulator(
        &pack,
        hyper(),
        SoftmaxVariant::HetalShallow,
        1 << 14,
        hyper().shuffle_seed,
    );
    let model_acc = out
        .model
        .accuracy(test.features().view(), test.labels())
        .unwrap();
    let (softmax, residual, state) = out.bootstraps_per_step();
    println!(
        "hetal-shallow: {} steps; encrypted {:.2} %, decrypted model {:.2} %, plaintext {:.2} %; \
         bootstraps per step: softmax {softmax:.2}, residual {residual:.2}, state {state:.2}",
        out.totals.steps,
        100.0 * out.enc_acc,
        100.0 * model_acc,
        100.0 * ref_acc
    );
    assert!(
        (out.enc_acc - ref_acc).abs() <= 0.002,
        "{} vs {ref_acc}",
        out.enc_acc
    );
    assert_eq!(
        out.enc_acc, model_acc,
        "encrypted inference = decrypted model"
    );
    // The decrypted validation losses follow the exact ones (the softmax errs by ≤ 1e-3).
    let losses: Vec<f64> = out.run.verdicts.iter().map(|v| v.val_loss).collect();
    assert_eq!(losses.len(), reference.history.len());
    for (e, r) in losses.iter().zip(&reference.history) {
        assert!(
            (e - r.val_loss).abs() < 1e-3 * r.val_loss.max(1.0),
            "{e} vs {}",
            r.val_loss
        );
    }
}
