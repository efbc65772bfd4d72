//! `hetal bench train`: a whole encrypted training run on a feature pack, in one process, beside
//! the plaintext reference trainer with the same hyper-parameters.
//!
//! ```text
//! hetal bench train --data data/digits                                   # simulator
//! hetal bench train --data data/digits --backend ckks --preset boot-n16 --epochs 1
//! hetal bench train --data PATH [--hyper NAME] [--epochs E] [--batch B] [--lr LR]
//!                   [--patience P] [--variant V] [--allow-insecure] [--seed S] [--json]
//! ```
//!
//! The client encrypts the training set (mini-batches of `--batch` rows), the validation and the
//! test features; the server ([`EncryptedTrainer`], no key) trains with Nesterov steps,
//! bootstrapping where its level policy says, and after each epoch sends the encrypted
//! validation probabilities to the client, whose verdict (early stopping, patience `--patience`)
//! ends the run ([`run_encrypted_training`]); the server's best weights then classify the
//! encrypted test features and the client decrypts only the predictions. Beside it the
//! plaintext [`ReferenceTrainer`] (exact softmax) trains with the same hyper-parameters.
//!
//! Backends: `sim` is the exact simulator in HETAL's level setting (2^15 slots, levels 12 → 3,
//! bootstrapped messages bounded by 1); `ckks` runs real ciphertexts of `--preset` with its
//! bootstrapping (see `hetal_learn::eval::ckks_boot`; the client's key set covers the rotations a
//! simulated one-epoch probe of the run used). Hyper-parameters start from HETAL's preset `--hyper`
//! (default `digits`) and the flags override them.
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-bench-train"`, `format` = 1, `backend`, `preset` (`simulator` for the
//! simulator), `data` (pack name), `classes`, `features`, `rows` {`train`, `val`, `test`},
//! `hyper` (learning_rate, batch_size, max_epochs, patience, optimizer, shuffle_seed), `variant`,
//! `levels` {`fresh`, `after_bootstrap`, `bootstrap_min`}, `encrypted` {`test_accuracy` (from the
//! decrypted predictions of encrypted inference), `model_test_accuracy` (the decrypted best
//! weights applied in plaintext), `epochs`, `best_epoch`, `steps`, `val_losses`, `bootstraps`
//! {`softmax`, `residual`, `state`, `total`}, `bootstraps_per_step`}, `reference`
//! {`test_accuracy`, `epochs`, `best_epoch`, `steps`, `val_losses`, `seconds`},
//! `accuracy_gap_points` (encrypted − reference, in percentage points), `times_s` {`keygen`,
//! `setup`, `encrypt`, `train`, `per_step`, `inference`, `decrypt`, `total`} (keygen and setup
//! null on the simulator; `train` includes the encrypted validation each epoch),
//! `peak_rss_bytes`, `notes`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use hetal_ckks::encoding::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{SecurityLevel, preset};
use hetal_data::FeaturePack;
use hetal_learn::eval::{
    SecretKeyClient, ServerBootstrapper, SimConfig, Simulator, SlotCodec, bootstrap_params_for,
};
use hetal_learn::pack::UnitShape;
use hetal_learn::softmax::{ExactSoftmax, SoftmaxVariant};
use hetal_learn::train::{
    EncryptedTrainer, HyperParams, LabeledView, Preset, ReferenceTrainer, TrainerTotals,
    TrainingClient, accuracy, run_encrypted_training,
};
use serde::Serialize;

use super::bench_softmax::parse_variant;
use super::bench_step::{Backend, Levels};

/// Slots of the simulator backend (HETAL's setting).
const SIM_SLOTS: usize = 1 << 15;

