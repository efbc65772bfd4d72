//! The client's upload: the validation set to the evaluator (one message) and the training job
//! to the trainer, resumably (see [`crate::messages::upload`]): a manifest, the trainer's
//! answer of what it holds, one message per missing batch, then the rest of the job. A dropped
//! connection or a restarted trainer costs the batch in flight: the client starts a new round
//! with the manifest and sends only what the trainer does not hold. The one-message form
//! ([`upload_messages`]) stays for hosts and tests that inspect or replay a whole upload.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hetal_learn::pack::BlockMatrix;
use hetal_learn::train::EncryptedBatch;
use hetal_runtime::Node;

use super::DEFAULT_SEND_PATIENCE;
use crate::backend::rotations::abt_rotations;
use crate::backend::shared::negotiate;
use crate::backend::{ClientBackend, KeyScope, MaterialBody, MaterialDigest, ServerBackend};
use crate::error::{ActorError, Result};
use crate::messages::{
    BatchBody, BatchEntry, BlobSink, StartTraining, StartTrainingBody, TrainingSetup, UploadBatch,
    UploadBatchBody, UploadManifest, UploadTraining, UploadTrainingBody, UploadValidation,
    UploadValidationBody, ValidationForm, WireBatch, encode_batch, encode_matrix, forward_matrix,
};
use crate::progress::{ProgressEvent, ProgressSink, report};
use crate::roster::{EVALUATOR_ACTOR, Roster, TRAINER_ACTOR};
use crate::store::dataset::BatchFiles;
use crate::store::upload::SavedJob;
use crate::tap::{self, Tap};
use crate::trainer::resend::{is_transient, tell_patiently};

/// How long the client waits for the trainer's answer to a manifest (a trainer with a dataset
/// on disk reads each batch file it holds to check it).
pub const MANIFEST_TIMEOUT: Duration = Duration::from_secs(120);
/// First pause before a new upload round; doubles up to [`MAX_ROUND_PAUSE`].
const FIRST_ROUND_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between upload rounds.
const MAX_ROUND_PAUSE: Duration = Duration::from_secs(2);

/// The encrypted data a client uploads.
#[derive(Debug, Clone)]
pub struct EncryptedUpload<C> {
    /// Training mini-batches (features and one-hot labels).
    pub train: Vec<EncryptedBatch<C>>,
    /// Validation features.
    pub validation: Vec<EncryptedBatch<C>>,
    /// Encrypted initial weights.
    pub initial_weights: BlockMatrix<C>,
}

/// The keys the evaluator needs: for logits, DiagABT's rotations and conjugation (the trainer
/// makes sure the weights it sends have the levels); for probabilities, the softmax's
/// bootstrapping too, hence everything.
fn evaluator_scope<C>(setup: TrainingSetup, data: &EncryptedUpload<C>) -> Result<KeyScope> {
    match (setup.validation, data.validation.first()) {
        (ValidationForm::Logits, Some(batch)) => Ok(KeyScope::Rotations {
            steps: abt_rotations(&batch.x, &data.initial_weights)?,
            conjugation: true,
        }),
        (ValidationForm::Logits, None) => Err(ActorError::Config("no validation batch".into())),
        (ValidationForm::Probabilities, _) => Ok(KeyScope::Full),
    }
}

/// The messages of an upload: the validation set for the evaluator (when there is one) and
/// the training job for the trainer, both with the public material.
pub fn upload_messages<K: ClientBackend>(
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
) -> Result<(Option<UploadValidation>, UploadTraining)> {
    upload_messages_held(roster, backend, setup, data, HeldMaterial::default())
}

/// Which receivers hold the client's public material already (they answered its offer "held"
/// within this process): they get [`MaterialBody::Held`] instead of the keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldMaterial {
    /// The evaluator's scope, held by the evaluator.
    pub evaluator: Option<MaterialDigest>,
    /// The full key set, held by the trainer.
    pub trainer: Option<MaterialDigest>,
}

