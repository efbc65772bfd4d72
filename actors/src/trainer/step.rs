//! HETAL's training step with the two matrix multiplications cut into work units and computed by
//! the [`Scheduler`]. Everything between them (bootstrapping the state, the softmax, the
//! residual, the Nesterov update) is the same computation as `hetal_learn`'s
//! [`EncryptedTrainer::step`](hetal_learn::train::EncryptedTrainer::step), run on a blocking
//! thread so the network keeps moving.

use std::sync::Arc;

use hetal_learn::eval::SlotEvaluator;
use hetal_learn::matmul::cost::diag_atb_depths;
use hetal_learn::matmul::{AbtPlan, AtbForm, AtbPlan, Partial, Sharding};
use hetal_learn::pack::{BlockMatrix, Layout};
use hetal_learn::softmax::{SoftmaxApprox, TiledRows};
use hetal_learn::train::server::DEFAULT_WEIGHT_SCALE;
use hetal_learn::train::{EncryptedBatch, LevelPolicy, NesterovSchedule, Optimizer};
use num_complex::Complex64;

use super::scheduler::{Scheduler, Unit};
use crate::backend::ServerBackend;
use crate::error::{ActorError, Result};
use crate::messages::TrainingSetup;

/// The encrypted model state the trainer owns.
#[derive(Debug, Clone)]
pub struct ModelState<C> {
    /// Weights (divided by the weight scale).
    pub w: BlockMatrix<C>,
    /// Nesterov look-ahead.
    pub v: BlockMatrix<C>,
    /// Best weights so far (by the client's verdicts).
    pub best: BlockMatrix<C>,
    /// Momentum schedule.
    pub schedule: NesterovSchedule,
    /// Steps taken.
    pub steps: usize,
    /// Ciphertexts bootstrapped so far (state, softmax and residual).
    pub bootstraps: usize,
}

impl<C: Clone> ModelState<C> {
    /// The state at the client's initial weights.
    pub fn new(initial: BlockMatrix<C>) -> Self {
        Self {
            v: initial.clone(),
            best: initial.clone(),
            w: initial,
            schedule: NesterovSchedule::new(),
            steps: 0,
            bootstraps: 0,
        }
    }
}

/// The constants of a job's step.
#[derive(Debug)]
pub struct StepPlan {
    setup: TrainingSetup,
    softmax: SoftmaxApprox,
    policy: LevelPolicy,
    weight_scale: f64,
}

impl StepPlan {
    /// The step constants for `setup` on `backend` (as `EncryptedTrainer::new` sets them).
    pub fn new<B: ServerBackend>(backend: &B, setup: TrainingSetup) -> Result<Self> {
        setup.hyper.validate()?;
        let ev = backend.evaluator()?;
        let period = setup.classes.next_power_of_two();
        let rows = TiledRows::new(ev.slots(), setup.unit.s1(), setup.classes)?;
        let softmax =
            SoftmaxApprox::new(setup.variant, rows, hetal_learn::softmax::constants::RANGE)?;
        let (atb_a, atb_b) = diag_atb_depths(period, AtbForm::PRotUp);
        let policy = LevelPolicy {
            bootstrap_level: ev.bootstrap_level(),
            bootstrap_min: backend.bootstrap_min(),
            data_level: ev.max_level(),
            atb_depth_a: atb_a,
            atb_depth_b: atb_b,
        };
        Ok(Self {
            setup,
            softmax,
            policy,
            weight_scale: DEFAULT_WEIGHT_SCALE,
        })
    }

    /// The public factor the stored weights are divided by.
    pub fn weight_scale(&self) -> f64 {
        self.weight_scale
    }
}

fn min_level<E: SlotEvaluator>(ev: &E, m: &BlockMatrix<E::Ct>) -> usize {
    m.blocks().iter().map(|c| ev.level(c)).min().unwrap_or(0)
}

