//! The server's side of encrypted training: it holds only an evaluator ([`SlotEvaluator`], no
//! secret key), the encrypted weights and the momentum state, and runs HETAL's step
//! `Z = X̂·Vᵀ` (DiagABT) → `P = softmax(Z)` → `G = −η·(P − Y)ᵀ·X̂ / n` (DiagATB, with `−η/n`
//! folded into its masks) → Nesterov update, bootstrapping the state only when the
//! [`LevelPolicy`] says the next step would strand it.
//!
//! The two matrix multiplications go through a [`MatmulExecutor`]: [`LocalMatmul`] computes
//! them in this process; the actors' trainer plugs in one that cuts them into work units for its
//! workers, so a distributed step is this same code.

use serde::{Deserialize, Serialize};

use super::client::{EncryptedBatch, ValidationForm, Verdict};
use super::hyper::{HyperParams, Optimizer};
use super::levels::{ABT_DEPTH, LevelPolicy, Refresh};
use super::nesterov::NesterovSchedule;
use super::refresh::refresh_weights;
use crate::eval::SlotEvaluator;
use crate::matmul::cost::diag_atb_depths;
use crate::matmul::{AtbForm, diag_abt_scaled, diag_atb_with};
use crate::pack::{BlockMatrix, Layout, UnitShape};
use crate::softmax::{SoftmaxApprox, SoftmaxVariant, TiledRows};
use crate::{Error, Result};
use num_complex::Complex64;
use std::time::{Duration, Instant};

/// The server stores `W / DEFAULT_WEIGHT_SCALE` (and the same for `V`): trained weights of a few
/// units then stay well inside the message range CKKS bootstrapping handles. The factor is folded
/// into DiagATB's masks and the softmax's first masks, so it costs no level; the client multiplies
/// it back when it decrypts the model.
pub const DEFAULT_WEIGHT_SCALE: f64 = 8.0;

/// Bootstraps and levels of one training step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// Bootstraps inside the softmax (single logits ciphertext).
    pub softmax_bootstraps: usize,
    /// Ciphertexts of `W` and `V` bootstrapped before the step.
    pub state_bootstraps: usize,
    /// Residual (`P − Y`) ciphertexts bootstrapped before DiagATB.
    pub residual_bootstraps: usize,
    /// Level of `P` handed to DiagATB.
    pub probabilities_level: usize,
    /// Levels of `(W, V)` after the step.
    pub state_levels: (usize, usize),
}

/// Wall time of the training steps so far, by part, measured with a clock read around each
/// stage inside [`EncryptedTrainer::step`] (a handful of reads per step, nothing else): what
/// `hetal bench step` reports instead of splitting the step by operation counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// DiagABT (logits) and DiagATB (gradient).
    pub matmul: Duration,
    /// The softmax without the bootstraps inside it.
    pub softmax: Duration,
    /// Every bootstrap: state refresh, inside the softmax, residual.
    pub bootstraps: Duration,
    /// Residual, weight and momentum updates.
    pub update: Duration,
}

impl StageTimes {
    /// The four parts together.
    pub fn total(&self) -> Duration {
        self.matmul + self.softmax + self.bootstraps + self.update
    }
}

/// Running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainerTotals {
    /// Steps taken.
    pub steps: usize,
    /// Bootstraps inside softmaxes (training and validation).
    pub softmax_bootstraps: usize,
    /// State ciphertexts bootstrapped.
    pub state_bootstraps: usize,
    /// Residual ciphertexts bootstrapped.
    pub residual_bootstraps: usize,
}

impl TrainerTotals {
    /// All bootstraps (every ciphertext counted).
    pub fn bootstraps(&self) -> usize {
        self.softmax_bootstraps + self.state_bootstraps + self.residual_bootstraps
    }
}

/// Where the step's matrix multiplications are computed.
pub trait MatmulExecutor<E: SlotEvaluator> {
    /// `factor · A·Bᵀ` (DiagABT; `B` row-tiled), column-tiled.
    fn abt(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
    ) -> Result<BlockMatrix<E::Ct>>;

