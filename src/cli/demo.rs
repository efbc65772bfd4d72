//! `hetal demo [--quick] [--backend ckks|sim] [--out DIR]`: an encrypted training of a digit
//! classifier on the bundled `data/digits`, with every party (client, trainer, two workers,
//! evaluator) its own node talking QUIC with mutual TLS over loopback, narrated party by party,
//! ending with the encrypted model's test accuracy beside the plaintext model's (same
//! hyper-parameters) and a `report.json` + `report.html` in `--out`.
//!
//! Sizing: a training step costs its bootstraps (several per step, ~18 s each at N = 2^16 on
//! two cores) plus rotations, whatever the batch size up to one packed block. So the default run
//! trains on the whole training set as one batch (1257 rows in one 2048-row block: one logits
//! ciphertext per step), few epochs with a learning rate tuned on the plaintext reference for
//! that, and validation by encrypted logits (no bootstrap). `plan` prints what was chosen and why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use hetal_actors::backend::ckks::{CkksClient, CkksServer};
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::backend::{ClientBackend, ServerBackend, ServerOptions};
use hetal_actors::client::{StopPolicy, classify};
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, Taps, encrypt_dataset_with_progress, hetal_unit,
    upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_actors::progress::{Phase, ProgressEvent, ValidationKind, report as report_event};
use hetal_actors::tap::Tap;
use hetal_ckks::params::{ParameterSpec, presets};
use hetal_data::FeaturePack;
use hetal_learn::eval::SimConfig;
use hetal_learn::softmax::{ExactSoftmax, SoftmaxVariant};
use hetal_learn::train::{
    HyperParams, LabeledView, Optimizer, ReferenceTrainer, SoftmaxRegression, TrainOutcome,
};
use rand::{Rng, SeedableRng};

use crate::progress::{EventBars, Progress};
use crate::report::{
    Accuracy, ConfusionMatrix, EpochReport, Operations, PartyTraffic, PresetInfo, REPORT_VERSION,
    RunConfig, StageTime, TrainingReport,
};

/// The bundled data set, relative to the repository root (and to the working directory when
/// run with `cargo run` there).
pub const BUNDLED_DATA: &str = "data/digits";

/// How long the demo waits for the nodes to close their connections after the results.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Which engine computes on the "ciphertexts".
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoBackend {
    /// Real CKKS ciphertexts with bootstrapping.
    Ckks,
    /// The exact slot simulator: the same pipeline and messages, no encryption (tests, dry runs).
    Sim,
}

/// Arguments of `hetal demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Small INSECURE parameters (insecure-boot-n13), under a minute: for trying the interface.
    #[arg(long)]
    pub quick: bool,
    /// `ckks` (real encryption) or `sim` (exact simulator, no encryption).
    #[arg(long, value_enum, default_value_t = DemoBackend::Ckks)]
    pub backend: DemoBackend,
    /// Feature pack directory (default: the bundled data/digits).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where report.json and report.html go.
    #[arg(long, default_value = "hetal-demo-report")]
    pub out: PathBuf,
    /// Override the planned number of epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Worker nodes.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Seed of the client's key generation (default: the operating system's randomness).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// What the demo will run, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoPlan {
    /// The CKKS parameters.
    pub spec: ParameterSpec,
    /// CKKS preset name.
    pub preset: String,
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Slots per ciphertext.
    pub slots: usize,
    /// log QP of the preset.
    pub log_qp: u32,
    /// Whether the preset is 128-bit secure.
    pub secure: bool,
    /// Hyper-parameters of both the encrypted run and the plaintext reference.
    pub hyper: HyperParams,
    /// The softmax approximation the encrypted run trains with.
    pub variant: SoftmaxVariant,
    /// One sentence per choice.
    pub rationale: Vec<String>,
}