fn zip_blocks<C: Clone>(
    a: &BlockMatrix<C>,
    b: &BlockMatrix<C>,
    mut f: impl FnMut(&C, &C) -> hetal_learn::Result<C>,
) -> Result<BlockMatrix<C>> {
    if a.blocks().len() != b.blocks().len() || a.layout() != b.layout() {
        return Err(ActorError::Protocol("block matrices do not match".into()));
    }
    let blocks = a
        .blocks()
        .iter()
        .zip(b.blocks())
        .map(|(x, y)| f(x, y))
        .collect::<hetal_learn::Result<Vec<_>>>()?;
    Ok(BlockMatrix::from_blocks(
        a.rows(),
        a.cols(),
        a.unit(),
        a.layout(),
        blocks,
    )?)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ActorError::Lost(e.to_string()))?
}

/// Refreshes `W` and `V` together, as `EncryptedTrainer` does: one bootstrap per block of
/// `W + i·V`, then the real and imaginary parts (one level). With plain gradient descent
/// `V = W`: only `W`.
fn refresh_state<E: SlotEvaluator>(
    ev: &E,
    plan: &StepPlan,
    state: &mut ModelState<E::Ct>,
) -> Result<()> {
    if plan.setup.hyper.optimizer == Optimizer::GradientDescent {
        state.bootstraps += state.w.blocks().len();
        state.w = state.w.try_map(|c| ev.bootstrap(c))?;
        state.v = state.w.clone();
        return Ok(());
    }
    let half = Complex64::new(0.5, 0.0);
    let minus_half_i = Complex64::new(0.0, -0.5);
    let mut w_blocks = Vec::with_capacity(state.w.blocks().len());
    let mut v_blocks = Vec::with_capacity(state.w.blocks().len());
    for (w, v) in state.w.blocks().iter().zip(state.v.blocks()) {
        let fresh = ev.bootstrap(&ev.add(w, &ev.mul_i(v)?)?)?;
        let conj = ev.conjugate(&fresh)?;
        w_blocks.push(ev.mul_scalar(&ev.add(&fresh, &conj)?, half)?);
        v_blocks.push(ev.mul_scalar(&ev.sub(&fresh, &conj)?, minus_half_i)?);
    }
    state.bootstraps += w_blocks.len();
    let (w, v) = (&state.w, &state.v);
    state.w = BlockMatrix::from_blocks(w.rows(), w.cols(), w.unit(), w.layout(), w_blocks)?;
    state.v = BlockMatrix::from_blocks(v.rows(), v.cols(), v.unit(), v.layout(), v_blocks)?;
    Ok(())
}

