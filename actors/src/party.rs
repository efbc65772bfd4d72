//! One party as its own process (`hetal node --config FILE`), on the simulator backend: the node
//! starts from its certificate files and the addresses in its configuration, plays its role,
//! and exits when its part is done (client: model received; trainer: job finished; worker: the
//! trainer shut down, or stayed away longer than [`REJOIN_PATIENCE`] after a crash; evaluator:
//! the client disconnected).
//!
//! A trainer with a `[checkpoint]` table checkpoints its job and, started again with the same
//! file after a crash, resumes the job saved there; its workers re-join it
//! ([`crate::worker::stay_in_pool`]).
//!
//! A trainer whose roster lists several `clients` serves each of them an isolated job
//! ([`TrainerHub`]), checkpointing each in a subdirectory named after its client, and exits
//! once every client's job has finished.

use std::sync::Arc;
use std::time::Duration;

use hetal_data::FeaturePack;
use hetal_learn::eval::SimConfig;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::Preset;
use hetal_runtime::{Node, NodeName, PeerEvent};
use tokio::sync::mpsc;

use crate::backend::ServerOptions;
use crate::backend::sim::{SimClient, SimServer};
use crate::client::{Client, ClientEvent, StopPolicy, upload};
use crate::config::{ClientJobConfig, NodeCheckpointConfig, NodeDatasetConfig, NodeFileConfig};
use crate::deploy::{PlainData, encrypt_dataset, hetal_unit};
use crate::error::{ActorError, Result};
use crate::evaluator::Evaluator;
use crate::messages::{TrainingSetup, ValidationForm};
use crate::roster::SharedRoster;
use crate::roster::{CLIENT_ACTOR, EVALUATOR_ACTOR, Role, Roster, TRAINER_ACTOR};
use crate::store::dataset::DatasetConfig;
use crate::trainer::hub::TrainerHub;
use crate::trainer::pool::BootstrapPlacement;
use crate::trainer::{
    DEFAULT_UNIT_TIMEOUT, DEFAULT_VERDICT_TIMEOUT, Trainer, TrainerConfig, TrainerHandle,
};
use crate::worker::{start_worker, stay_in_pool};

/// How long a party waits for the others to come up.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(60);
/// How long a worker keeps trying to re-join a trainer that went away without shutting down
/// (killed, crashed, cut off) before it gives up.
pub const REJOIN_PATIENCE: Duration = Duration::from_secs(300);

/// Starts the node of `config` in the current tokio runtime.
pub async fn start_node(config: &NodeFileConfig) -> Result<Node> {
    // The file's [transport], [reconnect], peers and mailbox settings all go through the
    // runtime's own resolution, so a node file and a runtime config mean the same thing.
    Ok(Node::start(config.node_config()?).await?)
}

/// Runs the party of `config` to its end; `say` prints progress.
pub async fn run_party(config: &NodeFileConfig, mut say: impl FnMut(String)) -> Result<()> {
    let node = start_node(config).await?;
    let roster = config.roster()?;
    say(format!(
        "{} {} listening on {}",
        config.role.name(),
        node.name(),
        node.local_addr().map_or("?".into(), |a| a.to_string())
    ));
    let result = match config.role {
        Role::Trainer => {
            let dataset = config
                .dataset
                .as_ref()
                .map(NodeDatasetConfig::dataset_config);
            let shared = config.shared_roster()?;
            let placement = config.bootstrap_placement();
            say(format!(
                "bootstrap stages: {}",
                describe_placement(placement)
            ));
            let checkpoint = config.checkpoint.as_ref();
            if shared.clients().len() > 1 {
                run_trainer_hub(&node, shared, checkpoint, dataset, placement, &mut say).await
            } else {
                run_trainer(&node, roster, checkpoint, dataset, placement, &mut say).await
            }
        }
        Role::Worker => {
            let trainer = roster.trainer.clone();
            let events = node.events();
            start_worker::<SimServer>(
                &node,
                roster,
                ServerOptions::default(),
                None,
                STARTUP_PATIENCE,
            )
            .await?;
            say("joined the trainer's pool".into());
            let left = stay_in_pool(&node, &trainer, events, REJOIN_PATIENCE, |n| {
                say(format!("re-joined the trainer's pool ({n})"))
            })
            .await;
            say(format!("left the pool: {left}"));
            Ok(())
        }
        Role::Evaluator => {
            let shared = config.shared_roster()?;
            let mut events = node.events();
            node.register(
                EVALUATOR_ACTOR,
                Evaluator::<SimServer>::new(
                    node.clone(),
                    roster,
                    ServerOptions::default(),
                    tokio::runtime::Handle::current(),
                    None,
                )
                .with_clients(shared.clone()),
            )?;
            wait_until_lost(&mut events, shared.clients()).await;
            Ok(())
        }
        Role::Client => {
            let job = config
                .client
                .as_ref()
                .ok_or_else(|| ActorError::Config("no [client] table".into()))?;
            run_client(&node, roster, job, &mut say).await
        }
    };
    node.shutdown().await;
    result
}

