//! `hetal train`: encrypted training on the user's own features.
//!
//! ```text
//! hetal train --train features_train.npy --val features_val.npy [--test features_test.npy]
//!             [--config hetal.toml] [--out DIR] [--backend ckks|sim] [--preset NAME] [...]
//! ```
//!
//! [`plan`] reads and checks everything first — configuration (defaults < `--config` file <
//! `HETAL_*` environment < flags, see [`super::config`]), the data files, the preset's security
//! and capacity — so that bad input fails in seconds with exit code 3 (4 for an insecure preset
//! without `--allow-insecure`), before any key is generated. [`execute`] then runs the whole
//! deployment in this process (client, trainer, `--workers` workers and an evaluator as actors,
//! over QUIC loopback or in memory), trains the plaintext reference beside it, and writes
//! `DIR/model.hetal` (the client's decrypted model, [`crate::model`]) and `DIR/report.json` +
//! `DIR/report.html` ([`crate::report`]).
//!
//! With `--checkpoint-dir D` the trainer checkpoints every step into `D` and the client keeps its
//! verdicts in `D/client-review.hcrv`; `--resume` continues such a run after a crash from where
//! it stopped (same data and configuration). A CKKS run keeps the client's secret key in a 0600
//! key file (`--keystore`, default `D/client-secret.key`) and a digest of the data it encrypted;
//! resumed, the client reads the key back, takes the job's public keys from the upload the
//! trainer saved beside its checkpoints, checks that the key decrypts that job, and uploads the
//! saved ciphertexts again (the trainer holds their files: only the manifest and the start
//! message travel), so the trainer's checkpoints resume under the same keys. A damaged
//! checkpoint or one of another run is refused before training (exit 3). A checkpointed run
//! that finished records where its model and report are (`D/run-finished.hfin`); `--resume` on
//! it trains nothing, says so and where they are, and exits 0 (a CKKS trainer removes the
//! job's upload once the client has its model, so there would be nothing to continue from).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use hetal_actors::backend::ckks::{CkksClient, CkksServer, sim_config_for};
use hetal_actors::backend::sim::SimClient;
use hetal_actors::backend::{ClientBackend, ServerBackend, ServerOptions};
use hetal_actors::client::{
    DEFAULT_SEND_PATIENCE, EncryptedUpload, Inference, StopPolicy, classify, encrypt_to_files,
    upload_files, upload_saved,
};
use hetal_actors::config::BootstrapOnWorkers;
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, RunOutcome, Taps, encrypt_dataset,
};
use hetal_actors::messages::{BatchEntry, TrainingSetup, UploadManifest};
use hetal_actors::store::checkpoint::{CheckpointConfig, CheckpointStore, saved_run_config};
use hetal_actors::store::client_job::{
    client_job_path, load_client_job, plaintext_digest, save_client_job,
};
use hetal_actors::store::client_key::{
    client_key_path, load_client_key_with_public, save_client_key,
};
use hetal_actors::store::dataset::{BatchFiles, DatasetConfig};
use hetal_actors::store::finished::{
    FinishedRun, finished_run_path, load_finished_run, save_finished_run,
};
use hetal_actors::store::review::{ReviewPolicy, ReviewStore};
use hetal_actors::store::upload::{SavedJob, load_upload, upload_path};
use hetal_actors::trainer::upload::CHECKPOINT_BATCH_DIR;
use hetal_ckks::params::{ParameterSpec, SecurityLevel};
use hetal_ckks::serial::keystore::KeystoreOptions;
use hetal_data::{FeaturePack, PackOptions, Split, SplitSource, load_pack};
use hetal_learn::eval::{SimConfig, bootstrap_params_for};
use hetal_learn::pack::UnitShape;
use hetal_learn::softmax::ExactSoftmax;
use hetal_learn::train::checkpoint::Digest32;
use hetal_learn::train::server::DEFAULT_WEIGHT_SCALE;
use hetal_learn::train::{LabeledView, ReferenceTrainer, TrainOutcome};
use sha2::{Digest, Sha256};

use super::config::{
    BackendKind, ConfigLayer, DatasetLayer, NetworkKind, OptimizerName, TrainConfig, ValidationName,
};
use super::exit::Refusal;
use crate::model::{ModelFile, Normalization, NormalizeMethod};
use crate::report::{
    Accuracy, ConfusionMatrix, DatasetReport, EpochReport, Operations, PartyTraffic, PresetInfo,
    REPORT_VERSION, RunConfig, StageTime, TrainingReport,
};

/// Examples shown by `hetal train --help`.
pub const EXAMPLES: &str = "\
Examples:
  # dry run on the plaintext slot simulator (seconds)
  hetal train --train data/digits/features_train.npy --val data/digits/features_val.npy \\
              --test data/digits/features_test.npy --backend sim --out runs/digits-sim
  # real CKKS training with the settings of a config file, 4 workers
  hetal train --train x_train.npy --train-labels y_train.npy --val x_val.npy \\
              --val-labels y_val.npy --config hetal.toml --workers 4 --out runs/mine
  # CSV input with a label column named `target`
  hetal train --train train.csv --val val.csv --label-column target --backend sim
  # checkpoint every step; after a crash, the same command with --resume continues the run
  hetal train --train x.npy --val v.npy --backend sim --checkpoint-dir runs/ckpt
  hetal train --train x.npy --val v.npy --backend sim --checkpoint-dir runs/ckpt --resume
  # a CKKS run resumes under the secret key it saved (0600) in the checkpoint directory;
  # on a run that already finished, --resume prints where its model and report are, exit 0
  hetal train --train x.npy --val v.npy --checkpoint-dir runs/ckpt --resume
  # the encrypted training set on disk, at most 256 MiB of it in the trainer's memory
  hetal train --train x.npy --val v.npy --dataset-dir runs/enc --memory-budget 268435456

Configuration precedence: built-in defaults < --config FILE < HETAL_* environment variables
(HETAL_PRESET, HETAL_LEARNING_RATE, HETAL_BATCH_SIZE, ...) < command-line flags.
See hetal.example.toml for every key.";

