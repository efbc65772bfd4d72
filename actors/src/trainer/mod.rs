//! The trainer: owns the encrypted weights and momentum and the epoch loop; cuts every matrix
//! multiplication into work units for its workers ([`scheduler`]); asks for validation after each
//! epoch and follows the client's verdict. It is generic over a [`ServerBackend`], which cannot
//! decrypt: the trainer holds no secret key by type.
//!
//! # Isolation of several clients
//!
//! A [`Trainer`] runs the jobs of the one client its roster names. A node serving several
//! clients registers a [`hub::TrainerHub`] instead: one `Trainer` per client, and every client
//! message routed by its authenticated sender (the node name its certificate proves) to that
//! client's own trainer. The rule: a client's ciphertexts, keys, verdicts and results are
//! reachable only through its own authenticated connection. Another client's messages never
//! reach the job; a message naming a job another client uploaded is refused with a typed
//! [`hub::IsolationError`] naming the sender and the job; the job sends its validation outputs
//! and its model to its own client's node only; workers keep each job's keys and operands
//! apart by session ([`crate::worker::WorkerJobs`]); and each client's checkpoints and uploaded
//! batches live in a directory of their own.

pub mod hub;
pub mod keys;
pub mod pool;
pub mod resend;
pub mod scheduler;
pub mod step;
pub mod upload;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hetal_learn::eval::{BootstrapVia, SlotEvaluator};
use hetal_learn::train::checkpoint::{Digest32, RunConfig, TrainingCheckpoint};
use hetal_learn::train::server::MatmulExecutor;
use hetal_learn::train::{Decision, EncryptedBatch, EncryptedTrainer, Verdict};
use hetal_runtime::{
    Actor, Handle, Handlers, MessageContext, Node, NodeName, Rejection, Respond, Response,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;

use crate::backend::shared::Pinned;
use crate::backend::{ServerBackend, ServerOptions};
use crate::error::{ActorError, Result};
use crate::evaluator::validation_kind;
use crate::messages::{
    BlobSink, EpochVerdict, EvaluateEpoch, EvaluateEpochBody, FinalModel, FinalModelBody, JoinPool,
    MaterialAnswer, OfferMaterial, StartTraining, TrainingSetup, UploadBatch, UploadManifest,
    UploadTraining, ValidationOutput, ValidationOutputBody, encode_matrix,
};
use crate::progress::{self, Party, Phase, ProgressEvent, ProgressSink};
use crate::roster::{CLIENT_ACTOR, EVALUATOR_ACTOR, Role, Roster};
use crate::store::checkpoint::{CheckpointConfig, JobCheckpoints};
use crate::store::dataset::{BatchFiles, DatasetConfig, DatasetStats};
use crate::store::upload::{load_upload, upload_path};
use crate::tap::{self, Tap};
use pool::WorkerPool;
use scheduler::{Scheduler, SchedulerStats};
use step::DistributedMatmul;

/// Default wait for one work unit before its worker is declared lost.
pub const DEFAULT_UNIT_TIMEOUT: Duration = Duration::from_secs(300);
/// Default wait for the client's verdict after an epoch before the job is abandoned.
pub const DEFAULT_VERDICT_TIMEOUT: Duration = Duration::from_secs(3600);

/// How a trainer runs.
#[derive(Clone)]
pub struct TrainerConfig {
    /// Who is who.
    pub roster: Roster,
    /// What to accept in received material.
    pub options: ServerOptions,
    /// Wait for one unit before re-sending it elsewhere.
    pub unit_timeout: Duration,
    /// Wait for the client's verdict after an epoch.
    pub verdict_timeout: Duration,
    /// The tokio runtime that drives the epoch loop (the host's).
    pub runtime: tokio::runtime::Handle,
    /// Recorder of sent bytes (tests).
    pub tap: Option<Tap>,
    /// Where the job reports its steps, validations and final model.
    pub progress: Option<ProgressSink>,
    /// Where the job checkpoints its state, and whether it resumes from there.
    pub checkpoint: Option<CheckpointConfig>,
}

impl std::fmt::Debug for TrainerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainerConfig")
            .field("roster", &self.roster)
            .field("options", &self.options)
            .field("unit_timeout", &self.unit_timeout)
            .field("verdict_timeout", &self.verdict_timeout)
            .field("tap", &self.tap.is_some())
            .field("progress", &self.progress.is_some())
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

/// What a finished job did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerReport {
    /// Epochs run.
    pub epochs: usize,
    /// Steps taken.
    pub steps: usize,
    /// Ciphertexts bootstrapped by the trainer.
    pub bootstraps: usize,
    /// The client's verdicts, in order.
    pub verdicts: Vec<Verdict>,
    /// Unit and byte counters.
    pub scheduler: SchedulerStats,
    /// Units completed per live worker.
    pub balance: Vec<(NodeName, usize)>,
    /// Workers lost during the job.
    pub lost_workers: Vec<NodeName>,
    /// Wall time of the epoch loop.
    pub elapsed: Duration,
    /// The disk-backed training set's counters (peak resident bytes against the budget), when
    /// the trainer streamed it.
    pub dataset: Option<DatasetStats>,
}