/// Arguments of `hetal bench train`.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Feature pack directory (train, val and test splits; see `data/digits`).
    #[arg(long)]
    pub data: PathBuf,
    /// Evaluator: the simulator or real CKKS ciphertexts of `--preset`.
    #[arg(long, value_enum, default_value_t = Backend::Sim)]
    pub backend: Backend,
    /// Parameter preset of the CKKS backend (must bootstrap: boot-n16, insecure-boot-n12).
    #[arg(long, default_value = "boot-n16")]
    pub preset: String,
    /// HETAL hyper-parameter preset the flags below override (mnist, cifar10, face-mask,
    /// dermamnist, snips, digits).
    #[arg(long, default_value = "digits")]
    pub hyper: String,
    /// Maximum number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Rows per mini-batch.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Epochs without a better validation loss before stopping.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Softmax approximation: hetal, hetal-precise, hetal-rs, hetal-fast or hetal-shallow (the training default).
    #[arg(long, default_value = "hetal-shallow", value_parser = parse_variant)]
    pub variant: SoftmaxVariant,
    /// Allow an insecure test preset (parameters below 128-bit security).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Seed of the key and encryption randomness (CKKS).
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Row counts of the splits.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rows {
    /// Training rows.
    pub train: usize,
    /// Validation rows.
    pub val: usize,
    /// Test rows.
    pub test: usize,
}

/// Bootstraps of a run, in ciphertexts.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BootstrapCounts {
    /// Inside softmaxes (training and validation).
    pub softmax: usize,
    /// Of residuals.
    pub residual: usize,
    /// Of the weight/momentum state (and of the best weights before inference).
    pub state: usize,
    /// All of them.
    pub total: usize,
}

impl From<TrainerTotals> for BootstrapCounts {
    fn from(t: TrainerTotals) -> Self {
        Self {
            softmax: t.softmax_bootstraps,
            residual: t.residual_bootstraps,
            state: t.state_bootstraps,
            total: t.bootstraps(),
        }
    }
}

/// The encrypted run's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct EncryptedOutcome {
    /// Accuracy of the decrypted predictions of encrypted inference on the test split.
    pub test_accuracy: f64,
    /// Accuracy of the decrypted best weights applied in plaintext.
    pub model_test_accuracy: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Best epoch (0-based) by the client's validation loss.
    pub best_epoch: Option<usize>,
    /// Steps taken.
    pub steps: usize,
    /// Validation loss per epoch (computed by the client).
    pub val_losses: Vec<f64>,
    /// Bootstraps of the whole run.
    pub bootstraps: BootstrapCounts,
    /// Bootstraps per training step (validation and inference included).
    pub bootstraps_per_step: f64,
}

/// The plaintext reference run.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceOutcome {
    /// Test accuracy of the best epoch's weights.
    pub test_accuracy: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Best epoch (0-based).
    pub best_epoch: usize,
    /// Steps taken.
    pub steps: u64,
    /// Validation loss per epoch.
    pub val_losses: Vec<f64>,
    /// Wall seconds.
    pub seconds: f64,
}

/// Wall seconds per stage of the encrypted run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimes {
    /// Client key generation (CKKS).
    pub keygen: Option<f64>,
    /// Server bootstrap planning and diagonal encoding (CKKS).
    pub setup: Option<f64>,
    /// Client encryption of all splits and the initial weights.
    pub encrypt: f64,
    /// Training, encrypted validation and the client's verdicts included.
    pub train: f64,
    /// `train` per step.
    pub per_step: f64,
    /// Encrypted inference on the test split.
    pub inference: f64,
    /// Client decryption of the predictions and of the model.
    pub decrypt: f64,
    /// Everything above.
    pub total: f64,
}

/// Everything `hetal bench train` reports (the `--json` object).
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    kind: &'static str,
    format: u32,
    /// `sim` or `ckks`.
    pub backend: String,
    /// Preset name (`simulator` for the simulator).
    pub preset: String,
    /// Pack name.
    pub data: String,
    /// Classes.
    pub classes: usize,
    /// Features (without the bias column).
    pub features: usize,
    /// Split sizes.
    pub rows: Rows,
    /// Hyper-parameters of both runs.
    pub hyper: HyperParams,
    /// Softmax variant.
    pub variant: String,
    /// Level setting of the encrypted run.
    pub levels: Levels,
    /// Encrypted run.
    pub encrypted: EncryptedOutcome,
    /// Plaintext reference.
    pub reference: ReferenceOutcome,
    /// Encrypted minus reference test accuracy, in percentage points.
    pub accuracy_gap_points: f64,
    /// Stage times of the encrypted run.
    pub times_s: StageTimes,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
    /// Remarks.
    pub notes: Vec<String>,
}

