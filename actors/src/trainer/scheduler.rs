//! Sends work units to the least-loaded worker, re-sends the units of a worker that fails or
//! times out, and computes locally when no worker is available (zero workers, or all lost).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hetal_learn::matmul::{AbtUnit, AtbUnit, Partial, WorkUnit};
use hetal_runtime::{Node, NodeName};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::keys::WorkerKeys;
use super::pool::WorkerPool;
use crate::backend::ServerBackend;
use crate::error::{ActorError, Result};
use crate::messages::{
    BlobSink, ComputeBody, ComputeUnit, InlineOperand, LoadKeys, OutcomeBody, UnitOutcome, WorkItem,
};
use crate::roster::WORKER_ACTOR;
use crate::tap::{self, Tap};

/// A work unit with its ciphertexts.
#[derive(Debug, Clone)]
pub enum Unit<C> {
    /// DiagABT.
    Abt(AbtUnit<C>),
    /// DiagATB.
    Atb(AtbUnit<C>),
}

impl<C: Clone> Unit<C> {
    fn execute<E: hetal_learn::eval::SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Partial<C>> {
        Ok(match self {
            Unit::Abt(u) => u.execute(ev)?,
            Unit::Atb(u) => u.execute(ev)?,
        })
    }

    fn spec(&self) -> &hetal_learn::matmul::ShardSpec {
        match self {
            Unit::Abt(u) => &u.spec,
            Unit::Atb(u) => &u.spec,
        }
    }
}

/// Counters of what the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Units computed by workers.
    pub units_remote: usize,
    /// Units computed by the trainer itself.
    pub units_local: usize,
    /// Units sent again after a worker failed, timed out or had dropped operands.
    pub resent: usize,
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

/// Dispatches units of one job.
pub struct Scheduler<B: ServerBackend> {
    node: Node,
    pool: Arc<Mutex<WorkerPool>>,
    backend: Arc<B>,
    session: u64,
    keys: Arc<WorkerKeys>,
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
            unit_timeout,
            tap,
            stats: Mutex::new(SchedulerStats::default()),
        }
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
        };
        Ok(Prepared { work, operands })
    }

    /// Computes every unit of training step `step` and returns the partial results in order.
    pub async fn run(
        self: &Arc<Self>,
        step: u64,
        units: Vec<Unit<B::Ct>>,
    ) -> Result<Vec<Partial<B::Ct>>> {
        let units = Arc::new(units);
        let n = units.len();
        let mut results: Vec<Option<Partial<B::Ct>>> = vec![None; n];
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
        loop {
            // Hand out units while some worker can take one.
            while let Some(&i) = pending.front() {
                let mut pool = lock(&self.pool)?;
                let Some(worker) = pool.pick() else { break };
                pending.pop_front();
                worker.in_flight += 1;
                let load = !worker.keys_ready && !worker.keys_sending;
                worker.keys_sending |= load;
                let mut sink = BlobSink::default();
                let mut inline = Vec::new();
                for op in &prepared[i].operands {
                    if !worker.holds(op.id, step, op.step_scoped) {
                        inline.push(InlineOperand {
                            id: op.id,
                            blob: sink.push(op.bytes.clone()),
                            step_scoped: op.step_scoped,
                        });
                        worker.remember(op.id, step, op.step_scoped);
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
                    (i, name, outcome)
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
            let Some((i, name, outcome)) = in_flight.next().await else {
                continue;
            };
            let mut pool = lock(&self.pool)?;
            match outcome {
                Ok((keys_sent, reply)) => {
                    let Some(worker) = pool.get_mut(&name) else {
                        // Re-admitted or removed meanwhile: use the answer if it is one.
                        drop(pool);
                        self.accept(i, &units[i], reply, &mut results, &mut pending)?;
                        continue;
                    };
                    worker.in_flight = worker.in_flight.saturating_sub(1);
                    if keys_sent {
                        worker.keys_ready = true;
                        worker.keys_sending = false;
                    }
                    if matches!(reply.body, OutcomeBody::Missing(_)) {
                        worker.forget_operands();
                    } else {
                        worker.completed += 1;
                    }
                    drop(pool);
                    self.accept(i, &units[i], reply, &mut results, &mut pending)?;
                }
                Err(e) => {
                    tracing::warn!("worker {name} failed on a unit, resending it: {e}");
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
        results: &mut [Option<Partial<B::Ct>>],
        pending: &mut VecDeque<usize>,
    ) -> Result<()> {
        match &reply.body {
            OutcomeBody::Missing(_) => {
                self.add_stats(|s| s.resent += 1);
                pending.push_back(i);
            }
            OutcomeBody::Done { spec, blocks } => {
                if spec != unit.spec() {
                    return Err(ActorError::Protocol(format!(
                        "worker answered unit {spec:?} for {:?}",
                        unit.spec()
                    )));
                }
                let blocks = blocks
                    .iter()
                    .map(|&b| self.backend.decode_ct(reply.blob(b)?))
                    .collect::<Result<Vec<_>>>()?;
                self.add_stats(|s| {
                    s.units_remote += 1;
                    s.bytes_received += reply.blob_bytes();
                });
                results[i] = Some(Partial {
                    spec: spec.clone(),
                    blocks,
                });
            }
        }
        Ok(())
    }

    async fn send(
        &self,
        worker: &NodeName,
        load: bool,
        msg: ComputeUnit,
    ) -> Result<(bool, UnitOutcome)> {
        let keys_sent = load;
        if load {
            let load: LoadKeys = self.keys.message_for(&self.node, worker).await?;
            let bytes = load.blob_bytes();
            self.add_stats(|s| s.bytes_sent += bytes);
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
        Ok((keys_sent, reply))
    }

    async fn compute_locally(
        &self,
        units: &Arc<Vec<Unit<B::Ct>>>,
        which: Vec<usize>,
        results: &mut [Option<Partial<B::Ct>>],
    ) -> Result<()> {
        let backend = Arc::clone(&self.backend);
        let units = Arc::clone(units);
        let idx = which.clone();
        let partials = tokio::task::spawn_blocking(move || -> Result<Vec<Partial<B::Ct>>> {
            let ev = backend.evaluator()?;
            idx.par_iter().map(|&i| units[i].execute(&ev)).collect()
        })
        .await
        .map_err(|e| ActorError::Lost(e.to_string()))??;
        self.add_stats(|s| s.units_local += which.len());
        for (i, p) in which.into_iter().zip(partials) {
            results[i] = Some(p);
        }
        Ok(())
    }
}

fn collect<C>(results: Vec<Option<Partial<C>>>) -> Result<Vec<Partial<C>>> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.ok_or_else(|| ActorError::Lost(format!("unit {i} has no result"))))
        .collect()
}