/// Arguments of `hetal train`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXAMPLES)]
pub struct TrainArgs {
    /// Training features: a `.npy` matrix (labels beside it as `labels_*.npy`, or
    /// `--train-labels`) or a CSV file with a label column.
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Training labels (`.npy`), when not found by name beside `--train`.
    #[arg(long, value_name = "FILE")]
    pub train_labels: Option<PathBuf>,
    /// Validation features (early stopping), same forms as `--train`.
    #[arg(long, value_name = "FILE")]
    pub val: PathBuf,
    /// Validation labels (`.npy`).
    #[arg(long, value_name = "FILE")]
    pub val_labels: Option<PathBuf>,
    /// Test features, scored at the end by the decrypted model.
    #[arg(long, value_name = "FILE")]
    pub test: Option<PathBuf>,
    /// Test labels (`.npy`).
    #[arg(long, value_name = "FILE")]
    pub test_labels: Option<PathBuf>,
    /// TOML configuration (see hetal.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output directory for model.hetal, report.json and report.html.
    #[arg(long, value_name = "DIR", default_value = "hetal-train")]
    pub out: PathBuf,
    /// `ckks` (real encryption; default) or `sim` (plaintext slot simulator: a fast dry run).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// CKKS parameter preset (default boot-n16; `hetal params` lists them).
    #[arg(long)]
    pub preset: Option<String>,
    /// Accept a preset below 128-bit security (tests only).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Hyper-parameter preset the flags below override (digits, mnist, cifar10, ...).
    #[arg(long)]
    pub hyper_preset: Option<String>,
    /// Learning rate.
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Rows per mini-batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Upper bound on epochs.
    #[arg(long = "epochs")]
    pub max_epochs: Option<usize>,
    /// Epochs without a better validation loss before the client stops.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Update rule.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerName>,
    /// Shuffle the batch order every epoch with this seed.
    #[arg(long)]
    pub shuffle_seed: Option<u64>,
    /// Softmax approximation (hetal, hetal-precise, hetal-rs).
    #[arg(long)]
    pub softmax: Option<String>,
    /// What validation returns each epoch: encrypted logits (no bootstrap; default) or
    /// encrypted probabilities (HETAL's way).
    #[arg(long, value_enum)]
    pub validation: Option<ValidationName>,
    /// Worker nodes.
    #[arg(long)]
    pub workers: Option<usize>,
    /// How the in-process parties talk.
    #[arg(long, value_enum)]
    pub network: Option<NetworkKind>,
    /// Validate on the trainer instead of a separate evaluator node.
    #[arg(long)]
    pub no_evaluator: bool,
    /// Where the trainer's bootstrap stages run: auto (on the workers when the bootstrapping
    /// keys take at most 2 GiB, i.e. N <= 2^13; default), true (on the workers, each holding
    /// the keys) or false (on the trainer).
    #[arg(long, value_name = "auto|true|false")]
    pub bootstrap_on_workers: Option<BootstrapOnWorkers>,
    /// Label column of CSV inputs (default `label`).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Number of classes (default: one more than the largest training label).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Feature normalisation fitted on the training set.
    #[arg(long, value_enum)]
    pub normalize: Option<NormalizeMethod>,
    /// Checkpoint the run into DIR after every step (the trainer's encrypted state, its upload
    /// and the client's verdicts) so that `--resume` can continue it after a crash.
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue the run checkpointed in --checkpoint-dir (default OUT/checkpoints), with the
    /// same data and configuration; a damaged checkpoint or one of another run is refused. On
    /// a run that finished, print where its model and report are and exit 0.
    #[arg(long)]
    pub resume: bool,
    /// The client's secret key file (created 0600) of a checkpointed CKKS run: written when the
    /// run starts, read back by --resume (default CHECKPOINT_DIR/client-secret.key).
    #[arg(long, value_name = "FILE")]
    pub keystore: Option<PathBuf>,
    /// Keep the encrypted training set on the trainer's disk in DIR (one file per batch) and
    /// stream each batch in for its step (`[dataset] dir`).
    #[arg(long, value_name = "DIR")]
    pub dataset_dir: Option<PathBuf>,
    /// Most bytes of encrypted batches the trainer holds in memory with --dataset-dir
    /// (`[dataset] memory_budget_bytes`; default 1 GiB).
    #[arg(long, value_name = "BYTES")]
    pub memory_budget: Option<u64>,
}

impl TrainArgs {
    /// The flags as the top configuration layer (unset flags leave lower layers in force).
    pub fn flag_layer(&self) -> ConfigLayer {
        ConfigLayer {
            backend: self.backend,
            preset: self.preset.clone(),
            allow_insecure: self.allow_insecure.then_some(true),
            hyper_preset: self.hyper_preset.clone(),
            learning_rate: self.learning_rate,
            batch_size: self.batch_size,
            max_epochs: self.max_epochs,
            patience: self.patience,
            optimizer: self.optimizer,
            shuffle_seed: self.shuffle_seed,
            softmax: self.softmax.clone(),
            validation: self.validation,
            workers: self.workers,
            network: self.network,
            evaluator: self.no_evaluator.then_some(false),
            bootstrap_on_workers: self.bootstrap_on_workers,
            label_column: self.label_column.clone(),
            classes: self.classes,
            normalize: self.normalize,
            dataset: (self.dataset_dir.is_some() || self.memory_budget.is_some()).then(|| {
                DatasetLayer {
                    dir: self.dataset_dir.clone(),
                    memory_budget_bytes: self.memory_budget,
                }
            }),
        }
    }
}

/// Everything a run needs, checked: the resolved configuration, the (normalised) data, the
/// encryption parameters and the packing.
#[derive(Debug, Clone)]
pub struct TrainPlan {
    /// Resolved configuration.
    pub config: TrainConfig,
    /// The CKKS parameters (the simulator mirrors their slot count).
    pub spec: ParameterSpec,
    /// Slots per ciphertext.
    pub slots: usize,
    /// The data, normalised if configured.
    pub pack: FeaturePack,
    /// The normalisation fitted on the training split.
    pub normalization: Option<Normalization>,
    /// What the client uploads with the job.
    pub setup: TrainingSetup,
    /// Where the training features came from (for the report).
    pub data_name: String,
    /// Output directory.
    pub out: PathBuf,
    /// Where the run checkpoints, and whether it resumes from there.
    pub checkpoint: Option<CheckpointPlan>,
}

/// The client's verdict file inside a checkpoint directory.
pub const REVIEW_FILE: &str = "client-review.hcrv";

/// Where a run checkpoints and whether it continues the run found there.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPlan {
    /// The trainer's checkpoints, its saved upload and the client's [`REVIEW_FILE`].
    pub dir: PathBuf,
    /// Continue from the newest checkpoint in `dir` (else start afresh, overwriting it).
    pub resume: bool,
    /// The client's secret key file (CKKS runs).
    pub keystore: PathBuf,
    /// The job a resumed CKKS run uploads again, checked while planning.
    pub saved: Option<SavedCkksJob>,
    /// Digest of this run's backend, preset, training setup and data: what a finished run's
    /// record names, so that `--resume` recognizes the run.
    pub run_digest: Digest32,
    /// The record of this run, found by `--resume` when the run had already finished: nothing
    /// is trained, its outputs are reported.
    pub finished: Option<FinishedRun>,
}

/// A CKKS job as the trainer saved it beside its checkpoints: what a resumed run re-sends.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedCkksJob {
    /// Manifest and start message (the public keys in full).
    pub job: SavedJob,
    /// The directory of its training batch files.
    pub batches: PathBuf,
}

/// Largest error the key probe of a resumed run may show under the right key: one product of two
/// fresh encryptions is exact to far below 2^-12 of the scale at every preset, whereas under
/// another key the relinearization keys do not match and the product decrypts to values of the
/// order of the modulus.
const KEY_CHECK_BOUND: f64 = 1.0 / 256.0;

impl CheckpointPlan {
    /// The trainer's checkpoint settings: every step, the newest two kept.
    pub fn trainer_config(&self) -> CheckpointConfig {
        CheckpointConfig {
            resume: self.resume,
            ..CheckpointConfig::new(&self.dir)
        }
    }

    /// The client's verdict file.
    pub fn review_file(&self) -> PathBuf {
        self.dir.join(REVIEW_FILE)
    }
}

