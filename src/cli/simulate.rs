//! `hetal simulate --data PATH --workers K [--preset NAME]`: the whole deployment in one process
//! — client, trainer, K workers and an evaluator, each its own node talking QUIC over loopback
//! with real certificates — on the exact plaintext simulator backend (CKKS bootstrapping is not
//! wired into the distributed trainer yet). Prints each epoch's validation loss as the client
//! decrypted it, the client's decisions, the test accuracy and the timing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::client::StopPolicy;
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, Taps, encrypt_dataset, hetal_unit, upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_data::FeaturePack;
use hetal_learn::eval::SimConfig;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::Preset;

/// Arguments of `hetal simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Feature pack directory (as `data/digits`).
    #[arg(long)]
    pub data: PathBuf,
    /// Worker nodes (0: the trainer computes everything itself).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Hyper-parameter preset (digits, mnist, cifar10, face-mask, derma-mnist, snips).
    #[arg(long, default_value = "digits")]
    pub preset: String,
    /// Override the preset's epoch bound.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Slots per simulated ciphertext (a power of two).
    #[arg(long, default_value_t = 1 << 14)]
    pub slots: usize,
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

async fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let pack = FeaturePack::load_dir(&args.data)
        .with_context(|| format!("loading {}", args.data.display()))?;
    let preset = Preset::from_name(&args.preset)
        .with_context(|| format!("unknown preset {:?}", args.preset))?;
    let mut hyper = preset.hyper();
    if let Some(epochs) = args.epochs {
        hyper.max_epochs = epochs;
    }
    let classes = pack.num_classes();
    let setup = TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit: hetal_unit(hyper.batch_size, classes, args.slots)?,
        classes,
        dim: pack.dim(),
        validation: ValidationForm::Logits,
    };
    let config = SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(args.slots)
    };
    let deployment = Deployment::start(Layout {
        workers: args.workers,
        spare_workers: 0,
        evaluator: !args.no_evaluator,
        network: Network::QuicLoopback,
    })
    .await?;
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
    let backend = Arc::new(SimClient::new(config)?);
    let mut parties = deployment.start_parties(
        Arc::clone(&backend),
        pack.val().labels().to_vec(),
        StopPolicy {
            patience: hyper.patience,
            budget: None,
        },
        ServerOptions::default(),
        &Taps::default(),
    )?;
    for i in 0..args.workers {
        deployment
            .start_worker::<SimServer>(i, ServerOptions::default(), None)
            .await?;
    }
    parties
        .wait_for_workers(args.workers, Duration::from_secs(30))
        .await?;
    let upload = encrypt_dataset(
        &*backend,
        &setup,
        PlainData {
            train_x: pack.train().features().view(),
            train_y: pack.train().labels(),
            val_x: pack.val().features().view(),
        },
    )?;
    println!(
        "client: {} training batches of up to {} rows, {} validation rows, {} classes, {} features",
        upload.train.len(),
        hyper.batch_size,
        pack.val().labels().len(),
        classes,
        pack.dim()
    );
    upload_from_client(&deployment, &*backend, setup, &upload, None).await?;
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
        "trained {} epochs, {} steps in {:.2?} ({:.2?} per step)",
        out.epochs,
        out.steps,
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