/// The outcome of the trainer's last job, shared with the host.
#[derive(Debug, Clone, Default)]
pub struct TrainerHandle {
    outcome: Arc<Mutex<Option<std::result::Result<TrainerReport, String>>>>,
    pool: Arc<Mutex<WorkerPool>>,
}

impl TrainerHandle {
    /// The last job's report (or its error), once it has finished.
    pub fn outcome(&self) -> Option<std::result::Result<TrainerReport, String>> {
        self.outcome.lock().ok().and_then(|o| o.clone())
    }

    /// Live workers now.
    pub fn workers(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// The pool the trainer's workers join (a [`Scheduler`] can dispatch to it directly).
    pub fn pool(&self) -> Arc<Mutex<WorkerPool>> {
        Arc::clone(&self.pool)
    }
}

/// The trainer actor.
pub struct Trainer<B: ServerBackend> {
    config: TrainerConfig,
    node: Node,
    handle: TrainerHandle,
    verdicts: Option<mpsc::UnboundedSender<Verdict>>,
    /// Material the client offered by reference and this process holds, until its upload.
    pinned: Pinned<B>,
    /// How long a resumed job waits for the roster's workers to re-join.
    resume_grace: Duration,
    /// The upload being received and the job that started last.
    upload: upload::UploadState,
    /// Where the training set is kept on disk and streamed from, within a memory budget.
    dataset: Option<DatasetConfig>,
}

impl<B: ServerBackend> Trainer<B> {
    /// A trainer on `node`.
    pub fn new(node: Node, config: TrainerConfig) -> Self {
        Self {
            config,
            node,
            handle: TrainerHandle::default(),
            verdicts: None,
            pinned: Pinned::default(),
            resume_grace: Duration::ZERO,
            upload: upload::UploadState::default(),
            dataset: None,
        }
    }

    /// Keeps the training set of the trainer's jobs in `dataset.dir` (one file per batch, found
    /// again by a resumed upload or a restarted trainer) and streams each batch in for its
    /// step, holding at most `dataset.memory_budget` bytes of batches; `None` keeps them in
    /// memory.
    pub fn with_dataset(mut self, dataset: Option<DatasetConfig>) -> Self {
        self.dataset = dataset;
        self
    }

    /// Makes a job resumed by [`Self::resume_saved_job`] wait up to `grace` for the roster's
    /// workers to re-join before it takes a step (they notice the restart when their old
    /// connection times out): without them the trainer computes every unit itself, and the
    /// job's multiplications are cut for another number of workers than before the crash.
    pub fn set_resume_grace(&mut self, grace: Duration) {
        self.resume_grace = grace;
    }

    /// The host's view of its jobs.
    pub fn handle(&self) -> TrainerHandle {
        self.handle.clone()
    }