/// Full-batch learning rate: with the whole training set as one batch, a Nesterov run of 3–6
/// epochs on digits peaks between 1.5 and 2 (test 91.7–93 % in plaintext); 2.5 and above
/// overshoot by the fourth epoch (logits beyond ±5, accuracy falling below 75 %).
pub const FULL_BATCH_LR: f64 = 1.5;
/// Epochs of the secure demo: four steps of ~5–9 bootstraps fit the 10-minute budget.
pub const DEMO_EPOCHS: usize = 4;
/// Epochs of `--quick`: one epoch of 5 steps keeps it under a minute on two idle cores (a quick
/// step costs ≈ 15 s of CPU, most of it its 5–6 bootstraps); a second epoch doubles the time for
/// 6 more points of accuracy (`--epochs 2`).
pub const QUICK_EPOCHS: usize = 1;
/// Learning rate when a block row cannot hold the whole training set (`--quick`'s 2^12 slots
/// hold 256 rows) and the run has several epochs: on digits, two epochs of batches of 256 reach
/// 93.06 % in plaintext at 1.0 (92.22 % at 0.7, 87.50 % at 1.5).
pub const MINI_BATCH_LR: f64 = 1.0;
/// Learning rate for batches smaller than the training set in a single epoch (`--quick`'s
/// default): on digits, one epoch of 5 batches of 256 reaches 86.94 % in plaintext at 0.7
/// (85.28 % at 0.5, 86.67 % at 0.85, 85.56 % at 1.0, 81.94 % at 1.5).
pub const ONE_EPOCH_MINI_BATCH_LR: f64 = 0.7;

/// Chooses preset and hyper-parameters for `rows` training rows of `classes` classes.
pub fn plan(
    quick: bool,
    rows: usize,
    classes: usize,
    epochs: Option<usize>,
) -> anyhow::Result<DemoPlan> {
    let spec = if quick {
        presets::insecure_boot_n13()
    } else {
        presets::boot_n16()
    };
    let slots = spec.max_slots();
    // The largest batch one block row holds: slots / (classes padded to a power of two).
    let block_rows = slots / classes.max(1).next_power_of_two();
    let batch = rows.min(block_rows).max(1);
    let full_batch = batch == rows;
    let unit = hetal_unit(batch, classes, slots)?;
    let epochs = epochs.unwrap_or(if quick { QUICK_EPOCHS } else { DEMO_EPOCHS });
    if epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    let learning_rate = if full_batch {
        FULL_BATCH_LR
    } else if epochs == 1 {
        ONE_EPOCH_MINI_BATCH_LR
    } else {
        MINI_BATCH_LR
    };
    let hyper = HyperParams {
        learning_rate,
        batch_size: batch,
        max_epochs: epochs,
        patience: 2,
        optimizer: Optimizer::Nesterov,
        shuffle_seed: None,
    };
    let steps = rows.div_ceil(batch);
    let variant = SoftmaxVariant::TRAINING_DEFAULT;
    let mut rationale = vec![
        format!(
            "preset {}: N = 2^{}, {} slots, log QP {}{}",
            spec.name,
            spec.log_n,
            slots,
            spec.log_qp(),
            if quick {
                " — INSECURE toy parameters, only to try the interface"
            } else {
                " — 128-bit secure, bootstrapping refreshes the weights' levels"
            }
        ),
        if full_batch {
            format!(
                "one batch = the whole training set ({rows} rows in one block of {} × {}, one logits ciphertext): a step costs its bootstraps whatever the batch size up to a block, so fewer, larger steps are cheapest",
                unit.s0(),
                unit.s1()
            )
        } else {
            format!(
                "batches of {batch} rows (one block of {} × {} holds no more): {steps} steps per epoch",
                unit.s0(),
                unit.s1()
            )
        },
        format!(
            "{epochs} epoch(s) of Nesterov at learning rate {learning_rate} ({})",
            if full_batch {
                "tuned on the plaintext reference for full batches; higher rates overshoot within 4 steps"
            } else {
                if epochs == 1 {
                    "tuned on the plaintext reference for one epoch of small batches"
                } else {
                    "the digits preset's rate for small batches"
                }
            }
        ),
        format!(
            "softmax {}: {}",
            variant.name(),
            variant_reason(variant)
        ),
        "validation by encrypted logits: one matrix product and no bootstrap on the evaluator; the client applies the softmax after decrypting".into(),
    ];
    if quick {
        rationale.push("--quick: small ring (N = 2^13): each bootstrap is much cheaper than at N = 2^16, but a block holds only 256 rows, so an epoch takes several steps; one epoch by default (under a minute on two idle cores), `--epochs 2` for about 6 points more accuracy in twice the time".into());
    }
    Ok(DemoPlan {
        preset: spec.name.clone(),
        log_n: spec.log_n,
        slots,
        log_qp: spec.log_qp(),
        secure: !quick,
        hyper,
        variant,
        rationale,
        spec,
    })
}

