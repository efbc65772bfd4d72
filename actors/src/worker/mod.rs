//! The worker: computes DiagABT / DiagATB work units (and, when the trainer sends it the job's
//! bootstrapping material, bootstrap units) for the trainer on rayon, off the actor thread. It
//! loads a job's evaluation keys once and caches operands, so each ciphertext crosses the
//! network once per use rather than once per unit.

mod cache;
mod membership;

pub use cache::{DEFAULT_MAX_JOBS, OperandCache, UnknownJob, WorkerJobs};
pub use membership::{PoolExit, closed_on_purpose, stay_in_pool};

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hetal_learn::eval::SlotEvaluator;
use hetal_learn::matmul::{Partial, WorkUnit};
use hetal_runtime::{Actor, Handlers, MessageContext, Node, Rejection, Respond, Response};

use crate::backend::shared::Pinned;
use crate::backend::{MaterialBody, ServerBackend, ServerOptions};
use crate::error::{ActorError, Result};
use crate::messages::{
    BlobSink, ComputeUnit, JoinPool, KeysLoaded, LoadKeys, MaterialAnswer, OfferMaterial,
    OutcomeBody, UnitOutcome, WorkItem,
};
use crate::roster::{Role, Roster, TRAINER_ACTOR, WORKER_ACTOR};
use crate::tap::{self, Tap};

/// Default number of operands a worker caches.
pub const DEFAULT_CACHE_CAPACITY: usize = 4096;

/// What a worker exposes to its host (counters for logs and tests).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    units: Arc<AtomicUsize>,
    bootstraps: Arc<AtomicUsize>,
    inline_operands: Arc<AtomicUsize>,
    keys: Arc<Mutex<Option<LoadedKeys>>>,
}

/// The key material a worker loaded for its current job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadedKeys {
    /// Bytes of key material received.
    pub bytes: u64,
    /// Whether it can bootstrap (only a worker the trainer sends bootstrap units gets the
    /// bootstrapping material).
    pub bootstraps: bool,
    /// Whether the keys came by reference (shared with the trainer's process, no key bytes).
    pub by_reference: bool,
}

impl WorkerStats {
    /// The key material of the current job, once loaded.
    pub fn loaded_keys(&self) -> Option<LoadedKeys> {
        self.keys.lock().ok().and_then(|k| *k)
    }

    /// Units computed so far (bootstraps included).
    pub fn units(&self) -> usize {
        self.units.load(Ordering::Relaxed)
    }

    /// Bootstrap units computed so far.
    pub fn bootstraps(&self) -> usize {
        self.bootstraps.load(Ordering::Relaxed)
    }

    /// Operands received inline (each one crossed the network once).
    pub fn inline_operands(&self) -> usize {
        self.inline_operands.load(Ordering::Relaxed)
    }
}

/// The worker actor, generic over the (key-less) backend.
pub struct Worker<B: ServerBackend> {
    roster: Roster,
    options: ServerOptions,
    /// Each job's keys and operand cache, by session (several clients' jobs at once).
    jobs: WorkerJobs<Arc<B>, B::Ct>,
    /// Keys the trainer offered by reference and this process holds, until its `LoadKeys`.
    pinned: Pinned<B>,
    stats: WorkerStats,
    tap: Option<Tap>,
}

impl<B: ServerBackend> Worker<B> {
    /// A worker that takes work from `roster.trainer`.
    pub fn new(roster: Roster, options: ServerOptions, tap: Option<Tap>) -> Self {
        Self {
            roster,
            options,
            jobs: WorkerJobs::new(DEFAULT_MAX_JOBS, DEFAULT_CACHE_CAPACITY),
            pinned: Pinned::default(),
            stats: WorkerStats::default(),
            tap,
        }
    }

    /// Counters shared with the running actor.
    pub fn stats(&self) -> WorkerStats {
        self.stats.clone()
    }
}

impl<B: ServerBackend> Actor for Worker<B> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .ask::<LoadKeys>()
            .ask::<ComputeUnit>()
            .ask::<OfferMaterial>();
    }
}