    /// `factor · Aᵀ·B` (DiagATB; `A` column-tiled) in `form`, row-tiled.
    fn atb(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
        form: AtbForm,
    ) -> Result<BlockMatrix<E::Ct>>;
}

impl<E: SlotEvaluator, M: MatmulExecutor<E>> MatmulExecutor<E> for &M {
    fn abt(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
    ) -> Result<BlockMatrix<E::Ct>> {
        (**self).abt(ev, a, b, factor)
    }

    fn atb(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
        form: AtbForm,
    ) -> Result<BlockMatrix<E::Ct>> {
        (**self).atb(ev, a, b, factor, form)
    }
}

/// Both multiplications in this process, in one unit each (all rotations hoisted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalMatmul;

impl<E: SlotEvaluator> MatmulExecutor<E> for LocalMatmul {
    fn abt(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
    ) -> Result<BlockMatrix<E::Ct>> {
        diag_abt_scaled(ev, a, b, factor)
    }

    fn atb(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
        form: AtbForm,
    ) -> Result<BlockMatrix<E::Ct>> {
        diag_atb_with(ev, a, b, factor, form)
    }
}

/// The encrypted trainer (server side); `M` computes its matrix multiplications.
#[derive(Debug)]
pub struct EncryptedTrainer<'a, E: SlotEvaluator, M = LocalMatmul> {
    ev: &'a E,
    matmul: M,
    unit: UnitShape,
    classes: usize,
    hyper: HyperParams,
    softmax: SoftmaxApprox,
    policy: LevelPolicy,
    w: BlockMatrix<E::Ct>,
    v: BlockMatrix<E::Ct>,
    best: BlockMatrix<E::Ct>,
    schedule: NesterovSchedule,
    totals: TrainerTotals,
    weight_scale: f64,
    bootstrapping: bool,
    times: StageTimes,
}

fn min_level<E: SlotEvaluator>(ev: &E, m: &BlockMatrix<E::Ct>) -> usize {
    m.blocks().iter().map(|c| ev.level(c)).min().unwrap_or(0)
}

fn zip_blocks<E: SlotEvaluator>(
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
    mut f: impl FnMut(&E::Ct, &E::Ct) -> Result<E::Ct>,
) -> Result<BlockMatrix<E::Ct>> {
    if a.blocks().len() != b.blocks().len() || a.layout() != b.layout() {
        return Err(Error::InvalidInput("block matrices do not match".into()));
    }
    let blocks = a
        .blocks()
        .iter()
        .zip(b.blocks())
        .map(|(x, y)| f(x, y))
        .collect::<Result<Vec<_>>>()?;
    BlockMatrix::from_blocks(a.rows(), a.cols(), a.unit(), a.layout(), blocks)
}

impl<'a, E: SlotEvaluator> EncryptedTrainer<'a, E, LocalMatmul> {
    /// A trainer starting from the client's encrypted `initial_weights` (row-tiled
    /// `classes × (d+1)`); `bootstrap_min` is the lowest level the backend can bootstrap from.
    /// Its matrix multiplications run in this process.
    pub fn new(
        ev: &'a E,
        hyper: HyperParams,
        variant: SoftmaxVariant,
        initial_weights: BlockMatrix<E::Ct>,
        bootstrap_min: usize,
    ) -> Result<Self> {
        Self::with_executor(
            ev,
            hyper,
            variant,
            initial_weights,
            bootstrap_min,
            LocalMatmul,
        )
    }
}

