//! `hetal simulate --data PATH --workers K [--backend sim|ckks] [--preset NAME]
//! [--allow-insecure]`: the whole deployment in one process — client, trainer, K workers and an
//! evaluator, each its own node talking QUIC over loopback with real certificates. On the exact
//! plaintext simulator (`--backend sim`, fast) or on real CKKS with bootstrapping
//! (`--backend ckks`, parameter preset `--preset`, default `boot-n16`; insecure test presets need
//! `--allow-insecure`). Prints each epoch's validation loss as the client decrypted it, the
//! client's decisions, the test accuracy and the timing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use hetal_actors::backend::ckks::CkksClient;
use hetal_actors::backend::sim::SimClient;
use hetal_actors::backend::{ClientBackend, ServerOptions};
use hetal_actors::client::StopPolicy;
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, Taps, encrypt_dataset_with_progress, hetal_unit,
    upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_actors::progress::{Phase, ProgressEvent, ProgressSink};
use hetal_data::FeaturePack;
use hetal_learn::eval::SimConfig;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::Preset;

/// Which encryption backend the parties use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The exact slot simulator (no encryption; fast, for trying layouts).
    Sim,
    /// Real CKKS ciphertexts with bootstrapping.
    Ckks,
}

/// What the evaluator sends the client after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValidationArg {
    /// Encrypted logits (one multiplication, no bootstrap); the client applies the softmax.
    Logits,
    /// Encrypted probabilities (HETAL's encrypted softmax, with its bootstraps).
    Probabilities,
}

/// Arguments of `hetal simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Feature pack directory (as `data/digits`).
    #[arg(long)]
    pub data: PathBuf,
    /// Worker nodes (0: the trainer computes everything itself).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Encryption backend.
    #[arg(long, value_enum, default_value_t = BackendKind::Sim)]
    pub backend: BackendKind,
    /// CKKS parameter preset (with `--backend ckks`): boot-n16, or insecure-boot-n12 for tests.
    #[arg(long)]
    pub preset: Option<String>,
    /// Accept a CKKS preset below 128-bit security (tests and demos only).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Hyper-parameter preset (digits, mnist, cifar10, face-mask, derma-mnist, snips).
    #[arg(long, default_value = "digits")]
    pub hyper: String,
    /// Override the preset's epoch bound.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override the preset's batch size (at most one block of rows).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Train on the first N training rows only (quick CKKS runs).
    #[arg(long)]
    pub max_train_rows: Option<usize>,
    /// Slots per simulated ciphertext (a power of two; `--backend sim` only).
    #[arg(long, default_value_t = 1 << 14)]
    pub slots: usize,
    /// What validation sends the client.
    #[arg(long, value_enum, default_value_t = ValidationArg::Logits)]
    pub validation: ValidationArg,
    /// Run validation on the trainer instead of a separate evaluator node.
    #[arg(long)]
    pub no_evaluator: bool,
}

/// Runs `hetal simulate`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(simulate(args))
}

/// The job's public description for a pack on ciphertexts of `slots` slots.
fn training_setup(
    args: &SimulateArgs,
    pack: &FeaturePack,
    slots: usize,
) -> anyhow::Result<TrainingSetup> {
    let preset = Preset::from_name(&args.hyper)
        .with_context(|| format!("unknown hyper-parameter preset {:?}", args.hyper))?;
    let mut hyper = preset.hyper();
    if let Some(epochs) = args.epochs {
        hyper.max_epochs = epochs;
    }
    if let Some(batch) = args.batch {
        hyper.batch_size = batch;
    }
    let classes = pack.num_classes();
    Ok(TrainingSetup {
        hyper,
        variant: SoftmaxVariant::TRAINING_DEFAULT,
        unit: hetal_unit(hyper.batch_size, classes, slots).with_context(|| {
            format!(
                "batch size {} with {classes} classes does not fit {slots} slots (try --batch)",
                hyper.batch_size
            )
        })?,
        classes,
        dim: pack.dim(),
        validation: match args.validation {
            ValidationArg::Logits => ValidationForm::Logits,
            ValidationArg::Probabilities => ValidationForm::Probabilities,
        },
    })
}

async fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let pack = FeaturePack::load_dir(&args.data)
        .with_context(|| format!("loading {}", args.data.display()))?;
    match args.backend {
        BackendKind::Sim => {
            if args.preset.is_some() {
                bail!(
                    "--preset names a CKKS parameter preset (with --backend ckks); \
                     hyper-parameters are --hyper"
                );
            }
            let setup = training_setup(args, &pack, args.slots)?;
            let backend = Arc::new(SimClient::new(SimConfig {
                bootstrap_max_abs: Some(1.0),
                ..SimConfig::with_slots(args.slots)
            })?);
            deploy::<SimClient>(args, &pack, setup, backend, ServerOptions::default(), None).await
        }
        BackendKind::Ckks => {
            let name = args.preset.as_deref().unwrap_or("boot-n16");
            let spec = hetal_ckks::params::preset(name)?;
            let setup = training_setup(args, &pack, spec.max_slots())?;
            println!(
                "client: generating CKKS keys for {name} (N = 2^{}{}): the secret key stays here",
                spec.log_n,
                if args.allow_insecure && name.starts_with("insecure") {
                    ", INSECURE test parameters"
                } else {
                    ""
                }
            );
            let start = Instant::now();
            let backend = Arc::new(
                CkksClient::generate_bootstrappable(&spec, args.allow_insecure, &setup, None)
                    .with_context(|| format!("generating bootstrappable keys for {name}"))?,
            );
            println!(
                "client: keys ready in {:.1?} (evaluation and bootstrapping keys are public)",
                start.elapsed()
            );
            let options = ServerOptions {
                allow_insecure: args.allow_insecure,
            };
            deploy::<CkksClient>(args, &pack, setup, backend, options, Some(narrator())).await
        }
    }
}