/// The checkpoint plan of `args`, checked: resuming needs a checkpoint to resume and a
/// readable client verdict file of this run (labels, patience) if there is one; a CKKS run
/// also its key file, the trainer's saved upload of this setup and data, and a newest
/// checkpoint of that job ([`saved_ckks_job`]).
fn checkpoint_plan(
    args: &TrainArgs,
    config: &TrainConfig,
    pack: &FeaturePack,
    setup: &TrainingSetup,
) -> anyhow::Result<Option<CheckpointPlan>> {
    let mut plan = match (&args.checkpoint_dir, args.resume) {
        (None, false) => {
            if args.keystore.is_some() {
                return Err(Refusal::BadInput(
                    "--keystore keeps the key of a checkpointed run: it needs --checkpoint-dir \
                     or --resume"
                        .into(),
                )
                .into());
            }
            return Ok(None);
        }
        (dir, resume) => {
            let dir = dir.clone().unwrap_or_else(|| args.out.join("checkpoints"));
            CheckpointPlan {
                keystore: args
                    .keystore
                    .clone()
                    .unwrap_or_else(|| client_key_path(&dir)),
                dir,
                resume,
                saved: None,
                run_digest: run_digest(config, pack, setup)?,
                finished: None,
            }
        }
    };
    if !plan.resume {
        return Ok(Some(plan));
    }
    if let Some(done) = finished_run(&plan)? {
        plan.finished = Some(done);
        return Ok(Some(plan));
    }
    let store = CheckpointStore::open(plan.trainer_config())
        .map_err(|e| Refusal::BadInput(format!("--resume: {e}")))?;
    if store
        .files()
        .map_err(|e| Refusal::BadInput(format!("--resume: {e}")))?
        .is_empty()
    {
        return Err(Refusal::BadInput(format!(
            "--resume: no checkpoint in {} (start without --resume)",
            plan.dir.display()
        ))
        .into());
    }
    let policy = ReviewPolicy {
        patience: config.hyper.patience,
        budget: None,
    };
    ReviewStore::new(plan.review_file(), policy, pack.val().labels())
        .load()
        .map_err(|e| Refusal::BadInput(format!("--resume: {e}")))?;
    if config.backend == BackendKind::Ckks {
        plan.saved = Some(saved_ckks_job(&plan, config, pack, setup)?);
    }
    Ok(Some(plan))
}

/// Digest of what makes a run this run: backend, preset, the training setup and the data.
fn run_digest(
    config: &TrainConfig,
    pack: &FeaturePack,
    setup: &TrainingSetup,
) -> anyhow::Result<Digest32> {
    let mut h = Sha256::new();
    h.update(b"hetal-train-run/1");
    for part in [config.backend.name(), config.preset.as_str()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let setup = serde_json::to_vec(setup).context("encoding the training setup")?;
    h.update((setup.len() as u64).to_le_bytes());
    h.update(&setup);
    h.update(plaintext_digest(&plain_data(pack)));
    Ok(h.finalize().into())
}

/// The record of this very run in `plan.dir` if it finished (a record of another run, e.g.
/// other data or hyper-parameters, is not this run's: the checkpoints then decide). Its outputs
/// must still be there; a damaged record is refused.
fn finished_run(plan: &CheckpointPlan) -> anyhow::Result<Option<FinishedRun>> {
    let refuse = |e: &dyn std::fmt::Display| Refusal::BadInput(format!("--resume: {e}"));
    let Some(done) = load_finished_run(&finished_run_path(&plan.dir)).map_err(|e| refuse(&e))?
    else {
        return Ok(None);
    };
    if done.run != plan.run_digest {
        return Ok(None);
    }
    for (what, path) in [("model", &done.model), ("report", &done.report_json)] {
        if !path.is_file() {
            return Err(refuse(&format!(
                "the run checkpointed in {} finished, but its {what} {} is gone; run without \
                 --resume to train it again",
                plan.dir.display(),
                path.display()
            ))
            .into());
        }
    }
    Ok(Some(done))
}

/// `--resume` on a run that finished: nothing to train; says where its results are and
/// returns its report as written.
fn finished_output(ckpt: &CheckpointPlan, done: &FinishedRun) -> anyhow::Result<TrainOutput> {
    let text = std::fs::read_to_string(&done.report_json)
        .with_context(|| format!("reading {}", done.report_json.display()))?;
    let report = TrainingReport::from_json(&text)
        .map_err(|e| Refusal::BadInput(format!("--resume: {}: {e}", done.report_json.display())))?;
    println!(
        "resume: the run checkpointed in {} has finished ({} epochs); nothing to resume",
        ckpt.dir.display(),
        report.operations.epochs
    );
    println!(
        "model: {}\nreport: {}, {}\n(run without --resume to train it again)",
        done.model.display(),
        done.report_json.display(),
        done.report_html.display()
    );
    Ok(TrainOutput {
        model_path: done.model.clone(),
        report_json: done.report_json.clone(),
        report_html: done.report_html.clone(),
        report,
    })
}

/// Records in the checkpoint directory that the run finished and where its outputs are
/// (absolute paths, so that `--resume` from another directory finds them).
fn record_finished(ckpt: &CheckpointPlan, outputs: [&Path; 3]) -> anyhow::Result<()> {
    let [model, report_json, report_html] = outputs.map(std::path::absolute);
    let path = finished_run_path(&ckpt.dir);
    save_finished_run(
        &path,
        &FinishedRun {
            run: ckpt.run_digest,
            model: model?,
            report_json: report_json?,
            report_html: report_html?,
        },
    )
    .with_context(|| format!("recording the finished run in {}", path.display()))
}

/// `pack`'s training and validation sets as the client encrypts them.
fn plain_data(pack: &FeaturePack) -> PlainData<'_> {
    PlainData {
        train_x: pack.train().features().view(),
        train_y: pack.train().labels(),
        val_x: pack.val().features().view(),
    }
}

/// The job a CKKS run checkpointed in `plan.dir` uploaded, checked for resuming: the client's
/// key file is there, the trainer saved the upload (it is removed when a run ends well), the
/// upload has this `setup`, the client's record says it encrypts `pack`'s data, and the newest
/// checkpoint is of that job.
fn saved_ckks_job(
    plan: &CheckpointPlan,
    config: &TrainConfig,
    pack: &FeaturePack,
    setup: &TrainingSetup,
) -> anyhow::Result<SavedCkksJob> {
    let refuse = |e: &dyn std::fmt::Display| Refusal::BadInput(format!("--resume: {e}"));
    if !plan.keystore.is_file() {
        return Err(refuse(&format!(
            "no client key file {} (a CKKS run resumes under the key it encrypted its data \
             with; pass --keystore if it is elsewhere)",
            plan.keystore.display()
        ))
        .into());
    }
    let limit = CheckpointConfig::new(&plan.dir).max_file_bytes;
    let job = load_upload(&upload_path(&plan.dir), limit)
        .map_err(|e| refuse(&e))?
        .ok_or_else(|| {
            refuse(&format!(
                "no saved upload in {}: the run finished (the trainer removes it with the last \
                 verdict; its model is in --out) or never started training; run without --resume",
                plan.dir.display()
            ))
        })?;
    if job.manifest.setup != *setup {
        return Err(refuse(&format!(
            "the job saved in {} was trained with another training configuration \
             (hyper-parameters, softmax, packing or validation)",
            plan.dir.display()
        ))
        .into());
    }
    let record = client_job_path(&plan.dir);
    match load_client_job(&record).map_err(|e| refuse(&e))? {
        Some(digest) if digest == plaintext_digest(&plain_data(pack)) => {}
        Some(_) => {
            return Err(refuse(&format!(
                "the job saved in {} encrypts other data than this command's --train/--val \
                 ({} records the data it was started with)",
                plan.dir.display(),
                record.display()
            ))
            .into());
        }
        None => {
            return Err(refuse(&format!(
                "no client job record {}: cannot tell which data the saved job encrypts",
                record.display()
            ))
            .into());
        }
    }
    let batches = match &config.dataset {
        Some(d) => d.dir.clone(),
        None => plan.dir.join(CHECKPOINT_BATCH_DIR),
    };
    let files = BatchFiles::open(&batches).map_err(|e| refuse(&e))?;
    let run =
        saved_run_config(&job.manifest, &files, DEFAULT_WEIGHT_SCALE).map_err(|e| refuse(&e))?;
    let store = CheckpointStore::open(plan.trainer_config()).map_err(|e| refuse(&e))?;
    match store.inspect_latest(&run.hash()).map_err(|e| refuse(&e))? {
        Some((path, s)) => println!(
            "resume: {} (epoch {}, {} steps taken) belongs to the saved job {}",
            path.display(),
            s.epoch + 1,
            s.steps,
            job.manifest.job
        ),
        None => {
            return Err(refuse(&format!("no checkpoint in {}", plan.dir.display())).into());
        }
    }
    Ok(SavedCkksJob { job, batches })
}