impl<'a, E: SlotEvaluator, M: MatmulExecutor<E>> EncryptedTrainer<'a, E, M> {
    /// As [`EncryptedTrainer::new`], with the matrix multiplications computed by `matmul`.
    pub fn with_executor(
        ev: &'a E,
        hyper: HyperParams,
        variant: SoftmaxVariant,
        initial_weights: BlockMatrix<E::Ct>,
        bootstrap_min: usize,
        matmul: M,
    ) -> Result<Self> {
        hyper.validate()?;
        let unit = initial_weights.unit();
        let classes = initial_weights.rows();
        let period = classes.next_power_of_two();
        if initial_weights.layout() != (Layout::RowTiled { period }) {
            return Err(Error::InvalidInput(format!(
                "initial weights must be row-tiled with period {period}, got {:?}",
                initial_weights.layout()
            )));
        }
        let rows = TiledRows::new(ev.slots(), unit.s1(), classes)?;
        let softmax = SoftmaxApprox::for_window(
            variant,
            rows,
            crate::softmax::constants::RANGE,
            ev.bootstrap_level().saturating_sub(bootstrap_min),
        )?;
        let (atb_a, atb_b) = diag_atb_depths(period, AtbForm::PRotUp);
        let policy = LevelPolicy {
            bootstrap_level: ev.bootstrap_level(),
            bootstrap_min,
            data_level: ev.max_level(),
            atb_depth_a: atb_a,
            atb_depth_b: atb_b,
        };
        Ok(Self {
            ev,
            matmul,
            unit,
            classes,
            hyper,
            softmax,
            policy,
            v: initial_weights.clone(),
            best: initial_weights.clone(),
            w: initial_weights,
            schedule: NesterovSchedule::new(),
            totals: TrainerTotals::default(),
            weight_scale: DEFAULT_WEIGHT_SCALE,
            bootstrapping: true,
            times: StageTimes::default(),
        })
    }

    /// Running totals of steps and bootstraps.
    pub fn totals(&self) -> TrainerTotals {
        self.totals
    }

    /// Wall time of the steps taken so far, by part.
    pub fn stage_times(&self) -> StageTimes {
        self.times
    }

    /// The level policy in use.
    pub fn policy(&self) -> &LevelPolicy {
        &self.policy
    }

    /// Sets the factor the stored weights are divided by (public: the client needs it to
    /// decrypt the model). Only before the first step, since it changes what the state means.
    pub fn set_weight_scale(&mut self, scale: f64) -> Result<()> {
        if !(scale.is_finite() && scale > 0.0) || self.totals.steps > 0 {
            return Err(Error::InvalidInput(format!(
                "weight scale {scale} (must be positive, set before training)"
            )));
        }
        self.weight_scale = scale;
        Ok(())
    }

    /// Never bootstraps (for a backend without bootstrapping keys whose modulus chain is deep
    /// enough for the steps to run): operations fail with a level error when it runs out.
    pub fn disable_bootstrapping(&mut self) {
        self.bootstrapping = false;
    }

    /// The factor the stored weights are divided by.
    pub fn weight_scale(&self) -> f64 {
        self.weight_scale
    }

    /// Refreshes `W` and `V` together with as few bootstraps as their tiling allows
    /// ([`refresh_weights`]). With plain gradient descent `V = W`: only `W`.
    fn refresh_state(&mut self) -> Result<()> {
        let gd = self.hyper.optimizer == Optimizer::GradientDescent;
        let v = (!gd).then_some(&self.v);
        let fresh = refresh_weights(self.ev, &self.w, v, self.policy.bootstrap_min)?;
        self.totals.state_bootstraps += fresh.bootstraps;
        self.v = fresh.v.unwrap_or_else(|| fresh.w.clone());
        self.w = fresh.w;
        Ok(())
    }

    fn bootstrap_all(&mut self, m: &BlockMatrix<E::Ct>) -> Result<BlockMatrix<E::Ct>> {
        let fresh = refresh_weights(self.ev, m, None, self.policy.bootstrap_min)?;
        self.totals.state_bootstraps += fresh.bootstraps;
        Ok(fresh.w)
    }

    /// The logits block prepared for the softmax: `X̂·(W/σ)ᵀ·σ/(2R)` (the softmax's
    /// [`prepared_scale`](SoftmaxApprox::prepared_scale)) by DiagABT with the factor folded into
    /// its masks, the softmax's pad value (`−1/2`) on the padded class columns.
    fn prepared_logits(&self, x: &BlockMatrix<E::Ct>, w: &BlockMatrix<E::Ct>) -> Result<E::Ct> {
        let factor = self.weight_scale * self.softmax.prepared_scale();
        let z = self.matmul.abt(self.ev, x, w, factor)?;
        let block = z
            .blocks()
            .first()
            .ok_or_else(|| Error::InvalidInput("empty logits".into()))?;
        self.ev.add_const(
            block,
            &self.softmax.rows().pad_mask(self.softmax.prepared_pad()),
        )
    }