    /// Resumes the job whose upload a previous trainer process saved in the checkpoint
    /// directory (it was killed or crashed): the job continues from its newest checkpoint and
    /// talks to the client as if nothing had happened. Returns whether there was such a job;
    /// a damaged upload file is an error. Call it before registering the actor.
    pub fn resume_saved_job(&mut self) -> Result<bool> {
        let Some(config) = self.config.checkpoint.as_ref().filter(|c| c.resume) else {
            return Ok(false);
        };
        let Some(saved) = load_upload(&upload_path(&config.dir), config.max_file_bytes)? else {
            return Ok(false);
        };
        let dir = self.batch_dir().unwrap_or_else(|| config.dir.clone());
        tracing::info!(
            "resuming the job saved in {} ({} training batches in {})",
            config.dir.display(),
            saved.manifest.batches.len(),
            dir.display()
        );
        let job = upload::JobUpload {
            batches: upload::TrainBatches::Files(BatchFiles::open(dir)?),
            manifest: saved.manifest,
            start: saved.start,
        };
        self.upload.set_started(job.manifest.job);
        self.start_job(job, None, false);
        Ok(true)
    }

    /// Runs the job of `msg` in the background; `save` writes the upload next to the
    /// checkpoints first (when the job checkpoints) so that a restarted trainer finds it.
    fn start_job(&mut self, upload: upload::JobUpload, pinned: Option<Arc<B>>, save: bool) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.verdicts = Some(tx);
        if let Ok(mut outcome) = self.handle.outcome.lock() {
            *outcome = None;
        }
        let job = Job {
            node: self.node.clone(),
            config: self.config.clone(),
            pool: Arc::clone(&self.handle.pool),
            save_upload: save,
            dataset: self.dataset.clone(),
            // Only a resumed job (not saved again) waits for its workers to come back.
            worker_grace: if save {
                Duration::ZERO
            } else {
                self.resume_grace
            },
        };
        let outcome = Arc::clone(&self.handle.outcome);
        self.config.runtime.spawn(async move {
            let result = job.run::<B>(upload, pinned, rx).await;
            if let Err(e) = &result {
                tracing::error!("training job failed: {e}");
            }
            if let Ok(mut slot) = outcome.lock() {
                *slot = Some(result.map_err(|e| e.to_string()));
            }
        });
    }
}

impl<B: ServerBackend> Actor for Trainer<B> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .tell::<UploadTraining>()
            .tell::<JoinPool>()
            .tell::<EpochVerdict>()
            .tell::<UploadBatch>()
            .tell::<StartTraining>()
            .ask::<UploadManifest>()
            .ask::<OfferMaterial>();
    }
}

impl<B: ServerBackend> Respond<OfferMaterial> for Trainer<B> {
    fn respond(&mut self, msg: OfferMaterial, ctx: &MessageContext) -> Response<MaterialAnswer> {
        if let Err(e) = self
            .config
            .roster
            .require(ctx, "OfferMaterial", &[Role::Client])
        {
            return Response::Ready(Err(e));
        }
        Response::ok(self.pinned.answer(&msg))
    }
}

impl<B: ServerBackend> Handle<JoinPool> for Trainer<B> {
    fn handle(&mut self, _: JoinPool, ctx: &MessageContext) -> Result<(), Rejection> {
        self.config
            .roster
            .require(ctx, "JoinPool", &[Role::Worker])?;
        self.handle
            .pool
            .lock()
            .map_err(|_| Rejection::new("worker pool poisoned"))?
            .join(ctx.sender().clone());
        Ok(())
    }
}

impl<B: ServerBackend> Handle<EpochVerdict> for Trainer<B> {
    fn handle(&mut self, msg: EpochVerdict, ctx: &MessageContext) -> Result<(), Rejection> {
        self.config
            .roster
            .require(ctx, "EpochVerdict", &[Role::Client])?;
        match &self.verdicts {
            Some(tx) if tx.send(msg.0).is_ok() => Ok(()),
            _ => Err(Rejection::new("no training job is waiting for a verdict")),
        }
    }
}

impl<B: ServerBackend> Handle<UploadTraining> for Trainer<B> {
    fn handle(&mut self, msg: UploadTraining, ctx: &MessageContext) -> Result<(), Rejection> {
        self.config
            .roster
            .require(ctx, "UploadTraining", &[Role::Client])?;
        self.single_upload(msg)
    }
}

struct Job {
    node: Node,
    config: TrainerConfig,
    pool: Arc<Mutex<WorkerPool>>,
    /// Save the upload next to the checkpoints before training (not when it came from there).
    save_upload: bool,
    /// Wait this long for the roster's workers before the first step.
    worker_grace: Duration,
    /// Stream the training set from disk within a memory budget.
    dataset: Option<DatasetConfig>,
}