/// Runs `hetal bench train`.
pub fn run(args: &BenchTrainArgs) -> anyhow::Result<()> {
    let report = measure(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    Ok(())
}

/// The hyper-parameters: the named preset with the flags' overrides, validated.
fn hyper_of(args: &BenchTrainArgs) -> anyhow::Result<HyperParams> {
    let base = Preset::from_name(&args.hyper)
        .with_context(|| {
            let known: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            format!(
                "unknown hyper-parameter preset `{}`; known: {}",
                args.hyper,
                known.join(", ")
            )
        })?
        .hyper();
    let hyper = HyperParams {
        learning_rate: args.lr.unwrap_or(base.learning_rate),
        batch_size: args.batch.unwrap_or(base.batch_size),
        max_epochs: args.epochs.unwrap_or(base.max_epochs),
        patience: args.patience.unwrap_or(base.patience),
        ..base
    };
    hyper.validate()?;
    Ok(hyper)
}

/// Loads the pack, runs the reference and the encrypted run on the chosen backend.
pub fn measure(args: &BenchTrainArgs) -> anyhow::Result<TrainReport> {
    let pack = FeaturePack::load_dir(&args.data)
        .with_context(|| format!("loading the feature pack {}", args.data.display()))?;
    let test = pack
        .test()
        .with_context(|| format!("pack `{}` has no test split", pack.name()))?;
    let hyper = hyper_of(args)?;
    let (classes, dim) = (pack.num_classes(), pack.dim());

    let start = Instant::now();
    let outcome = ReferenceTrainer::new(hyper)?.fit(
        LabeledView::new(
            pack.train().features().view(),
            pack.train().labels(),
            classes,
        )?,
        LabeledView::new(pack.val().features().view(), pack.val().labels(), classes)?,
        classes,
        &ExactSoftmax,
    )?;
    let reference = ReferenceOutcome {
        test_accuracy: outcome
            .model
            .accuracy(test.features().view(), test.labels())?,
        epochs: outcome.history.len(),
        best_epoch: outcome.best_epoch,
        steps: outcome.steps,
        val_losses: outcome.history.iter().map(|e| e.val_loss).collect(),
        seconds: start.elapsed().as_secs_f64(),
    };

    let mut notes = Vec::new();
    let (preset_name, levels, encrypted, times) = match args.backend {
        Backend::Sim => {
            let sim = Simulator::new(SimConfig {
                bootstrap_max_abs: Some(1.0),
                ..SimConfig::with_slots(SIM_SLOTS)
            })?;
            let c = sim.config();
            let levels = Levels {
                fresh: c.max_level,
                after_bootstrap: c.bootstrap_level,
                bootstrap_min: c.bootstrap_min_level,
            };
            let (enc, times) = encrypted_run(&sim, c.bootstrap_min_level, &pack, hyper, args)?;
            notes.push(
                "exact plaintext simulator in HETAL's level setting: accuracy and bootstrap \
                 counts are those of CKKS without its noise; times are not"
                    .into(),
            );
            ("simulator".to_string(), levels, enc, times)
        }
        Backend::Ckks => {
            let (levels, enc, times) = ckks_run(&pack, hyper, args, &mut notes)?;
            (args.preset.clone(), levels, enc, times)
        }
    };
    Ok(TrainReport {
        kind: "hetal-bench-train",
        format: 1,
        backend: match args.backend {
            Backend::Sim => "sim",
            Backend::Ckks => "ckks",
        }
        .into(),
        preset: preset_name,
        data: pack.name().to_string(),
        classes,
        features: dim,
        rows: Rows {
            train: pack.train().len(),
            val: pack.val().len(),
            test: test.len(),
        },
        hyper,
        variant: args.variant.name().into(),
        levels,
        accuracy_gap_points: 100.0 * (encrypted.test_accuracy - reference.test_accuracy),
        encrypted,
        reference,
        times_s: times,
        peak_rss_bytes: super::bench_ops::peak_rss_bytes(),
        notes,
    })
}

/// The encrypted run on real CKKS ciphertexts of `args.preset`, with bootstrapping.
fn ckks_run(
    pack: &FeaturePack,
    hyper: HyperParams,
    args: &BenchTrainArgs,
    notes: &mut Vec<String>,
) -> anyhow::Result<(Levels, EncryptedOutcome, StageTimes)> {
    let spec = preset(&args.preset).with_context(|| format!("preset `{}`", args.preset))?;
    if spec.security == SecurityLevel::InsecureForTests {
        if !args.allow_insecure {
            bail!(
                "preset `{}` is insecure; pass --allow-insecure to use it",
                args.preset
            );
        }
        notes.push(format!("INSECURE preset `{}`: for tests only", spec.name));
    }
    let params = bootstrap_params_for(&spec).with_context(|| {
        format!(
            "training needs a bootstrappable preset, not `{}`",
            spec.name
        )
    })?;
    let ctx = Context::new(&spec, args.allow_insecure)?;
    let (boot_level, boot_min) = ServerBootstrapper::levels_for(&ctx, &params)?;
    let levels = Levels {
        fresh: ctx.max_level(),
        after_bootstrap: boot_level,
        bootstrap_min: boot_min,
    };

    // A probe on the simulator in the same level setting, one epoch over every batch, the
    // validation and the test split: every rotation the run uses (they depend on the shapes,
    // not on the values).
    let sim = Simulator::new(SimConfig {
        max_level: ctx.max_level(),
        bootstrap_level: boot_level,
        bootstrap_min_level: boot_min,
        ..SimConfig::with_slots(ctx.max_slots())
    })?;
    sim.clear_rotation_steps();
    let probe = HyperParams {
        max_epochs: 1,
        ..hyper
    };
    encrypted_run(&sim, boot_min, pack, probe, args).context("simulated probe run")?;
    let rotations: Vec<isize> = sim
        .rotation_steps_used()
        .into_iter()
        .map(|s| s as isize)
        .collect();

    let mut key_seed = [0u8; 32];
    key_seed[..8].copy_from_slice(&args.seed.to_le_bytes());
    let start = Instant::now();
    let (client, keys, sparse) =
        SecretKeyClient::generate_bootstrappable(&ctx, Some(key_seed), &rotations, &params)?;
    let keygen = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let boot = ServerBootstrapper::new(&ctx, params, Some(Arc::new(sparse)))?;
    let setup = start.elapsed().as_secs_f64();
    let eval = Evaluator::new(&ctx, Some(Arc::new(keys)))?;
    let encoder = Encoder::new(&ctx);
    let ev = boot.client_slots(&eval, &encoder, &client)?;
    let (outcome, mut times) = encrypted_run(&ev, boot_min, pack, hyper, args)?;
    times.keygen = Some(keygen);
    times.setup = Some(setup);
    times.total += keygen + setup;
    if boot.stats().count() > 0 {
        notes.push(format!(
            "{} bootstraps took {:.1} s ({:.2} s each)",
            boot.stats().count(),
            boot.stats().seconds(),
            boot.stats().seconds() / boot.stats().count() as f64
        ));
    }
    Ok((levels, outcome, times))
}

/// The encrypted run with any evaluator that can also encrypt (client and server in this
/// process; the server only sees `ev` as a [`hetal_learn::eval::SlotEvaluator`]).
fn encrypted_run<E: SlotCodec>(
    ev: &E,
    bootstrap_min: usize,
    pack: &FeaturePack,
    hyper: HyperParams,
    args: &BenchTrainArgs,
) -> anyhow::Result<(EncryptedOutcome, StageTimes)> {
    let (classes, dim) = (pack.num_classes(), pack.dim());
    let test = pack.test().context("no test split")?;
    let unit = UnitShape::hetal(hyper.batch_size, classes, ev.slots())?;

    let start = Instant::now();
    let mut client = TrainingClient::new(ev, unit, classes, dim, hyper.patience)?;
    let train = client.encrypt_training_set(
        pack.train().features().view(),
        pack.train().labels(),
        hyper.batch_size,
    )?;
    let val = client.encrypt_features(pack.val().features().view())?;
    let test_ct = client.encrypt_features(test.features().view())?;
    let initial = client.initial_weights()?;
    let encrypt = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut server = EncryptedTrainer::new(ev, hyper, args.variant, initial, bootstrap_min)?;
    let run = run_encrypted_training(
        &mut server,
        &mut client,
        &train,
        &val,
        pack.val().labels(),
        hyper.max_epochs,
        hyper.shuffle_seed,
    )?;
    let train_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let logits = server.predict_logits(&test_ct)?;
    let inference = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let predictions = client.decrypt_predictions(&logits)?;
    let model = client.decrypt_model(server.best_weights(), server.weight_scale())?;
    let decrypt = start.elapsed().as_secs_f64();

    let totals = server.totals();
    let steps = run.steps.len();
    let outcome = EncryptedOutcome {
        test_accuracy: accuracy(&predictions, test.labels()),
        model_test_accuracy: model.accuracy(test.features().view(), test.labels())?,
        epochs: run.verdicts.len(),
        best_epoch: client.best_epoch(),
        steps,
        val_losses: run.verdicts.iter().map(|v| v.val_loss).collect(),
        bootstraps: totals.into(),
        bootstraps_per_step: totals.bootstraps() as f64 / steps.max(1) as f64,
    };
    let times = StageTimes {
        keygen: None,
        setup: None,
        encrypt,
        train: train_s,
        per_step: train_s / steps.max(1) as f64,
        inference,
        decrypt,
        total: encrypt + train_s + inference + decrypt,
    };
    Ok((outcome, times))
}

fn print_summary(r: &TrainReport) {
    println!(
        "hetal bench train: pack {} ({} classes, {} features; {} / {} / {} rows), {} backend, preset {}, softmax {}",
        r.data,
        r.classes,
        r.features,
        r.rows.train,
        r.rows.val,
        r.rows.test,
        r.backend,
        r.preset,
        r.variant
    );
    println!(
        "hyper-parameters: lr {}, batch {}, up to {} epochs, patience {}; levels: fresh {}, after bootstrap {}, bootstrap from {}",
        r.hyper.learning_rate,
        r.hyper.batch_size,
        r.hyper.max_epochs,
        r.hyper.patience,
        r.levels.fresh,
        r.levels.after_bootstrap,
        r.levels.bootstrap_min
    );
    let e = &r.encrypted;
    println!(
        "encrypted: test accuracy {:.2} % (decrypted model {:.2} %), {} epochs (best {}), {} steps, {} bootstraps ({:.2} per step: softmax {}, residual {}, state {})",
        100.0 * e.test_accuracy,
        100.0 * e.model_test_accuracy,
        e.epochs,
        e.best_epoch.map_or("-".into(), |b| b.to_string()),
        e.steps,
        e.bootstraps.total,
        e.bootstraps_per_step,
        e.bootstraps.softmax,
        e.bootstraps.residual,
        e.bootstraps.state
    );
    let p = &r.reference;
    println!(
        "reference: test accuracy {:.2} %, {} epochs (best {}), {} steps, {:.2} s",
        100.0 * p.test_accuracy,
        p.epochs,
        p.best_epoch,
        p.steps,
        p.seconds
    );
    println!(
        "gap (encrypted − reference): {:+.2} points",
        r.accuracy_gap_points
    );
    let t = &r.times_s;
    let opt = |x: Option<f64>| x.map_or("-".into(), |s| format!("{s:.2} s"));
    println!(
        "times: keygen {}, setup {}, encrypt {:.2} s, train {:.2} s ({:.2} s per step), inference {:.2} s, decrypt {:.2} s, total {:.2} s",
        opt(t.keygen),
        opt(t.setup),
        t.encrypt,
        t.train,
        t.per_step,
        t.inference,
        t.decrypt,
        t.total
    );
    if let Some(rss) = r.peak_rss_bytes {
        println!("peak RSS: {:.1} MiB", rss as f64 / (1 << 20) as f64);
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}