/// Refuses (exit 3) to resume from a checkpoint that is damaged or belongs to another run than
/// the training batches `entries` in `files` with `setup` (other data, hyper-parameters or
/// packing), before anything is uploaded.
fn check_resumable(
    plan: &CheckpointPlan,
    setup: TrainingSetup,
    entries: &[BatchEntry],
    files: &BatchFiles,
) -> anyhow::Result<()> {
    let refuse = |e: &dyn std::fmt::Display| Refusal::BadInput(format!("--resume: {e}"));
    let manifest = UploadManifest::new(setup, entries.to_vec(), Vec::new())?;
    let run = saved_run_config(&manifest, files, DEFAULT_WEIGHT_SCALE).map_err(|e| refuse(&e))?;
    let store = CheckpointStore::open(plan.trainer_config()).map_err(|e| refuse(&e))?;
    match store.inspect_latest(&run.hash()).map_err(|e| refuse(&e))? {
        Some((path, s)) => {
            println!(
                "resume: {} (epoch {}, {} steps taken) belongs to this run",
                path.display(),
                s.epoch + 1,
                s.steps
            );
            Ok(())
        }
        None => Err(refuse(&format!("no checkpoint in {}", plan.dir.display())).into()),
    }
}

/// Largest class count `slots` slots can pack: the padded count squared must fit.
pub fn max_classes(slots: usize) -> usize {
    let mut c = 1usize;
    while (2 * c) * (2 * c) <= slots {
        c *= 2;
    }
    c
}

/// The preset `name`, refused (exit 4) when it is insecure and `allow_insecure` is off.
pub fn checked_preset(name: &str, allow_insecure: bool) -> anyhow::Result<ParameterSpec> {
    let spec = hetal_ckks::params::preset(name)
        .map_err(|e| Refusal::BadInput(format!("preset {name:?}: {e}")))?;
    if spec.security == SecurityLevel::InsecureForTests && !allow_insecure {
        return Err(Refusal::Insecure(format!(
            "preset `{name}` is INSECURE (below 128-bit security, for tests only); pass \
             --allow-insecure (or allow_insecure = true) to use it anyway"
        ))
        .into());
    }
    Ok(spec)
}

fn normalized(split: &Split, n: &Normalization, classes: usize) -> anyhow::Result<Split> {
    let labels: Vec<i64> = split.labels().iter().map(|&l| l as i64).collect();
    Ok(Split::new(
        n.apply(split.features().view()),
        &labels,
        classes,
        Path::new("(normalised)"),
        Path::new("(normalised)"),
    )?)
}

/// Reads and checks the configuration and the data; nothing is encrypted yet.
pub fn plan(args: &TrainArgs) -> anyhow::Result<TrainPlan> {
    let file = match &args.config {
        Some(path) => ConfigLayer::from_file(path)?,
        None => ConfigLayer::default(),
    };
    let config = file
        .overridden_by(ConfigLayer::from_env()?)
        .overridden_by(args.flag_layer())
        .resolve()?;
    let spec = checked_preset(&config.preset, config.allow_insecure)?;
    let slots = 1usize << (spec.log_n - 1);
    let source = |features: &Path, labels: &Option<PathBuf>| {
        SplitSource::for_file(features, labels.as_deref(), &config.label_column)
    };
    let train = source(&args.train, &args.train_labels)?;
    let val = source(&args.val, &args.val_labels)?;
    let test = args
        .test
        .as_ref()
        .map(|t| source(t, &args.test_labels))
        .transpose()?;
    let data_name = args.train.display().to_string();
    let raw = load_pack(
        &data_name,
        &train,
        &val,
        test.as_ref(),
        PackOptions {
            classes: config.classes,
            max_classes: Some(max_classes(slots)),
        },
    )?;
    let classes = raw.num_classes();
    let normalization = Normalization::fit(config.normalize, raw.train().features().view());
    let pack = match &normalization {
        None => raw,
        Some(n) => FeaturePack::from_splits(
            raw.name(),
            classes,
            normalized(raw.train(), n, classes)?,
            normalized(raw.val(), n, classes)?,
            raw.test().map(|t| normalized(t, n, classes)).transpose()?,
        )?,
    };
    let hyper = config.hyper;
    let unit = UnitShape::hetal(hyper.batch_size, classes, slots)
        .map_err(|e| Refusal::BadInput(format!("packing: {e}")))?;
    if hyper.batch_size > unit.s0() {
        return Err(Refusal::BadInput(format!(
            "batch_size {} does not fit one block of {} rows with {classes} classes on preset \
             `{}` ({slots} slots); use batch_size <= {}",
            hyper.batch_size,
            unit.s0(),
            config.preset,
            unit.s0()
        ))
        .into());
    }
    let setup = TrainingSetup {
        hyper,
        variant: config.softmax,
        unit,
        classes,
        dim: pack.dim(),
        validation: config.validation,
    };
    let checkpoint = checkpoint_plan(args, &config, &pack, &setup)?;
    Ok(TrainPlan {
        setup,
        spec,
        slots,
        pack,
        normalization,
        data_name,
        out: args.out.clone(),
        checkpoint,
        config,
    })
}

/// Runs `hetal train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let plan = plan(args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(execute(&plan))?;
    Ok(())
}

/// What [`execute`] wrote.
#[derive(Debug, Clone)]
pub struct TrainOutput {
    /// `DIR/model.hetal`.
    pub model_path: PathBuf,
    /// `DIR/report.json`.
    pub report_json: PathBuf,
    /// `DIR/report.html`.
    pub report_html: PathBuf,
    /// The report.
    pub report: TrainingReport,
}

/// The simulator configuration a sim run uses: the preset's slot count, HETAL's levels, and
/// bootstrapping that fails on messages outside [-1, 1] as CKKS's would.
pub fn sim_config(slots: usize) -> SimConfig {
    SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(slots)
    }
}

/// The CKKS client for `plan`: fresh keys for every rotation the job performs, bootstrapping
/// keys and the sparse-secret encapsulation keys (the secret key never leaves this process).
pub fn ckks_client(plan: &TrainPlan) -> anyhow::Result<CkksClient> {
    Ok(CkksClient::generate_bootstrappable(
        &plan.spec,
        plan.config.allow_insecure,
        &plan.setup,
        None,
    )?)
}

/// The simulator a `--backend sim` run uses: the preset's levels and bootstrap setting where the
/// preset bootstraps (so the dry run has the real run's level schedule), else
/// [`sim_config`] on its slot count.
pub fn sim_config_for_plan(plan: &TrainPlan) -> SimConfig {
    hetal_ckks::params::context::Context::new(&plan.spec, plan.config.allow_insecure)
        .ok()
        .and_then(|ctx| sim_config_for(&ctx).ok())
        .map_or_else(
            || sim_config(plan.slots),
            |c| SimConfig {
                bootstrap_max_abs: Some(1.0),
                ..c
            },
        )
}

