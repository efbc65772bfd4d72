//! The client (data owner): the only party with the secret key. It encrypts and uploads the
//! data with the public material, decrypts each epoch's validation output, answers continue or
//! stop (early stopping), and finally receives the encrypted best weights.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hetal_learn::softmax::{ExactSoftmax, RowSoftmax};
use hetal_learn::train::{
    Decision, SoftmaxRegression, Verdict, accuracy, argmax_rows, cross_entropy,
};
use hetal_runtime::{Actor, Handle, Handlers, MessageContext, Node, Rejection};
use ndarray::{Array2, Axis};
use tokio::sync::mpsc;

use crate::backend::ClientBackend;
use crate::error::{ActorError, Result};
use crate::messages::{
    BlobSink, EpochVerdict, FinalModel, TrainingSetup, ValidationForm, ValidationOutput,
    decode_matrix, encode_batch,
};
use crate::progress::{ProgressEvent, ProgressSink, report};
use crate::roster::{EVALUATOR_ACTOR, Role, Roster, TRAINER_ACTOR};
use crate::store::review::{ReviewPolicy, ReviewState, ReviewStore};
use crate::tap::{self, Tap};
use crate::trainer::resend::tell_patiently;

mod stream;
mod upload;
pub use stream::{EncryptedToFiles, encrypt_to_files, upload_files, upload_streamed};
pub use upload::{
    EncryptedUpload, HeldMaterial, JobBatches, MANIFEST_TIMEOUT, ResumableUpload, UploadReport,
    offer_material, resumable_messages, saved_job_messages, upload, upload_messages,
    upload_messages_held, upload_resumable, upload_saved, upload_with_progress, validation_message,
};
// Encrypted inference.
use crate::messages::{Classify, ClassifyBody, EncryptedModelQuery, forward_matrix};
use crate::roster::CLIENT_ACTOR;
use hetal_learn::train::TrainingClient;
use hetal_runtime::{Respond, Response};
use ndarray::ArrayView2;

/// Default time the client keeps re-sending a verdict the trainer cannot be reached for (a
/// dropped connection, a trainer restarting from its checkpoint).
pub const DEFAULT_SEND_PATIENCE: Duration = Duration::from_secs(600);

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
    state: ReviewState,
    /// Where the state is saved before each verdict leaves (none: memory only).
    store: Option<ReviewStore>,
}

/// What the client answers a validation output with.
enum Answer {
    /// A new epoch's verdict.
    Fresh(Verdict),
    /// The verdict already given for this epoch (the trainer resumed from a checkpoint taken
    /// before it, or the output was delivered twice): sent again, decided once.
    Repeated(Verdict),
}

/// How the client decides after each epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPolicy {
    /// Early-stopping patience (0: never stop early).
    pub patience: usize,
    /// Stop after this many epochs at the latest (the client's own budget).
    pub budget: Option<usize>,
}

impl From<StopPolicy> for ReviewPolicy {
    fn from(p: StopPolicy) -> Self {
        ReviewPolicy {
            patience: p.patience,
            budget: p.budget,
        }
    }
}

/// The client actor.
pub struct Client<K: ClientBackend> {
    roster: Roster,
    policy: StopPolicy,
    send_patience: Duration,
    backend: Arc<K>,
    review: Arc<Mutex<Review>>,
    node: Node,
    runtime: tokio::runtime::Handle,
    events: mpsc::UnboundedSender<ClientEvent>,
    tap: Option<Tap>,
    progress: Option<ProgressSink>,
    /// The trainer's final model as received (still encrypted), for encrypted inference.
    final_model: Option<FinalModel>,
}

impl<K: ClientBackend> Client<K> {
    /// Keeps the review state (every verdict) in the file `path`: loaded now, so that a
    /// restarted client continues the early-stopping dialogue of its run, and rewritten before
    /// each verdict is sent. A corrupt file or one of another run is refused.
    pub fn with_review_file(self, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        {
            let mut review = self
                .review
                .lock()
                .map_err(|_| ActorError::Lost("review state poisoned".into()))?;
            let store = ReviewStore::new(path, self.policy.into(), &review.labels);
            review.state = store.load()?;
            review.store = Some(store);
        }
        Ok(self)
    }

