//! The distributed step: `hetal_learn`'s [`EncryptedTrainer`](hetal_learn::train::EncryptedTrainer)
//! runs unchanged, with a [`DistributedMatmul`] that cuts its two matrix multiplications into
//! work units for the [`Scheduler`] (which computes them locally when no worker is live) and,
//! as the trainer's [`BootstrapExecutor`] (through [`BootstrapVia`](hetal_learn::eval::BootstrapVia)),
//! sends each stage of independent bootstraps to the workers one ciphertext per unit when the
//! pool's placement lets them hold the bootstrapping material. Only the multiplications differ
//! from a single-process run, so the results agree up to the order of additions (and CKKS
//! noise); a bootstrap is the same computation wherever it runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hetal_learn::eval::{BootstrapExecutor, SlotEvaluator};
use hetal_learn::matmul::{AbtPlan, AtbForm, AtbPlan, Partial, Sharding};
use hetal_learn::pack::{BlockMatrix, Layout};
use hetal_learn::train::server::MatmulExecutor;

use super::scheduler::{Scheduler, Unit};
use crate::backend::ServerBackend;
use crate::error::{ActorError, Result};
use crate::messages::TrainingSetup;

/// Computes DiagABT, DiagATB and bootstrap stages through a [`Scheduler`]. Its methods block on
/// the async scheduler: call them from a blocking thread (`spawn_blocking`), never from async
/// code.
pub struct DistributedMatmul<B: ServerBackend> {
    scheduler: Arc<Scheduler<B>>,
    runtime: tokio::runtime::Handle,
    /// Id of the current multiplication round: each DiagABT opens one, the DiagATB that
    /// follows it shares it (workers drop operands of older rounds).
    round: AtomicU64,
    /// The last failure of the distribution itself, kept typed for the job's report.
    failure: Mutex<Option<ActorError>>,
}

impl<B: ServerBackend> std::fmt::Debug for DistributedMatmul<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistributedMatmul")
            .field("round", &self.round)
            .field("workers", &self.scheduler.workers())
            .finish_non_exhaustive()
    }
}

/// The tile period of a row- or column-tiled operand (DiagABT's `B`, DiagATB's `A`).
fn period(layout: Layout) -> usize {
    match layout {
        Layout::RowTiled { period } | Layout::ColTiled { period } => period,
        Layout::RowMajor => 2,
    }
}

impl<B: ServerBackend> DistributedMatmul<B> {
    /// An executor dispatching through `scheduler`, blocking on `runtime`.
    pub fn new(scheduler: Arc<Scheduler<B>>, runtime: tokio::runtime::Handle) -> Self {
        Self {
            scheduler,
            runtime,
            round: AtomicU64::new(0),
            failure: Mutex::new(None),
        }
    }

    /// The failure behind the last `Error::Backend` this executor returned, if any.
    pub fn take_failure(&self) -> Option<ActorError> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    /// One unit per live worker (by diagonal pair, then block column); one unit without any.
    fn sharding(&self, period: usize, cols: usize) -> Sharding {
        match self.scheduler.workers() {
            0 => Sharding::single(),
            workers => Sharding::for_workers(workers, period / 2, cols),
        }
    }

    fn run(&self, round: u64, units: Vec<Unit<B::Ct>>) -> hetal_learn::Result<Vec<Partial<B::Ct>>> {
        let result = self.runtime.block_on(self.scheduler.run(round, units));
        self.typed(result, "distributed matmul")
    }

    /// `result` as a learn error, keeping the typed failure for [`Self::take_failure`].
    fn typed<T>(&self, result: Result<T>, what: &str) -> hetal_learn::Result<T> {
        result.map_err(|e| {
            let message = format!("{what}: {e}");
            if let Ok(mut slot) = self.failure.lock() {
                *slot = Some(e);
            }
            hetal_learn::Error::Backend(message)
        })
    }
}

impl<B: ServerBackend, E: SlotEvaluator<Ct = B::Ct>> BootstrapExecutor<E> for DistributedMatmul<B> {
    /// One unit per ciphertext on the workers when the pool's placement allows the material and
    /// a worker is live; else on `ev` itself, one after the other (what a single process does).
    fn bootstrap_many(&self, ev: &E, cts: &[E::Ct]) -> hetal_learn::Result<Vec<E::Ct>> {
        if cts.is_empty() || self.scheduler.bootstrap_workers() == 0 {
            return ev.bootstrap_many(cts);
        }
        // The current round: its step-scoped operands stay cached on the workers.
        let round = self.round.load(Ordering::SeqCst).max(1);
        let result = self
            .runtime
            .block_on(self.scheduler.run_bootstraps(round, cts.to_vec()));
        self.typed(result, "distributed bootstraps")
    }
}

impl<B: ServerBackend, E: SlotEvaluator<Ct = B::Ct>> MatmulExecutor<E> for DistributedMatmul<B> {
    fn abt(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
    ) -> hetal_learn::Result<BlockMatrix<E::Ct>> {
        let round = self.round.fetch_add(1, Ordering::SeqCst) + 1;
        let plan = AbtPlan::new(
            a,
            b,
            factor,
            self.sharding(period(b.layout()), a.block_cols()),
        )?;
        let units = plan.units(ev, a, b)?.into_iter().map(Unit::Abt).collect();
        plan.combine(ev, &self.run(round, units)?)
    }

    fn atb(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
        form: AtbForm,
    ) -> hetal_learn::Result<BlockMatrix<E::Ct>> {
        let round = self.round.load(Ordering::SeqCst).max(1);
        let sharding = self.sharding(period(a.layout()), b.block_cols());
        let plan = AtbPlan::new(ev, a, b, factor, form, sharding)?;
        let units = plan.units(ev, a, b)?.into_iter().map(Unit::Atb).collect();
        plan.combine(ev, &self.run(round, units)?)
    }
}

/// Checks that a layout is what the step expects of the weights.
pub fn check_weights<C>(setup: &TrainingSetup, w: &BlockMatrix<C>) -> Result<()> {
    let period = setup.classes.next_power_of_two();
    if w.layout() != (Layout::RowTiled { period })
        || w.rows() != setup.classes
        || w.cols() != setup.dim + 1
        || w.unit() != setup.unit
    {
        return Err(ActorError::Protocol(format!(
            "initial weights {}×{} {:?} do not fit {} classes × {} features (+ bias)",
            w.rows(),
            w.cols(),
            w.layout(),
            setup.classes,
            setup.dim
        )));
    }
    Ok(())
}
