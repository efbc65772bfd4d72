//! Helpers shared by the integration tests: random matrices and slot-exact comparisons.

#![allow(dead_code)]

use hetal_learn::eval::{SlotCodec, SlotEvaluator};
use hetal_learn::pack::{self, BlockMatrix, Layout};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A `rows × cols` matrix with entries uniform in [−1, 1).
pub fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0..1.0))
}

/// Largest slot-wise distance between the decryption of `got` and `expected` packed in the
/// same layout: checks every copy in the tiles and every zero pad, not only the logical entries.
pub fn max_slot_error<E: SlotCodec>(
    ev: &E,
    got: &BlockMatrix<E::Ct>,
    expected: &Array2<f64>,
) -> f64 {
    assert_eq!((got.rows(), got.cols()), expected.dim(), "logical shape");
    let want = pack::pack(expected.view(), got.layout(), got.unit()).expect("pack expected");
    let mut worst: f64 = 0.0;
    for (g, w) in got.blocks().iter().zip(want.blocks()) {
        let g = ev.decrypt(g).expect("decrypt");
        for (x, y) in g.iter().zip(w) {
            worst = worst.max((x - y).norm());
        }
    }
    worst
}

/// Lowest level of the blocks.
pub fn level<E: SlotEvaluator>(ev: &E, m: &BlockMatrix<E::Ct>) -> usize {
    m.blocks()
        .iter()
        .map(|c| ev.level(c))
        .min()
        .expect("non-empty")
}

/// The row-tiled / column-tiled layouts with the padded class count as the period.
pub fn row_tiled(classes: usize) -> Layout {
    Layout::RowTiled {
        period: classes.next_power_of_two().max(2),
    }
}

/// See [`row_tiled`].
pub fn col_tiled(classes: usize) -> Layout {
    Layout::ColTiled {
        period: classes.next_power_of_two().max(2),
    }
}

/// What [`train_on_simulator`] reports: the encrypted run, the test accuracy of encrypted
/// inference (decrypted logits), the decrypted best model and the trainer's totals.
pub struct SimTraining {
    /// Epoch verdicts and per-step reports.
    pub run: hetal_learn::train::EncryptedRun,
    /// Test accuracy of the encrypted model, predictions decrypted by the client.
    pub enc_acc: f64,
    /// The best weights, decrypted.
    pub model: hetal_learn::train::SoftmaxRegression,
    /// Step and bootstrap totals.
    pub totals: hetal_learn::train::TrainerTotals,
    /// Wall time of the training loop alone.
    pub elapsed: std::time::Duration,
}

impl SimTraining {
    /// Mean per-step bootstraps (softmax, residual, state), in ciphertexts.
    pub fn bootstraps_per_step(&self) -> (f64, f64, f64) {
        let steps = self.totals.steps.max(1) as f64;
        let sum = |f: fn(&hetal_learn::train::StepReport) -> usize| {
            self.run.steps.iter().map(f).sum::<usize>() as f64 / steps
        };
        (
            sum(|s| s.softmax_bootstraps),
            sum(|s| s.residual_bootstraps),
            sum(|s| s.state_bootstraps),
        )
    }
}

/// Encrypted training of `pack` on the exact simulator with `slots` slots, HETAL's unit shape,
/// every bootstrapped message held within ±1 (what CKKS bootstrapping handles: the simulator
/// refuses anything larger), then encrypted inference on the test split.
pub fn train_on_simulator(
    pack: &hetal_data::FeaturePack,
    hyper: hetal_learn::train::HyperParams,
    variant: hetal_learn::softmax::SoftmaxVariant,
    slots: usize,
    shuffle_seed: Option<u64>,
) -> SimTraining {
    use hetal_learn::eval::{SimConfig, Simulator};
    use hetal_learn::pack::UnitShape;
    use hetal_learn::train::{EncryptedTrainer, TrainingClient, run_encrypted_training};

    let (c, d) = (pack.num_classes(), pack.dim());
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
    let test = pack.test().expect("a test split");
    let test_ct = client.encrypt_features(test.features().view()).unwrap();
    let mut server = EncryptedTrainer::new(
        &sim,
        hyper,
        variant,
        client.initial_weights().unwrap(),
        sim.config().bootstrap_min_level,
    )
    .unwrap();
    let start = std::time::Instant::now();
    let run = run_encrypted_training(
        &mut server,
        &mut client,
        &train,
        &val,
        pack.val().labels(),
        hyper.max_epochs,
        shuffle_seed,
    )
    .unwrap();
    let elapsed = start.elapsed();
    let logits = server.predict_logits(&test_ct).unwrap();
    let enc_acc =
        hetal_learn::train::accuracy(&client.decrypt_predictions(&logits).unwrap(), test.labels());
    let model = client
        .decrypt_model(server.best_weights(), server.weight_scale())
        .unwrap();
    SimTraining {
        run,
        enc_acc,
        model,
        totals: server.totals(),
        elapsed,
    }
}

/// INSECURE, tests only: N = 2^11, q₀ = 60 bits and `levels` scaling primes of 45 bits.
pub fn deep_insecure_spec(levels: usize) -> hetal_ckks::params::ParameterSpec {
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(45, levels));
    hetal_ckks::params::ParameterSpec {
        name: "insecure-test-n11-deep".into(),
        log_n: 11,
        q_bits,
        p_bits: vec![61; 4],
        log_scale: 45,
        dnum: 12,
        secret: hetal_ckks::params::SecretDistribution::Ternary,
        security: hetal_ckks::params::SecurityLevel::InsecureForTests,
    }
}