    /// How long a verdict is re-sent while the trainer cannot be reached
    /// ([`DEFAULT_SEND_PATIENCE`] unless set).
    pub fn with_send_patience(mut self, patience: Duration) -> Self {
        self.send_patience = patience;
        self
    }

    /// The verdicts given so far (restored from the review file, if any).
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.review
            .lock()
            .map(|r| r.state.verdicts().to_vec())
            .unwrap_or_default()
    }

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
            policy,
            send_patience: DEFAULT_SEND_PATIENCE,
            backend,
            review: Arc::new(Mutex::new(Review {
                labels: val_labels,
                state: ReviewState::new(policy.into()),
                store: None,
            })),
            node,
            runtime,
            events,
            tap,
            progress: None,
            final_model: None,
        }
    }
}

impl<K: ClientBackend> Actor for Client<K> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.tell::<ValidationOutput>().tell::<FinalModel>();
        handlers.ask::<EncryptedModelQuery>();
    }
}

/// Decrypts the validation output (logits or probabilities) and decides (the client side of
/// an epoch). Logits get the exact softmax here, in plaintext. An epoch already decided gets
/// its recorded verdict; the state is saved before a fresh verdict is returned.
fn review<K: ClientBackend>(
    backend: &K,
    review: &Mutex<Review>,
    msg: &ValidationOutput,
) -> Result<Answer> {
    {
        let state = review
            .lock()
            .map_err(|_| ActorError::Lost("review state poisoned".into()))?;
        if let Some(v) = state.state.verdict_for(msg.body.epoch) {
            return Ok(Answer::Repeated(v));
        }
    }
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
    let expected = state.state.next_epoch();
    if msg.body.epoch != expected {
        return Err(ActorError::Protocol(format!(
            "validation output for epoch {}, expected epoch {expected}",
            msg.body.epoch
        )));
    }
    let val_loss = cross_entropy(&p, &state.labels)?;
    let val_accuracy = accuracy(&argmax_rows(&p), &state.labels);
    let mut next = state.state.clone();
    let verdict = next.review(val_loss, val_accuracy);
    // Saved before the verdict leaves: the trainer never holds a decision the client lost.
    if let Some(store) = &state.store {
        store.save(&next)?;
    }
    state.state = next;
    Ok(Answer::Fresh(verdict))
}

