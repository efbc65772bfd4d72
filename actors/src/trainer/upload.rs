//! The trainer's side of the resumable upload (see [`crate::messages::upload`]): it answers a
//! manifest with the batches it holds, checks each arriving batch against the manifest (index,
//! then size, then digest) before keeping it, and starts the job once all are there. Batches go
//! to the batch files of the dataset directory (or, for a checkpointing trainer without one,
//! `<checkpoint dir>/batches`), so a reconnecting client or a restarted trainer finds them;
//! without either they stay in memory for the connection's life. Training then streams them
//! through a memory-bounded [`DatasetStore`] when a dataset directory is configured, and
//! decodes them all into memory otherwise.

use std::path::PathBuf;
use std::sync::Arc;

use hetal_learn::pack::BlockMatrix;
use hetal_learn::train::EncryptedBatch;
use hetal_learn::train::checkpoint::Digest32;
use hetal_runtime::{Handle, MessageContext, Rejection, Respond, Response};
use sha2::{Digest, Sha256};

use super::Trainer;
use super::keys::WorkerKeys;
use super::step::check_weights;
use crate::backend::rotations::matmul_rotations;
use crate::backend::{KeyScope, MaterialBody, ServerBackend, ServerOptions};
use crate::error::{ActorError, Result};
use crate::messages::{
    BatchEntry, BlobSink, Sha256Digest, StartTraining, StartTrainingBody, TrainingSetup,
    UploadBatch, UploadHave, UploadManifest, UploadTraining, WireBatch, decode_batch,
    decode_matrix,
};
use crate::roster::Role;
use crate::store::checkpoint::content_fingerprint;
use crate::store::dataset::{BatchFiles, DatasetConfig, DatasetStats, DatasetStore};
use crate::store::upload::{SavedJob, save_upload, upload_path};
use crate::store::{StoreError, prepare_dir};

/// The batch directory of a checkpointing trainer without a dataset directory.
pub const CHECKPOINT_BATCH_DIR: &str = "batches";

/// Why the trainer refused an upload message. Batch errors name the batch (its index in the
/// manifest).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UploadError {
    /// The manifest is inconsistent or over a limit.
    #[error("manifest refused: {0}")]
    Manifest(String),
    /// A batch or start message for a job whose manifest this trainer has not (or no longer)
    /// got.
    #[error("job {0}: no upload of this job in progress (send its manifest first)")]
    UnknownJob(Sha256Digest),
    /// Another job is training.
    #[error("a training job ({0}) is already running")]
    Busy(Sha256Digest),
    /// The batch index is not in the manifest.
    #[error("batch {index}: the manifest lists {count} batches")]
    OutOfRange {
        /// The batch.
        index: u64,
        /// Batches in the manifest.
        count: usize,
    },
    /// The batch's blobs do not match its shapes.
    #[error("batch {index}: malformed: {reason}")]
    Malformed {
        /// The batch.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The batch's size differs from the manifest's.
    #[error("batch {index}: {got} bytes, the manifest says {expected}")]
    Size {
        /// The batch.
        index: u64,
        /// The manifest's size.
        expected: u64,
        /// The received size.
        got: u64,
    },
    /// The batch's content differs from the manifest's digest.
    #[error("batch {index}: content digest {got} differs from the manifest's {expected}")]
    Digest {
        /// The batch.
        index: u64,
        /// The manifest's digest.
        expected: Sha256Digest,
        /// The received content's digest.
        got: Sha256Digest,
    },
    /// A validation block of the start message differs from the manifest.
    #[error("validation block {index}: {reason}")]
    Validation {
        /// The block.
        index: usize,
        /// What differs.
        reason: String,
    },
    /// Training cannot start before every batch arrived.
    #[error("cannot start: {missing} of {count} batches missing (the first is batch {first})")]
    Incomplete {
        /// Batches missing.
        missing: usize,
        /// Batches in the manifest.
        count: usize,
        /// The first missing batch.
        first: usize,
    },
    /// The batch files could not be written or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<UploadError> for Rejection {
    fn from(e: UploadError) -> Self {
        Rejection::new(e.to_string())
    }
}