/// Runs the planned training and writes the model and the report.
pub async fn execute(plan: &TrainPlan) -> anyhow::Result<TrainOutput> {
    if let Some(ckpt) = &plan.checkpoint
        && let Some(done) = &ckpt.finished
    {
        return finished_output(ckpt, done);
    }
    let start = Instant::now();
    let mut stages = Vec::new();
    let options = ServerOptions {
        allow_insecure: plan.config.allow_insecure,
    };
    print_plan(plan);
    let outcome = match plan.config.backend {
        BackendKind::Sim => {
            let backend = Arc::new(SimClient::new(sim_config_for_plan(plan))?);
            train_with(plan, backend, options, &mut stages, |_| {}).await?
        }
        BackendKind::Ckks => {
            let t = Instant::now();
            let resumed = plan.checkpoint.as_ref().filter(|c| c.saved.is_some());
            let backend = match resumed {
                Some(ckpt) => {
                    println!(
                        "client: reading its secret key from {} and the job's public keys from \
                         the trainer's saved upload",
                        ckpt.keystore.display()
                    );
                    Arc::new(tokio::task::block_in_place(|| {
                        resumed_client(ckpt, options)
                    })?)
                }
                None => {
                    println!(
                        "client: generating keys, bootstrapping and encapsulation keys (the \
                         secret key stays in this process)"
                    );
                    let client = tokio::task::block_in_place(|| ckks_client(plan))?;
                    if let Some(ckpt) = &plan.checkpoint {
                        // The checkpoint directory owner-only, as the trainer makes it.
                        CheckpointStore::open(ckpt.trainer_config())?;
                        if let Some(parent) = ckpt.keystore.parent() {
                            std::fs::create_dir_all(parent)
                                .with_context(|| format!("creating {}", parent.display()))?;
                        }
                        save_client_key(&ckpt.keystore, &client).map_err(|e| {
                            anyhow::anyhow!("saving the client key for --resume: {e}")
                        })?;
                        println!(
                            "client: secret key saved to {} (mode 0600) for --resume",
                            ckpt.keystore.display()
                        );
                    }
                    Arc::new(client)
                }
            };
            stages.push(stage("key generation", t.elapsed()));
            // After the upload the client never needs its copy of the evaluation keys.
            train_with(plan, backend, options, &mut stages, |c: &CkksClient| {
                c.release_evaluation_keys()
            })
            .await?
        }
    };
    let t = Instant::now();
    let reference = plaintext_reference(plan)?;
    stages.push(stage("plaintext reference", t.elapsed()));
    finish(plan, outcome, reference, stages, start.elapsed())
}

/// The client of a resumed CKKS run: the secret key from its key file around the public keys
/// of the saved job, refused (exit 3) unless it decrypts the job's initial weights (encryptions
/// of zero) to within [`KEY_CHECK_BOUND`] of zero.
fn resumed_client(ckpt: &CheckpointPlan, options: ServerOptions) -> anyhow::Result<CkksClient> {
    let refuse = |e: &dyn std::fmt::Display| Refusal::BadInput(format!("--resume: {e}"));
    let saved = ckpt
        .saved
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no saved job to resume"))?;
    let start = &saved.job.start;
    let public =
        CkksServer::from_material_shared(&start.body.material, &start.blobs, options, None)
            .map_err(|e| refuse(&format!("the saved job's public keys: {e}")))?;
    let client = load_client_key_with_public(
        &ckpt.keystore,
        Arc::clone(&public),
        KeystoreOptions::default(),
    )
    .map_err(|e| refuse(&e))?;
    let worst = key_probe_error(&client, &public)?;
    if worst.is_nan() || worst > KEY_CHECK_BOUND {
        return Err(refuse(&format!(
            "the key in {} does not match the job saved in {} (a product computed with the \
             job's relinearization keys decrypts with an error of {worst:.3e}): it is another \
             run's key",
            ckpt.keystore.display(),
            ckpt.dir.display()
        ))
        .into());
    }
    Ok(client)
}

/// Squares a known vector encrypted under the loaded secret key with the saved job's public
/// evaluation keys (multiply, relinearize, rescale) and returns the largest error of the
/// decrypted square. Only the key those evaluation keys were made from gives a small error.
/// (The job's initial weights cannot serve: they are public zeros, and an encryption of zero
/// may be trivial, which decrypts to zero under any key.)
fn key_probe_error(client: &CkksClient, job: &CkksServer) -> anyhow::Result<f64> {
    use hetal_ckks::encoding::Complex64;
    use hetal_learn::eval::{SlotCodec, SlotEvaluator};
    let ev = job.evaluator()?;
    let probe: Vec<Complex64> = (0..ev.slots())
        .map(|i| Complex64::new(0.5 - (i % 13) as f64 / 16.0, 0.0))
        .collect();
    let codec = client.codec()?;
    let ct = codec.encrypt(&probe)?;
    let square = ev.mul(&ct, &ct)?;
    // Under another key the decrypted values may not even decode: that is a mismatch too.
    let Ok(got) = codec.decrypt(&square) else {
        return Ok(f64::NAN);
    };
    Ok(probe
        .iter()
        .zip(&got)
        .map(|(p, g)| (p * p - g).norm())
        .fold(0.0f64, |m, e| {
            if m.is_nan() || e.is_nan() {
                f64::NAN
            } else {
                m.max(e)
            }
        }))
}

fn stage(name: &str, d: Duration) -> StageTime {
    StageTime {
        name: name.into(),
        seconds: d.as_secs_f64(),
    }
}

fn print_plan(plan: &TrainPlan) {
    let c = &plan.config;
    let h = &plan.setup.hyper;
    let insecure = plan.spec.security == SecurityLevel::InsecureForTests;
    println!(
        "plan: backend {}, preset {}{} (N = 2^{}, {} slots), {} classes, {} features",
        c.backend.name(),
        c.preset,
        if insecure {
            " (INSECURE: tests only)"
        } else {
            ""
        },
        plan.spec.log_n,
        plan.slots,
        plan.setup.classes,
        plan.setup.dim
    );
    println!(
        "plan: {} train / {} val / {} test rows; batch {} in {}x{} blocks, lr {}, <= {} epochs, \
         patience {}, softmax {}; {} workers{}",
        plan.pack.train().len(),
        plan.pack.val().len(),
        plan.pack.test().map_or(0, Split::len),
        h.batch_size,
        plan.setup.unit.s0(),
        plan.setup.unit.s1(),
        h.learning_rate,
        h.max_epochs,
        h.patience,
        c.softmax.name(),
        c.workers,
        if c.evaluator { " + evaluator" } else { "" }
    );
}

/// What the encrypted run produced.
struct Encrypted {
    run: RunOutcome,
    /// (seconds since upload) at each verdict.
    verdict_times: Vec<f64>,
    upload_bytes: u64,
    /// The test split classified by encrypted inference on the evaluator (with a test split and
    /// an evaluator).
    inference: Option<Inference>,
}

fn upload_size<S: ServerBackend>(server: &S, up: &EncryptedUpload<S::Ct>) -> anyhow::Result<u64> {
    let mut total = 0u64;
    let mut add = |cts: &[S::Ct]| -> anyhow::Result<()> {
        for ct in cts {
            total += server.encode_ct(ct)?.len() as u64;
        }
        Ok(())
    };
    for b in up.train.iter().chain(&up.validation) {
        add(b.x.blocks())?;
        if let Some(y) = &b.y {
            add(y.blocks())?;
        }
    }
    add(up.initial_weights.blocks())?;
    Ok(total)
}

/// The client's own batch files while it uploads (removed after the upload): `OUT/` this.
pub const CLIENT_UPLOAD_DIR: &str = ".client-upload";

