//! Error statistics over HETAL's sampling scheme: equal numbers of rows uniform in
//! `[-4, 4]^c`, `[-8, 8]^c`, …, up to `[-range, range]^c`; the error of a row is
//! `max_i |approx_i − softmax_i|`.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::approx::{HETAL_WINDOW, SoftmaxVariant};
use super::exact::softmax_exact;
use super::simulated::simulate_rows_in_window;
use crate::{Error, Result};

/// Maximum and mean row error of one variant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorStats {
    /// Largest row error.
    pub max: f64,
    /// Mean row error.
    pub mean: f64,
    /// Rows sampled.
    pub rows: usize,
}

/// HETAL's sample: `rows_per_range` rows for each range 4, 8, …, `range`.
pub fn hetal_samples(
    classes: usize,
    range: f64,
    rows_per_range: usize,
    seed: u64,
) -> Result<Array2<f64>> {
    if !(range >= 4.0 && range.log2().fract() == 0.0) || classes < 2 {
        return Err(Error::InvalidInput(format!(
            "sampling needs a power-of-two range ≥ 4 and ≥ 2 classes (got {range}, {classes})"
        )));
    }
    let ranges: Vec<f64> = std::iter::successors(Some(4.0), |r| Some(r * 2.0))
        .take_while(|&r| r <= range)
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::zeros((ranges.len() * rows_per_range, classes));
    for (i, &r) in ranges.iter().enumerate() {
        for row in 0..rows_per_range {
            for j in 0..classes {
                x[[i * rows_per_range + row, j]] = rng.gen_range(-r..=r);
            }
        }
    }
    Ok(x)
}

/// Row errors of `approx` against the exact softmax of `logits`.
pub fn row_errors(logits: &Array2<f64>, approx: &Array2<f64>) -> Vec<f64> {
    logits
        .outer_iter()
        .zip(approx.outer_iter())
        .map(|(x, a)| {
            softmax_exact(&x.to_vec())
                .iter()
                .zip(a.iter())
                .map(|(e, v)| (e - v).abs())
                .fold(0.0, f64::max)
        })
        .collect()
}

/// Error statistics of `variant` on HETAL's sample, computed on the simulator.
pub fn error_stats(
    variant: SoftmaxVariant,
    classes: usize,
    range: f64,
    rows_per_range: usize,
    seed: u64,
) -> Result<ErrorStats> {
    error_stats_in_window(variant, classes, range, rows_per_range, seed, HETAL_WINDOW)
}

/// [`error_stats`] with `window` levels between bootstraps (the approximation configured for
/// it, [`SoftmaxApprox::for_window`](super::SoftmaxApprox::for_window)).
pub fn error_stats_in_window(
    variant: SoftmaxVariant,
    classes: usize,
    range: f64,
    rows_per_range: usize,
    seed: u64,
    window: usize,
) -> Result<ErrorStats> {
    let x = hetal_samples(classes, range, rows_per_range, seed)?;
    let p = simulate_rows_in_window(variant, range.max(8.0), &x, window)?;
    let errs = row_errors(&x, &p);
    Ok(ErrorStats {
        max: errs.iter().copied().fold(0.0, f64::max),
        mean: errs.iter().sum::<f64>() / errs.len() as f64,
        rows: errs.len(),
    })
}
