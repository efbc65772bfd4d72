//! Sends work units to the least-loaded worker, re-sends the units of a worker that fails or
//! times out, and computes locally when no worker is available (zero workers, or all lost).
//! Units are matrix-multiplication shards or, when the job's bootstrapping material may go to
//! the workers ([`BootstrapPlacement`]), single bootstraps of a stage of independent ones; a
//! worker receives the bootstrapping material once per job, before its first bootstrap unit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hetal_learn::matmul::{AbtUnit, AtbUnit, Partial, WorkUnit};
use hetal_runtime::{Node, NodeName};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::keys::WorkerKeys;
use super::pool::{BootstrapPlacement, WorkerPool};
use crate::backend::ServerBackend;
use crate::error::{ActorError, Result};
use crate::messages::{
    BlobSink, BootstrapItem, ComputeBody, ComputeUnit, InlineOperand, LoadKeys, OutcomeBody,
    UnitOutcome, WorkItem,
};
use crate::roster::WORKER_ACTOR;
use crate::tap::{self, Tap};

/// Times one stage sends a worker the job's keys again after it dropped them; past that the
/// worker is treated as failed (its units go elsewhere), so jobs evicting each other on a
/// shared worker cannot stall a stage.
pub const MAX_KEY_RELOADS: usize = 3;

/// A work unit with its ciphertexts.
#[derive(Debug, Clone)]
pub enum Unit<C> {
    /// DiagABT.
    Abt(AbtUnit<C>),
    /// DiagATB.
    Atb(AtbUnit<C>),
    /// One bootstrap of a stage.
    Bootstrap(BootstrapUnit<C>),
}

/// One ciphertext of a bootstrap stage.
#[derive(Debug, Clone)]
pub struct BootstrapUnit<C> {
    /// Its position in the stage.
    pub index: u32,
    /// The ciphertext to refresh.
    pub ct: C,
}

/// What a unit computed.
#[derive(Debug, Clone)]
enum Outcome<C> {
    /// A matrix-multiplication shard's partial result.
    Partial(Partial<C>),
    /// A bootstrapped ciphertext.
    Refreshed(C),
}

impl<C: Clone> Unit<C> {
    fn execute<E: hetal_learn::eval::SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Outcome<C>> {
        Ok(match self {
            Unit::Abt(u) => Outcome::Partial(u.execute(ev)?),
            Unit::Atb(u) => Outcome::Partial(u.execute(ev)?),
            Unit::Bootstrap(u) => Outcome::Refreshed(ev.bootstrap(&u.ct)?),
        })
    }

    fn is_bootstrap(&self) -> bool {
        matches!(self, Unit::Bootstrap(_))
    }
}

/// Counters of what the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Units computed by workers.
    pub units_remote: usize,
    /// Units computed by the trainer itself.
    pub units_local: usize,
    /// Bootstrap units computed by workers (counted in `units_remote` too).
    pub bootstraps_remote: usize,
    /// Bootstrap units computed by the trainer after their workers were lost (counted in
    /// `units_local` too; stages the trainer keeps to itself are not units).
    pub bootstraps_local: usize,
    /// Bytes of key material sent to workers (counted in `bytes_sent` too).
    pub key_bytes_sent: u64,
    /// Units sent again after a worker failed, timed out or had dropped operands or keys.
    pub resent: usize,
    /// Times a worker had dropped the job's keys (it holds
    /// [`DEFAULT_MAX_JOBS`](crate::worker::DEFAULT_MAX_JOBS) jobs and a
    /// newer one pushed this one out) and was sent them again with the unit.
    pub keys_reloaded: usize,
    /// Bytes of ciphertexts and keys sent to workers.
    pub bytes_sent: u64,
    /// Bytes of partial results received from workers.
    pub bytes_received: u64,
}

struct Operand {
    id: u64,
    bytes: bytes::Bytes,
    step_scoped: bool,
}

struct Prepared {
    work: WorkItem,
    operands: Vec<Operand>,
}