/// Encrypts the data batch by batch into the client's batch files and uploads it from there,
/// one batch in memory at a time (a fresh run, or a resumed simulator run, whose deterministic
/// encryption gives the very job again); returns the bytes of ciphertext sent.
async fn encrypt_and_upload<K: ClientBackend>(
    plan: &TrainPlan,
    deployment: &Deployment,
    backend: &K,
    stages: &mut Vec<StageTime>,
) -> anyhow::Result<u64> {
    let t = Instant::now();
    let dir = plan.out.join(CLIENT_UPLOAD_DIR);
    let files = BatchFiles::open(&dir)?;
    let encrypted = encrypt_to_files(
        backend,
        &plan.setup,
        plain_data(&plan.pack),
        &files,
        deployment.progress(),
    )?;
    stages.push(stage("encryption", t.elapsed()));
    let batch_bytes: u64 = encrypted.entries.iter().map(|e| e.bytes).sum();
    let upload_bytes = batch_bytes + upload_size(backend.server(), &encrypted.rest)?;
    println!(
        "client: encrypted {} training batches and {} validation blocks ({:.1} MB), each \
         training batch written to {} as it was encrypted; labels of the validation set stay here",
        encrypted.entries.len(),
        encrypted.rest.validation.len(),
        upload_bytes as f64 / 1e6,
        dir.display()
    );
    if let Some(ckpt) = plan.checkpoint.as_ref().filter(|c| c.resume) {
        check_resumable(ckpt, plan.setup, &encrypted.entries, &files)?;
    }
    let t = Instant::now();
    let report = upload_files(
        &deployment.client,
        &deployment.roster,
        backend,
        plan.setup,
        encrypted,
        files,
        None,
        deployment.progress(),
        DEFAULT_SEND_PATIENCE,
    )
    .await?;
    stages.push(stage("upload", t.elapsed()));
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!("removing {}: {e}", dir.display());
    }
    println!(
        "client: uploaded {} of {} batches ({} bytes) holding at most {} bytes of training \
         batches in memory at once",
        report.sent_per_round.iter().sum::<usize>(),
        report.batches,
        report.bytes_per_round.iter().sum::<u64>(),
        report.peak_batch_bytes_held
    );
    Ok(upload_bytes)
}

/// Uploads the saved job of a resumed CKKS run again (the trainer holds its batch files) with
/// the validation set encrypted afresh; returns the bytes of ciphertext sent.
async fn resend_saved<K: ClientBackend>(
    plan: &TrainPlan,
    deployment: &Deployment,
    backend: &K,
    saved: &SavedCkksJob,
    stages: &mut Vec<StageTime>,
) -> anyhow::Result<u64> {
    let pack = &plan.pack;
    let t = Instant::now();
    let none = pack.train().features().slice(ndarray::s![0..0, ..]);
    let validation = encrypt_dataset(
        backend,
        &plan.setup,
        PlainData {
            train_x: none,
            train_y: &[],
            val_x: pack.val().features().view(),
        },
    )?;
    stages.push(stage("encryption", t.elapsed()));
    println!(
        "client: uploading the saved job {} again ({} training batches, the trainer's files in \
         {}); {} validation blocks encrypted afresh",
        saved.job.manifest.job,
        saved.job.manifest.batches.len(),
        saved.batches.display(),
        validation.validation.len()
    );
    let t = Instant::now();
    let files = BatchFiles::open(&saved.batches)?;
    let report = upload_saved(
        &deployment.client,
        &deployment.roster,
        backend,
        plan.setup,
        saved.job.clone(),
        files,
        &validation,
        None,
        deployment.progress(),
        DEFAULT_SEND_PATIENCE,
    )
    .await?;
    stages.push(stage("upload", t.elapsed()));
    println!(
        "client: the trainer held {} of {} batches",
        report.held_per_round.last().copied().unwrap_or(0),
        report.batches
    );
    Ok(report.validation_bytes + report.bytes_per_round.iter().sum::<u64>())
}