impl<B: ServerBackend> Respond<OfferMaterial> for Worker<B> {
    fn respond(&mut self, msg: OfferMaterial, ctx: &MessageContext) -> Response<MaterialAnswer> {
        if let Err(e) = self.roster.require(ctx, "OfferMaterial", &[Role::Trainer]) {
            return Response::Ready(Err(e));
        }
        let answer = self.pinned.answer(&msg);
        tap::record(&self.tap, &answer);
        Response::ok(answer)
    }
}

impl<B: ServerBackend> Respond<LoadKeys> for Worker<B> {
    fn respond(&mut self, msg: LoadKeys, ctx: &MessageContext) -> Response<KeysLoaded> {
        if let Err(e) = self.roster.require(ctx, "LoadKeys", &[Role::Trainer]) {
            return Response::Ready(Err(e));
        }
        let session = msg.body.session;
        // The same job again: nothing to do unless this is the job's bootstrapping material
        // and the worker cannot bootstrap yet (its matrix keys are then replaced, and its
        // cached operands kept: same job, same parameters).
        if let Ok(job) = self.jobs.get(session)
            && (job.keys.bootstraps() || !bootstrapping_material(&msg.body.material))
        {
            return Response::ok(KeysLoaded { session });
        }
        let (pinned, by_reference) = match &msg.body.material {
            MaterialBody::Held(digest) => (self.pinned.take(Some(digest)), true),
            _ => (None, false),
        };
        match B::from_material_shared(&msg.body.material, &msg.blobs, self.options, pinned) {
            Ok(backend) => {
                if let Ok(mut keys) = self.stats.keys.lock() {
                    *keys = Some(LoadedKeys {
                        bytes: msg.blob_bytes(),
                        bootstraps: backend.bootstraps(),
                        by_reference,
                    });
                }
                let same_job = self
                    .jobs
                    .get(session)
                    .is_ok_and(|job| job.keys.same_parameters(&backend));
                if !(same_job && self.jobs.upgrade(session, Arc::clone(&backend))) {
                    self.jobs.load(session, backend);
                }
                let reply = KeysLoaded { session };
                tap::record(&self.tap, &reply);
                Response::ok(reply)
            }
            Err(e) => Response::reject(format!("cannot load keys: {e}")),
        }
    }
}

impl<B: ServerBackend> Respond<ComputeUnit> for Worker<B> {
    fn respond(&mut self, msg: ComputeUnit, ctx: &MessageContext) -> Response<UnitOutcome> {
        if let Err(e) = self.roster.require(ctx, "ComputeUnit", &[Role::Trainer]) {
            return Response::Ready(Err(e));
        }
        let job = match self.jobs.get(msg.body.session) {
            Ok(job) => job,
            Err(unknown) => {
                // A recoverable answer, not a failure: the trainer sends the keys again.
                let reply = BlobSink::default().seal(OutcomeBody::UnknownJob {
                    session: unknown.session,
                });
                tap::record(&self.tap, &reply);
                return Response::ok(reply);
            }
        };
        let backend = Arc::clone(&job.keys);
        if matches!(msg.body.work, WorkItem::Bootstrap(_)) && !backend.bootstraps() {
            return Response::reject(format!(
                "a bootstrap unit of job {} without its bootstrapping material",
                msg.body.session
            ));
        }
        let job_cache = Arc::clone(&job.cache);
        // Which operands must come from the cache, and are they all there?
        let mut cached = HashMap::new();
        let missing = {
            let Ok(mut cache) = job_cache.lock() else {
                return Response::reject("operand cache poisoned");
            };
            cache.enter_step(msg.body.step);
            let inline: Vec<u64> = msg.body.inline.iter().map(|o| o.id).collect();
            let mut missing = Vec::new();
            for id in msg.body.work.operand_ids() {
                if inline.contains(&id) || cached.contains_key(&id) {
                    continue;
                }
                match cache.get(id) {
                    Some(ct) => {
                        cached.insert(id, ct);
                    }
                    None => missing.push(id),
                }
            }
            missing
        };
        if !missing.is_empty() {
            let reply = BlobSink::default().seal(OutcomeBody::Missing(missing));
            tap::record(&self.tap, &reply);
            return Response::ok(reply);
        }
        let cache = job_cache;
        let stats = self.stats.clone();
        let tap = self.tap.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let result = compute(&*backend, &cache, &stats, msg, cached);
            let _ = tx.send(result);
        });
        Response::later(async move {
            match rx.await {
                Ok(Ok(reply)) => {
                    tap::record(&tap, &reply);
                    Ok(reply)
                }
                Ok(Err(e)) => Err(Rejection::new(format!("unit failed: {e}"))),
                Err(_) => Err(Rejection::new("unit computation was lost")),
            }
        })
    }
}