/// Which keys a unit needs loaded on its worker first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyLoad {
    /// None (loaded, or being loaded by another unit's send).
    None,
    /// The matrix-multiplication keys.
    Matmul,
    /// The bootstrapping material.
    Bootstrap,
}

/// Dispatches units of one job.
pub struct Scheduler<B: ServerBackend> {
    node: Node,
    pool: Arc<Mutex<WorkerPool>>,
    backend: Arc<B>,
    session: u64,
    keys: Arc<WorkerKeys>,
    /// The bootstrapping material for workers that take bootstrap units, and its size.
    boot_keys: Option<(Arc<WorkerKeys>, u64)>,
    unit_timeout: Duration,
    tap: Option<Tap>,
    stats: Mutex<SchedulerStats>,
}

fn operand_id(bytes: &[u8]) -> u64 {
    let digest = Sha256::digest(bytes);
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(word)
}

fn lock(pool: &Mutex<WorkerPool>) -> Result<std::sync::MutexGuard<'_, WorkerPool>> {
    pool.lock()
        .map_err(|_| ActorError::Lost("worker pool poisoned".into()))
}

impl<B: ServerBackend> Scheduler<B> {
    /// A scheduler for job `session`, whose workers get `keys` before their first unit (a
    /// [`LoadKeys`] message, or [`WorkerKeys`] offered by reference first).
    pub fn new(
        node: Node,
        pool: Arc<Mutex<WorkerPool>>,
        backend: Arc<B>,
        keys: impl Into<WorkerKeys>,
        unit_timeout: Duration,
        tap: Option<Tap>,
    ) -> Self {
        let keys: WorkerKeys = keys.into();
        Self {
            node,
            pool,
            backend,
            session: keys.session(),
            keys: Arc::new(keys),
            boot_keys: None,
            unit_timeout,
            tap,
            stats: Mutex::new(SchedulerStats::default()),
        }
    }

    /// Lets the workers take bootstrap units with `keys` (the job's [`KeyScope::Full`]
    /// material, same job id), as the pool's [`BootstrapPlacement`] allows for its size
    /// ([`ServerBackend::bootstrap_key_bytes`]).
    ///
    /// [`KeyScope::Full`]: crate::backend::KeyScope::Full
    pub fn with_bootstrap_keys(mut self, keys: impl Into<WorkerKeys>) -> Result<Self> {
        let keys: WorkerKeys = keys.into();
        if keys.session() != self.session {
            return Err(ActorError::Config(format!(
                "bootstrapping keys of job {} for a scheduler of job {}",
                keys.session(),
                self.session
            )));
        }
        let bytes = self.backend.bootstrap_key_bytes();
        self.boot_keys = Some((Arc::new(keys), bytes));
        Ok(self)
    }

    /// As [`Self::with_bootstrap_keys`] with the job's whole material
    /// ([`WorkerKeys::scoped`] to [`KeyScope::Full`](crate::backend::KeyScope::Full): offered
    /// by reference first, serialized only for a worker elsewhere), when the backend bootstraps.
    pub fn with_job_bootstrap_keys(self) -> Result<Self> {
        if !self.backend.bootstraps() {
            return Ok(self);
        }
        let keys = WorkerKeys::scoped(self.session, &self.backend, crate::backend::KeyScope::Full)?;
        self.with_bootstrap_keys(keys)
    }

    /// Workers that would take the units of a bootstrap stage now: the live ones when the pool's
    /// placement allows the material's size, else none (the trainer bootstraps itself).
    pub fn bootstrap_workers(&self) -> usize {
        let Some((_, bytes)) = &self.boot_keys else {
            return 0;
        };
        if !self.backend.bootstraps() {
            return 0;
        }
        self.pool
            .lock()
            .map(|p| {
                if p.bootstrap_placement().allows(*bytes) {
                    p.len()
                } else {
                    0
                }
            })
            .unwrap_or(0)
    }

    /// The pool's bootstrap placement.
    pub fn bootstrap_placement(&self) -> BootstrapPlacement {
        self.pool
            .lock()
            .map(|p| p.bootstrap_placement())
            .unwrap_or(BootstrapPlacement::Trainer)
    }