    /// One training step on `batch`.
    pub fn step(&mut self, batch: &EncryptedBatch<E::Ct>) -> Result<StepReport> {
        let y = batch
            .y
            .as_ref()
            .ok_or_else(|| Error::InvalidInput("training batch without labels".into()))?;
        if batch.x.block_rows() != 1 || batch.rows == 0 {
            return Err(Error::Shape(
                "a mini-batch must be one non-empty block row".into(),
            ));
        }
        let mut report = StepReport::default();
        let plan = if self.bootstrapping {
            self.policy
                .plan(min_level(self.ev, &self.w), min_level(self.ev, &self.v))
        } else {
            Refresh::default()
        };
        let before = self.totals.state_bootstraps;
        let clock = Instant::now();
        if plan.weights || plan.lookahead {
            self.refresh_state()?;
        }
        report.state_bootstraps = self.totals.state_bootstraps - before;
        let mut times = StageTimes {
            bootstraps: clock.elapsed(),
            ..StageTimes::default()
        };

        let clock = Instant::now();
        let xs = self.prepared_logits(&batch.x, &self.v)?;
        times.matmul += clock.elapsed();
        let clock = Instant::now();
        let run = self.softmax.apply_prepared(
            self.ev,
            &xs,
            self.policy.bootstrap_min,
            self.policy.bootstrap_min,
        )?;
        times.softmax += clock.elapsed().saturating_sub(run.bootstrap_time);
        times.bootstraps += run.bootstrap_time;
        let clock = Instant::now();
        report.softmax_bootstraps = run.bootstraps;
        self.totals.softmax_bootstraps += run.bootstraps;
        report.probabilities_level = self.ev.level(&run.output);
        let p = BlockMatrix::from_blocks(
            batch.rows,
            self.classes,
            self.unit,
            y.layout(),
            vec![run.output],
        )?;
        let mut residual = zip_blocks::<E>(&p, y, |a, b| self.ev.sub(a, b))?;
        times.update += clock.elapsed();
        if self.bootstrapping
            && self
                .policy
                .refresh_residual(min_level(self.ev, &residual), min_level(self.ev, &self.v))
        {
            let clock = Instant::now();
            // One stage: the residual's blocks are independent (see `BootstrapExecutor`).
            let fresh = self.ev.bootstrap_many(residual.blocks())?;
            residual = BlockMatrix::from_blocks(
                residual.rows(),
                residual.cols(),
                residual.unit(),
                residual.layout(),
                fresh,
            )?;
            times.bootstraps += clock.elapsed();
            report.residual_bootstraps = residual.blocks().len();
            self.totals.residual_bootstraps += report.residual_bootstraps;
        }
        let factor = -self.hyper.learning_rate / (batch.rows as f64 * self.weight_scale);
        let clock = Instant::now();
        let g = self
            .matmul
            .atb(self.ev, &residual, &batch.x, factor, AtbForm::FoldedAuto)?;
        times.matmul += clock.elapsed();
        let clock = Instant::now();

        let w_new = zip_blocks::<E>(&self.v, &g, |a, b| self.ev.add(a, b))?;
        match self.hyper.optimizer {
            Optimizer::GradientDescent => {
                self.w = w_new;
                self.v = self.w.clone();
            }
            Optimizer::Nesterov => {
                let gamma = Complex64::new(self.schedule.advance(), 0.0);
                let v_new = zip_blocks::<E>(&w_new, &self.w, |wn, w| {
                    let diff = self.ev.sub(w, wn)?;
                    self.ev.add(wn, &self.ev.mul_scalar(&diff, gamma)?)
                })?;
                self.w = w_new;
                self.v = v_new;
            }
        }
        times.update += clock.elapsed();
        self.times.matmul += times.matmul;
        self.times.softmax += times.softmax;
        self.times.bootstraps += times.bootstraps;
        self.times.update += times.update;
        self.totals.steps += 1;
        report.state_levels = (min_level(self.ev, &self.w), min_level(self.ev, &self.v));
        Ok(report)
    }

