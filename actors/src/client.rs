//! The client (data owner): the only party with the secret key. It encrypts and uploads the
//! data with the public material, decrypts each epoch's validation output, answers continue or
//! stop (early stopping), and finally receives the encrypted best weights.

use std::sync::{Arc, Mutex};

use hetal_learn::pack::BlockMatrix;
use hetal_learn::softmax::{ExactSoftmax, RowSoftmax};
use hetal_learn::train::{
    Decision, EarlyStopping, EncryptedBatch, SoftmaxRegression, Verdict, accuracy, argmax_rows,
    cross_entropy,
};
use hetal_runtime::{Actor, Handle, Handlers, MessageContext, Node, Rejection};
use ndarray::{Array2, Axis};
use tokio::sync::mpsc;

use crate::backend::rotations::abt_rotations;
use crate::backend::shared::negotiate;
use crate::backend::{ClientBackend, KeyScope, MaterialBody, MaterialDigest, ServerBackend};
use crate::error::{ActorError, Result};
use crate::messages::{
    BlobSink, EpochVerdict, FinalModel, TrainingSetup, UploadTraining, UploadTrainingBody,
    UploadValidation, UploadValidationBody, ValidationForm, ValidationOutput, decode_matrix,
    encode_batch, encode_matrix,
};
use crate::progress::{ProgressEvent, ProgressSink, report};
use crate::roster::{EVALUATOR_ACTOR, Role, Roster, TRAINER_ACTOR};
use crate::tap::{self, Tap};

/// What the client reports to its host.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// An epoch was reviewed (the verdict was sent to the trainer).
    Reviewed(Verdict),
    /// Training ended: the decrypted best model.
    Finished {
        /// The model, with the weight scale multiplied back.
        model: SoftmaxRegression,
        /// Epochs the trainer ran.
        epochs: usize,
        /// Steps it took.
        steps: usize,
    },
    /// Something went wrong on the client's side.
    Failed(String),
}

struct Review {
    labels: Vec<usize>,
    stopper: EarlyStopping,
    epoch: usize,
    budget: Option<usize>,
}

/// How the client decides after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPolicy {
    /// Early-stopping patience (0: never stop early).
    pub patience: usize,
    /// Stop after this many epochs at the latest (the client's own budget).
    pub budget: Option<usize>,
}

/// The client actor.
pub struct Client<K: ClientBackend> {
    roster: Roster,
    backend: Arc<K>,
    review: Arc<Mutex<Review>>,
    node: Node,
    runtime: tokio::runtime::Handle,
    events: mpsc::UnboundedSender<ClientEvent>,
    tap: Option<Tap>,
    progress: Option<ProgressSink>,
}

impl<K: ClientBackend> Client<K> {
    /// Reports each verdict to `sink`.
    pub fn with_progress(mut self, sink: Option<ProgressSink>) -> Self {
        self.progress = sink;
        self
    }

    /// A client that scores validation outputs against `val_labels` and decides with `policy`,
    /// reporting to `events`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node: Node,
        roster: Roster,
        backend: Arc<K>,
        val_labels: Vec<usize>,
        policy: StopPolicy,
        runtime: tokio::runtime::Handle,
        events: mpsc::UnboundedSender<ClientEvent>,
        tap: Option<Tap>,
    ) -> Self {
        Self {
            roster,
            backend,
            review: Arc::new(Mutex::new(Review {
                labels: val_labels,
                stopper: EarlyStopping::new(policy.patience),
                epoch: 0,
                budget: policy.budget,
            })),
            node,
            runtime,
            events,
            tap,
            progress: None,
        }
    }
}

impl<K: ClientBackend> Actor for Client<K> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.tell::<ValidationOutput>().tell::<FinalModel>();
    }
}

/// Decrypts the validation output (logits or probabilities) and decides (the client side of
/// an epoch). Logits get the exact softmax here, in plaintext.
fn review<K: ClientBackend>(
    backend: &K,
    review: &Mutex<Review>,
    msg: &ValidationOutput,
) -> Result<Verdict> {
    let server = backend.server();
    let parts = msg
        .body
        .outputs
        .iter()
        .map(|m| backend.decrypt(&decode_matrix(server, m, &msg.blobs)?))
        .collect::<Result<Vec<Array2<f64>>>>()?;
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let decrypted = ndarray::concatenate(Axis(0), &views)
        .map_err(|e| ActorError::Protocol(format!("validation output: {e}")))?;
    let p = match msg.body.form {
        ValidationForm::Logits => ExactSoftmax.softmax_rows(&decrypted)?,
        ValidationForm::Probabilities => decrypted,
    };
    let mut state = review
        .lock()
        .map_err(|_| ActorError::Lost("review state poisoned".into()))?;
    if msg.body.epoch != state.epoch {
        return Err(ActorError::Protocol(format!(
            "validation output for epoch {}, expected epoch {}",
            msg.body.epoch, state.epoch
        )));
    }
    let val_loss = cross_entropy(&p, &state.labels)?;
    let val_accuracy = accuracy(&argmax_rows(&p), &state.labels);
    let mut decision = state.stopper.observe(val_loss);
    if state.budget.is_some_and(|b| state.epoch + 1 >= b) {
        decision = Decision::Stop;
    }
    let verdict = Verdict {
        epoch: state.epoch,
        val_loss,
        val_accuracy,
        decision,
        new_best: state.stopper.last_is_best(),
    };
    state.epoch += 1;
    Ok(verdict)
}