/// Why the demo trains with `variant` (printed with the plan).
fn variant_reason(variant: SoftmaxVariant) -> &'static str {
    match variant {
        SoftmaxVariant::HetalShallow => {
            "the training default: a shallow maximum and a polynomial start for the inverse, \
             within the same 1e-3 error budget as hetal-fast on 11 fewer levels, so a step at \
             c = 10 takes about 5 bootstraps instead of 7 (digits trains to the plaintext \
             accuracy either way)"
        }
        SoftmaxVariant::HetalFast => {
            "the training default: HETAL's structure with polynomials sized for a 1e-3 error \
             budget, one bootstrap per step fewer than hetal-rs at c = 10"
        }
        _ => "the training default",
    }
}

/// Memory the secure (boot-n16) demo needs free. The parties of the one process share one copy
/// of the keys (actors' key registry); measured 2026-11-26 with `/usr/bin/time -v` and VmHWM
/// (`--epochs 1`, loaded 2-core machine): 12.7 GiB resident after key generation (the key set and
/// the bootstrapper, held once), 13.9 GiB after the upload, 17.1 GiB at the peak during the
/// training step (bootstrapping and the workers' units on top of the keys). 20 GiB leaves about
/// 3 GiB for the allocator's slack and the other epochs. (Before the keys were shared the demo
/// was killed at 24.4 GB during the upload.)
const SECURE_DEMO_MIN_AVAILABLE_BYTES: u64 = 20 << 30;

/// This process's resident memory now and at its peak (`VmRSS`, `VmHWM` from
/// `/proc/self/status`, Linux), in bytes; `None` where they cannot be read.
fn resident_memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Logs the resident memory at a phase boundary (`RUST_LOG=info` or `-v` shows it): where the
/// secure demo's memory goes.
fn log_memory(phase: &str) {
    if let Some((now, peak)) = resident_memory() {
        let gb = |b: u64| b as f64 / 1e9;
        tracing::info!(
            "memory after {phase}: resident {:.2} GB, peak so far {:.2} GB",
            gb(now),
            gb(peak)
        );
    }
}

/// `MemAvailable` from `/proc/meminfo` (Linux), in bytes; `None` where it cannot be read.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Refuses the secure CKKS demo on a machine that cannot hold its keys (see
/// [`SECURE_DEMO_MIN_AVAILABLE_BYTES`]); `HETAL_DEMO_SKIP_MEMORY_CHECK=1` overrides.
fn check_memory(args: &DemoArgs) -> anyhow::Result<()> {
    if args.quick || args.backend != DemoBackend::Ckks {
        return Ok(());
    }
    if std::env::var("HETAL_DEMO_SKIP_MEMORY_CHECK").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    match available_memory() {
        Some(free) if free < SECURE_DEMO_MIN_AVAILABLE_BYTES => bail!(
            "the secure demo (boot-n16, N = 2^16) needs more than {} GiB of free memory and this \
             machine has {:.1} GiB available: its keys and bootstrapper alone take about 13 GiB and a \
             training step about 17 GiB at its peak. Try `hetal demo --quick` \
             (small INSECURE parameters, same pipeline) or `hetal demo --backend sim`; set \
             HETAL_DEMO_SKIP_MEMORY_CHECK=1 to try anyway",
            SECURE_DEMO_MIN_AVAILABLE_BYTES >> 30,
            free as f64 / f64::from(1u32 << 30)
        ),
        _ => Ok(()),
    }
}

/// Runs `hetal demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    check_memory(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(demo(args))
}

