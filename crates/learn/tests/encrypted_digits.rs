//! Encrypted training on the simulator reaches the plaintext reference's accuracy on the bundled
//! digits pack (issue 6 §3: within 0.2 points), with the server holding no key.

use std::path::Path;
use std::time::Instant;

use hetal_data::FeaturePack;
use hetal_learn::eval::{SimConfig, Simulator};
use hetal_learn::pack::UnitShape;
use hetal_learn::softmax::{ExactSoftmax, SoftmaxVariant};
use hetal_learn::train::{
    EncryptedTrainer, HyperParams, LabeledView, Preset, ReferenceTrainer, TrainingClient,
    run_encrypted_training,
};

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
    let (c, d) = (pack.num_classes(), pack.dim());
    let hyper = hyper();
    let slots = 1 << 14;
    // Every bootstrapped message must stay within ±1 (what CKKS bootstrapping handles): the
    // simulator refuses anything larger.
    let sim = Simulator::new(SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(slots)
    })
    .unwrap();
    let unit = UnitShape::hetal(hyper.batch_size, c, slots).unwrap();
    let mut client = TrainingClient::new(&sim, unit, c, d, hyper.patience).unwrap();
    let train = client
        .encrypt_training_set(
            pack.train().features().view(),
            pack.train().labels(),
            hyper.batch_size,
        )
        .unwrap();
    let val = client
        .encrypt_features(pack.val().features().view())
        .unwrap();
    let test = pack.test().unwrap();
    let test_ct = client.encrypt_features(test.features().view()).unwrap();

    let mut server = EncryptedTrainer::new(
        &sim,
        hyper,
        variant,
        client.initial_weights().unwrap(),
        sim.config().bootstrap_min_level,
    )
    .unwrap();
    let start = Instant::now();
    let run = run_encrypted_training(
        &mut server,
        &mut client,
        &train,
        &val,
        pack.val().labels(),
        hyper.max_epochs,
        hyper.shuffle_seed,
    )
    .unwrap();
    let elapsed = start.elapsed();
    let logits = server.predict_logits(&test_ct).unwrap();
    let enc_acc =
        hetal_learn::train::accuracy(&client.decrypt_predictions(&logits).unwrap(), test.labels());
    let model = client
        .decrypt_model(server.best_weights(), server.weight_scale())
        .unwrap();
    let model_acc = model
        .accuracy(test.features().view(), test.labels())
        .unwrap();
    let w_max = model.weights().iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let z_max = model
        .logits(pack.train().features().view())
        .unwrap()
        .iter()
        .fold(0.0f64, |a, &b| a.max(b.abs()));
    println!("max |W| = {w_max:.3}, max |logit| on train = {z_max:.3}");
    let totals = server.totals();
    println!(
        "{}: {} epochs, {} steps in {:.2?}; encrypted inference accuracy {:.2} %, decrypted model {:.2} %; \
         bootstraps per step: softmax {:.2}, residual {:.2}, state {:.2} ciphertexts",
        variant.name(),
        run.verdicts.len(),
        totals.steps,
        elapsed,
        100.0 * enc_acc,
        100.0 * model_acc,
        run.steps
            .iter()
            .map(|s| s.softmax_bootstraps)
            .sum::<usize>() as f64
            / totals.steps as f64,
        run.steps
            .iter()
            .map(|s| s.residual_bootstraps)
            .sum::<usize>() as f64
            / totals.steps as f64,
        run.steps.iter().map(|s| s.state_bootstraps).sum::<usize>() as f64 / totals.steps as f64,
    );
    let losses = run.verdicts.iter().map(|v| v.val_loss).collect();
    (enc_acc, model_acc, losses)
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
