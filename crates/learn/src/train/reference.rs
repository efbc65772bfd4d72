//! The plaintext reference trainer: HETAL's training loop on `f64` matrices, with a pluggable
//! row softmax (exact, or the approximation the encrypted trainer uses, run on the simulator).
//!
//! Loop: per epoch, mini-batches of `batch_size` consecutive rows (batch order optionally
//! shuffled), each step `G = (P − Y)ᵀ·X̂_b / n_b` at the Nesterov look-ahead point, then after the
//! epoch the validation loss decides early stopping; the best epoch's weights are kept. A partial
//! last batch is divided by its true row count (its zero padding, in the encrypted version,
//! contributes nothing).

use ndarray::{Array2, ArrayView2, s};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::early_stop::{Decision, EarlyStopping};
use super::hyper::{HyperParams, Optimizer};
use super::model::{SoftmaxRegression, with_bias};
use super::nesterov::NesterovSchedule;
use crate::softmax::RowSoftmax;
use crate::{Error, Result};

/// Features and labels of one split, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct LabeledView<'a> {
    /// `n × d` features.
    pub features: ArrayView2<'a, f64>,
    /// Class index per row.
    pub labels: &'a [usize],
}

impl<'a> LabeledView<'a> {
    /// Borrows a split, checking that rows and labels agree and labels are below `classes`.
    pub fn new(features: ArrayView2<'a, f64>, labels: &'a [usize], classes: usize) -> Result<Self> {
        if features.nrows() != labels.len() || labels.is_empty() {
            return Err(Error::Shape(format!(
                "{} feature rows for {} labels",
                features.nrows(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= classes) {
            return Err(Error::InvalidInput(format!(
                "label {bad} >= {classes} classes"
            )));
        }
        Ok(Self { features, labels })
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 0-based epoch.
    pub epoch: usize,
    /// Validation cross-entropy after the epoch.
    pub val_loss: f64,
    /// Validation accuracy after the epoch (argmax of the logits).
    pub val_accuracy: f64,
    /// The early-stopping decision taken after it.
    pub decision: Decision,
}

/// Result of a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// Weights of the best epoch (lowest validation loss).
    pub model: SoftmaxRegression,
    /// Best epoch (0-based).
    pub best_epoch: usize,
    /// One record per epoch run.
    pub history: Vec<EpochRecord>,
    /// Mini-batch steps taken.
    pub steps: u64,
}

/// One-hot rows for `labels`.
pub fn one_hot(labels: &[usize], classes: usize) -> Array2<f64> {
    let mut y = Array2::zeros((labels.len(), classes));
    for (i, &l) in labels.iter().enumerate() {
        if l < classes {
            y[[i, l]] = 1.0;
        }
    }
    y
}

/// Gradient of the mean cross-entropy at `weights` on one batch: `(P − Y)ᵀ·X̂ / n`.
pub fn batch_gradient(
    weights: &SoftmaxRegression,
    x_hat: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    softmax: &dyn RowSoftmax,
) -> Result<Array2<f64>> {
    let d = weights.dim();
    let logits = weights.logits(x_hat.slice(s![.., ..d]))?;
    let p = softmax.softmax_rows(&logits)?;
    let n = x_hat.nrows() as f64;
    Ok((p - y).t().dot(&x_hat) / n)
}

/// The plaintext trainer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceTrainer {
    hyper: HyperParams,
}

impl ReferenceTrainer {
    /// A trainer with validated hyper-parameters.
    pub fn new(hyper: HyperParams) -> Result<Self> {
        hyper.validate()?;
        Ok(Self { hyper })
    }

    /// Hyper-parameters.
    pub fn hyper(&self) -> &HyperParams {
        &self.hyper
    }

    /// Trains from zero weights on `train`, early-stopping on `val`; `softmax` is used for the
    /// gradient and the validation loss.
    pub fn fit(
        &self,
        train: LabeledView<'_>,
        val: LabeledView<'_>,
        classes: usize,
        softmax: &dyn RowSoftmax,
    ) -> Result<TrainOutcome> {
        let dim = train.features.ncols();
        if val.features.ncols() != dim {
            return Err(Error::Shape(format!(
                "validation has {} features, training {dim}",
                val.features.ncols()
            )));
        }
        let x_hat = with_bias(train.features);
        let y = one_hot(train.labels, classes);
        let n = x_hat.nrows();
        let bs = self.hyper.batch_size;
        let batches: Vec<(usize, usize)> =
            (0..n).step_by(bs).map(|a| (a, (a + bs).min(n))).collect();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        let mut rng = self.hyper.shuffle_seed.map(ChaCha8Rng::seed_from_u64);

        let mut w = SoftmaxRegression::zeros(classes, dim);
        let mut v = w.clone();
        let mut schedule = NesterovSchedule::new();
        let mut stopper = EarlyStopping::new(self.hyper.patience);
        let mut best = w.clone();
        let mut history = Vec::new();
        let lr = self.hyper.learning_rate;

        for epoch in 0..self.hyper.max_epochs {
            if let Some(rng) = rng.as_mut() {
                order.shuffle(rng);
            }
            for &b in &order {
                let (lo, hi) = batches[b];
                let xb = x_hat.slice(s![lo..hi, ..]);
                let yb = y.slice(s![lo..hi, ..]);
                match self.hyper.optimizer {
                    Optimizer::GradientDescent => {
                        let g = batch_gradient(&w, xb, yb, softmax)?;
                        w = SoftmaxRegression::from_weights(w.weights() - &(g * lr))?;
                    }
                    Optimizer::Nesterov => {
                        let g = batch_gradient(&v, xb, yb, softmax)?;
                        let gamma = schedule.advance();
                        let w_new = v.weights() - &(g * lr);
                        let v_new = &w_new * (1.0 - gamma) + &(w.weights() * gamma);
                        w = SoftmaxRegression::from_weights(w_new)?;
                        v = SoftmaxRegression::from_weights(v_new)?;
                    }
                }
            }
            let val_loss = w.loss(val.features, val.labels, softmax)?;
            let val_accuracy = w.accuracy(val.features, val.labels)?;
            let decision = stopper.observe(val_loss);
            if stopper.last_is_best() {
                best = w.clone();
            }
            history.push(EpochRecord {
                epoch,
                val_loss,
                val_accuracy,
                decision,
            });
            if decision == Decision::Stop {
                break;
            }
        }
        Ok(TrainOutcome {
            model: best,
            best_epoch: stopper.best_epoch().unwrap_or(0),
            steps: (history.len() * batches.len()) as u64,
            history,
        })
    }
}