/// The public material of `scope`: by reference when `held`, else serialized into `sink`.
fn material_for<K: ClientBackend>(
    backend: &K,
    scope: &KeyScope,
    held: Option<MaterialDigest>,
    sink: &mut BlobSink,
) -> Result<MaterialBody> {
    match held {
        Some(digest) => Ok(MaterialBody::Held(digest)),
        None => backend.material(scope, sink),
    }
}

/// Offers the evaluator and the trainer their material by digest (see
/// [`crate::backend::shared`]); the offers keep the material alive until they are answered.
pub async fn offer_material<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
) -> Result<HeldMaterial> {
    let mut held = HeldMaterial::default();
    if let Some(evaluator) = &roster.evaluator {
        let offer = backend.offer(&evaluator_scope(setup, data)?)?;
        held.evaluator = negotiate(node, evaluator, EVALUATOR_ACTOR, offer.as_ref()).await;
    }
    let offer = backend.offer(&KeyScope::Full)?;
    held.trainer = negotiate(node, &roster.trainer, TRAINER_ACTOR, offer.as_ref()).await;
    Ok(held)
}

/// [`upload_messages`] with the material that `held` says the receivers hold sent by
/// reference.
pub fn upload_messages_held<K: ClientBackend>(
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    held: HeldMaterial,
) -> Result<(Option<UploadValidation>, UploadTraining)> {
    let server = backend.server();
    let validation = validation_message(roster, backend, setup, data, held.evaluator)?;
    let mut sink = BlobSink::default();
    let material = material_for(backend, &KeyScope::Full, held.trainer, &mut sink)?;
    let train = data
        .train
        .iter()
        .map(|b| encode_batch(server, b, &mut sink))
        .collect::<Result<Vec<_>>>()?;
    let initial_weights = encode_matrix(server, &data.initial_weights, &mut sink)?;
    let trainer_validation = if roster.evaluator.is_none() {
        Some(
            data.validation
                .iter()
                .map(|b| encode_batch(server, b, &mut sink))
                .collect::<Result<Vec<_>>>()?,
        )
    } else {
        None
    };
    let training = sink.seal(UploadTrainingBody {
        setup,
        material,
        train,
        initial_weights,
        validation: trainer_validation,
    });
    Ok((validation, training))
}

/// The validation set's message to the evaluator (none without one), with the evaluator's
/// material by reference when it holds it (`held`).
pub fn validation_message<K: ClientBackend>(
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    held: Option<MaterialDigest>,
) -> Result<Option<UploadValidation>> {
    if roster.evaluator.is_none() {
        return Ok(None);
    }
    let server = backend.server();
    let mut sink = BlobSink::default();
    let scope = evaluator_scope(setup, data)?;
    let material = material_for(backend, &scope, held, &mut sink)?;
    let batches = data
        .validation
        .iter()
        .map(|b| encode_batch(server, b, &mut sink))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(sink.seal(UploadValidationBody {
        setup,
        material,
        batches,
    })))
}

/// Where the training batches of a job come from while they are sent.
#[derive(Debug, Clone)]
pub enum JobBatches {
    /// Encoded, in manifest order.
    Memory(Vec<WireBatch>),
    /// Batch files named by the manifest's digests (a job saved on disk), read one at a time.
    Files(BatchFiles),
}

/// The training job's messages for the resumable upload.
#[derive(Debug, Clone)]
pub struct ResumableUpload {
    /// Setup and the digest and size of every batch.
    pub manifest: UploadManifest,
    /// The training batches, in manifest order.
    pub batches: JobBatches,
    /// Material, initial weights and (without an evaluator) the validation blocks.
    pub start: StartTraining,
}

impl ResumableUpload {
    /// The message carrying batch `index` (read from its file for [`JobBatches::Files`]).
    pub fn batch_message(&self, index: usize) -> Result<UploadBatch> {
        let count = self.manifest.batches.len();
        let missing = || ActorError::Protocol(format!("batch {index} of {count} missing"));
        let batch = match &self.batches {
            JobBatches::Memory(batches) => batches.get(index).cloned().ok_or_else(missing)?,
            JobBatches::Files(files) => {
                let entry = self.manifest.batches.get(index).ok_or_else(missing)?;
                files.read(entry)?
            }
        };
        Ok(UploadBatch {
            body: UploadBatchBody {
                job: self.manifest.job,
                index: index as u64,
                batch: batch.body,
            },
            blobs: batch.blobs,
        })
    }
}