/// The trainer's state as a checkpoint of the run hashed `config`, `epoch_step` steps into
/// `epoch`.
fn snapshot<E: SlotEvaluator, M: MatmulExecutor<E>>(
    trainer: &EncryptedTrainer<'_, E, M>,
    verdicts: &[Verdict],
    epoch: usize,
    epoch_step: usize,
    config: Digest32,
) -> TrainingCheckpoint<E::Ct> {
    TrainingCheckpoint {
        config,
        epoch: epoch as u64,
        epoch_step: epoch_step as u64,
        steps: trainer.totals().steps as u64,
        bootstraps: trainer.totals().bootstraps() as u64,
        verdicts: verdicts.to_vec(),
        w: trainer.weights().clone(),
        v: trainer.lookahead().clone(),
        best: trainer.best_weights().clone(),
        schedule: trainer.schedule().clone(),
    }
}

/// Where a checkpoint resumes: its epoch, steps into that epoch and steps in all, checked
/// against this job (`steps_per_epoch`, `max_epochs`) before anything is restored.
fn resume_position<C>(
    c: &TrainingCheckpoint<C>,
    steps_per_epoch: usize,
    max_epochs: usize,
) -> std::result::Result<(usize, usize, usize), String> {
    let epoch = usize::try_from(c.epoch).map_err(|_| format!("epoch {}", c.epoch))?;
    let epoch_step =
        usize::try_from(c.epoch_step).map_err(|_| format!("epoch step {}", c.epoch_step))?;
    let steps = usize::try_from(c.steps).map_err(|_| format!("step count {}", c.steps))?;
    let expected = epoch
        .checked_mul(steps_per_epoch)
        .and_then(|s| s.checked_add(epoch_step));
    if epoch > max_epochs
        || epoch_step > steps_per_epoch
        || c.verdicts.len() != epoch
        || expected != Some(steps)
    {
        return Err(format!(
            "inconsistent position: epoch {epoch} (of at most {max_epochs}), step {epoch_step} \
             of {steps_per_epoch}, {steps} steps, {} verdicts",
            c.verdicts.len()
        ));
    }
    Ok((epoch, epoch_step, steps))
}

/// How often the trainer looks for finished bootstraps to report.
const BOOTSTRAP_POLL: Duration = Duration::from_millis(250);

/// Reports each new bootstrap of `backend` to `sink` until aborted (a CKKS bootstrap at
/// N = 2^16 takes seconds: a progress bar moves between steps).
async fn report_bootstraps<B: ServerBackend>(backend: Arc<B>, sink: ProgressSink) {
    let Some(mut seen) = backend.bootstraps_run() else {
        return;
    };
    let start = seen;
    loop {
        tokio::time::sleep(BOOTSTRAP_POLL).await;
        let now = backend.bootstraps_run().unwrap_or(seen);
        if now != seen {
            seen = now;
            let total = usize::try_from(now - start).unwrap_or(usize::MAX);
            sink(ProgressEvent::Bootstrap { total });
        }
    }
}

impl Job {
    /// Waits up to [`Job::worker_grace`] until every roster worker is in the pool.
    async fn wait_for_workers(&self) {
        let expected = self.config.roster.workers.len();
        let live = || self.pool.lock().map(|p| p.len()).unwrap_or(0);
        if self.worker_grace.is_zero() || live() >= expected {
            return;
        }
        let deadline = tokio::time::Instant::now() + self.worker_grace;
        while live() < expected && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!("resuming with {} of {expected} workers in the pool", live());
    }