/// The data directory: `--data`, else `data/digits` under the working directory, else under
/// the source tree this binary was built from.
fn data_dir(args: &DemoArgs) -> PathBuf {
    if let Some(dir) = &args.data {
        return dir.clone();
    }
    let here = PathBuf::from(BUNDLED_DATA);
    if here.is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(BUNDLED_DATA)
}

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = Progress::global();
    let dir = data_dir(args);
    let pack = FeaturePack::load_dir(&dir).with_context(|| format!("loading {}", dir.display()))?;
    let classes = pack.num_classes();
    let plan = plan(
        args.quick,
        pack.train().labels().len(),
        classes,
        args.epochs,
    )?;
    let say = |line: String| progress.say(line);
    if !plan.secure {
        say(format!(
            "*** INSECURE: preset {} is a toy parameter set for trying the interface; it protects nothing. Run `hetal demo` without --quick for the real thing. ***",
            plan.preset
        ));
    }
    if args.backend == DemoBackend::Sim {
        say(
            "*** backend sim: exact slot simulator, NO encryption (same pipeline and messages) ***"
                .into(),
        );
    }
    say(format!(
        "hetal demo: train a digit classifier (data {}: {} train / {} validation / {} test rows, {} features, {} classes) without the server seeing data, labels or model",
        dir.display(),
        pack.train().labels().len(),
        pack.val().labels().len(),
        pack.test().map_or(0, |t| t.labels().len()),
        pack.dim(),
        classes
    ));
    for line in &plan.rationale {
        say(format!("  chosen: {line}"));
    }

    // The plaintext reference: same hyper-parameters, exact softmax.
    let t = Instant::now();
    let reference = reference_run(&pack, &plan.hyper)?;
    let reference_time = t.elapsed();
    say(format!(
        "plaintext reference (for comparison only, same hyper-parameters): {} epochs in {:.2} s",
        reference.history.len(),
        reference_time.as_secs_f64()
    ));

    let bars = EventBars::new(progress);
    let sink = bars.sink();
    let mut stages = vec![StageTime {
        name: "plaintext reference".into(),
        seconds: reference_time.as_secs_f64(),
    }];
    let setup = TrainingSetup {
        hyper: plan.hyper,
        variant: plan.variant,
        unit: hetal_unit(plan.hyper.batch_size, classes, plan.slots)?,
        classes,
        dim: pack.dim(),
        validation: ValidationForm::Logits,
    };
    let keygen_sink = Some(Arc::clone(&sink));
    report_event(
        &keygen_sink,
        ProgressEvent::KeyGen {
            phase: Phase::Started,
        },
    );
    // The split the client scores: encrypted inference on the evaluator after training.
    let (split, x, y) = match pack.test() {
        Some(test) => ("test", test.features(), test.labels()),
        None => ("validation", pack.val().features(), pack.val().labels()),
    };
    let t = Instant::now();
    let outcome = match args.backend {
        DemoBackend::Sim => {
            let backend = SimClient::new(SimConfig {
                bootstrap_max_abs: Some(1.0),
                ..SimConfig::with_slots(plan.slots)
            })?;
            report_event(
                &keygen_sink,
                ProgressEvent::KeyGen {
                    phase: Phase::Finished {
                        elapsed: t.elapsed(),
                    },
                },
            );
            let options = ServerOptions::default();
            encrypted_run::<SimClient, SimServer>(
                args,
                &pack,
                x.view(),
                setup,
                Arc::new(backend),
                &bars,
                options,
            )
            .await?
        }
        DemoBackend::Ckks => {
            let spec = plan.spec.clone();
            let seed = args.seed.map(seed_bytes);
            // Only the insecure quick preset needs the receivers to accept it.
            let allow_insecure = !plan.secure;
            let backend = tokio::task::block_in_place(|| {
                CkksClient::generate_bootstrappable(&spec, allow_insecure, &setup, seed)
            })
            .context("client key generation")?;
            log_memory("key generation");
            report_event(
                &keygen_sink,
                ProgressEvent::KeyGen {
                    phase: Phase::Finished {
                        elapsed: t.elapsed(),
                    },
                },
            );
            let options = ServerOptions { allow_insecure };
            encrypted_run::<CkksClient, CkksServer>(
                args,
                &pack,
                x.view(),
                setup,
                Arc::new(backend),
                &bars,
                options,
            )
            .await?
        }
    };
    stages.push(StageTime {
        name: "key generation".into(),
        seconds: bars.tally().keygen.unwrap_or_default().as_secs_f64(),
    });
    bars.clear();
    stages.extend(outcome.stages.iter().cloned());

    // Score both models on the test split (the client holds the test data and the decrypted model).
    let t = Instant::now();
    let predicted = &outcome.predicted;
    // Encryption noise can only flip near-ties: the decrypted model's own predictions, for reference.
    let agree = outcome
        .model
        .predict(x.view())?
        .iter()
        .zip(predicted)
        .filter(|(a, b)| a == b)
        .count();
    let confusion = ConfusionMatrix::from_predictions(y, predicted, classes)?;
    let accuracy = Accuracy {
        split: split.into(),
        rows: y.len(),
        encrypted: confusion.accuracy(),
        plaintext: reference.model.accuracy(x.view(), y)?,
    };
    stages.push(StageTime {
        name: "scoring".into(),
        seconds: t.elapsed().as_secs_f64(),
    });
    say(format!(
        "client: {split} rows classified by encrypted inference on the evaluator; {agree} of {} agree with the decrypted model's plaintext predictions",
        y.len()
    ));
    let total = started.elapsed();
    // Rounded to the printed precision first, so that equal accuracies read "+0.00", not "-0.00".
    let difference = (-accuracy.gap_points() * 100.0).round() / 100.0 + 0.0;
    say(format!(
        "client: {split} accuracy of the encrypted-trained model {:.2} % | plaintext model {:.2} % | difference {difference:+.2} points | total time {:.1} s ({:.1} min)",
        100.0 * accuracy.encrypted,
        100.0 * accuracy.plaintext,
        total.as_secs_f64(),
        total.as_secs_f64() / 60.0
    ));

    let report = TrainingReport {
        version: REPORT_VERSION,
        command: "demo".into(),
        config: RunConfig {
            data: dir.display().to_string(),
            backend: match args.backend {
                DemoBackend::Ckks => "ckks",
                DemoBackend::Sim => "simulator",
            }
            .into(),
            hyper: plan.hyper,
            softmax: plan.variant.name().into(),
            workers: args.workers,
            evaluator: true,
            train_rows: pack.train().labels().len(),
            val_rows: pack.val().labels().len(),
            test_rows: pack.test().map_or(0, |t| t.labels().len()),
            features: pack.dim(),
            classes,
            block_rows: outcome.setup.unit.s0(),
            block_cols: outcome.setup.unit.s1(),
            steps_per_epoch: pack.train().labels().len().div_ceil(plan.hyper.batch_size),
            rationale: plan.rationale.clone(),
        },
        preset: PresetInfo {
            name: plan.preset.clone(),
            ring_degree: 1 << plan.log_n,
            slots: plan.slots,
            log_qp: Some(plan.log_qp),
            secure: plan.secure,
            bootstrapping: true,
        },
        epochs: epoch_reports(&outcome, &reference),
        accuracy,
        confusion,
        stages,
        operations: outcome.operations,
        traffic: outcome.traffic,
        total_seconds: total.as_secs_f64(),
        dataset: None,
    };
    let (json, html) = report
        .write_to_dir(&args.out)
        .with_context(|| format!("writing the report to {}", args.out.display()))?;
    say(format!("report: {} and {}", json.display(), html.display()));
    // Closing the QUIC connections may wait for peers' redials to give up; the results are out,
    // so give it a short bound (the nodes and their temporary certificates go away either way).
    let t = Instant::now();
    let closed = tokio::time::timeout(SHUTDOWN_GRACE, outcome.deployment.shutdown()).await;
    tracing::debug!(
        "deployment shut down in {:?}{}",
        t.elapsed(),
        if closed.is_err() { " (cut short)" } else { "" }
    );
    Ok(())
}