    /// Encrypted validation probabilities of the current weights, one block per batch (sent to
    /// the client, which alone holds the labels and the key).
    pub fn validation_probabilities(
        &mut self,
        batches: &[EncryptedBatch<E::Ct>],
    ) -> Result<Vec<BlockMatrix<E::Ct>>> {
        self.prepare_validation(ValidationForm::Probabilities)?;
        let period = self.classes.next_power_of_two();
        batches
            .iter()
            .map(|b| {
                let xs = self.prepared_logits(&b.x, &self.w)?;
                let run =
                    self.softmax
                        .apply_prepared(self.ev, &xs, self.policy.bootstrap_min, 0)?;
                self.totals.softmax_bootstraps += run.bootstraps;
                BlockMatrix::from_blocks(
                    b.rows,
                    self.classes,
                    self.unit,
                    Layout::ColTiled { period },
                    vec![run.output],
                )
            })
            .collect()
    }

    /// Encrypted validation logits `X̂·Wᵀ` of the current weights (the weight scale folded into
    /// DiagABT's masks, so they decrypt to the true logits), one block per batch: one
    /// multiplication and no softmax, hence no bootstrap unless the weights lack the levels.
    /// The client applies the softmax after decrypting ([`TrainingClient::review_logits`](super::TrainingClient::review_logits));
    /// it owns the model, so it learns nothing it could not compute itself.
    pub fn validation_logits(
        &mut self,
        batches: &[EncryptedBatch<E::Ct>],
    ) -> Result<Vec<BlockMatrix<E::Ct>>> {
        self.prepare_validation(ValidationForm::Logits)?;
        batches
            .iter()
            .map(|b| {
                let z = self.matmul.abt(self.ev, &b.x, &self.w, self.weight_scale)?;
                BlockMatrix::from_blocks(
                    b.rows,
                    self.classes,
                    self.unit,
                    z.layout(),
                    z.into_blocks(),
                )
            })
            .collect()
    }

    /// Refreshes the state if the current weights lack the levels validation in `form` needs
    /// (what the validation methods do first). A trainer that sends its weights to another
    /// party for validation calls it before: that party then needs no bootstrapping key.
    pub fn prepare_validation(&mut self, form: ValidationForm) -> Result<()> {
        let needed = match form {
            ValidationForm::Logits => ABT_DEPTH,
            ValidationForm::Probabilities => self.policy.min_lookahead_level(),
        };
        if self.bootstrapping && min_level(self.ev, &self.w) < needed {
            self.refresh_state()?;
        }
        Ok(())
    }

    /// The validation output `form` asks for (see [`EncryptedTrainer::validation_logits`] and
    /// [`EncryptedTrainer::validation_probabilities`]).
    pub fn validation_output(
        &mut self,
        form: ValidationForm,
        batches: &[EncryptedBatch<E::Ct>],
    ) -> Result<Vec<BlockMatrix<E::Ct>>> {
        match form {
            ValidationForm::Logits => self.validation_logits(batches),
            ValidationForm::Probabilities => self.validation_probabilities(batches),
        }
    }

    /// Applies the client's verdict: keep a copy of the weights if they are the best so far.
    pub fn apply_verdict(&mut self, verdict: &Verdict) {
        if verdict.new_best {
            self.best = self.w.clone();
        }
    }

    /// Encrypted logits of the best weights on `batches` (encrypted inference), divided by
    /// [`EncryptedTrainer::weight_scale`] (the argmax is unchanged).
    pub fn predict_logits(
        &mut self,
        batches: &[EncryptedBatch<E::Ct>],
    ) -> Result<Vec<BlockMatrix<E::Ct>>> {
        if self.bootstrapping && min_level(self.ev, &self.best) < ABT_DEPTH {
            self.best = self.bootstrap_all(&self.best.clone())?;
        }
        batches
            .iter()
            .map(|b| {
                let z = self.matmul.abt(self.ev, &b.x, &self.best, 1.0)?;
                BlockMatrix::from_blocks(
                    b.rows,
                    self.classes,
                    self.unit,
                    z.layout(),
                    z.into_blocks(),
                )
            })
            .collect()
    }