impl<K: ClientBackend> Handle<ValidationOutput> for Client<K> {
    fn handle(&mut self, msg: ValidationOutput, ctx: &MessageContext) -> Result<(), Rejection> {
        let from = if self.roster.evaluator.is_some() {
            Role::Evaluator
        } else {
            Role::Trainer
        };
        self.roster.require(ctx, "ValidationOutput", &[from])?;
        let (backend, state, events, tap, progress, patience) = (
            Arc::clone(&self.backend),
            Arc::clone(&self.review),
            self.events.clone(),
            self.tap.clone(),
            self.progress.clone(),
            self.send_patience,
        );
        let trainer = self
            .node
            .remote_ref::<EpochVerdict>(&self.roster.trainer, TRAINER_ACTOR);
        self.runtime.spawn(async move {
            let verdict =
                tokio::task::spawn_blocking(move || review(&*backend, &state, &msg)).await;
            let verdict = match verdict {
                Ok(Ok(Answer::Repeated(verdict))) => {
                    tracing::info!(
                        "epoch {} was decided before: verdict re-sent",
                        verdict.epoch
                    );
                    Ok(verdict)
                }
                Ok(Ok(Answer::Fresh(verdict))) => {
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
                    Ok(verdict)
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let sent = match verdict {
                Ok(verdict) => {
                    let msg = EpochVerdict(verdict);
                    tap::record(&tap, &msg);
                    tell_patiently(&trainer, msg, patience)
                        .await
                        .map_err(|e| format!("sending verdict: {e}"))
                }
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                let _ = events.send(ClientEvent::Failed(e));
            }
        });
        Ok(())
    }
}

impl<K: ClientBackend> Handle<FinalModel> for Client<K> {
    fn handle(&mut self, msg: FinalModel, ctx: &MessageContext) -> Result<(), Rejection> {
        self.roster.require(ctx, "FinalModel", &[Role::Trainer])?;
        // Kept encrypted (the blobs are shared, not copied) for encrypted inference.
        self.final_model = Some(msg.clone());
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

/// Whether a verdict ends training.
pub fn is_stop(verdict: &Verdict) -> bool {
    verdict.decision == Decision::Stop
}

impl<K: ClientBackend> Respond<EncryptedModelQuery> for Client<K> {
    fn respond(&mut self, _: EncryptedModelQuery, ctx: &MessageContext) -> Response<FinalModel> {
        // Only the client's own node (its host program) may have the encrypted model back.
        if let Err(e) = self
            .roster
            .require(ctx, "EncryptedModelQuery", &[Role::Client])
        {
            return Response::Ready(Err(e));
        }
        match &self.final_model {
            Some(model) => Response::ok(model.clone()),
            None => Response::reject("no final model received yet"),
        }
    }
}

/// What encrypted inference gave the client: the decrypted logits and their argmax.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    /// Decrypted logits, one row per classified row.
    pub logits: Array2<f64>,
    /// Predicted class per row (argmax of its logits).
    pub classes: Vec<usize>,
}

/// Encrypted inference with the trained model, which stays encrypted: the client actor on
/// `node` hands back the encrypted weights the trainer sent; `x` (features as uploaded for
/// training, without the bias column) is encrypted here; the evaluator computes the encrypted
/// logits (one DiagABT per block, no bootstrap) from the two and returns them; they are
/// decrypted here and each row's argmax taken. The evaluator sees ciphertexts only. `timeout`
/// bounds each of the two requests.
pub async fn classify<K: ClientBackend>(
    node: &Node,
    roster: &Roster,
    backend: &Arc<K>,
    setup: TrainingSetup,
    x: ArrayView2<'_, f64>,
    timeout: Duration,
) -> Result<Inference> {
    if node.name() != &roster.client {
        return Err(ActorError::Config(format!(
            "encrypted inference runs on the client's node {}, not {}",
            roster.client,
            node.name()
        )));
    }
    let evaluator = roster
        .evaluator
        .as_ref()
        .ok_or_else(|| ActorError::Config("encrypted inference needs an evaluator".into()))?;
    if x.nrows() == 0 || x.ncols() != setup.dim {
        return Err(ActorError::Config(format!(
            "{}×{} features to classify; the model takes {} features",
            x.nrows(),
            x.ncols(),
            setup.dim
        )));
    }
    let model = node
        .remote_ref::<EncryptedModelQuery>(&roster.client, CLIENT_ACTOR)
        .ask(EncryptedModelQuery, timeout)
        .await?;
    let (rows, x) = (x.nrows(), x.to_owned());
    let client = Arc::clone(backend);
    let request = tokio::task::spawn_blocking(move || -> Result<Classify> {
        let codec = client.codec()?;
        let encryptor = TrainingClient::new(&codec, setup.unit, setup.classes, setup.dim, 1)?;
        let batches = encryptor.encrypt_features(x.view())?;
        let mut sink = BlobSink::default();
        let weights = forward_matrix(&model.body.best, &model.blobs, &mut sink)?;
        let batches = batches
            .iter()
            .map(|b| encode_batch(client.server(), b, &mut sink))
            .collect::<Result<Vec<_>>>()?;
        Ok(sink.seal(ClassifyBody {
            weights,
            weight_scale: model.body.weight_scale,
            batches,
        }))
    })
    .await
    .map_err(|e| ActorError::Lost(e.to_string()))??;
    let reply = node
        .remote_ref::<Classify>(evaluator, EVALUATOR_ACTOR)
        .ask(request, timeout)
        .await?;
    let client = Arc::clone(backend);
    tokio::task::spawn_blocking(move || -> Result<Inference> {
        let parts = reply
            .body
            .logits
            .iter()
            .map(|m| client.decrypt(&decode_matrix(client.server(), m, &reply.blobs)?))
            .collect::<Result<Vec<Array2<f64>>>>()?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        let logits = ndarray::concatenate(Axis(0), &views)
            .map_err(|e| ActorError::Protocol(format!("encrypted logits: {e}")))?;
        if logits.nrows() != rows {
            return Err(ActorError::Protocol(format!(
                "{} rows of logits for {rows} rows of features",
                logits.nrows()
            )));
        }
        let classes = argmax_rows(&logits);
        Ok(Inference { logits, classes })
    })
    .await
    .map_err(|e| ActorError::Lost(e.to_string()))?
}