/// 32 bytes of key-generation seed from a `--seed` number.
fn seed_bytes(seed: u64) -> [u8; 32] {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed).r#gen()
}

/// The plaintext reference with the demo's hyper-parameters and the exact softmax.
fn reference_run(pack: &FeaturePack, hyper: &HyperParams) -> anyhow::Result<TrainOutcome> {
    let classes = pack.num_classes();
    let train = LabeledView::new(
        pack.train().features().view(),
        pack.train().labels(),
        classes,
    )?;
    let val = LabeledView::new(pack.val().features().view(), pack.val().labels(), classes)?;
    Ok(ReferenceTrainer::new(*hyper)?.fit(train, val, classes, &ExactSoftmax)?)
}

/// What the encrypted run produced.
struct EncryptedOutcome {
    /// Still running: shut down after the results are out (closing QUIC takes seconds).
    deployment: Deployment,
    setup: TrainingSetup,
    model: SoftmaxRegression,
    /// Classes of the scored rows by encrypted inference on the evaluator.
    predicted: Vec<usize>,
    verdicts: Vec<(hetal_learn::train::Verdict, Duration)>,
    stages: Vec<StageTime>,
    operations: Operations,
    traffic: Vec<PartyTraffic>,
}

/// The deployment and the encrypted training, generic over the backend.
async fn encrypted_run<K, S>(
    args: &DemoArgs,
    pack: &FeaturePack,
    scored: ndarray::ArrayView2<'_, f64>,
    setup: TrainingSetup,
    backend: Arc<K>,
    bars: &EventBars,
    options: ServerOptions,
) -> anyhow::Result<EncryptedOutcome>
where
    K: ClientBackend<Server = S>,
    S: ServerBackend,
{
    let progress = Progress::global();
    let mut stages = Vec::new();
    let t = Instant::now();
    let deployment = Deployment::start(Layout {
        workers: args.workers,
        spare_workers: 0,
        evaluator: true,
        network: Network::QuicLoopback,
    })
    .await?
    .with_progress(bars.sink());
    let evaluator_tap = Tap::new();
    let taps = Taps {
        evaluator: Some(evaluator_tap.clone()),
        ..Taps::default()
    };
    let mut parties = deployment.start_parties(
        Arc::clone(&backend),
        pack.val().labels().to_vec(),
        StopPolicy {
            patience: setup.hyper.patience,
            budget: Some(setup.hyper.max_epochs),
        },
        options,
        &taps,
    )?;
    for i in 0..args.workers {
        deployment.start_worker::<S>(i, options, None).await?;
    }
    parties
        .wait_for_workers(args.workers, Duration::from_secs(30))
        .await?;
    progress.say(format!(
        "deployment: {} nodes on QUIC loopback with mutual TLS: {}",
        deployment.roster.all_nodes().len(),
        deployment
            .roster
            .all_nodes()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    log_memory("deployment start");
    stages.push(StageTime {
        name: "deployment start".into(),
        seconds: t.elapsed().as_secs_f64(),
    });

    let t = Instant::now();
    progress.say("client: encrypting the training set, its one-hot labels and the validation features (validation labels stay here)…");
    let sink = deployment.progress().cloned();
    let upload = tokio::task::block_in_place(|| {
        encrypt_dataset_with_progress(
            &*backend,
            &setup,
            PlainData {
                train_x: pack.train().features().view(),
                train_y: pack.train().labels(),
                val_x: pack.val().features().view(),
            },
            sink.as_ref(),
        )
    })?;
    log_memory("encryption");
    stages.push(StageTime {
        name: "encryption".into(),
        seconds: t.elapsed().as_secs_f64(),
    });
    let t = Instant::now();
    progress.say(format!(
        "client: uploading {} training batch(es) and {} validation block(s) with the public evaluation keys (to the trainer and the evaluator)…",
        upload.train.len(),
        upload.validation.len()
    ));
    upload_from_client(&deployment, &*backend, setup, &upload, None).await?;
    drop(upload);
    log_memory("upload");
    stages.push(StageTime {
        name: "upload".into(),
        seconds: t.elapsed().as_secs_f64(),
    });

    let t = Instant::now();
    let mut last = Instant::now();
    let mut verdicts = Vec::new();
    let out = parties
        .finish(Duration::from_secs(24 * 3600), |v| {
            verdicts.push((*v, last.elapsed()));
            last = Instant::now();
        })
        .await?;
    let training = t.elapsed();
    log_memory("training");
    let tally = bars.tally();
    stages.push(StageTime {
        name: "training steps".into(),
        seconds: tally.steps.as_secs_f64(),
    });
    stages.push(StageTime {
        name: match tally.validation_kind {
            Some(ValidationKind::Probabilities) => "validation (probabilities)",
            _ => "validation (logits)",
        }
        .into(),
        seconds: tally.validation.as_secs_f64(),
    });
    let other = training.saturating_sub(tally.steps + tally.validation);
    stages.push(StageTime {
        name: "messages, decryption, decisions".into(),
        seconds: other.as_secs_f64(),
    });
    let t = Instant::now();
    progress.say(format!(
        "client: encrypting the {} rows to score for the evaluator, which classifies them with the trained weights still encrypted (one matrix product, no bootstrap); the client decrypts the logits…",
        scored.nrows()
    ));
    let inference = classify(
        &deployment.client,
        &deployment.roster,
        &backend,
        setup,
        scored,
        Duration::from_secs(3600),
    )
    .await?;
    stages.push(StageTime {
        name: "encrypted inference".into(),
        seconds: t.elapsed().as_secs_f64(),
    });
    let report = &out.trainer;
    let traffic = vec![
        PartyTraffic {
            party: "client".into(),
            bytes: tally.upload_bytes,
            // In one process the keys are shared by digest, not sent (key registry).
            what: "encrypted training set and validation features (the public keys are shared \
                   in-process, not sent)"
                .into(),
        },
        PartyTraffic {
            party: "trainer".into(),
            bytes: report.scheduler.bytes_sent,
            what: "encrypted work units to the workers".into(),
        },
        PartyTraffic {
            party: "workers".into(),
            bytes: report.scheduler.bytes_received,
            what: "encrypted partial products back to the trainer".into(),
        },
        PartyTraffic {
            party: "evaluator".into(),
            bytes: evaluator_tap.snapshot().len() as u64,
            what: "encrypted validation logits to the client".into(),
        },
    ];
    let operations = Operations {
        epochs: out.epochs,
        steps: out.steps,
        bootstraps: report.bootstraps,
        units_on_workers: report.scheduler.units_remote,
        units_on_trainer: report.scheduler.units_local,
        units_resent: report.scheduler.resent,
    };
    progress.say(format!(
        "trainer: {} epoch(s), {} step(s), {} bootstrap(s); {} work units on the workers, {} on the trainer",
        out.epochs,
        out.steps,
        report.bootstraps,
        report.scheduler.units_remote,
        report.scheduler.units_local
    ));
    Ok(EncryptedOutcome {
        deployment,
        setup,
        model: out.model,
        predicted: inference.classes,
        verdicts,
        stages,
        operations,
        traffic,
    })
}

/// Per-epoch rows: the client's verdicts beside the plaintext reference's same epoch.
fn epoch_reports(outcome: &EncryptedOutcome, reference: &TrainOutcome) -> Vec<EpochReport> {
    outcome
        .verdicts
        .iter()
        .map(|(v, took)| {
            let plain = reference.history.get(v.epoch);
            EpochReport {
                epoch: v.epoch + 1,
                encrypted_val_loss: v.val_loss,
                encrypted_val_accuracy: v.val_accuracy,
                plaintext_val_loss: plain.map(|p| p.val_loss),
                plaintext_val_accuracy: plain.map(|p| p.val_accuracy),
                decision: v.decision,
                new_best: v.new_best,
                seconds: took.as_secs_f64(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_one_full_batch_block_and_labels_quick_insecure() {
        let secure = plan(false, 1257, 10, None).unwrap();
        assert!(secure.secure);
        assert_eq!(secure.preset, "boot-n16");
        assert_eq!(secure.hyper.batch_size, 1257);
        assert_eq!(secure.hyper.max_epochs, DEMO_EPOCHS);
        let unit = hetal_unit(1257, 10, secure.slots).unwrap();
        assert!(unit.s0() >= 1257, "the full batch fits one block of rows");
        assert!(secure.rationale.iter().any(|r| r.contains("128-bit")));
        let quick = plan(true, 1257, 10, Some(3)).unwrap();
        assert!(!quick.secure);
        assert_eq!(quick.hyper.max_epochs, 3);
        // 2^12 slots / 16 padded classes = 256 rows per block row.
        assert_eq!(quick.preset, "insecure-boot-n13");
        assert_eq!(quick.hyper.batch_size, 256);
        assert_eq!(quick.hyper.learning_rate, MINI_BATCH_LR);
        assert!(quick.rationale[0].contains("INSECURE"));
        assert!(plan(true, 1257, 10, Some(0)).is_err());
        // The default quick run is one epoch, at the rate tuned for one epoch of small batches.
        let quick = plan(true, 1257, 10, None).unwrap();
        assert_eq!(quick.hyper.max_epochs, QUICK_EPOCHS);
        assert_eq!(quick.hyper.learning_rate, ONE_EPOCH_MINI_BATCH_LR);
    }
}