    async fn run<B: ServerBackend>(
        self,
        upload: upload::JobUpload,
        pinned: Option<Arc<B>>,
        verdicts: mpsc::UnboundedReceiver<Verdict>,
    ) -> Result<TrainerReport> {
        let options = self.config.options;
        let checkpoints = self.config.checkpoint.is_some();
        let save_to = match &self.config.checkpoint {
            Some(c) if self.save_upload => Some(c.dir.clone()),
            _ => None,
        };
        let dataset = self.dataset.clone();
        let mut job: upload::Decoded<B> = tokio::task::spawn_blocking(move || {
            upload::decode_job(upload, options, checkpoints, pinned, save_to, dataset)
        })
        .await
        .map_err(|e| ActorError::Lost(e.to_string()))??;
        let batch_files = job.files.take();
        if self.config.roster.evaluator.is_none() && job.validation.is_none() {
            return Err(ActorError::Protocol(
                "no evaluator and no validation set for the trainer".into(),
            ));
        }
        self.pool
            .lock()
            .map_err(|_| ActorError::Lost("worker pool poisoned".into()))?
            .reset_jobs();
        self.wait_for_workers().await;
        let runtime = tokio::runtime::Handle::current();
        let ticker = self.config.progress.clone().map(|sink| {
            let backend = Arc::clone(&job.backend);
            runtime.spawn(report_bootstraps(backend, sink))
        });
        // The epoch loop is synchronous (the step is `hetal_learn`'s); it runs on a blocking
        // thread and blocks on the runtime for the network.
        let saved = self.config.checkpoint.as_ref().map(|c| upload_path(&c.dir));
        let result = tokio::task::spawn_blocking(move || self.train(job, verdicts, runtime))
            .await
            .map_err(|e| ActorError::Lost(e.to_string()))?;
        if let Some(ticker) = ticker {
            ticker.abort();
        }
        // The client has its model: a restarted trainer has no job to resume (the checkpoints
        // stay, so a re-upload of the same job still ends at once with the same model).
        if let (Ok(_), Some(path)) = (&result, saved)
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("removing {}: {e}", path.display());
        }
        if let (Ok(_), Some((files, entries))) = (&result, batch_files) {
            upload::remove_batches(&files, &entries);
        }
        result
    }

    /// The epoch loop: steps, validation, the client's verdict; then the best weights to the
    /// client.
    fn train<B: ServerBackend>(
        &self,
        job: upload::Decoded<B>,
        mut verdicts: mpsc::UnboundedReceiver<Verdict>,
        runtime: tokio::runtime::Handle,
    ) -> Result<TrainerReport> {
        let progress = &self.config.progress;
        let scheduler = Arc::new(
            Scheduler::new(
                self.node.clone(),
                Arc::clone(&self.pool),
                Arc::clone(&job.backend),
                job.keys,
                self.config.unit_timeout,
                self.config.tap.clone(),
            )
            .with_job_bootstrap_keys()?,
        );
        let matmul = DistributedMatmul::new(Arc::clone(&scheduler), runtime.clone());
        // Bootstrap stages go to the workers as the pool's placement allows (`step.rs`).
        let ev = BootstrapVia::new(job.backend.evaluator()?, &matmul);
        let setup = job.setup;
        let mut trainer = EncryptedTrainer::with_executor(
            &ev,
            setup.hyper,
            setup.variant,
            job.initial,
            job.backend.bootstrap_min(),
            &matmul,
        )?;
        if !job.backend.bootstraps() {
            trainer.disable_bootstrapping();
        }
        // A failed multiplication surfaces as a learn error: report the network's own.
        let failed = |e: hetal_learn::Error| matmul.take_failure().unwrap_or(e.into());
        let hyper = setup.hyper;
        let mut order: Vec<usize> = (0..job.train.len()).collect();
        let mut rng = hyper.shuffle_seed.map(ChaCha8Rng::seed_from_u64);
        let mut report = TrainerReport {
            epochs: 0,
            steps: 0,
            bootstraps: 0,
            verdicts: Vec::new(),
            scheduler: SchedulerStats::default(),
            balance: Vec::new(),
            lost_workers: Vec::new(),
            elapsed: Duration::ZERO,
            dataset: None,
        };
        progress::report(
            progress,
            ProgressEvent::JobStarted {
                steps_per_epoch: order.len(),
                max_epochs: hyper.max_epochs,
            },
        );
        let checkpoints = match (&self.config.checkpoint, job.identity) {
            (Some(config), Some((material, dataset))) => {
                let run = RunConfig {
                    hyper,
                    variant: setup.variant,
                    unit: setup.unit,
                    classes: setup.classes,
                    dim: setup.dim,
                    train_batches: job.train.len(),
                    weight_scale: trainer.weight_scale(),
                    dataset,
                };
                Some(JobCheckpoints::from_parts(
                    config,
                    &*job.backend,
                    run,
                    material,
                )?)
            }
            _ => None,
        };
        let resumed = match &checkpoints {
            Some(c) => c.resume()?,
            None => None,
        };
        let mut first_epoch = 0;
        let mut skip = 0;
        let mut stopped = false;
        if let Some(loaded) = resumed {
            let c = loaded.checkpoint;
            let (epoch, epoch_step, steps) = resume_position(&c, order.len(), hyper.max_epochs)
                .map_err(|e| {
                    ActorError::Config(format!("checkpoint {}: {e}", loaded.path.display()))
                })?;
            stopped = c
                .last_verdict()
                .is_some_and(|v| v.decision == Decision::Stop);
            trainer.restore(c.w, c.v, c.best, c.schedule, steps)?;
            report.epochs = c.verdicts.len();
            report.verdicts = c.verdicts;
            // The epochs' shuffles are a seeded sequence: replay the ones already taken.
            if let Some(rng) = rng.as_mut() {
                for _ in 0..epoch {
                    order.shuffle(rng);
                }
            }
            first_epoch = epoch;
            skip = epoch_step;
            tracing::info!(
                "resuming from {} at epoch {epoch}, step {epoch_step} ({steps} steps taken)",
                loaded.path.display()
            );
        }
        let start = Instant::now();
        let epochs = if stopped {
            first_epoch..first_epoch
        } else {
            first_epoch..hyper.max_epochs
        };
        for epoch in epochs {
            if let Some(rng) = rng.as_mut() {
                order.shuffle(rng);
            }
            for (k, &b) in order.iter().enumerate().skip(std::mem::take(&mut skip)) {
                let step_start = Instant::now();
                let step = trainer.step(&*job.train.get(b)?).map_err(failed)?;
                if let Some(c) = &checkpoints {
                    let steps = trainer.totals().steps as u64;
                    c.after_step(steps, |h| {
                        snapshot(&trainer, &report.verdicts, epoch, k + 1, h)
                    })?;
                }
                progress::report(
                    progress,
                    ProgressEvent::Step {
                        epoch,
                        step: k + 1,
                        steps_per_epoch: order.len(),
                        bootstraps: step.state_bootstraps
                            + step.softmax_bootstraps
                            + step.residual_bootstraps,
                        elapsed: step_start.elapsed(),
                    },
                );
            }
            self.request_validation(
                epoch,
                &runtime,
                &*job.backend,
                &setup,
                &mut trainer,
                job.validation.as_deref(),
            )
            .map_err(|e| matmul.take_failure().unwrap_or(e))?;
            let verdict = self.await_verdict(epoch, &report.verdicts, &mut verdicts, &runtime)?;
            trainer.apply_verdict(&verdict);
            report.verdicts.push(verdict);
            report.epochs = epoch + 1;
            if let Some(c) = &checkpoints {
                c.after_verdict(|h| snapshot(&trainer, &report.verdicts, epoch + 1, 0, h))?;
            }
            if verdict.decision == Decision::Stop {
                break;
            }
        }
        report.elapsed = start.elapsed();
        report.dataset = job.train.stats();
        if let Some(d) = &report.dataset {
            tracing::info!(
                "dataset: peak {} bytes of batches in memory (budget {}), {} stored; {} loads, {} hits",
                d.peak_resident_bytes,
                d.memory_budget,
                d.stored_bytes,
                d.loads,
                d.hits
            );
        }
        report.steps = trainer.totals().steps;
        report.bootstraps = trainer.totals().bootstraps();
        report.scheduler = scheduler.stats();
        if let Ok(pool) = self.pool.lock() {
            report.balance = pool.balance();
            report.lost_workers = pool.lost().to_vec();
        }
        let mut sink = BlobSink::default();
        let best = encode_matrix(&*job.backend, trainer.best_weights(), &mut sink)?;
        let msg = sink.seal(FinalModelBody {
            best,
            weight_scale: trainer.weight_scale(),
            epochs: report.epochs,
            steps: report.steps,
        });
        tap::record(&self.config.tap, &msg);
        runtime.block_on(resend::tell_patiently(
            &self
                .node
                .remote_ref::<FinalModel>(&self.config.roster.client, CLIENT_ACTOR),
            msg,
            self.config.verdict_timeout,
        ))?;
        progress::report(
            progress,
            ProgressEvent::FinalModel {
                epochs: report.epochs,
                steps: report.steps,
            },
        );
        Ok(report)
    }

    /// Waits for the client's verdict on `epoch`. A repeat of a verdict already applied (`given`:
    /// the client re-sent it through a dropped connection, or answered a validation this
    /// trainer asked for again after resuming) is skipped; any other epoch is a protocol error.
    fn await_verdict(
        &self,
        epoch: usize,
        given: &[Verdict],
        verdicts: &mut mpsc::UnboundedReceiver<Verdict>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Verdict> {
        let deadline = tokio::time::Instant::now() + self.config.verdict_timeout;
        loop {
            let verdict = runtime
                .block_on(tokio::time::timeout_at(deadline, verdicts.recv()))
                .map_err(|_| {
                    ActorError::Lost(format!(
                        "no verdict for epoch {epoch} within {:?}",
                        self.config.verdict_timeout
                    ))
                })?
                .ok_or_else(|| {
                    ActorError::Protocol("the client went away before its verdict".into())
                })?;
            if verdict.epoch == epoch {
                return Ok(verdict);
            }
            let repeat = given.get(verdict.epoch).is_some_and(|g| {
                (g.epoch, g.decision, g.new_best)
                    == (verdict.epoch, verdict.decision, verdict.new_best)
            });
            if !repeat {
                return Err(ActorError::Protocol(format!(
                    "verdict for epoch {} while waiting for epoch {epoch}",
                    verdict.epoch
                )));
            }
            tracing::debug!("verdict for epoch {} repeated: skipped", verdict.epoch);
        }
    }

    /// Sends the epoch's weights to the evaluator, or computes the validation output itself
    /// (its multiplications distributed like the step's).
    fn request_validation<B: ServerBackend, E: SlotEvaluator<Ct = B::Ct>, M: MatmulExecutor<E>>(
        &self,
        epoch: usize,
        runtime: &tokio::runtime::Handle,
        backend: &B,
        setup: &TrainingSetup,
        trainer: &mut EncryptedTrainer<'_, E, M>,
        validation: Option<&[EncryptedBatch<B::Ct>]>,
    ) -> Result<()> {
        let roster = &self.config.roster;
        let mut sink = BlobSink::default();
        if let Some(evaluator) = &roster.evaluator {
            // Bootstrapping happens here, so the evaluator needs no bootstrapping key.
            trainer.prepare_validation(setup.validation)?;
            let weights = encode_matrix(backend, trainer.weights(), &mut sink)?;
            let msg = sink.seal(EvaluateEpochBody {
                client: roster.client.clone(),
                epoch,
                weights,
                weight_scale: trainer.weight_scale(),
            });
            tap::record(&self.config.tap, &msg);
            runtime.block_on(resend::tell_patiently(
                &self
                    .node
                    .remote_ref::<EvaluateEpoch>(evaluator, EVALUATOR_ACTOR),
                msg,
                self.config.verdict_timeout,
            ))?;
            return Ok(());
        }
        let validation =
            validation.ok_or_else(|| ActorError::Protocol("no validation set".into()))?;
        let event = |phase| ProgressEvent::Validation {
            epoch,
            by: Party::Trainer,
            kind: validation_kind(setup.validation),
            phase,
        };
        progress::report(&self.config.progress, event(Phase::Started));
        let start = Instant::now();
        let outputs = trainer.validation_output(setup.validation, validation)?;
        let outputs = outputs
            .iter()
            .map(|p| encode_matrix(backend, p, &mut sink))
            .collect::<Result<Vec<_>>>()?;
        let msg = sink.seal(ValidationOutputBody {
            epoch,
            form: setup.validation,
            outputs,
        });
        progress::report(
            &self.config.progress,
            event(Phase::Finished {
                elapsed: start.elapsed(),
            }),
        );
        tap::record(&self.config.tap, &msg);
        runtime.block_on(resend::tell_patiently(
            &self
                .node
                .remote_ref::<ValidationOutput>(&roster.client, CLIENT_ACTOR),
            msg,
            self.config.verdict_timeout,
        ))?;
        Ok(())
    }
}