/// Waits until every one of `peers` has disconnected once.
async fn wait_until_lost(
    events: &mut tokio::sync::broadcast::Receiver<PeerEvent>,
    peers: &[NodeName],
) {
    let mut left: Vec<&NodeName> = peers.iter().collect();
    loop {
        match events.recv().await {
            Ok(PeerEvent::Lost { peer: p, .. }) if left.contains(&&p) => {
                left.retain(|n| **n != p);
                if left.is_empty() {
                    return;
                }
            }
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
}

/// The trainer configuration of a node file's trainer (simulator backend).
fn trainer_config(roster: Roster, checkpoint: Option<&NodeCheckpointConfig>) -> TrainerConfig {
    TrainerConfig {
        roster,
        options: ServerOptions::default(),
        unit_timeout: DEFAULT_UNIT_TIMEOUT,
        verdict_timeout: DEFAULT_VERDICT_TIMEOUT,
        runtime: tokio::runtime::Handle::current(),
        tap: None,
        progress: None,
        checkpoint: checkpoint.map(NodeCheckpointConfig::trainer_config),
    }
}

/// What `[trainer] bootstrap_on_workers` decided, for the node's log.
fn describe_placement(placement: BootstrapPlacement) -> String {
    match placement {
        BootstrapPlacement::Trainer => "on the trainer".into(),
        BootstrapPlacement::Workers {
            max_key_bytes: u64::MAX,
        } => "on the workers".into(),
        BootstrapPlacement::Workers { max_key_bytes } => format!(
            "on the workers when the bootstrapping material takes at most {max_key_bytes} bytes, \
             else on the trainer"
        ),
    }
}

/// Sets where the bootstrap stages of the jobs behind `handle` run.
fn place_bootstraps(handle: &TrainerHandle, placement: BootstrapPlacement) -> Result<()> {
    handle
        .pool()
        .lock()
        .map_err(|_| ActorError::Lost("worker pool poisoned".into()))?
        .set_bootstrap_placement(placement);
    Ok(())
}

/// A trainer serving several clients: one isolated job each; done when all are.
async fn run_trainer_hub(
    node: &Node,
    roster: SharedRoster,
    checkpoint: Option<&NodeCheckpointConfig>,
    dataset: Option<DatasetConfig>,
    placement: BootstrapPlacement,
    say: &mut impl FnMut(String),
) -> Result<()> {
    let config = trainer_config(roster.base().clone(), checkpoint);
    let mut hub = TrainerHub::<SimServer>::new(node.clone(), roster, config, dataset);
    for (_, handle) in hub.handles() {
        place_bootstraps(&handle, placement)?;
    }
    if let Some(c) = checkpoint {
        hub.set_resume_grace(c.worker_grace());
        for client in hub.resume_saved_jobs()? {
            say(format!(
                "resumed the job of {client} saved under {}",
                c.dir.display()
            ));
        }
    }
    let handles = hub.handles();
    say(format!(
        "serving {} clients, each in its own job",
        handles.len()
    ));
    node.register(TRAINER_ACTOR, hub)?;
    for (client, handle) in handles {
        say(format!("{client}:"));
        wait_for_job(&handle, say).await?;
    }
    Ok(())
}

async fn run_trainer(
    node: &Node,
    roster: Roster,
    checkpoint: Option<&NodeCheckpointConfig>,
    dataset: Option<DatasetConfig>,
    placement: BootstrapPlacement,
    say: &mut impl FnMut(String),
) -> Result<()> {
    let mut trainer = Trainer::<SimServer>::new(node.clone(), trainer_config(roster, checkpoint))
        .with_dataset(dataset);
    place_bootstraps(&trainer.handle(), placement)?;
    if let Some(c) = checkpoint {
        let dir = &c.dir;
        trainer.set_resume_grace(c.worker_grace());
        // A job a previous process of this trainer saved (it was killed or crashed) goes on
        // from its newest checkpoint; the client and the workers find the trainer again.
        if trainer.resume_saved_job()? {
            say(format!("resumed the job saved in {}", dir.display()));
        } else {
            say(format!("checkpoints in {}", dir.display()));
        }
    }
    let handle = trainer.handle();
    node.register(TRAINER_ACTOR, trainer)?;
    wait_for_job(&handle, say).await
}

/// Waits until the job of `handle` has finished and reports it.
async fn wait_for_job(handle: &TrainerHandle, say: &mut impl FnMut(String)) -> Result<()> {
    loop {
        if let Some(outcome) = handle.outcome() {
            let report = outcome.map_err(ActorError::Protocol)?;
            say(format!(
                "job done: {} epochs, {} steps in {:.2?}; units {} remote / {} local, {} re-sent; balance {:?}; lost {:?}",
                report.epochs,
                report.steps,
                report.elapsed,
                report.scheduler.units_remote,
                report.scheduler.units_local,
                report.scheduler.resent,
                report.balance,
                report.lost_workers
            ));
            if let Some(d) = &report.dataset {
                say(format!(
                    "dataset: peak {} bytes of batches in memory (budget {}), {} bytes on disk",
                    d.peak_resident_bytes, d.memory_budget, d.stored_bytes
                ));
            }
            // Let the final model reach the client before the connections close.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_client(
    node: &Node,
    roster: Roster,
    job: &ClientJobConfig,
    say: &mut impl FnMut(String),
) -> Result<()> {
    let pack = FeaturePack::load_dir(&job.data)
        .map_err(|e| ActorError::Config(format!("{}: {e}", job.data.display())))?;
    let preset = Preset::from_name(&job.preset)
        .ok_or_else(|| ActorError::Config(format!("unknown preset {:?}", job.preset)))?;
    let mut hyper = preset.hyper();
    if let Some(epochs) = job.epochs {
        hyper.max_epochs = epochs;
    }
    let classes = pack.num_classes();
    let setup = TrainingSetup {
        hyper,
        variant: SoftmaxVariant::TRAINING_DEFAULT,
        unit: hetal_unit(hyper.batch_size, classes, job.slots)?,
        classes,
        dim: pack.dim(),
        validation: ValidationForm::Probabilities,
    };
    let backend = Arc::new(SimClient::new(SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(job.slots)
    })?);
    let (tx, mut rx) = mpsc::unbounded_channel();
    node.register(
        CLIENT_ACTOR,
        Client::new(
            node.clone(),
            roster.clone(),
            Arc::clone(&backend),
            pack.val().labels().to_vec(),
            StopPolicy {
                patience: hyper.patience,
                budget: None,
            },
            tokio::runtime::Handle::current(),
            tx,
            None,
        ),
    )?;
    let data = encrypt_dataset(
        &*backend,
        &setup,
        PlainData {
            train_x: pack.train().features().view(),
            train_y: pack.train().labels(),
            val_x: pack.val().features().view(),
        },
    )?;
    let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
    loop {
        match upload(node, &roster, &*backend, setup, &data, None).await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    say(format!(
        "uploaded {} encrypted training batches",
        data.train.len()
    ));
    while let Some(event) = rx.recv().await {
        match event {
            ClientEvent::Reviewed(v) => say(format!(
                "epoch {:>3}: validation loss {:.5}, accuracy {:.2} % -> {:?}",
                v.epoch + 1,
                v.val_loss,
                100.0 * v.val_accuracy,
                v.decision
            )),
            ClientEvent::Failed(e) => return Err(ActorError::Protocol(e)),
            ClientEvent::Finished {
                model,
                epochs,
                steps,
            } => {
                let acc = match pack.test() {
                    Some(test) => format!(
                        "{:.2} %",
                        100.0 * model.accuracy(test.features().view(), test.labels())?
                    ),
                    None => "n/a (no test split)".into(),
                };
                say(format!(
                    "model received after {epochs} epochs, {steps} steps; test accuracy {acc}"
                ));
                return Ok(());
            }
        }
    }
    Err(ActorError::Lost("client actor stopped".into()))
}