    /// The best weights (encrypted).
    pub fn best_weights(&self) -> &BlockMatrix<E::Ct> {
        &self.best
    }

    /// The current weights (encrypted).
    pub fn weights(&self) -> &BlockMatrix<E::Ct> {
        &self.w
    }

    /// The Nesterov look-ahead `V` (encrypted; equal to `W` under plain gradient descent).
    pub fn lookahead(&self) -> &BlockMatrix<E::Ct> {
        &self.v
    }

    /// The momentum schedule (where the next step's `γ_t` comes from).
    pub fn schedule(&self) -> &NesterovSchedule {
        &self.schedule
    }

    /// Continues a run from a checkpoint: the weights, look-ahead, best weights, schedule and
    /// step count it saved. Each matrix must have the shape, unit and layout of the current
    /// weights (the run this trainer was built for); nothing changes when one does not.
    pub fn restore(
        &mut self,
        w: BlockMatrix<E::Ct>,
        v: BlockMatrix<E::Ct>,
        best: BlockMatrix<E::Ct>,
        schedule: NesterovSchedule,
        steps: usize,
    ) -> Result<()> {
        for (name, m) in [("weights", &w), ("look-ahead", &v), ("best weights", &best)] {
            let same = m.rows() == self.w.rows()
                && m.cols() == self.w.cols()
                && m.unit() == self.w.unit()
                && m.layout() == self.w.layout()
                && m.blocks().len() == self.w.blocks().len();
            if !same {
                return Err(Error::Shape(format!(
                    "restored {name}: {}x{} {:?} {:?} with {} blocks, the run's weights are \
                     {}x{} {:?} {:?} with {} blocks",
                    m.rows(),
                    m.cols(),
                    m.unit(),
                    m.layout(),
                    m.blocks().len(),
                    self.w.rows(),
                    self.w.cols(),
                    self.w.unit(),
                    self.w.layout(),
                    self.w.blocks().len()
                )));
            }
        }
        self.w = w;
        self.v = v;
        self.best = best;
        self.schedule = schedule;
        self.totals.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator};
    use crate::pack::decrypt_matrix;
    use crate::softmax::RowSoftmax;
    use crate::train::client::TrainingClient;
    use crate::train::hyper::Preset;
    use ndarray::Array2;

    fn setup() -> (Simulator, UnitShape) {
        let sim = Simulator::new(SimConfig::with_slots(1 << 10)).unwrap();
        let unit = UnitShape::hetal(16, 3, 1 << 10).unwrap();
        (sim, unit)
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let (sim, unit) = setup();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((20, 4), |(i, j)| (i + j) as f64 / 10.0);
        let labels: Vec<usize> = (0..20).map(|i| i % 3).collect();
        assert!(
            client
                .encrypt_training_set(x.view(), &labels[..19], 8)
                .is_err()
        );
        assert!(
            client
                .encrypt_training_set(x.view(), &labels, unit.s0() + 1)
                .is_err()
        );
        let mut bad = labels.clone();
        bad[3] = 3;
        assert!(client.encrypt_training_set(x.view(), &bad, 8).is_err());

        let hyper = Preset::FaceMask.hyper();
        let w0 = client.initial_weights().unwrap();
        // Weights in the wrong layout.
        let wrong = BlockMatrix::from_blocks(
            w0.rows(),
            w0.cols(),
            w0.unit(),
            Layout::RowMajor,
            w0.blocks().to_vec(),
        )
        .unwrap();
        assert!(EncryptedTrainer::new(&sim, hyper, SoftmaxVariant::HetalRs, wrong, 3).is_err());
        let mut server =
            EncryptedTrainer::new(&sim, hyper, SoftmaxVariant::HetalRs, w0, 3).unwrap();
        // A validation batch (no labels) cannot be a training step.
        let val = client.encrypt_features(x.view()).unwrap();
        assert!(server.step(&val[0]).is_err());
        assert!(server.validation_probabilities(&[]).unwrap().is_empty());
    }

