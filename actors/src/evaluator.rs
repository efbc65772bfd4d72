//! The evaluator: holds the validation features the client encrypted for it, and after each
//! epoch turns the trainer's encrypted weights into the encrypted validation output the job asks
//! for — logits (one DiagABT, no bootstrap) or probabilities (the encrypted softmax) — for the
//! client, who alone can decrypt it and holds the labels.
//!
//! An evaluator may serve several clients of one trainer ([`Evaluator::with_clients`]): it
//! keeps each client's validation set, keys and pinned material under the client's
//! authenticated node name, answers a client's [`Classify`] with that client's job only, and
//! validates the trainer's [`EvaluateEpoch`] on the set of the client the message names,
//! sending the output to that client's node alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use hetal_learn::pack::BlockMatrix;
use hetal_learn::train::{EncryptedBatch, EncryptedTrainer};
use hetal_runtime::{
    Actor, Handle, Handlers, MessageContext, Node, NodeName, Rejection, Respond, Response,
};

use crate::backend::shared::Pinned;
use crate::backend::{MaterialBody, ServerBackend, ServerOptions};
use crate::error::{ActorError, Result};
use crate::messages::{
    BlobSink, EvaluateEpoch, TrainingSetup, UploadValidation, ValidationForm, ValidationOutput,
    ValidationOutputBody, decode_batch, decode_matrix, encode_matrix,
};
use crate::messages::{Classify, EncryptedLogits, EncryptedLogitsBody};
use crate::messages::{MaterialAnswer, OfferMaterial};
use crate::progress::{Party, Phase, ProgressEvent, ProgressSink, ValidationKind, report};
use crate::roster::{CLIENT_ACTOR, Role, Roster, SharedRoster};
use crate::tap::{self, Tap};

/// Encrypted validation output of `weights` on `batches` in the job's form: the same
/// computation as [`EncryptedTrainer::validation_output`] (bootstrapping the weights first if
/// they lack the levels).
pub fn validation_output<B: ServerBackend>(
    backend: &B,
    setup: &TrainingSetup,
    weights: BlockMatrix<B::Ct>,
    weight_scale: f64,
    batches: &[EncryptedBatch<B::Ct>],
) -> Result<Vec<BlockMatrix<B::Ct>>> {
    let ev = backend.evaluator()?;
    let mut trainer = EncryptedTrainer::new(
        &ev,
        setup.hyper,
        setup.variant,
        weights,
        backend.bootstrap_min(),
    )?;
    if !backend.bootstraps() {
        trainer.disable_bootstrapping();
    }
    trainer.set_weight_scale(weight_scale)?;
    Ok(trainer.validation_output(setup.validation, batches)?)
}

/// The progress kind of a validation form.
pub(crate) fn validation_kind(form: ValidationForm) -> ValidationKind {
    match form {
        ValidationForm::Logits => ValidationKind::Logits,
        ValidationForm::Probabilities => ValidationKind::Probabilities,
    }
}

struct ValidationJob<B: ServerBackend> {
    backend: Arc<B>,
    setup: TrainingSetup,
    batches: Arc<Vec<EncryptedBatch<B::Ct>>>,
}

/// The evaluator actor.
pub struct Evaluator<B: ServerBackend> {
    roster: SharedRoster,
    options: ServerOptions,
    node: Node,
    runtime: tokio::runtime::Handle,
    /// Each client's validation job, by its authenticated node name.
    jobs: HashMap<NodeName, ValidationJob<B>>,
    /// Material each client offered by reference and this process holds, until its upload.
    pinned: HashMap<NodeName, Pinned<B>>,
    tap: Option<Tap>,
    progress: Option<ProgressSink>,
}

impl<B: ServerBackend> Evaluator<B> {
    /// An evaluator on `node`; its computations are driven from `runtime`.
    pub fn new(
        node: Node,
        roster: Roster,
        options: ServerOptions,
        runtime: tokio::runtime::Handle,
        tap: Option<Tap>,
    ) -> Self {
        Self {
            roster: roster.into(),
            options,
            node,
            runtime,
            jobs: HashMap::new(),
            pinned: HashMap::new(),
            tap,
            progress: None,
        }
    }

    /// Serves every client of `roster` (each its own validation job) instead of the one client
    /// of the roster given to [`Evaluator::new`].
    pub fn with_clients(mut self, roster: SharedRoster) -> Self {
        self.roster = roster;
        self
    }