/// Where a job's training batches are.
#[derive(Debug)]
pub(crate) enum TrainBatches {
    /// In memory, in manifest order.
    Memory(Vec<WireBatch>),
    /// Batch files named by the manifest's digests.
    Files(BatchFiles),
}

impl TrainBatches {
    /// Batch `index` of `entries` in travelling form.
    fn wire(&self, index: usize, entries: &[BatchEntry]) -> Result<WireBatch> {
        match self {
            TrainBatches::Memory(batches) => batches
                .get(index)
                .cloned()
                .ok_or_else(|| ActorError::Protocol(format!("batch {index} missing"))),
            TrainBatches::Files(files) => {
                let entry = entries
                    .get(index)
                    .ok_or_else(|| ActorError::Protocol(format!("batch {index} missing")))?;
                Ok(files.read(entry)?)
            }
        }
    }
}

/// Everything a job needs: its manifest, its batches where they were kept, and the message
/// that started it.
#[derive(Debug)]
pub(crate) struct JobUpload {
    pub(crate) manifest: UploadManifest,
    pub(crate) batches: TrainBatches,
    pub(crate) start: StartTraining,
}

impl JobUpload {
    /// A one-message upload ([`UploadTraining`]) in the same form: its batches are kept in
    /// `files` when given (so that a restarted trainer finds them), else in memory. The
    /// training batches' blobs are emptied in the start message so it does not hold them.
    pub(crate) fn from_single(
        msg: UploadTraining,
        files: Option<BatchFiles>,
    ) -> std::result::Result<Self, UploadError> {
        let malformed = |index: usize| {
            move |reason: String| UploadError::Malformed {
                index: index as u64,
                reason,
            }
        };
        let body = msg.body;
        let mut blobs = msg.blobs;
        let train = body
            .train
            .iter()
            .enumerate()
            .map(|(i, b)| WireBatch::extract(b, &blobs).map_err(malformed(i)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let entries = train
            .iter()
            .enumerate()
            .map(|(i, b)| b.entry().map_err(malformed(i)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let validation = validation_entries(body.validation.as_deref(), &blobs)?;
        let manifest = UploadManifest::new(body.setup, entries, validation)
            .map_err(|e| UploadError::Manifest(e.to_string()))?;
        manifest.check().map_err(UploadError::Manifest)?;
        for b in &body.train {
            for &i in
                b.x.blocks()
                    .iter()
                    .chain(b.y.iter().flat_map(|y| y.blocks()))
            {
                if let Some(blob) = blobs.get_mut(i as usize) {
                    *blob = bytes::Bytes::new();
                }
            }
        }
        let batches = match files {
            Some(files) => {
                for wire in &train {
                    files.write(wire)?;
                }
                TrainBatches::Files(files)
            }
            None => TrainBatches::Memory(train),
        };
        let start = BlobSink::default().seal(StartTrainingBody {
            job: manifest.job,
            material: body.material,
            initial_weights: body.initial_weights,
            validation: body.validation,
        });
        let start = StartTraining { blobs, ..start };
        Ok(Self {
            manifest,
            batches,
            start,
        })
    }
}

/// The manifest entries of validation blocks within a message's `blobs`.
fn validation_entries(
    validation: Option<&[crate::messages::BatchBody]>,
    blobs: &[bytes::Bytes],
) -> std::result::Result<Vec<BatchEntry>, UploadError> {
    validation
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, b)| {
            WireBatch::extract(b, blobs)
                .and_then(|w| w.entry())
                .map_err(|reason| UploadError::Validation { index, reason })
        })
        .collect()
}

/// Refuses, before any batch travels, a manifest with a batch larger than the memory budget of
/// the trainer's dataset (it could never be streamed in).
fn fits_budget(
    manifest: &UploadManifest,
    dataset: Option<&DatasetConfig>,
) -> std::result::Result<(), UploadError> {
    let Some(dataset) = dataset else {
        return Ok(());
    };
    match manifest
        .batches
        .iter()
        .position(|e| e.bytes > dataset.memory_budget)
    {
        Some(i) => Err(UploadError::Manifest(format!(
            "batch {i} ({} bytes) does not fit the trainer's {}-byte memory budget",
            manifest.batches[i].bytes, dataset.memory_budget
        ))),
        None => Ok(()),
    }
}

/// An upload in progress.
#[derive(Debug)]
struct Receiving {
    manifest: UploadManifest,
    /// Where batches go: files, or memory when `None`.
    files: Option<BatchFiles>,
    memory: Vec<Option<WireBatch>>,
    held: Vec<bool>,
}

/// The trainer's upload state: the job being received, and the job that started last.
#[derive(Debug, Default)]
pub(crate) struct UploadState {
    receiving: Option<Receiving>,
    started: Option<Sha256Digest>,
}

impl UploadState {
    /// The job that started last.
    pub(crate) fn started(&self) -> Option<Sha256Digest> {
        self.started
    }

    /// Records that `job` started.
    pub(crate) fn set_started(&mut self, job: Sha256Digest) {
        self.started = Some(job);
    }

    /// Takes `manifest` (a new job replaces an unfinished one) and answers which of its batches
    /// are held: those received on an earlier connection, or found (checked) in `files`.
    pub(crate) fn manifest(
        &mut self,
        manifest: UploadManifest,
        files: Option<BatchFiles>,
    ) -> std::result::Result<UploadHave, UploadError> {
        manifest.check().map_err(UploadError::Manifest)?;
        let same = self
            .receiving
            .as_ref()
            .is_some_and(|r| r.manifest.job == manifest.job && r.files == files);
        if !same {
            let count = manifest.batches.len();
            let held = match &files {
                Some(f) => manifest
                    .batches
                    .iter()
                    .map(|e| f.holds(e))
                    .collect::<std::result::Result<Vec<_>, _>>()?,
                None => vec![false; count],
            };
            self.receiving = Some(Receiving {
                manifest,
                files,
                memory: (0..count).map(|_| None).collect(),
                held,
            });
        }
        let r = self
            .receiving
            .as_ref()
            .ok_or_else(|| UploadError::Manifest("no upload state".into()))?;
        Ok(UploadHave {
            job: r.manifest.job,
            held: (0..r.held.len())
                .filter(|&i| r.held[i])
                .map(|i| i as u64)
                .collect(),
            started: false,
        })
    }

    /// Checks batch `msg` against the manifest (index, numbering, size, digest) and keeps it.
    pub(crate) fn batch(&mut self, msg: UploadBatch) -> std::result::Result<(), UploadError> {
        let r = match self.receiving.as_mut() {
            Some(r) if r.manifest.job == msg.body.job => r,
            _ => return Err(UploadError::UnknownJob(msg.body.job)),
        };
        let index = msg.body.index;
        let count = r.manifest.batches.len();
        let at = usize::try_from(index)
            .ok()
            .filter(|&i| i < count)
            .ok_or(UploadError::OutOfRange { index, count })?;
        let expected = r.manifest.batches[at];
        let wire = WireBatch {
            body: msg.body.batch,
            blobs: msg.blobs,
        };
        let malformed = |reason| UploadError::Malformed { index, reason };
        wire.check_numbering().map_err(malformed)?;
        let got = wire.canonical_len().map_err(malformed)?;
        if got != expected.bytes {
            return Err(UploadError::Size {
                index,
                expected: expected.bytes,
                got,
            });
        }
        let entry = wire.entry().map_err(malformed)?;
        if entry.digest != expected.digest {
            return Err(UploadError::Digest {
                index,
                expected: expected.digest,
                got: entry.digest,
            });
        }
        match &r.files {
            Some(files) => {
                files.write(&wire)?;
            }
            None => r.memory[at] = Some(wire),
        }
        r.held[at] = true;
        Ok(())
    }

    /// Takes the start message of the job being received: every batch must be held and the
    /// validation blocks must be the manifest's.
    pub(crate) fn start(
        &mut self,
        msg: StartTraining,
    ) -> std::result::Result<JobUpload, UploadError> {
        let r = match self.receiving.as_ref() {
            Some(r) if r.manifest.job == msg.body.job => r,
            _ => return Err(UploadError::UnknownJob(msg.body.job)),
        };
        let count = r.held.len();
        let missing = r.held.iter().filter(|h| !**h).count();
        if let Some(first) = r.held.iter().position(|h| !h) {
            return Err(UploadError::Incomplete {
                missing,
                count,
                first,
            });
        }
        let validation = validation_entries(msg.body.validation.as_deref(), &msg.blobs)?;
        let expected = &r.manifest.validation;
        if validation.len() != expected.len() {
            return Err(UploadError::Validation {
                index: validation.len().min(expected.len()),
                reason: format!(
                    "{} blocks, the manifest lists {}",
                    validation.len(),
                    expected.len()
                ),
            });
        }
        if let Some(index) = (0..expected.len()).find(|&i| validation[i] != expected[i]) {
            return Err(UploadError::Validation {
                index,
                reason: "content differs from the manifest's digest".into(),
            });
        }
        let r = self
            .receiving
            .take()
            .ok_or(UploadError::UnknownJob(msg.body.job))?;
        let batches = match r.files {
            Some(files) => TrainBatches::Files(files),
            None => TrainBatches::Memory(r.memory.into_iter().flatten().collect()),
        };
        Ok(JobUpload {
            manifest: r.manifest,
            batches,
            start: msg,
        })
    }
}

impl<B: ServerBackend> Trainer<B> {
    /// The directory received batches are kept in: the dataset directory, else
    /// `<checkpoint dir>/batches` for a checkpointing trainer, else none (memory).
    pub(crate) fn batch_dir(&self) -> Option<PathBuf> {
        self.dataset.as_ref().map(|d| d.dir.clone()).or_else(|| {
            self.config
                .checkpoint
                .as_ref()
                .map(|c| c.dir.join(CHECKPOINT_BATCH_DIR))
        })
    }

    fn batch_files(&self) -> std::result::Result<Option<BatchFiles>, UploadError> {
        Ok(self.batch_dir().map(BatchFiles::open).transpose()?)
    }

    /// The job training now, if any (every job start records its id).
    pub(crate) fn running(&self) -> Option<Sha256Digest> {
        self.verdicts
            .as_ref()
            .filter(|tx| !tx.is_closed())
            .and(self.upload.started())
    }

    /// Starts the job of `upload` (its material by reference when this process holds it).
    fn start_upload(&mut self, upload: JobUpload) {
        let pinned = match &upload.start.body.material {
            MaterialBody::Held(digest) => self.pinned.take(Some(digest)),
            _ => None,
        };
        self.upload.set_started(upload.manifest.job);
        self.start_job(upload, pinned, true);
    }

    /// Handles a one-message upload: the same checks and storage as the resumable one.
    pub(crate) fn single_upload(
        &mut self,
        msg: UploadTraining,
    ) -> std::result::Result<(), Rejection> {
        if let Some(job) = self.running() {
            return Err(UploadError::Busy(job).into());
        }
        let upload = JobUpload::from_single(msg, self.batch_files()?)?;
        self.start_upload(upload);
        Ok(())
    }
}

impl<B: ServerBackend> Respond<UploadManifest> for Trainer<B> {
    fn respond(&mut self, msg: UploadManifest, ctx: &MessageContext) -> Response<UploadHave> {
        if let Err(e) = self
            .config
            .roster
            .require(ctx, "UploadManifest", &[Role::Client])
        {
            return Response::Ready(Err(e));
        }
        if let Some(job) = self.running() {
            return if job == msg.job {
                Response::ok(UploadHave {
                    job,
                    held: (0..msg.batches.len() as u64).collect(),
                    started: true,
                })
            } else {
                Response::Ready(Err(UploadError::Busy(job).into()))
            };
        }
        let answer = fits_budget(&msg, self.dataset.as_ref())
            .and_then(|()| self.batch_files())
            .and_then(|files| self.upload.manifest(msg, files));
        match answer {
            Ok(have) => {
                tracing::info!(
                    "upload manifest for job {}: {} batches held",
                    have.job,
                    have.held.len()
                );
                Response::ok(have)
            }
            Err(e) => Response::Ready(Err(e.into())),
        }
    }
}

impl<B: ServerBackend> Handle<UploadBatch> for Trainer<B> {
    fn handle(&mut self, msg: UploadBatch, ctx: &MessageContext) -> Result<(), Rejection> {
        self.config
            .roster
            .require(ctx, "UploadBatch", &[Role::Client])?;
        Ok(self.upload.batch(msg)?)
    }
}

impl<B: ServerBackend> Handle<StartTraining> for Trainer<B> {
    fn handle(&mut self, msg: StartTraining, ctx: &MessageContext) -> Result<(), Rejection> {
        self.config
            .roster
            .require(ctx, "StartTraining", &[Role::Client])?;
        match self.running() {
            // A repeat (its acknowledgement was lost): the job runs already.
            Some(job) if job == msg.body.job => return Ok(()),
            Some(job) => return Err(UploadError::Busy(job).into()),
            None => {}
        }
        let upload = self.upload.start(msg)?;
        self.start_upload(upload);
        Ok(())
    }
}

/// The training batches of a job: all decoded in memory, or streamed from a
/// [`DatasetStore`] within its budget.
pub(crate) enum TrainSet<B: ServerBackend> {
    /// Decoded, in manifest order.
    Memory(Vec<Arc<EncryptedBatch<B::Ct>>>),
    /// Read from disk as needed.
    Streamed(DatasetStore<B>),
}

impl<B: ServerBackend> TrainSet<B> {
    /// Batches.
    pub(crate) fn len(&self) -> usize {
        match self {
            TrainSet::Memory(v) => v.len(),
            TrainSet::Streamed(s) => s.len(),
        }
    }

    /// Batch `index`.
    pub(crate) fn get(&self, index: usize) -> Result<Arc<EncryptedBatch<B::Ct>>> {
        match self {
            TrainSet::Memory(v) => v
                .get(index)
                .cloned()
                .ok_or_else(|| ActorError::Protocol(format!("batch {index} of {}", v.len()))),
            TrainSet::Streamed(s) => Ok(s.get(index)?),
        }
    }

    /// The store's counters, when streamed.
    pub(crate) fn stats(&self) -> Option<DatasetStats> {
        match self {
            TrainSet::Memory(_) => None,
            TrainSet::Streamed(s) => Some(s.stats()),
        }
    }
}

/// A decoded job.
pub(crate) struct Decoded<B: ServerBackend> {
    pub(crate) backend: Arc<B>,
    pub(crate) setup: TrainingSetup,
    pub(crate) train: TrainSet<B>,
    pub(crate) initial: BlockMatrix<B::Ct>,
    pub(crate) validation: Option<Vec<EncryptedBatch<B::Ct>>>,
    pub(crate) keys: WorkerKeys,
    /// Material fingerprint and dataset digest, when the job checkpoints.
    pub(crate) identity: Option<(Digest32, Digest32)>,
    /// Batch files to remove once the job has ended well.
    pub(crate) files: Option<(BatchFiles, Vec<BatchEntry>)>,
}

/// `start` with material sent by reference replaced by `backend`'s full material: what to save
/// for a later process (a restarted trainer), which holds nothing.
fn with_full_material<B: ServerBackend>(
    start: StartTraining,
    backend: &B,
) -> Result<StartTraining> {
    if !matches!(start.body.material, MaterialBody::Held(_)) {
        return Ok(start);
    }
    let mut sink = BlobSink::default();
    for blob in start.blobs {
        sink.push(blob);
    }
    let material = backend.material(&KeyScope::Full, &mut sink)?;
    Ok(sink.seal(StartTrainingBody {
        material,
        ..start.body
    }))
}

/// SHA-256 of the training batches as `store::checkpoint::dataset_digest` takes it over a
/// one-message upload (row counts and every ciphertext's bytes, in order), computed one batch
/// at a time so that a dataset on disk is never whole in memory.
fn dataset_digest_of(batches: &TrainBatches, entries: &[BatchEntry]) -> Result<Digest32> {
    let mut h = Sha256::new();
    h.update(b"hetal-dataset/1");
    h.update((entries.len() as u64).to_le_bytes());
    for index in 0..entries.len() {
        let wire = batches.wire(index, entries)?;
        h.update(wire.body.rows.to_le_bytes());
        let y = wire.body.y.iter().flat_map(|y| y.blocks());
        for &i in wire.body.x.blocks().iter().chain(y) {
            let bytes = crate::backend::blob(&wire.blobs, i)?;
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
    }
    Ok(h.finalize().into())
}

/// Decodes a job: builds the backend from its material (shared with this process's copy when
/// pinned), saves it to `save_to` (a checkpoint directory) with the material in full, hashes its
/// identity when it checkpoints, and makes its training set: streamed through a
/// [`DatasetStore`] when `dataset` is set, else decoded into memory.
pub(crate) fn decode_job<B: ServerBackend>(
    upload: JobUpload,
    options: ServerOptions,
    checkpoints: bool,
    pinned: Option<Arc<B>>,
    save_to: Option<PathBuf>,
    dataset: Option<DatasetConfig>,
) -> Result<Decoded<B>> {
    let JobUpload {
        manifest,
        batches,
        start,
    } = upload;
    let body = &start.body;
    let backend = B::from_material_shared(&body.material, &start.blobs, options, pinned)?;
    let entries = manifest.batches.clone();
    if let Some(dir) = save_to {
        prepare_dir(&dir)?;
        let saved = SavedJob {
            manifest: manifest.clone(),
            start: with_full_material(start.clone(), &*backend)?,
        };
        save_upload(&upload_path(&dir), &saved)?;
    }
    let identity = checkpoints
        .then(|| {
            Ok::<_, ActorError>((
                content_fingerprint(&backend, &body.material, &start.blobs)?,
                dataset_digest_of(&batches, &entries)?,
            ))
        })
        .transpose()?;
    let initial = decode_matrix(&*backend, &body.initial_weights, &start.blobs)?;
    check_weights(&manifest.setup, &initial)?;
    let validation = body
        .validation
        .as_ref()
        .map(|v| {
            v.iter()
                .map(|b| decode_batch(&*backend, b, &start.blobs))
                .collect::<Result<Vec<_>>>()
        })
        .transpose()?;
    // The material's bytes (the keys sent in full among them) go before the batches are decoded.
    drop(start);
    let files = match &batches {
        TrainBatches::Files(f) => Some((f.clone(), entries.clone())),
        TrainBatches::Memory(_) => None,
    };
    let train = match dataset {
        Some(config) => {
            if let TrainBatches::Memory(wires) = &batches {
                let files = BatchFiles::open(&config.dir)?;
                for wire in wires {
                    files.write(wire)?;
                }
            }
            drop(batches);
            let store = DatasetStore::open(config, Arc::clone(&backend), entries.clone())?;
            tracing::info!(
                "dataset: {} batches ({} bytes) streamed from {} within a {}-byte memory budget",
                store.len(),
                store.stats().stored_bytes,
                store.files().dir().display(),
                store.stats().memory_budget
            );
            TrainSet::Streamed(store)
        }
        None => {
            let decoded = (0..entries.len())
                .map(|i| {
                    let wire = batches.wire(i, &entries)?;
                    Ok(Arc::new(decode_batch(&*backend, &wire.body, &wire.blobs)?))
                })
                .collect::<Result<Vec<_>>>()?;
            // The received bytes go before the workers' keys are prepared.
            drop(batches);
            TrainSet::Memory(decoded)
        }
    };
    // The workers get relinearization and the rotations of their units: no bootstrapping key.
    // A worker of this process shares those keys with the trainer; others get them in full.
    let steps = {
        let ev = backend.evaluator()?;
        matmul_rotations(&ev, &*train.get(0)?, &initial)?
    };
    let keys = WorkerKeys::scoped(
        rand::random(),
        &backend,
        KeyScope::Rotations {
            steps,
            conjugation: false,
        },
    )?;
    Ok(Decoded {
        backend,
        setup: manifest.setup,
        train,
        initial,
        validation,
        keys,
        identity,
        files,
    })
}

/// Removes the batch files of a job that ended well (the client has its model).
pub(crate) fn remove_batches(files: &BatchFiles, entries: &[BatchEntry]) {
    for entry in entries {
        if let Err(e) = files.remove(entry) {
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::SimServer;
    use crate::messages::{UploadBatchBody, UploadTrainingBody, encode_batch, encode_matrix};
    use crate::store::checkpoint::dataset_digest;
    use crate::store::test_dir::TempDir;
    use hetal_learn::eval::{SimConfig, SimCt, Simulator};
    use hetal_learn::pack::UnitShape;
    use hetal_learn::softmax::SoftmaxVariant;
    use hetal_learn::train::client::ValidationForm;
    use hetal_learn::train::{Preset, TrainingClient};

    struct Fixture {
        server: SimServer,
        config: SimConfig,
        setup: TrainingSetup,
        train: Vec<EncryptedBatch<SimCt>>,
        initial: BlockMatrix<SimCt>,
    }

    fn fixture() -> Fixture {
        let config = SimConfig::with_slots(1 << 10);
        let sim = Simulator::new(config).unwrap();
        let unit = UnitShape::hetal(8, 3, 1 << 10).unwrap();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = ndarray::Array2::from_shape_fn((32, 4), |(i, j)| (i * 3 + j) as f64 / 40.0);
        let labels: Vec<usize> = (0..32).map(|i| i % 3).collect();
        Fixture {
            server: SimServer::new(config).unwrap(),
            config,
            setup: TrainingSetup {
                hyper: Preset::FaceMask.hyper(),
                variant: SoftmaxVariant::HetalRs,
                unit,
                classes: 3,
                dim: 4,
                validation: ValidationForm::Logits,
            },
            train: client.encrypt_training_set(x.view(), &labels, 8).unwrap(),
            initial: client.initial_weights().unwrap(),
        }
    }

    fn wires(f: &Fixture) -> Vec<WireBatch> {
        f.train
            .iter()
            .map(|b| WireBatch::encode(&f.server, b).unwrap())
            .collect()
    }

    fn batch_msg(job: Sha256Digest, index: u64, wire: &WireBatch) -> UploadBatch {
        UploadBatch {
            body: UploadBatchBody {
                job,
                index,
                batch: wire.body.clone(),
            },
            blobs: wire.blobs.clone(),
        }
    }

    fn start_msg(f: &Fixture, job: Sha256Digest) -> StartTraining {
        let mut sink = BlobSink::default();
        let initial_weights = encode_matrix(&f.server, &f.initial, &mut sink).unwrap();
        sink.seal(StartTrainingBody {
            job,
            material: MaterialBody::Simulator(f.config),
            initial_weights,
            validation: None,
        })
    }

    #[test]
    fn batches_are_checked_against_the_manifest_and_named_when_refused() {
        let f = fixture();
        let wires = wires(&f);
        let entries: Vec<_> = wires.iter().map(|w| w.entry().unwrap()).collect();
        let manifest = UploadManifest::new(f.setup, entries, Vec::new()).unwrap();
        let job = manifest.job;
        let mut state = UploadState::default();
        // Nothing before a manifest.
        assert!(matches!(
            state.batch(batch_msg(job, 0, &wires[0])),
            Err(UploadError::UnknownJob(_))
        ));
        let have = state.manifest(manifest.clone(), None).unwrap();
        assert!(have.held.is_empty() && !have.started);
        // A trainer whose memory budget a batch exceeds refuses the manifest, naming the batch.
        let tight = DatasetConfig {
            dir: std::env::temp_dir(),
            memory_budget: manifest.batches[0].bytes - 1,
        };
        let e = fits_budget(&manifest, Some(&tight)).unwrap_err();
        assert!(e.to_string().contains("batch 0"), "{e}");
        fits_budget(&manifest, None).unwrap();
        // Batch 1's content sent as batch 0: the digest names batch 0.
        let e = state.batch(batch_msg(job, 0, &wires[1])).unwrap_err();
        assert!(matches!(e, UploadError::Digest { index: 0, .. }), "{e}");
        assert!(e.to_string().contains("batch 0"), "{e}");
        // A truncated ciphertext: the size is checked first.
        let mut short = wires[2].clone();
        short.blobs[0] = short.blobs[0].slice(..short.blobs[0].len() - 1);
        let e = state.batch(batch_msg(job, 2, &short)).unwrap_err();
        assert!(matches!(e, UploadError::Size { index: 2, .. }), "{e}");
        // An extra blob travelling with a batch.
        let mut extra = wires[2].clone();
        extra.blobs.push(bytes::Bytes::from_static(b"hidden"));
        let e = state.batch(batch_msg(job, 2, &extra)).unwrap_err();
        assert!(matches!(e, UploadError::Malformed { index: 2, .. }), "{e}");
        let e = state.batch(batch_msg(job, 9, &wires[0])).unwrap_err();
        assert!(
            matches!(e, UploadError::OutOfRange { index: 9, count: 4 }),
            "{e}"
        );
        // Starting early names the first missing batch.
        state.batch(batch_msg(job, 1, &wires[1])).unwrap();
        let e = state.start(start_msg(&f, job)).unwrap_err();
        assert!(
            matches!(
                e,
                UploadError::Incomplete {
                    missing: 3,
                    count: 4,
                    first: 0
                }
            ),
            "{e}"
        );
        // The same manifest again (a reconnect): batch 1 is held.
        let have = state.manifest(manifest, None).unwrap();
        assert_eq!(have.held, vec![1]);
        for i in [0usize, 2, 3] {
            state.batch(batch_msg(job, i as u64, &wires[i])).unwrap();
        }
        let upload = state.start(start_msg(&f, job)).unwrap();
        match &upload.batches {
            TrainBatches::Memory(v) => assert_eq!(v, &wires),
            other => panic!("{other:?}"),
        }
        // The state was consumed: a second start is of an unknown job.
        assert!(matches!(
            state.start(start_msg(&f, job)),
            Err(UploadError::UnknownJob(_))
        ));
    }

    #[test]
    fn batch_files_survive_the_state_and_a_one_message_upload_has_the_same_identity() {
        let f = fixture();
        let wires = wires(&f);
        let entries: Vec<_> = wires.iter().map(|w| w.entry().unwrap()).collect();
        let manifest = UploadManifest::new(f.setup, entries.clone(), Vec::new()).unwrap();
        let dir = TempDir::new("upload-files");
        let files = || Some(BatchFiles::open(&dir.0).unwrap());
        let mut first = UploadState::default();
        first.manifest(manifest.clone(), files()).unwrap();
        first.batch(batch_msg(manifest.job, 3, &wires[3])).unwrap();
        first.batch(batch_msg(manifest.job, 0, &wires[0])).unwrap();
        // A new trainer (fresh state) finds them on disk.
        let mut second = UploadState::default();
        let have = second.manifest(manifest.clone(), files()).unwrap();
        assert_eq!(have.held, vec![0, 3]);

        // The one-message form: same manifest, batches written, the same dataset digest as
        // the checkpoint's over the message.
        let mut sink = BlobSink::default();
        let train: Vec<_> = f
            .train
            .iter()
            .map(|b| encode_batch(&f.server, b, &mut sink).unwrap())
            .collect();
        let initial_weights = encode_matrix(&f.server, &f.initial, &mut sink).unwrap();
        let single = sink.seal(UploadTrainingBody {
            setup: f.setup,
            material: MaterialBody::Simulator(f.config),
            train,
            initial_weights,
            validation: None,
        });
        let expected = dataset_digest(&single.body.train, &single.blobs).unwrap();
        let upload = JobUpload::from_single(single, files()).unwrap();
        assert_eq!(upload.manifest, manifest);
        assert!(entries.iter().all(|e| files().unwrap().holds(e).unwrap()));
        assert_eq!(
            dataset_digest_of(&upload.batches, &entries).unwrap(),
            expected
        );
        let in_memory = TrainBatches::Memory(wires);
        assert_eq!(dataset_digest_of(&in_memory, &entries).unwrap(), expected);
        // The start message no longer holds the training ciphertexts.
        let kept: usize = upload.start.blobs.iter().map(|b| b.len()).sum();
        let initial_bytes: usize = f
            .initial
            .blocks()
            .iter()
            .map(|c| f.server.encode_ct(c).unwrap().len())
            .sum();
        assert_eq!(kept, initial_bytes);
    }
}