    #[test]
    fn restore_continues_a_run_and_refuses_foreign_matrices() {
        let (sim, unit) = setup();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((16, 4), |(i, j)| ((i * 5 + j * 3) % 7) as f64 / 7.0);
        let labels: Vec<usize> = (0..16).map(|i| (i * 2) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 8).unwrap();
        let hyper = Preset::FaceMask.hyper();
        let w0 = client.initial_weights().unwrap();
        let trainer =
            || EncryptedTrainer::new(&sim, hyper, SoftmaxVariant::HetalRs, w0.clone(), 3).unwrap();
        // The uninterrupted run: three steps.
        let mut full = trainer();
        for b in [0, 1, 0] {
            full.step(&train[b]).unwrap();
        }
        // Two steps, the state handed to a fresh trainer, the third step there.
        let mut first = trainer();
        for b in [0, 1] {
            first.step(&train[b]).unwrap();
        }
        let mut second = trainer();
        second
            .restore(
                first.weights().clone(),
                first.lookahead().clone(),
                first.best_weights().clone(),
                first.schedule().clone(),
                first.totals().steps,
            )
            .unwrap();
        second.step(&train[0]).unwrap();
        assert_eq!(second.totals().steps, 3);
        assert_eq!(second.schedule(), full.schedule());
        let decrypt = |m: &BlockMatrix<_>| decrypt_matrix(&sim, m).unwrap();
        assert_eq!(decrypt(second.weights()), decrypt(full.weights()));
        assert_eq!(decrypt(second.lookahead()), decrypt(full.lookahead()));

        // A matrix of another shape or layout is refused and nothing changes.
        let other = TrainingClient::new(&sim, unit, 2, 4, 3).unwrap();
        let foreign = other.initial_weights().unwrap();
        let wrong_layout = BlockMatrix::from_blocks(
            w0.rows(),
            w0.cols(),
            w0.unit(),
            Layout::RowMajor,
            w0.blocks().to_vec(),
        )
        .unwrap();
        for (w, v) in [(foreign, w0.clone()), (w0.clone(), wrong_layout)] {
            let mut fresh = trainer();
            let err = fresh.restore(w, v, w0.clone(), NesterovSchedule::new(), 5);
            assert!(matches!(err, Err(Error::Shape(_))), "{err:?}");
            assert_eq!(fresh.totals().steps, 0);
        }
    }

    #[test]
    fn gradient_descent_steps_equal_the_plaintext_ones() {
        use crate::pack::append_bias_column;
        use crate::softmax::ExactSoftmax;
        use crate::train::model::SoftmaxRegression;
        use crate::train::reference::{batch_gradient, one_hot};
        let (sim, unit) = setup();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((10, 4), |(i, j)| ((i * 3 + j * 5) % 9) as f64 / 9.0 - 0.5);
        let labels: Vec<usize> = (0..10).map(|i| (i * 7) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 10).unwrap();
        let hyper = HyperParams {
            optimizer: Optimizer::GradientDescent,
            ..Preset::FaceMask.hyper()
        };
        let mut server = EncryptedTrainer::new(
            &sim,
            hyper,
            SoftmaxVariant::HetalRs,
            client.initial_weights().unwrap(),
            3,
        )
        .unwrap();
        for _ in 0..3 {
            server.step(&train[0]).unwrap();
        }
        let got = client
            .decrypt_model(server.weights(), server.weight_scale())
            .unwrap();
        let x_hat = append_bias_column(x.view());
        let y = one_hot(&labels, 3);
        let mut w = SoftmaxRegression::zeros(3, 4);
        for _ in 0..3 {
            let g = batch_gradient(&w, x_hat.view(), y.view(), &ExactSoftmax).unwrap();
            w = SoftmaxRegression::from_weights(w.weights() - &(g * hyper.learning_rate)).unwrap();
        }
        let diff = (got.weights() - w.weights())
            .mapv(f64::abs)
            .fold(0.0, |a: f64, &b| a.max(b));
        assert!(diff < 1e-6, "max weight difference {diff}");
    }