/// Whether `material` may carry bootstrapping keys: CKKS material with its bootstrap part, or
/// material by reference (whose content is known only once taken).
fn bootstrapping_material(material: &MaterialBody) -> bool {
    match material {
        MaterialBody::Simulator(_) => false,
        MaterialBody::Ckks { bootstrap, .. } => bootstrap.is_some(),
        MaterialBody::Held(_) => true,
    }
}

/// Decodes the inline operands (caching them), runs the unit and encodes its partial result.
fn compute<B: ServerBackend>(
    backend: &B,
    cache: &Mutex<OperandCache<B::Ct>>,
    stats: &WorkerStats,
    msg: ComputeUnit,
    mut operands: HashMap<u64, Arc<B::Ct>>,
) -> Result<UnitOutcome> {
    let mut decoded = Vec::with_capacity(msg.body.inline.len());
    for op in &msg.body.inline {
        let bytes: &Bytes = msg.blob(op.blob)?;
        decoded.push((op, Arc::new(backend.decode_ct(bytes)?)));
    }
    // A bootstrap's input is used once: it is not cached.
    if !matches!(msg.body.work, WorkItem::Bootstrap(_)) {
        let mut cache = cache
            .lock()
            .map_err(|_| ActorError::Lost("operand cache poisoned".into()))?;
        for (op, ct) in &decoded {
            cache.insert(op.id, Arc::clone(ct), op.step_scoped);
        }
    }
    stats
        .inline_operands
        .fetch_add(decoded.len(), Ordering::Relaxed);
    operands.extend(decoded.into_iter().map(|(op, ct)| (op.id, ct)));
    let resolve = |id: &u64| -> hetal_learn::Result<B::Ct> {
        operands
            .get(id)
            .map(|ct| (**ct).clone())
            .ok_or_else(|| hetal_learn::Error::InvalidInput(format!("operand {id:#x} missing")))
    };
    let ev = backend.evaluator()?;
    let partial: Partial<B::Ct> = match &msg.body.work {
        WorkItem::Abt(u) => u.try_map(resolve)?.execute(&ev)?,
        WorkItem::Atb(u) => u.try_map(resolve)?.execute(&ev)?,
        WorkItem::Bootstrap(b) => {
            let fresh = ev.bootstrap(&resolve(&b.ct)?)?;
            let mut sink = BlobSink::default();
            let block = sink.push(backend.encode_ct(&fresh)?);
            stats.units.fetch_add(1, Ordering::Relaxed);
            stats.bootstraps.fetch_add(1, Ordering::Relaxed);
            return Ok(sink.seal(OutcomeBody::Refreshed {
                index: b.index,
                block,
            }));
        }
    };
    let mut sink = BlobSink::default();
    let blocks = partial
        .blocks
        .iter()
        .map(|c| Ok(sink.push(backend.encode_ct(c)?)))
        .collect::<Result<Vec<_>>>()?;
    stats.units.fetch_add(1, Ordering::Relaxed);
    Ok(sink.seal(OutcomeBody::Done {
        spec: partial.spec,
        blocks,
    }))
}

/// Registers a worker on `node` and announces it to the trainer, retrying for up to `patience`
/// while the trainer is not reachable yet.
pub async fn start_worker<B: ServerBackend>(
    node: &Node,
    roster: Roster,
    options: ServerOptions,
    tap: Option<Tap>,
    patience: Duration,
) -> Result<WorkerStats> {
    let worker = Worker::<B>::new(roster.clone(), options, tap.clone());
    let stats = worker.stats();
    node.register(WORKER_ACTOR, worker)?;
    let join = node.remote_ref::<JoinPool>(&roster.trainer, TRAINER_ACTOR);
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        tap::record(&tap, &JoinPool);
        match join.tell(JoinPool).await {
            Ok(()) => return Ok(stats),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