    /// Reports each validation's start and end to `sink`.
    pub fn with_progress(mut self, sink: Option<ProgressSink>) -> Self {
        self.progress = sink;
        self
    }
}

impl<B: ServerBackend> Actor for Evaluator<B> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers.tell::<UploadValidation>().tell::<EvaluateEpoch>();
        handlers.ask::<Classify>();
        handlers.ask::<OfferMaterial>();
    }
}

impl<B: ServerBackend> Respond<OfferMaterial> for Evaluator<B> {
    fn respond(&mut self, msg: OfferMaterial, ctx: &MessageContext) -> Response<MaterialAnswer> {
        if let Err(e) = self.roster.require(ctx, "OfferMaterial", &[Role::Client]) {
            return Response::Ready(Err(e));
        }
        let answer = self
            .pinned
            .entry(ctx.sender().clone())
            .or_default()
            .answer(&msg);
        tap::record(&self.tap, &answer);
        Response::ok(answer)
    }
}

impl<B: ServerBackend> Handle<UploadValidation> for Evaluator<B> {
    fn handle(&mut self, msg: UploadValidation, ctx: &MessageContext) -> Result<(), Rejection> {
        self.roster
            .require(ctx, "UploadValidation", &[Role::Client])?;
        let pinned = match &msg.body.material {
            MaterialBody::Held(digest) => self
                .pinned
                .get_mut(ctx.sender())
                .and_then(|p| p.take(Some(digest))),
            _ => None,
        };
        let decode = || -> Result<ValidationJob<B>> {
            let backend =
                B::from_material_shared(&msg.body.material, &msg.blobs, self.options, pinned)?;
            let batches = msg
                .body
                .batches
                .iter()
                .map(|b| decode_batch(&*backend, b, &msg.blobs))
                .collect::<Result<Vec<_>>>()?;
            if batches.is_empty() || batches.iter().any(|b| b.y.is_some()) {
                return Err(ActorError::Protocol(
                    "validation needs at least one batch, without labels".into(),
                ));
            }
            Ok(ValidationJob {
                backend,
                setup: msg.body.setup,
                batches: Arc::new(batches),
            })
        };
        let job = decode().map_err(|e| Rejection::new(e.to_string()))?;
        self.jobs.insert(ctx.sender().clone(), job);
        Ok(())
    }
}

impl<B: ServerBackend> Handle<EvaluateEpoch> for Evaluator<B> {
    fn handle(&mut self, msg: EvaluateEpoch, ctx: &MessageContext) -> Result<(), Rejection> {
        self.roster
            .require(ctx, "EvaluateEpoch", &[Role::Trainer])?;
        let for_client = &msg.body.client;
        if self.roster.role_of(for_client) != Some(Role::Client) {
            return Err(Rejection::new(format!(
                "EvaluateEpoch names {for_client}, which is no client of this evaluator"
            )));
        }
        let job = self.jobs.get(for_client).ok_or_else(|| {
            Rejection::new(format!("no validation set uploaded by {for_client} yet"))
        })?;
        let (backend, setup, batches) = (
            Arc::clone(&job.backend),
            job.setup,
            Arc::clone(&job.batches),
        );
        let client = self
            .node
            .remote_ref::<ValidationOutput>(for_client, CLIENT_ACTOR);
        let tap = self.tap.clone();
        let progress = self.progress.clone();
        self.runtime.spawn(async move {
            let epoch = msg.body.epoch;
            let event = |phase| ProgressEvent::Validation {
                epoch,
                by: Party::Evaluator,
                kind: validation_kind(setup.validation),
                phase,
            };
            report(&progress, event(Phase::Started));
            let start = Instant::now();
            let computed = tokio::task::spawn_blocking(move || -> Result<ValidationOutput> {
                let weights = decode_matrix(&*backend, &msg.body.weights, &msg.blobs)?;
                let outputs =
                    validation_output(&*backend, &setup, weights, msg.body.weight_scale, &batches)?;
                let mut sink = BlobSink::default();
                let outputs = outputs
                    .iter()
                    .map(|p| encode_matrix(&*backend, p, &mut sink))
                    .collect::<Result<Vec<_>>>()?;
                Ok(sink.seal(ValidationOutputBody {
                    epoch,
                    form: setup.validation,
                    outputs,
                }))
            })
            .await;
            report(
                &progress,
                event(Phase::Finished {
                    elapsed: start.elapsed(),
                }),
            );
            match computed {
                Ok(Ok(out)) => {
                    tap::record(&tap, &out);
                    if let Err(e) = client.tell(out).await {
                        tracing::error!("evaluator: cannot deliver epoch {epoch}: {e}");
                    }
                }
                Ok(Err(e)) => tracing::error!("evaluator: epoch {epoch} failed: {e}"),
                Err(e) => tracing::error!("evaluator: epoch {epoch} lost: {e}"),
            }
        });
        Ok(())
    }
}

