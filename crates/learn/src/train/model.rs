//! The plaintext softmax-regression model: `c × (d + 1)` weights whose last column is the bias.

use ndarray::{Array2, ArrayView2, Axis, s};

use crate::softmax::RowSoftmax;
use crate::{Error, Result};

/// Smallest probability used inside `log` for the cross-entropy, so that an approximate softmax
/// that returns 0 (or a tiny negative number) gives a large but finite loss.
pub const LOG_FLOOR: f64 = 1e-15;

/// Softmax regression with a bias column.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftmaxRegression {
    weights: Array2<f64>,
}

/// Appends the bias column of ones: `X̂ = [X | 1]`.
pub fn with_bias(features: ArrayView2<'_, f64>) -> Array2<f64> {
    let (n, d) = features.dim();
    let mut out = Array2::ones((n, d + 1));
    out.slice_mut(s![.., ..d]).assign(&features);
    out
}

/// Mean cross-entropy of `probs` (one row per sample) against `labels`.
pub fn cross_entropy(probs: &Array2<f64>, labels: &[usize]) -> Result<f64> {
    if probs.nrows() != labels.len() || labels.is_empty() {
        return Err(Error::Shape(format!(
            "{} probability rows for {} labels",
            probs.nrows(),
            labels.len()
        )));
    }
    let mut total = 0.0;
    for (row, &label) in probs.outer_iter().zip(labels) {
        let p = *row
            .get(label)
            .ok_or_else(|| Error::InvalidInput(format!("label {label} out of range")))?;
        total -= p.max(LOG_FLOOR).ln();
    }
    Ok(total / labels.len() as f64)
}

/// Index of the largest entry of each row.
pub fn argmax_rows(values: &Array2<f64>) -> Vec<usize> {
    values
        .outer_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                })
                .0
        })
        .collect()
}

/// Fraction of `predictions` equal to `labels`.
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let hits = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    hits as f64 / labels.len() as f64
}

impl SoftmaxRegression {
    /// All-zero weights for `classes` classes and `dim` features (HETAL initialises with zeros).
    pub fn zeros(classes: usize, dim: usize) -> Self {
        Self {
            weights: Array2::zeros((classes, dim + 1)),
        }
    }

    /// Wraps `c × (d + 1)` weights (last column: bias).
    pub fn from_weights(weights: Array2<f64>) -> Result<Self> {
        if weights.nrows() < 2 || weights.ncols() < 2 {
            return Err(Error::Shape(format!(
                "weights {:?}: need at least 2 classes and 1 feature",
                weights.dim()
            )));
        }
        Ok(Self { weights })
    }

    /// The weights, `c × (d + 1)`.
    pub fn weights(&self) -> &Array2<f64> {
        &self.weights
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.weights.nrows()
    }

    /// Feature dimension (without the bias).
    pub fn dim(&self) -> usize {
        self.weights.ncols() - 1
    }

    fn check_features(&self, features: ArrayView2<'_, f64>) -> Result<()> {
        if features.ncols() != self.dim() {
            return Err(Error::Shape(format!(
                "features have {} columns, the model expects {}",
                features.ncols(),
                self.dim()
            )));
        }
        Ok(())
    }

    /// Logits `X̂·Wᵀ`.
    pub fn logits(&self, features: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        self.check_features(features)?;
        let d = self.dim();
        let mut z = features.dot(&self.weights.slice(s![.., ..d]).t());
        z += &self.weights.column(d).insert_axis(Axis(0));
        Ok(z)
    }

    /// Predicted class of each row.
    pub fn predict(&self, features: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        Ok(argmax_rows(&self.logits(features)?))
    }

    /// Classification accuracy on `(features, labels)`.
    pub fn accuracy(&self, features: ArrayView2<'_, f64>, labels: &[usize]) -> Result<f64> {
        Ok(accuracy(&self.predict(features)?, labels))
    }

    /// Mean cross-entropy with probabilities from `softmax`.
    pub fn loss(
        &self,
        features: ArrayView2<'_, f64>,
        labels: &[usize],
        softmax: &dyn RowSoftmax,
    ) -> Result<f64> {
        cross_entropy(&softmax.softmax_rows(&self.logits(features)?)?, labels)
    }
}