/// Prints the trainer's steps and the validations as they happen (CKKS steps take a while).
fn narrator() -> ProgressSink {
    Arc::new(|event| match event {
        ProgressEvent::Step {
            epoch,
            step,
            steps_per_epoch,
            bootstraps,
            elapsed,
        } => println!(
            "trainer: epoch {} step {step}/{steps_per_epoch}: {bootstraps} bootstraps, {elapsed:.1?}",
            epoch + 1
        ),
        ProgressEvent::Validation {
            epoch,
            by,
            kind,
            phase: Phase::Finished { elapsed },
        } => println!(
            "{by:?}: epoch {} validation {kind:?} computed in {elapsed:.1?}",
            epoch + 1
        ),
        _ => {}
    })
}

/// Starts the deployment, trains and reports.
async fn deploy<K: ClientBackend>(
    args: &SimulateArgs,
    pack: &FeaturePack,
    setup: TrainingSetup,
    backend: Arc<K>,
    options: ServerOptions,
    progress: Option<ProgressSink>,
) -> anyhow::Result<()> {
    let mut deployment = Deployment::start(Layout {
        workers: args.workers,
        spare_workers: 0,
        evaluator: !args.no_evaluator,
        network: Network::QuicLoopback,
    })
    .await?;
    if let Some(sink) = progress.clone() {
        deployment = deployment.with_progress(sink);
    }
    println!(
        "deployment: {} nodes on QUIC loopback (mutual TLS): {}",
        deployment.roster.all_nodes().len(),
        deployment
            .roster
            .all_nodes()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let hyper = setup.hyper;
    let mut parties = deployment.start_parties(
        Arc::clone(&backend),
        pack.val().labels().to_vec(),
        StopPolicy {
            patience: hyper.patience,
            budget: None,
        },
        options,
        &Taps::default(),
    )?;
    for i in 0..args.workers {
        deployment
            .start_worker::<K::Server>(i, options, None)
            .await?;
    }
    parties
        .wait_for_workers(args.workers, Duration::from_secs(30))
        .await?;
    let start = Instant::now();
    let rows = args
        .max_train_rows
        .unwrap_or(usize::MAX)
        .min(pack.train().labels().len());
    if rows == 0 {
        bail!("no training rows");
    }
    let upload = encrypt_dataset_with_progress(
        &*backend,
        &setup,
        PlainData {
            train_x: pack.train().features().slice(ndarray::s![..rows, ..]),
            train_y: &pack.train().labels()[..rows],
            val_x: pack.val().features().view(),
        },
        progress.as_ref(),
    )?;
    println!(
        "client: encrypted {} training batches of up to {} rows, {} validation rows, {} classes, {} features in {:.1?}",
        upload.train.len(),
        hyper.batch_size,
        pack.val().labels().len(),
        setup.classes,
        pack.dim(),
        start.elapsed()
    );
    upload_from_client(&deployment, &*backend, setup, &upload, None).await?;
    // The trainer has its copy: the client needs neither the ciphertexts nor the public keys.
    drop(upload);
    backend.release_public_material();
    let out = parties
        .finish(Duration::from_secs(24 * 3600), |v| {
            println!(
                "epoch {:>3}: validation loss {:.5}, accuracy {:.2} % -> client says {:?}{}",
                v.epoch + 1,
                v.val_loss,
                100.0 * v.val_accuracy,
                v.decision,
                if v.new_best { " (new best)" } else { "" }
            );
        })
        .await?;
    let report = &out.trainer;
    println!(
        "trained {} epochs, {} steps, {} bootstraps in {:.2?} ({:.2?} per step)",
        out.epochs,
        out.steps,
        report.bootstraps,
        report.elapsed,
        report.elapsed / out.steps.max(1) as u32
    );
    println!(
        "work units: {} on workers, {} on the trainer, {} re-sent; balance {:?}; {:.1} MB sent to workers, {:.1} MB back",
        report.scheduler.units_remote,
        report.scheduler.units_local,
        report.scheduler.resent,
        report.balance,
        report.scheduler.bytes_sent as f64 / 1e6,
        report.scheduler.bytes_received as f64 / 1e6
    );
    if let Some(test) = pack.test() {
        let acc = out.model.accuracy(test.features().view(), test.labels())?;
        println!(
            "test accuracy of the decrypted best model: {:.2} %",
            100.0 * acc
        );
    }
    deployment.shutdown().await;
    Ok(())
}