/// One training step on `batch`; the matmuls go through `scheduler`, cut for its live workers.
pub async fn distributed_step<B: ServerBackend>(
    backend: &Arc<B>,
    plan: &Arc<StepPlan>,
    scheduler: &Arc<Scheduler<B>>,
    state: ModelState<B::Ct>,
    batch: &Arc<EncryptedBatch<B::Ct>>,
) -> Result<ModelState<B::Ct>> {
    if batch.x.block_rows() != 1 || batch.rows == 0 || batch.y.is_none() {
        return Err(ActorError::Protocol(
            "a training mini-batch must be one labelled, non-empty block row".into(),
        ));
    }
    let period = plan.setup.classes.next_power_of_two();
    let sharding = |workers: usize| {
        if workers == 0 {
            Sharding::single()
        } else {
            Sharding::for_workers(workers, period / 2, batch.x.block_cols())
        }
    };
    let step_id = state.steps as u64 + 1;

    // 1. Refresh the state if the step would strand it; cut Z = X̂·Vᵀ into units.
    let abt_sharding = sharding(scheduler.workers());
    let (state, abt_plan, units) = {
        let (backend, plan, batch) = (Arc::clone(backend), Arc::clone(plan), Arc::clone(batch));
        blocking(move || {
            let ev = backend.evaluator()?;
            let mut state = state;
            let refresh = plan
                .policy
                .plan(min_level(&ev, &state.w), min_level(&ev, &state.v));
            if refresh.weights || refresh.lookahead {
                refresh_state(&ev, &plan, &mut state)?;
            }
            let factor = plan.weight_scale / (2.0 * plan.softmax.range());
            let abt = AbtPlan::new(&batch.x, &state.v, factor, abt_sharding)?;
            let units = abt.units(&ev, &batch.x, &state.v)?;
            Ok((
                state,
                abt,
                units.into_iter().map(Unit::Abt).collect::<Vec<_>>(),
            ))
        })
        .await?
    };
    let partials = scheduler.run(step_id, units).await?;

    // 2. Softmax, residual, and G = −η/(n·scale)·(P − Y)ᵀ·X̂ cut into units.
    let atb_sharding = sharding(scheduler.workers());
    let (state, atb_plan, units) = {
        let (backend, plan, batch) = (Arc::clone(backend), Arc::clone(plan), Arc::clone(batch));
        blocking(move || {
            let ev = backend.evaluator()?;
            let mut state = state;
            let z = abt_plan.combine(&ev, &partials)?;
            let z = z
                .blocks()
                .first()
                .cloned()
                .ok_or_else(|| ActorError::Protocol("empty logits".into()))?;
            let xs = ev.add_const(&z, &plan.softmax.rows().pad_mask(-0.5))?;
            let run = plan.softmax.apply_prepared(
                &ev,
                &xs,
                plan.policy.bootstrap_min,
                plan.policy.bootstrap_min,
            )?;
            state.bootstraps += run.bootstraps;
            let y = batch
                .y
                .as_ref()
                .ok_or_else(|| ActorError::Protocol("training batch without labels".into()))?;
            let p = BlockMatrix::from_blocks(
                batch.rows,
                plan.setup.classes,
                plan.setup.unit,
                y.layout(),
                vec![run.output],
            )?;
            let mut residual = zip_blocks(&p, y, |a, b| ev.sub(a, b))?;
            if plan
                .policy
                .refresh_residual(min_level(&ev, &residual), min_level(&ev, &state.v))
            {
                state.bootstraps += residual.blocks().len();
                residual = residual.try_map(|c| ev.bootstrap(c))?;
            }
            let factor = -plan.setup.hyper.learning_rate / (batch.rows as f64 * plan.weight_scale);
            let atb = AtbPlan::new(
                &ev,
                &residual,
                &batch.x,
                factor,
                AtbForm::Auto,
                atb_sharding,
            )?;
            let units = atb.units(&ev, &residual, &batch.x)?;
            Ok((
                state,
                atb,
                units.into_iter().map(Unit::Atb).collect::<Vec<_>>(),
            ))
        })
        .await?
    };
    let partials: Vec<Partial<B::Ct>> = scheduler.run(step_id, units).await?;

    // 3. Update.
    let (backend, plan) = (Arc::clone(backend), Arc::clone(plan));
    blocking(move || {
        let ev = backend.evaluator()?;
        let mut state = state;
        let g = atb_plan.combine(&ev, &partials)?;
        let w_new = zip_blocks(&state.v, &g, |a, b| ev.add(a, b))?;
        match plan.setup.hyper.optimizer {
            Optimizer::GradientDescent => {
                state.w = w_new;
                state.v = state.w.clone();
            }
            Optimizer::Nesterov => {
                let gamma = Complex64::new(state.schedule.advance(), 0.0);
                let v_new = zip_blocks(&w_new, &state.w, |wn, w| {
                    let diff = ev.sub(w, wn)?;
                    ev.add(wn, &ev.mul_scalar(&diff, gamma)?)
                })?;
                state.w = w_new;
                state.v = v_new;
            }
        }
        state.steps += 1;
        Ok(state)
    })
    .await
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

impl StepPlan {
    /// The job's public description.
    pub fn setup(&self) -> TrainingSetup {
        self.setup
    }
}