async fn train_with<K: ClientBackend>(
    plan: &TrainPlan,
    backend: Arc<K>,
    options: ServerOptions,
    stages: &mut Vec<StageTime>,
    after_upload: impl FnOnce(&K),
) -> anyhow::Result<Encrypted> {
    let c = &plan.config;
    let t = Instant::now();
    let mut deployment = Deployment::start(Layout {
        workers: c.workers,
        spare_workers: 0,
        evaluator: c.evaluator,
        network: match c.network {
            NetworkKind::Quic => Network::QuicLoopback,
            NetworkKind::Memory => Network::InMemory,
        },
    })
    .await?;
    if let Some(d) = &c.dataset {
        println!(
            "dataset: the trainer keeps the encrypted training set in {} and holds at most {} \
             bytes of it in memory",
            d.dir.display(),
            d.memory_budget_bytes
        );
        deployment = deployment.with_dataset(DatasetConfig {
            dir: d.dir.clone(),
            memory_budget: d.memory_budget_bytes,
        });
    }
    if let Some(ckpt) = &plan.checkpoint {
        let review = ckpt.review_file();
        if !ckpt.resume {
            // A fresh run starts the client's dialogue afresh too, and leaves no older upload
            // for a later --resume to take for its own.
            let finished = finished_run_path(&ckpt.dir);
            for stale in [review.clone(), upload_path(&ckpt.dir), finished] {
                if stale.exists() {
                    std::fs::remove_file(&stale)
                        .with_context(|| format!("removing {}", stale.display()))?;
                }
            }
            std::fs::create_dir_all(&ckpt.dir)
                .with_context(|| format!("creating {}", ckpt.dir.display()))?;
            let record = client_job_path(&ckpt.dir);
            save_client_job(&record, &plaintext_digest(&plain_data(&plan.pack)))
                .with_context(|| format!("writing {}", record.display()))?;
        }
        println!(
            "checkpoints: every step into {}{}",
            ckpt.dir.display(),
            if ckpt.resume { ", resuming" } else { "" }
        );
        deployment = deployment
            .with_checkpoints(ckpt.trainer_config())
            .with_review_file(review);
    }
    let mut parties = deployment.start_parties(
        Arc::clone(&backend),
        plan.pack.val().labels().to_vec(),
        StopPolicy {
            patience: plan.setup.hyper.patience,
            budget: None,
        },
        options,
        &Taps::default(),
    )?;
    parties
        .trainer
        .pool()
        .lock()
        .map_err(|_| anyhow::anyhow!("the trainer's worker pool is poisoned"))?
        .set_bootstrap_placement(c.bootstrap_on_workers.placement());
    for i in 0..c.workers {
        deployment
            .start_worker::<K::Server>(i, options, None)
            .await?;
    }
    parties
        .wait_for_workers(c.workers, Duration::from_secs(60))
        .await?;
    println!(
        "deployment: {} nodes ({}): {}",
        deployment.roster.all_nodes().len(),
        match c.network {
            NetworkKind::Quic => "QUIC loopback, mutual TLS",
            NetworkKind::Memory => "in memory",
        },
        deployment
            .roster
            .all_nodes()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    stages.push(stage("deployment", t.elapsed()));

    let pack = &plan.pack;
    let saved = plan.checkpoint.as_ref().and_then(|c| c.saved.as_ref());
    let upload_bytes = match saved {
        Some(saved) => resend_saved(plan, &deployment, &*backend, saved, stages).await?,
        None => encrypt_and_upload(plan, &deployment, &*backend, stages).await?,
    };
    after_upload(&backend);

    let t = Instant::now();
    let mut verdict_times = Vec::new();
    let run = parties
        .finish(Duration::from_secs(7 * 24 * 3600), |v| {
            verdict_times.push(t.elapsed().as_secs_f64());
            println!(
                "client: epoch {:>3}: decrypted validation loss {:.5}, accuracy {:.2} % -> {:?}{}",
                v.epoch + 1,
                v.val_loss,
                100.0 * v.val_accuracy,
                v.decision,
                if v.new_best { " (new best)" } else { "" }
            );
        })
        .await?;
    stages.push(stage("training", t.elapsed()));
    let inference = match pack.test() {
        Some(test) if c.evaluator => {
            println!(
                "client: classifying the {} test rows by encrypted inference on the evaluator \
                 (the weights stay encrypted; one matrix product, no bootstrap)",
                test.len()
            );
            let t = Instant::now();
            let inference = classify(
                &deployment.client,
                &deployment.roster,
                &backend,
                plan.setup,
                test.features().view(),
                Duration::from_secs(24 * 3600),
            )
            .await?;
            stages.push(stage("encrypted inference", t.elapsed()));
            Some(inference)
        }
        Some(_) => {
            println!(
                "client: no evaluator (--no-evaluator): the test split is scored on the \
                 decrypted model only"
            );
            None
        }
        None => None,
    };
    deployment.shutdown().await;
    Ok(Encrypted {
        run,
        verdict_times,
        upload_bytes,
        inference,
    })
}

fn plaintext_reference(plan: &TrainPlan) -> anyhow::Result<TrainOutcome> {
    let classes = plan.setup.classes;
    let pack = &plan.pack;
    let train = LabeledView::new(
        pack.train().features().view(),
        pack.train().labels(),
        classes,
    )?;
    let val = LabeledView::new(pack.val().features().view(), pack.val().labels(), classes)?;
    Ok(ReferenceTrainer::new(plan.setup.hyper)?.fit(train, val, classes, &ExactSoftmax)?)
}

fn finish(
    plan: &TrainPlan,
    enc: Encrypted,
    reference: TrainOutcome,
    mut stages: Vec<StageTime>,
    elapsed: Duration,
) -> anyhow::Result<TrainOutput> {
    let classes = plan.setup.classes;
    let pack = &plan.pack;
    let (split_name, scored) = match pack.test() {
        Some(t) => ("test", t),
        None => ("validation", pack.val()),
    };
    let model = &enc.run.model;
    let predicted = model.predict(scored.features().view())?;
    let encrypted_acc = hetal_learn::train::accuracy(&predicted, scored.labels());
    let plain_acc = reference
        .model
        .accuracy(scored.features().view(), scored.labels())?;
    let confusion = ConfusionMatrix::from_predictions(scored.labels(), &predicted, classes)?;
    let best_epoch = enc
        .run
        .verdicts
        .iter()
        .rev()
        .find(|v| v.new_best)
        .map(|v| v.epoch);
    let mut prev = 0.0;
    let epochs = enc
        .run
        .verdicts
        .iter()
        .zip(&enc.verdict_times)
        .map(|(v, &t)| {
            let plain = reference.history.get(v.epoch);
            let e = EpochReport {
                epoch: v.epoch + 1,
                encrypted_val_loss: v.val_loss,
                encrypted_val_accuracy: v.val_accuracy,
                plaintext_val_loss: plain.map(|p| p.val_loss),
                plaintext_val_accuracy: plain.map(|p| p.val_accuracy),
                decision: v.decision,
                new_best: v.new_best,
                seconds: t - prev,
            };
            prev = t;
            e
        })
        .collect();
    let trainer = &enc.run.trainer;
    let c = &plan.config;
    let h = plan.setup.hyper;
    let steps_per_epoch = pack.train().len().div_ceil(h.batch_size);
    let report = TrainingReport {
        version: REPORT_VERSION,
        command: "train".into(),
        config: RunConfig {
            data: plan.data_name.clone(),
            backend: match c.backend {
                BackendKind::Ckks => "ckks".into(),
                BackendKind::Sim => "simulator".into(),
            },
            hyper: h,
            softmax: c.softmax.name().into(),
            workers: c.workers,
            evaluator: c.evaluator,
            train_rows: pack.train().len(),
            val_rows: pack.val().len(),
            test_rows: pack.test().map_or(0, Split::len),
            features: pack.dim(),
            classes,
            block_rows: plan.setup.unit.s0(),
            block_cols: plan.setup.unit.s1(),
            steps_per_epoch,
            rationale: vec![
                format!(
                    "hyper-parameters from preset `{}` overridden by config file, HETAL_* \
                     environment and flags",
                    c.hyper_preset
                ),
                format!(
                    "blocks of {}x{}: HETAL's rule for batch {} and {} classes on {} slots",
                    plan.setup.unit.s0(),
                    plan.setup.unit.s1(),
                    h.batch_size,
                    classes,
                    plan.slots
                ),
                format!("feature normalisation: {}", c.normalize.name()),
            ],
        },
        preset: PresetInfo {
            name: c.preset.clone(),
            ring_degree: 1 << plan.spec.log_n,
            slots: plan.slots,
            log_qp: Some(plan.spec.q_bits.iter().chain(&plan.spec.p_bits).sum()),
            secure: plan.spec.security != SecurityLevel::InsecureForTests,
            bootstrapping: bootstrap_params_for(&plan.spec).is_ok(),
        },
        epochs,
        accuracy: Accuracy {
            split: split_name.into(),
            rows: scored.len(),
            encrypted: encrypted_acc,
            plaintext: plain_acc,
        },
        confusion,
        stages: std::mem::take(&mut stages),
        operations: Operations {
            epochs: enc.run.epochs,
            steps: enc.run.steps,
            bootstraps: trainer.bootstraps,
            units_on_workers: trainer.scheduler.units_remote,
            units_on_trainer: trainer.scheduler.units_local,
            units_resent: trainer.scheduler.resent,
        },
        traffic: vec![
            PartyTraffic {
                party: "client".into(),
                bytes: enc.upload_bytes,
                what: "encrypted training and validation data, initial weights (ciphertexts \
                       only; keys not counted)"
                    .into(),
            },
            PartyTraffic {
                party: "trainer".into(),
                bytes: trainer.scheduler.bytes_sent,
                what: "ciphertexts and keys sent to workers".into(),
            },
            PartyTraffic {
                party: "workers".into(),
                bytes: trainer.scheduler.bytes_received,
                what: "partial results sent back to the trainer".into(),
            },
        ],
        total_seconds: elapsed.as_secs_f64(),
        dataset: trainer.dataset.map(|d| DatasetReport {
            dir: c
                .dataset
                .as_ref()
                .map_or_else(String::new, |s| s.dir.display().to_string()),
            stored_bytes: d.stored_bytes,
            memory_budget_bytes: d.memory_budget,
            peak_resident_bytes: d.peak_resident_bytes,
            loads: d.loads,
            hits: d.hits,
        }),
    };
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;
    let model_path = plan.out.join("model.hetal");
    let file = ModelFile::new(
        c.backend.name(),
        &c.preset,
        c.softmax.name(),
        h.batch_size,
        model,
        plan.normalization.clone(),
        best_epoch,
        pack.test().map(|_| encrypted_acc),
    )?;
    file.save(&model_path)?;
    let (report_json, report_html) = report.write_to_dir(&plan.out)?;
    if let Some(ckpt) = &plan.checkpoint {
        record_finished(ckpt, [&model_path, &report_json, &report_html])?;
    }
    if let Some(d) = &report.dataset {
        println!(
            "dataset: {} bytes of encrypted batches streamed from {} through a {}-byte budget \
             (peak {} bytes in memory; {} reads from disk, {} from memory)",
            d.stored_bytes, d.dir, d.memory_budget_bytes, d.peak_resident_bytes, d.loads, d.hits
        );
    }
    println!(
        "trained {} epochs, {} steps, {} bootstraps in {:.1} s",
        enc.run.epochs,
        enc.run.steps,
        trainer.bootstraps,
        elapsed.as_secs_f64()
    );
    if let Some(inference) = &enc.inference {
        let agree = inference
            .classes
            .iter()
            .zip(&predicted)
            .filter(|(a, b)| a == b)
            .count();
        println!(
            "{split_name} accuracy by encrypted inference on the evaluator: {:.2} %; {agree} of \
             {} predictions agree with the decrypted model's",
            100.0 * hetal_learn::train::accuracy(&inference.classes, scored.labels()),
            predicted.len()
        );
    }
    println!(
        "{split_name} accuracy: encrypted training {:.2} % (decrypted model, scored here), \
         plaintext reference {:.2} %",
        100.0 * encrypted_acc,
        100.0 * plain_acc
    );
    println!(
        "wrote {}, {}, {}",
        model_path.display(),
        report_json.display(),
        report_html.display()
    );
    Ok(TrainOutput {
        model_path,
        report_json,
        report_html,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_capacity_follows_the_slots() {
        assert_eq!(max_classes(1 << 10), 32);
        assert_eq!(max_classes(1 << 11), 32);
        assert_eq!(max_classes(1 << 15), 128);
        for slots in [1 << 10, 1 << 11, 1 << 15] {
            let c = max_classes(slots);
            assert!(UnitShape::hetal(16, c, slots).is_ok());
            assert!(UnitShape::hetal(16, c + 1, slots).is_err());
        }
    }

    #[test]
    fn insecure_presets_need_the_opt_in() {
        let e = checked_preset("insecure-test-n10", false).unwrap_err();
        assert_eq!(
            super::super::exit::exit_code(&e),
            super::super::exit::SECURITY
        );
        assert!(checked_preset("insecure-test-n10", true).is_ok());
        let e = checked_preset("nope", true).unwrap_err();
        assert_eq!(
            super::super::exit::exit_code(&e),
            super::super::exit::BAD_INPUT
        );
    }

    /// `hetal train` on the bundled digits (simulator, insecure small preset, in memory, no
    /// evaluator, two epochs) with `extra` flags, parsed as the binary parses them.
    fn digits_args(extra: &[&str]) -> TrainArgs {
        use clap::Parser;
        let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits");
        let (train, val) = (
            digits.join("features_train.npy"),
            digits.join("features_val.npy"),
        );
        let mut args = vec![
            "hetal".to_string(),
            "train".into(),
            "--train".into(),
            train.display().to_string(),
            "--val".into(),
            val.display().to_string(),
            "--preset".into(),
            "insecure-test-n13".into(),
            "--allow-insecure".into(),
            "--epochs".into(),
            "2".into(),
            "--network".into(),
            "memory".into(),
            "--no-evaluator".into(),
        ];
        if !extra.contains(&"--backend") {
            args.extend(["--backend".to_string(), "sim".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        match super::super::Cli::try_parse_from(&args).unwrap().command {
            super::super::Command::Train(t) => *t,
            _ => panic!("not a train command"),
        }
    }

    fn bad_input(e: &anyhow::Error) -> bool {
        super::super::exit::exit_code(e) == super::super::exit::BAD_INPUT
    }

    #[test]
    fn resume_continues_a_checkpointed_run_and_refuses_damaged_or_foreign_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().join("ckpt");
        let out = dir.path().join("out");
        let (c, o) = (ckpt.display().to_string(), out.display().to_string());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let train = |extra: &[&str]| -> anyhow::Result<TrainOutput> {
            let plan = plan(&digits_args(extra))?;
            runtime.block_on(execute(&plan))
        };

        // Nothing to resume yet, for either backend.
        let e = train(&["--checkpoint-dir", &c, "--resume", "--out", &o]).unwrap_err();
        assert!(
            bad_input(&e) && e.to_string().contains("no checkpoint"),
            "{e:#}"
        );
        let e = plan(&digits_args(&[
            "--checkpoint-dir",
            &c,
            "--resume",
            "--backend",
            "ckks",
        ]))
        .unwrap_err();
        assert!(
            bad_input(&e) && e.to_string().contains("no checkpoint"),
            "{e:#}"
        );

        // A checkpointed run, then the same command resumed: the run had finished, so nothing
        // is trained; its own model and report are reported, untouched, from any --out.
        let first = train(&["--checkpoint-dir", &c, "--out", &o]).unwrap();
        assert!(ckpt.join(REVIEW_FILE).is_file());
        let record = finished_run_path(&ckpt);
        assert!(record.is_file());
        let model_bytes = std::fs::read(&first.model_path).unwrap();
        let elsewhere = dir.path().join("elsewhere").display().to_string();
        let again = train(&["--checkpoint-dir", &c, "--resume", "--out", &elsewhere]).unwrap();
        let written = std::fs::read_to_string(&first.report_json).unwrap();
        let written = TrainingReport::from_json(&written).unwrap();
        assert_eq!(again.report, written, "the finished run's own report");
        assert_eq!(again.report.operations, first.report.operations);
        assert_eq!(
            std::path::absolute(&again.model_path).unwrap(),
            std::path::absolute(&first.model_path).unwrap()
        );
        assert_eq!(std::fs::read(&again.model_path).unwrap(), model_bytes);
        assert!(!Path::new(&elsewhere).exists(), "nothing was written");
        // Its model gone: refused (exit 3), naming it.
        std::fs::rename(&first.model_path, dir.path().join("moved")).unwrap();
        let e = train(&["--checkpoint-dir", &c, "--resume", "--out", &o]).unwrap_err();
        assert!(
            bad_input(&e) && e.to_string().contains("model.hetal"),
            "{e:#}"
        );
        std::fs::rename(dir.path().join("moved"), &first.model_path).unwrap();

        // Without the record (a run killed after its last checkpoint, before its outputs),
        // the checkpoint after the last verdict ends the job at once with the same model.
        std::fs::remove_file(&record).unwrap();
        let resumed = train(&["--checkpoint-dir", &c, "--resume", "--out", &o]).unwrap();
        assert_eq!(resumed.report.epochs.len(), 0, "no epoch was run again");
        assert_eq!(
            resumed.report.accuracy.encrypted,
            first.report.accuracy.encrypted
        );
        // That resumed run finished in turn; the damage checks below need a run to continue.
        std::fs::remove_file(&record).unwrap();

        // Another learning rate: the checkpoint belongs to another run (exit 3, before any
        // upload), with the checkpoint's path and the typed error's message.
        let e = train(&[
            "--checkpoint-dir",
            &c,
            "--resume",
            "--learning-rate",
            "0.5",
            "--out",
            &o,
        ])
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(bad_input(&e), "{msg}");
        assert!(
            msg.contains("another training configuration") && msg.contains("checkpoint-"),
            "{msg}"
        );

        // A damaged newest checkpoint: refused with its path.
        let store = CheckpointStore::open(CheckpointConfig::new(&ckpt)).unwrap();
        let (_, newest) = store.files().unwrap().remove(0);
        let mut bytes = std::fs::read(&newest).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
        std::fs::write(&newest, &bytes).unwrap();
        let e = train(&["--checkpoint-dir", &c, "--resume", "--out", &o]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(bad_input(&e) && msg.contains("corrupt"), "{msg}");
        assert!(msg.contains(&newest.display().to_string()), "{msg}");

        // A damaged client verdict file: refused while planning.
        std::fs::write(ckpt.join(REVIEW_FILE), b"garbage").unwrap();
        let e = plan(&digits_args(&["--checkpoint-dir", &c, "--resume"])).unwrap_err();
        assert!(
            bad_input(&e) && e.to_string().contains(REVIEW_FILE),
            "{e:#}"
        );
    }
}