impl<K: ClientBackend> Handle<ValidationOutput> for Client<K> {
    fn handle(&mut self, msg: ValidationOutput, ctx: &MessageContext) -> Result<(), Rejection> {
        let from = if self.roster.evaluator.is_some() {
            Role::Evaluator
        } else {
            Role::Trainer
        };
        self.roster.require(ctx, "ValidationOutput", &[from])?;
        let (backend, state, events, tap, progress) = (
            Arc::clone(&self.backend),
            Arc::clone(&self.review),
            self.events.clone(),
            self.tap.clone(),
            self.progress.clone(),
        );
        let trainer = self
            .node
            .remote_ref::<EpochVerdict>(&self.roster.trainer, TRAINER_ACTOR);
        self.runtime.spawn(async move {
            let verdict =
                tokio::task::spawn_blocking(move || review(&*backend, &state, &msg)).await;
            match verdict {
                Ok(Ok(verdict)) => {
                    report(
                        &progress,
                        ProgressEvent::Verdict {
                            epoch: verdict.epoch,
                            val_loss: verdict.val_loss,
                            val_accuracy: verdict.val_accuracy,
                            stop: is_stop(&verdict),
                            new_best: verdict.new_best,
                        },
                    );
                    let _ = events.send(ClientEvent::Reviewed(verdict));
                    let msg = EpochVerdict(verdict);
                    tap::record(&tap, &msg);
                    if let Err(e) = trainer.tell(msg).await {
                        let _ = events.send(ClientEvent::Failed(format!("sending verdict: {e}")));
                    }
                }
                Ok(Err(e)) => {
                    let _ = events.send(ClientEvent::Failed(e.to_string()));
                }
                Err(e) => {
                    let _ = events.send(ClientEvent::Failed(e.to_string()));
                }
            }
        });
        Ok(())
    }
}

impl<K: ClientBackend> Handle<FinalModel> for Client<K> {
    fn handle(&mut self, msg: FinalModel, ctx: &MessageContext) -> Result<(), Rejection> {
        self.roster.require(ctx, "FinalModel", &[Role::Trainer])?;
        let (backend, events) = (Arc::clone(&self.backend), self.events.clone());
        self.runtime.spawn(async move {
            let decrypted = tokio::task::spawn_blocking(move || -> Result<ClientEvent> {
                let scale = msg.body.weight_scale;
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(ActorError::Protocol(format!("weight scale {scale}")));
                }
                let best = decode_matrix(backend.server(), &msg.body.best, &msg.blobs)?;
                let model = SoftmaxRegression::from_weights(backend.decrypt(&best)? * scale)?;
                Ok(ClientEvent::Finished {
                    model,
                    epochs: msg.body.epochs,
                    steps: msg.body.steps,
                })
            })
            .await;
            let event = match decrypted {
                Ok(Ok(event)) => event,
                Ok(Err(e)) => ClientEvent::Failed(e.to_string()),
                Err(e) => ClientEvent::Failed(e.to_string()),
            };
            let _ = events.send(event);
        });
        Ok(())
    }
}

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
    let validation = match &roster.evaluator {
        Some(_) => {
            let mut sink = BlobSink::default();
            let scope = evaluator_scope(setup, data)?;
            let material = material_for(backend, &scope, held.evaluator, &mut sink)?;
            let batches = data
                .validation
                .iter()
                .map(|b| encode_batch(server, b, &mut sink))
                .collect::<Result<Vec<_>>>()?;
            Some(sink.seal(UploadValidationBody {
                setup,
                material,
                batches,
            }))
        }
        None => None,
    };
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
    let tap = tap.cloned();
    let progress = progress.cloned();
    // Receivers of this process share the client's keys: only the ciphertexts travel to them.
    let held = offer_material(node, roster, backend, setup, data).await?;
    let (validation, training) = upload_messages_held(roster, backend, setup, data, held)?;
    let validation_bytes = validation.as_ref().map_or(0, |m| m.blob_bytes());
    let total = validation_bytes + training.blob_bytes();
    report(&progress, ProgressEvent::Upload { bytes: 0, total });
    if let (Some(evaluator), Some(msg)) = (&roster.evaluator, validation) {
        tap::record(&tap, &msg);
        node.remote_ref::<UploadValidation>(evaluator, EVALUATOR_ACTOR)
            .tell(msg)
            .await?;
        report(
            &progress,
            ProgressEvent::Upload {
                bytes: validation_bytes,
                total,
            },
        );
    }
    tap::record(&tap, &training);
    node.remote_ref::<UploadTraining>(&roster.trainer, TRAINER_ACTOR)
        .tell(training)
        .await?;
    report(
        &progress,
        ProgressEvent::Upload {
            bytes: total,
            total,
        },
    );
    Ok(())
}

/// Whether a verdict ends training.
pub fn is_stop(verdict: &Verdict) -> bool {
    verdict.decision == Decision::Stop
}