/// Encrypted inference: the logits `X̂·Wᵀ` of `weights` (stored divided by `weight_scale`) on
/// each of `batches`, one DiagABT per batch with the weight scale folded into its masks, so they
/// decrypt to the true logits. No bootstrap: the trainer's final weights keep the levels that
/// validation by logits needs, and an evaluator holding only the logits' rotation keys refuses
/// weights without them (a level error).
pub fn inference_logits<B: ServerBackend>(
    backend: &B,
    setup: &TrainingSetup,
    weights: BlockMatrix<B::Ct>,
    weight_scale: f64,
    batches: &[EncryptedBatch<B::Ct>],
) -> Result<Vec<BlockMatrix<B::Ct>>> {
    let width = setup.dim + 1;
    if (weights.rows(), weights.cols(), weights.unit()) != (setup.classes, width, setup.unit) {
        return Err(ActorError::Protocol(format!(
            "weights of {}×{} on {:?}, the job has {} classes × {width} columns on {:?}",
            weights.rows(),
            weights.cols(),
            weights.unit(),
            setup.classes,
            setup.unit
        )));
    }
    if batches.is_empty() {
        return Err(ActorError::Protocol("nothing to classify".into()));
    }
    if let Some(b) = batches
        .iter()
        .find(|b| b.y.is_some() || b.x.cols() != width || b.x.unit() != setup.unit)
    {
        return Err(ActorError::Protocol(format!(
            "features to classify must be unlabelled blocks of {width} columns on {:?}, got {} \
             columns on {:?}{}",
            setup.unit,
            b.x.cols(),
            b.x.unit(),
            if b.y.is_some() { " with labels" } else { "" }
        )));
    }
    let setup = TrainingSetup {
        validation: ValidationForm::Logits,
        ..*setup
    };
    validation_output(backend, &setup, weights, weight_scale, batches)
}

/// Decodes a [`Classify`] request, computes [`inference_logits`] and encodes the answer.
fn classify<B: ServerBackend>(
    backend: &B,
    setup: &TrainingSetup,
    msg: &Classify,
) -> Result<EncryptedLogits> {
    let weights = decode_matrix(backend, &msg.body.weights, &msg.blobs)?;
    let batches = msg
        .body
        .batches
        .iter()
        .map(|b| decode_batch(backend, b, &msg.blobs))
        .collect::<Result<Vec<_>>>()?;
    let logits = inference_logits(backend, setup, weights, msg.body.weight_scale, &batches)?;
    let mut sink = BlobSink::default();
    let logits = logits
        .iter()
        .map(|m| encode_matrix(backend, m, &mut sink))
        .collect::<Result<Vec<_>>>()?;
    Ok(sink.seal(EncryptedLogitsBody { logits }))
}

impl<B: ServerBackend> Respond<Classify> for Evaluator<B> {
    fn respond(&mut self, msg: Classify, ctx: &MessageContext) -> Response<EncryptedLogits> {
        if let Err(e) = self.roster.require(ctx, "Classify", &[Role::Client]) {
            return Response::Ready(Err(e));
        }
        let Some(job) = self.jobs.get(ctx.sender()) else {
            return Response::reject(format!(
                "no job uploaded by {} yet: the client's upload brings the evaluation keys",
                ctx.sender()
            ));
        };
        let (backend, setup, tap) = (Arc::clone(&job.backend), job.setup, self.tap.clone());
        let computed = self
            .runtime
            .spawn_blocking(move || classify(&*backend, &setup, &msg));
        Response::later(async move {
            match computed.await {
                Ok(Ok(reply)) => {
                    tap::record(&tap, &reply);
                    Ok(reply)
                }
                Ok(Err(e)) => Err(Rejection::new(format!("classification failed: {e}"))),
                Err(e) => Err(Rejection::new(format!("classification lost: {e}"))),
            }
        })
    }
}