/// `body` (indices into `from`) with its blobs moved into `sink` (shared, not copied).
fn forward_batch(body: &BatchBody, from: &[Bytes], sink: &mut BlobSink) -> Result<BatchBody> {
    Ok(BatchBody {
        x: forward_matrix(&body.x, from, sink)?,
        y: body
            .y
            .as_ref()
            .map(|y| forward_matrix(y, from, sink))
            .transpose()?,
        rows: body.rows,
    })
}

/// The messages that upload `saved` (a job as the trainer saved it beside its checkpoints,
/// material in full) again, its batches read from `files`: the very ciphertexts, so the job has
/// the same identity and the trainer's checkpoints of it resume. The material goes by reference
/// when the trainer holds it (`held`), else in full as saved.
pub fn saved_job_messages(
    saved: SavedJob,
    files: BatchFiles,
    held: Option<MaterialDigest>,
) -> Result<ResumableUpload> {
    let SavedJob { manifest, start } = saved;
    let start = match held {
        None => start,
        Some(digest) => {
            let mut sink = BlobSink::default();
            let body = &start.body;
            let initial_weights = forward_matrix(&body.initial_weights, &start.blobs, &mut sink)?;
            let validation = body
                .validation
                .as_ref()
                .map(|v| {
                    v.iter()
                        .map(|b| forward_batch(b, &start.blobs, &mut sink))
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?;
            sink.seal(StartTrainingBody {
                job: body.job,
                material: MaterialBody::Held(digest),
                initial_weights,
                validation,
            })
        }
    };
    Ok(ResumableUpload {
        manifest,
        batches: JobBatches::Files(files),
        start,
    })
}

/// The trainer's messages of a resumable upload of `data`; the trainer's material by reference
/// when it holds it (`held`).
pub fn resumable_messages<K: ClientBackend>(
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    held: Option<MaterialDigest>,
) -> Result<ResumableUpload> {
    let server = backend.server();
    let batches = data
        .train
        .iter()
        .map(|b| WireBatch::encode(server, b))
        .collect::<Result<Vec<_>>>()?;
    let entries = batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            b.entry()
                .map_err(|e| ActorError::Protocol(format!("batch {i}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    job_messages(
        roster,
        backend,
        setup,
        entries,
        JobBatches::Memory(batches),
        data,
        held,
    )
}

/// The trainer's messages of a job whose training batches are `batches` (listed by `entries`)
/// and whose initial weights and validation blocks are `data`'s (its training batches are not
/// looked at); the trainer's material by reference when it holds it (`held`).
pub(super) fn job_messages<K: ClientBackend>(
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    entries: Vec<BatchEntry>,
    batches: JobBatches,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    held: Option<MaterialDigest>,
) -> Result<ResumableUpload> {
    let server = backend.server();
    let mut sink = BlobSink::default();
    let material = material_for(backend, &KeyScope::Full, held, &mut sink)?;
    let initial_weights = encode_matrix(server, &data.initial_weights, &mut sink)?;
    let validation = match roster.evaluator {
        Some(_) => None,
        None => Some(
            data.validation
                .iter()
                .map(|b| encode_batch(server, b, &mut sink))
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let mut start = sink.seal(StartTrainingBody {
        job: crate::messages::Sha256Digest([0; 32]),
        material,
        initial_weights,
        validation,
    });
    let validation_entries = start
        .body
        .validation
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, b)| {
            WireBatch::extract(b, &start.blobs)
                .and_then(|w| w.entry())
                .map_err(|e| ActorError::Protocol(format!("validation block {i}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest = UploadManifest::new(setup, entries, validation_entries)?;
    start.body.job = manifest.job;
    Ok(ResumableUpload {
        manifest,
        batches,
        start,
    })
}

/// What a resumable upload sent. A round begins with the manifest and ends with the start
/// message or a dropped connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Training batches in the manifest.
    pub batches: usize,
    /// Batches the trainer acknowledged, per round.
    pub sent_per_round: Vec<usize>,
    /// Bytes (canonical) of the batches the trainer acknowledged, per round.
    pub bytes_per_round: Vec<u64>,
    /// Batches the trainer said it held, per round.
    pub held_per_round: Vec<usize>,
    /// Blob bytes of the validation set sent to the evaluator (0 without one).
    pub validation_bytes: u64,
    /// Most bytes of encrypted training batches the upload held in memory at once (canonical
    /// sizes; while encrypting a batch, its ciphertexts and their encoding): every batch for an
    /// upload from memory, one or two for a streamed one ([`super::upload_streamed`]).
    pub peak_batch_bytes_held: u64,
}

/// Uploads the validation set to the evaluator (if any) and the training job to the trainer.
pub async fn upload<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    tap: Option<&Tap>,
) -> Result<()> {
    upload_with_progress(node, roster, backend, setup, data, tap, None).await
}

/// [`upload`], reporting the bytes sent to `progress` after each message.
pub async fn upload_with_progress<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    tap: Option<&Tap>,
    progress: Option<&ProgressSink>,
) -> Result<()> {
    upload_resumable(
        node,
        roster,
        backend,
        setup,
        data,
        tap,
        progress,
        DEFAULT_SEND_PATIENCE,
    )
    .await
    .map(|_| ())
}

/// [`upload_with_progress`], resuming after dropped connections for up to `patience` (a
/// refusal ends it at once) and reporting what each round sent.
#[allow(clippy::too_many_arguments)]
pub async fn upload_resumable<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    tap: Option<&Tap>,
    progress: Option<&ProgressSink>,
    patience: Duration,
) -> Result<UploadReport> {
    // Receivers of this process share the client's keys: only the ciphertexts travel to them.
    let held = offer_material(node, roster, backend, setup, data).await?;
    let validation = validation_message(roster, backend, setup, data, held.evaluator)?;
    let job = resumable_messages(roster, backend, setup, data, held.trainer)?;
    send_upload(node, roster, validation, &job, tap, progress, patience).await
}

/// Uploads a job again as the trainer saved it beside its checkpoints (`saved`, batches in
/// `files`; see [`saved_job_messages`]) for a client continuing a run in a new process: the
/// trainer finds its batch files, resumes the job from its newest checkpoint, and nothing but
/// the manifest and the start message travels (batch files it lacks are read and sent). The
/// evaluator gets the validation set of `validation` (freshly encrypted: only the trainer's
/// checkpoints depend on the exact ciphertexts). `setup` must be the saved job's.
#[allow(clippy::too_many_arguments)]
pub async fn upload_saved<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &K,
    setup: TrainingSetup,
    saved: SavedJob,
    files: BatchFiles,
    validation: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    tap: Option<&Tap>,
    progress: Option<&ProgressSink>,
    patience: Duration,
) -> Result<UploadReport> {
    if saved.manifest.setup != setup {
        return Err(ActorError::Config(format!(
            "the saved job {} was uploaded with another setup than this run's",
            saved.manifest.job
        )));
    }
    let held = offer_material(node, roster, backend, setup, validation).await?;
    let validation = validation_message(roster, backend, setup, validation, held.evaluator)?;
    let job = saved_job_messages(saved, files, held.trainer)?;
    send_upload(node, roster, validation, &job, tap, progress, patience).await
}

/// Sends `validation` to the evaluator (when there is one) and `job` to the trainer in rounds,
/// resuming after dropped connections for up to `patience`.
pub(super) async fn send_upload(
    node: &Node,
    roster: &Roster,
    validation: Option<UploadValidation>,
    job: &ResumableUpload,
    tap: Option<&Tap>,
    progress: Option<&ProgressSink>,
    patience: Duration,
) -> Result<UploadReport> {
    let tap = tap.cloned();
    let progress = progress.cloned();
    let validation_bytes = validation.as_ref().map_or(0, |m| m.blob_bytes());
    let batch_bytes: u64 = job.manifest.batches.iter().map(|e| e.bytes).sum();
    let total = validation_bytes + batch_bytes + job.start.blob_bytes();
    report(&progress, ProgressEvent::Upload { bytes: 0, total });
    if let (Some(evaluator), Some(msg)) = (&roster.evaluator, validation) {
        tap::record(&tap, &msg);
        tell_patiently(
            &node.remote_ref::<UploadValidation>(evaluator, EVALUATOR_ACTOR),
            msg,
            patience,
        )
        .await?;
        report(
            &progress,
            ProgressEvent::Upload {
                bytes: validation_bytes,
                total,
            },
        );
    }
    let entries = job.manifest.batches.iter().map(|e| e.bytes);
    let peak_batch_bytes_held = match &job.batches {
        // Encoded beside the encrypted batches they came from.
        JobBatches::Memory(_) => 2 * entries.sum::<u64>(),
        JobBatches::Files(_) => entries.max().unwrap_or(0),
    };
    let mut out = UploadReport {
        batches: job.manifest.batches.len(),
        validation_bytes,
        peak_batch_bytes_held,
        ..UploadReport::default()
    };
    let deadline = Instant::now() + patience;
    let mut pause = FIRST_ROUND_PAUSE;
    let sender = JobSender {
        node,
        roster,
        job,
        tap: &tap,
        progress: &progress,
        base: validation_bytes,
        total,
    };
    loop {
        match sender.round(&mut out).await {
            Ok(()) => break,
            Err(ActorError::Send(e)) if is_transient(&e) && Instant::now() + pause < deadline => {
                tracing::warn!("upload to {}: {e}; resuming", roster.trainer);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_ROUND_PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
    report(
        &progress,
        ProgressEvent::Upload {
            bytes: total,
            total,
        },
    );
    Ok(out)
}

/// One job's messages on their way to the trainer.
struct JobSender<'a> {
    node: &'a Node,
    roster: &'a Roster,
    job: &'a ResumableUpload,
    tap: &'a Option<Tap>,
    progress: &'a Option<ProgressSink>,
    /// Bytes reported before the job (the validation set).
    base: u64,
    total: u64,
}

impl JobSender<'_> {
    /// One round: the manifest, the batches the trainer does not hold, the start message.
    async fn round(&self, out: &mut UploadReport) -> Result<()> {
        let trainer = &self.roster.trainer;
        let manifest = &self.job.manifest;
        let count = manifest.batches.len();
        out.sent_per_round.push(0);
        out.bytes_per_round.push(0);
        out.held_per_round.push(0);
        tap::record(self.tap, manifest);
        let have = self
            .node
            .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
            .ask(manifest.clone(), MANIFEST_TIMEOUT)
            .await?;
        if have.job != manifest.job {
            return Err(ActorError::Protocol(format!(
                "the trainer answered for job {}, not {}",
                have.job, manifest.job
            )));
        }
        if have.started {
            return Ok(());
        }
        let mut held = vec![false; count];
        for &i in &have.held {
            let slot = usize::try_from(i)
                .ok()
                .and_then(|i| held.get_mut(i))
                .ok_or_else(|| {
                    ActorError::Protocol(format!("the trainer holds batch {i} of {count}"))
                })?;
            *slot = true;
        }
        let held_count = held.iter().filter(|h| **h).count();
        if let Some(n) = out.held_per_round.last_mut() {
            *n = held_count;
        }
        let mut done = self.base
            + (0..count)
                .filter(|&i| held[i])
                .map(|i| manifest.batches[i].bytes)
                .sum::<u64>();
        let batches = self.node.remote_ref::<UploadBatch>(trainer, TRAINER_ACTOR);
        for index in (0..count).filter(|&i| !held[i]) {
            let msg = self.job.batch_message(index)?;
            tap::record(self.tap, &msg);
            batches.tell(msg).await?;
            let bytes = manifest.batches[index].bytes;
            if let (Some(n), Some(b)) = (
                out.sent_per_round.last_mut(),
                out.bytes_per_round.last_mut(),
            ) {
                *n += 1;
                *b += bytes;
            }
            done += bytes;
            report(
                self.progress,
                ProgressEvent::Upload {
                    bytes: done,
                    total: self.total,
                },
            );
        }
        tap::record(self.tap, &self.job.start);
        self.node
            .remote_ref::<StartTraining>(trainer, TRAINER_ACTOR)
            .tell(self.job.start.clone())
            .await?;
        Ok(())
    }
}
