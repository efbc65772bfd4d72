//! Row-wise softmax on plaintext matrices: the [`RowSoftmax`] interface and the exact version.

use ndarray::Array2;

use crate::Result;

/// A row-wise softmax on a plaintext `rows × classes` matrix of logits.
///
/// The plaintext reference trainer takes one, so the same loop runs with the exact softmax and
/// with the approximation the encrypted trainer uses ([`super::SimulatedSoftmax`]).
pub trait RowSoftmax: Send + Sync {
    /// Probabilities, one row per row of `logits`.
    fn softmax_rows(&self, logits: &Array2<f64>) -> Result<Array2<f64>>;
}

/// The exact softmax (max-shifted, so it never overflows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSoftmax;

/// Exact softmax of one row.
pub fn softmax_exact(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = row.iter().map(|&x| (x - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

impl RowSoftmax for ExactSoftmax {
    fn softmax_rows(&self, logits: &Array2<f64>) -> Result<Array2<f64>> {
        let mut out = logits.clone();
        for mut row in out.outer_iter_mut() {
            let p = softmax_exact(&row.to_vec());
            row.iter_mut().zip(p).for_each(|(o, v)| *o = v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_softmax_sums_to_one_and_is_shift_invariant() {
        let p = softmax_exact(&[1000.0, 999.0, -5.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        let q = softmax_exact(&[1.0, 0.0, -1005.0]);
        for (a, b) in p.iter().zip(&q) {
            assert!((a - b).abs() < 1e-15);
        }
        assert!((p[0] / p[1] - 1f64.exp()).abs() < 1e-12);
    }
}