    /// What it did so far.
    pub fn stats(&self) -> SchedulerStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Live workers now.
    pub fn workers(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    fn add_stats(&self, f: impl FnOnce(&mut SchedulerStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    fn prepare(&self, unit: &Unit<B::Ct>) -> Result<Prepared> {
        let mut operands = Vec::new();
        let mut ids = |cts: &[B::Ct], step_scoped: bool| -> Result<Vec<u64>> {
            cts.iter()
                .map(|ct| {
                    let bytes = self.backend.encode_ct(ct)?;
                    let id = operand_id(&bytes);
                    if !operands.iter().any(|o: &Operand| o.id == id) {
                        operands.push(Operand {
                            id,
                            bytes,
                            step_scoped,
                        });
                    }
                    Ok(id)
                })
                .collect()
        };
        let work = match unit {
            Unit::Abt(u) => WorkItem::Abt(AbtUnit {
                spec: u.spec.clone(),
                unit: u.unit,
                period: u.period,
                factor: u.factor,
                a: ids(&u.a, false)?,
                c: ids(&u.c, true)?,
                rotations: u.rotations.clone(),
            }),
            Unit::Atb(u) => WorkItem::Atb(AtbUnit {
                spec: u.spec.clone(),
                unit: u.unit,
                period: u.period,
                factor: u.factor,
                form: u.form,
                c: ids(&u.c, true)?,
                b: ids(&u.b, false)?,
                rotations: u.rotations.clone(),
            }),
            Unit::Bootstrap(u) => {
                let ct = ids(std::slice::from_ref(&u.ct), true)?
                    .pop()
                    .ok_or_else(|| ActorError::Lost("bootstrap operand not encoded".into()))?;
                WorkItem::Bootstrap(BootstrapItem { index: u.index, ct })
            }
        };
        Ok(Prepared { work, operands })
    }

    /// Computes every unit of training step `step` (matrix-multiplication units) and returns the
    /// partial results in order.
    pub async fn run(
        self: &Arc<Self>,
        step: u64,
        units: Vec<Unit<B::Ct>>,
    ) -> Result<Vec<Partial<B::Ct>>> {
        self.run_units(step, units)
            .await?
            .into_iter()
            .map(|o| match o {
                Outcome::Partial(p) => Ok(p),
                Outcome::Refreshed(_) => Err(ActorError::Protocol(
                    "a bootstrap unit in a matrix multiplication".into(),
                )),
            })
            .collect()
    }

    /// Bootstraps `cts` (a stage of independent ciphertexts of step `step`) as one unit each on
    /// the workers, and returns them refreshed, in order.
    pub async fn run_bootstraps(
        self: &Arc<Self>,
        step: u64,
        cts: Vec<B::Ct>,
    ) -> Result<Vec<B::Ct>> {
        let units = cts
            .into_iter()
            .enumerate()
            .map(|(index, ct)| {
                let index = u32::try_from(index).map_err(|_| {
                    ActorError::Config(format!(
                        "bootstrap stage of more than {} ciphertexts",
                        u32::MAX
                    ))
                })?;
                Ok(Unit::Bootstrap(BootstrapUnit { index, ct }))
            })
            .collect::<Result<Vec<_>>>()?;
        self.run_units(step, units)
            .await?
            .into_iter()
            .map(|o| match o {
                Outcome::Refreshed(ct) => Ok(ct),
                Outcome::Partial(_) => Err(ActorError::Protocol(
                    "a matrix unit in a bootstrap stage".into(),
                )),
            })
            .collect()
    }

    /// Computes units of one kind (a stage) and returns their outcomes in order.
    async fn run_units(
        self: &Arc<Self>,
        step: u64,
        units: Vec<Unit<B::Ct>>,
    ) -> Result<Vec<Outcome<B::Ct>>> {
        let units = Arc::new(units);
        let n = units.len();
        let boot = units.first().is_some_and(Unit::is_bootstrap);
        if units.iter().any(|u| u.is_bootstrap() != boot) {
            return Err(ActorError::Config(
                "a stage mixes bootstrap and matrix units".into(),
            ));
        }
        if boot && self.boot_keys.is_none() {
            return Err(ActorError::Config(
                "bootstrap units without bootstrapping keys for the workers".into(),
            ));
        }
        let mut results: Vec<Option<Outcome<B::Ct>>> = vec![None; n];
        if lock(&self.pool)?.is_empty() {
            self.compute_locally(&units, (0..n).collect(), &mut results)
                .await?;
            return collect(results);
        }
        let prepared = {
            let this = Arc::clone(self);
            let units = Arc::clone(&units);
            tokio::task::spawn_blocking(move || {
                units
                    .iter()
                    .map(|u| this.prepare(u))
                    .collect::<Result<Vec<_>>>()
            })
            .await
            .map_err(|e| ActorError::Lost(e.to_string()))??
        };
        let mut pending: VecDeque<usize> = (0..n).collect();
        let mut in_flight = FuturesUnordered::new();
        let mut reloads: HashMap<NodeName, usize> = HashMap::new();
        loop {
            // Hand out units while some worker can take one.
            while let Some(&i) = pending.front() {
                let mut pool = lock(&self.pool)?;
                let Some(worker) = pool.pick_for(boot) else {
                    break;
                };
                pending.pop_front();
                worker.in_flight += 1;
                let load = if boot {
                    if worker.boot_keys_ready || worker.boot_keys_sending {
                        KeyLoad::None
                    } else {
                        worker.boot_keys_sending = true;
                        KeyLoad::Bootstrap
                    }
                } else if worker.keys_ready || worker.keys_sending || worker.boot_keys_ready {
                    KeyLoad::None
                } else {
                    worker.keys_sending = true;
                    KeyLoad::Matmul
                };
                let mut sink = BlobSink::default();
                let mut inline = Vec::new();
                for op in &prepared[i].operands {
                    // A bootstrap's input is used once: always inline, never cached.
                    if boot || !worker.holds(op.id, step, op.step_scoped) {
                        inline.push(InlineOperand {
                            id: op.id,
                            blob: sink.push(op.bytes.clone()),
                            step_scoped: op.step_scoped,
                        });
                        if !boot {
                            worker.remember(op.id, step, op.step_scoped);
                        }
                    }
                }
                let msg = sink.seal(ComputeBody {
                    session: self.session,
                    step,
                    work: prepared[i].work.clone(),
                    inline,
                });
                let name = worker.name.clone();
                drop(pool);
                let sent = msg.blob_bytes();
                self.add_stats(|s| s.bytes_sent += sent);
                let this = Arc::clone(self);
                in_flight.push(async move {
                    let outcome = this.send(&name, load, msg).await;
                    (i, name, load, outcome)
                });
            }
            if in_flight.is_empty() {
                if pending.is_empty() {
                    break;
                }
                // No worker left: the trainer computes the rest itself.
                let rest: Vec<usize> = pending.drain(..).collect();
                self.compute_locally(&units, rest, &mut results).await?;
                break;
            }
            let Some((i, name, load, outcome)) = in_flight.next().await else {
                continue;
            };
            let mut pool = lock(&self.pool)?;
            // A worker that dropped this job for newer ones answers so (typed); its keys and
            // operands go again with the unit, a bounded number of times per worker.
            let outcome = match outcome {
                Ok(reply) if matches!(reply.body, OutcomeBody::UnknownJob { .. }) => {
                    match reply.body {
                        OutcomeBody::UnknownJob { session } if session == self.session => {
                            Err(Refusal::DroppedOurKeys)
                        }
                        _ => Err(Refusal::Failed(ActorError::Protocol(format!(
                            "worker {name} answered a unit of job {} for another job",
                            self.session
                        )))),
                    }
                }
                Ok(reply) => Ok(reply),
                Err(e) => Err(Refusal::Failed(e)),
            };
            match outcome {
                Ok(reply) => {
                    let Some(worker) = pool.get_mut(&name) else {
                        // Re-admitted or removed meanwhile: use the answer if it is one.
                        drop(pool);
                        self.accept(i, &units[i], reply, &mut results, &mut pending)?;
                        continue;
                    };
                    worker.in_flight = worker.in_flight.saturating_sub(1);
                    match load {
                        KeyLoad::None => {}
                        KeyLoad::Matmul => {
                            worker.keys_ready = true;
                            worker.keys_sending = false;
                        }
                        KeyLoad::Bootstrap => {
                            // The bootstrapping material holds the matrix keys too.
                            worker.boot_keys_ready = true;
                            worker.boot_keys_sending = false;
                            worker.keys_ready = true;
                        }
                    }
                    if matches!(reply.body, OutcomeBody::Missing(_)) {
                        worker.forget_operands();
                    } else {
                        worker.completed += 1;
                    }
                    drop(pool);
                    self.accept(i, &units[i], reply, &mut results, &mut pending)?;
                }
                Err(Refusal::DroppedOurKeys) if reload_allowed(&mut reloads, &name) => {
                    // The worker dropped this job for newer ones: its keys and operands go
                    // again with the unit; the worker stays in the pool.
                    if let Some(worker) = pool.get_mut(&name) {
                        worker.in_flight = worker.in_flight.saturating_sub(1);
                        worker.keys_ready = false;
                        worker.boot_keys_ready = false;
                        match load {
                            KeyLoad::None => {}
                            KeyLoad::Matmul => worker.keys_sending = false,
                            KeyLoad::Bootstrap => worker.boot_keys_sending = false,
                        }
                        worker.forget_operands();
                    }
                    drop(pool);
                    tracing::info!(
                        "worker {name} had dropped job {} for newer jobs; sending its keys again",
                        self.session
                    );
                    self.add_stats(|s| {
                        s.resent += 1;
                        s.keys_reloaded += 1;
                    });
                    pending.push_front(i);
                }
                Err(refusal) => {
                    tracing::warn!("worker {name} failed on a unit, resending it: {refusal}");
                    pool.remove(&name);
                    drop(pool);
                    self.add_stats(|s| s.resent += 1);
                    pending.push_front(i);
                }
            }
        }
        collect(results)
    }

    /// Stores a worker's answer, or queues the unit again if the worker lacked operands.
    fn accept(
        &self,
        i: usize,
        unit: &Unit<B::Ct>,
        reply: UnitOutcome,
        results: &mut [Option<Outcome<B::Ct>>],
        pending: &mut VecDeque<usize>,
    ) -> Result<()> {
        let outcome = match (&reply.body, unit) {
            (OutcomeBody::Missing(_), _) => {
                self.add_stats(|s| s.resent += 1);
                pending.push_back(i);
                return Ok(());
            }
            (OutcomeBody::Done { spec, blocks }, Unit::Abt(AbtUnit { spec: want, .. }))
            | (OutcomeBody::Done { spec, blocks }, Unit::Atb(AtbUnit { spec: want, .. })) => {
                if spec != want {
                    return Err(ActorError::Protocol(format!(
                        "worker answered unit {spec:?} for {want:?}"
                    )));
                }
                let blocks = blocks
                    .iter()
                    .map(|&b| self.backend.decode_ct(reply.blob(b)?))
                    .collect::<Result<Vec<_>>>()?;
                Outcome::Partial(Partial {
                    spec: spec.clone(),
                    blocks,
                })
            }
            (OutcomeBody::Refreshed { index, block }, Unit::Bootstrap(u)) => {
                if *index != u.index {
                    return Err(ActorError::Protocol(format!(
                        "worker answered bootstrap {index} for {}",
                        u.index
                    )));
                }
                self.add_stats(|s| s.bootstraps_remote += 1);
                Outcome::Refreshed(self.backend.decode_ct(reply.blob(*block)?)?)
            }
            (body, _) => {
                return Err(ActorError::Protocol(format!(
                    "worker answered a unit of another kind: {}",
                    match body {
                        OutcomeBody::Refreshed { .. } => "a bootstrap",
                        OutcomeBody::UnknownJob { .. } => "an unknown job",
                        _ => "a matrix product",
                    }
                )));
            }
        };
        self.add_stats(|s| {
            s.units_remote += 1;
            s.bytes_received += reply.blob_bytes();
        });
        results[i] = Some(outcome);
        Ok(())
    }

    async fn send(
        &self,
        worker: &NodeName,
        load: KeyLoad,
        msg: ComputeUnit,
    ) -> Result<UnitOutcome> {
        let keys = match load {
            KeyLoad::None => None,
            KeyLoad::Matmul => Some(&self.keys),
            KeyLoad::Bootstrap => {
                Some(self.boot_keys.as_ref().map(|(k, _)| k).ok_or_else(|| {
                    ActorError::Config("no bootstrapping keys for workers".into())
                })?)
            }
        };
        if let Some(keys) = keys {
            let load: LoadKeys = keys.message_for(&self.node, worker).await?;
            let bytes = load.blob_bytes();
            self.add_stats(|s| {
                s.bytes_sent += bytes;
                s.key_bytes_sent += bytes;
            });
            tap::record(&self.tap, &load);
            let loaded = self
                .node
                .remote_ref::<LoadKeys>(worker, WORKER_ACTOR)
                .ask(load, self.unit_timeout)
                .await?;
            if loaded.session != self.session {
                return Err(ActorError::Protocol(format!(
                    "worker {worker} loaded job {} instead of {}",
                    loaded.session, self.session
                )));
            }
        }
        tap::record(&self.tap, &msg);
        let reply = self
            .node
            .remote_ref::<ComputeUnit>(worker, WORKER_ACTOR)
            .ask(msg, self.unit_timeout)
            .await?;
        Ok(reply)
    }

    async fn compute_locally(
        &self,
        units: &Arc<Vec<Unit<B::Ct>>>,
        which: Vec<usize>,
        results: &mut [Option<Outcome<B::Ct>>],
    ) -> Result<()> {
        let backend = Arc::clone(&self.backend);
        let units = Arc::clone(units);
        let idx = which.clone();
        let boot = idx.first().is_some_and(|&i| units[i].is_bootstrap());
        let outcomes = tokio::task::spawn_blocking(move || -> Result<Vec<Outcome<B::Ct>>> {
            let ev = backend.evaluator()?;
            if boot {
                // One bootstrap at a time: each holds large temporaries.
                idx.iter().map(|&i| units[i].execute(&ev)).collect()
            } else {
                idx.par_iter().map(|&i| units[i].execute(&ev)).collect()
            }
        })
        .await
        .map_err(|e| ActorError::Lost(e.to_string()))??;
        self.add_stats(|s| {
            s.units_local += which.len();
            if boot {
                s.bootstraps_local += which.len();
            }
        });
        for (i, o) in which.into_iter().zip(outcomes) {
            results[i] = Some(o);
        }
        Ok(())
    }
}

/// Counts one more key reload for `worker` in this stage; `false` once it had
/// [`MAX_KEY_RELOADS`].
/// Why a unit came back without a result.
enum Refusal {
    /// The worker no longer holds this job's keys ([`OutcomeBody::UnknownJob`]).
    DroppedOurKeys,
    /// The send failed, the worker refused the unit, or it answered for another job.
    Failed(ActorError),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::DroppedOurKeys => {
                f.write_str("it dropped the job's keys again and again (more reloads than allowed)")
            }
            Refusal::Failed(e) => write!(f, "{e}"),
        }
    }
}

fn reload_allowed(reloads: &mut HashMap<NodeName, usize>, worker: &NodeName) -> bool {
    let count = reloads.entry(worker.clone()).or_insert(0);
    *count += 1;
    *count <= MAX_KEY_RELOADS
}

fn collect<C>(results: Vec<Option<Outcome<C>>>) -> Result<Vec<Outcome<C>>> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| ActorError::Lost(format!("unit {i} has no result"))))
        .collect()
}