    #[test]
    fn validation_logits_decrypt_to_the_plaintext_logits_and_score_like_the_reference() {
        use crate::pack::append_bias_column;
        use crate::softmax::ExactSoftmax;
        use crate::train::model::cross_entropy;
        let (sim, unit) = setup();
        let mut client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((12, 4), |(i, j)| ((i * 5 + j * 3) % 7) as f64 / 7.0 - 0.4);
        let labels: Vec<usize> = (0..12).map(|i| (i * 2) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 12).unwrap();
        let val = client.encrypt_features(x.view()).unwrap();
        let mut server = EncryptedTrainer::new(
            &sim,
            Preset::FaceMask.hyper(),
            SoftmaxVariant::HetalRs,
            client.initial_weights().unwrap(),
            3,
        )
        .unwrap();
        server.step(&train[0]).unwrap();
        server.step(&train[0]).unwrap();
        let model = client
            .decrypt_model(server.weights(), server.weight_scale())
            .unwrap();
        let logits = server.validation_logits(&val).unwrap();
        let got = decrypt_matrix(&sim, &logits[0]).unwrap();
        let want = append_bias_column(x.view()).dot(&model.weights().t());
        let diff = (&got - &want)
            .mapv(f64::abs)
            .fold(0.0, |a: f64, &b| a.max(b));
        assert!(diff < 1e-9, "logits differ by {diff}");
        let verdict = client
            .review(ValidationForm::Logits, &logits, &labels)
            .unwrap();
        let loss = cross_entropy(&ExactSoftmax.softmax_rows(&want).unwrap(), &labels).unwrap();
        assert!((verdict.val_loss - loss).abs() < 1e-9);
        // The logits cost no bootstrap; the probabilities run the softmax.
        let before = server.totals().bootstraps();
        server
            .validation_output(ValidationForm::Logits, &val)
            .unwrap();
        assert_eq!(server.totals().bootstraps(), before);
        let probs = server
            .validation_output(ValidationForm::Probabilities, &val)
            .unwrap();
        let p = decrypt_matrix(&sim, &probs[0]).unwrap();
        assert_eq!(p.dim(), (12, 3));
    }

    #[test]
    fn one_step_equals_the_plaintext_nesterov_step() {
        use crate::pack::append_bias_column;
        use crate::softmax::ExactSoftmax;
        use crate::train::model::SoftmaxRegression;
        use crate::train::reference::{batch_gradient, one_hot};
        let (sim, unit) = setup();
        let client = TrainingClient::new(&sim, unit, 3, 4, 3).unwrap();
        let x = Array2::from_shape_fn((12, 4), |(i, j)| ((i * 5 + j * 3) % 7) as f64 / 7.0 - 0.4);
        let labels: Vec<usize> = (0..12).map(|i| (i * 2) % 3).collect();
        let train = client.encrypt_training_set(x.view(), &labels, 12).unwrap();
        let hyper = Preset::FaceMask.hyper();
        let mut server = EncryptedTrainer::new(
            &sim,
            hyper,
            SoftmaxVariant::HetalRs,
            client.initial_weights().unwrap(),
            3,
        )
        .unwrap();
        server.step(&train[0]).unwrap();
        server.step(&train[0]).unwrap();
        let got = client
            .decrypt_model(server.weights(), server.weight_scale())
            .unwrap();

        // Plaintext: two Nesterov steps from zero on the same batch.
        let x_hat = append_bias_column(x.view());
        let y = one_hot(&labels, 3);
        let mut w = SoftmaxRegression::zeros(3, 4);
        let mut v = w.clone();
        let mut sched = crate::train::NesterovSchedule::new();
        for _ in 0..2 {
            let g = batch_gradient(&v, x_hat.view(), y.view(), &ExactSoftmax).unwrap();
            let gamma = sched.advance();
            let w_new = v.weights() - &(g * hyper.learning_rate);
            let v_new = &w_new * (1.0 - gamma) + &(w.weights() * gamma);
            w = SoftmaxRegression::from_weights(w_new).unwrap();
            v = SoftmaxRegression::from_weights(v_new).unwrap();
        }
        let diff = (got.weights() - w.weights())
            .mapv(f64::abs)
            .fold(0.0, |a: f64, &b| a.max(b));
        assert!(diff < 1e-6, "max weight difference {diff}");
    }
}
