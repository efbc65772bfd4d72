//! The numbers `hetal bench softmax` reports: error statistics over HETAL's sampling scheme
//! (simulator), levels, bootstraps in HETAL's level setting, and time per ciphertext on the
//! simulator.

use std::time::Instant;

use num_complex::Complex64;
use serde::{Deserialize, Serialize};

use super::approx::{SoftmaxApprox, SoftmaxVariant};
use super::geometry::TiledRows;
use super::stats::error_stats;
use crate::Result;
use crate::eval::{SimConfig, Simulator, SlotCodec};

/// One row of the softmax benchmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxBench {
    /// Variant name.
    pub variant: String,
    /// Classes `c`.
    pub classes: usize,
    /// Input range `R` (logits in `[-R, R]`).
    pub range: f64,
    /// Rows sampled (equal numbers per sub-range 4, 8, …, R).
    pub rows: usize,
    /// Largest row error `max_i |approx − softmax|`.
    pub max_error: f64,
    /// Mean row error.
    pub mean_error: f64,
    /// Levels consumed.
    pub levels: usize,
    /// Bootstraps for one fresh ciphertext in HETAL's setting (level 12, bootstrap from ≥ 3).
    pub bootstraps: usize,
    /// Goldschmidt `R`.
    pub inverse_r: f64,
    /// Goldschmidt iterations.
    pub inverse_iterations: usize,
    /// Seconds per 2^15-slot ciphertext on the simulator (all operations, bootstraps free).
    pub simulator_seconds_per_ciphertext: f64,
}

/// Runs the benchmark for one variant with `samples` rows in total (split over the sub-ranges).
pub fn bench_softmax(
    variant: SoftmaxVariant,
    classes: usize,
    range: f64,
    samples: usize,
    seed: u64,
) -> Result<SoftmaxBench> {
    let sub_ranges = (range / 2.0).log2().max(1.0) as usize;
    let per_range = samples.div_ceil(sub_ranges).max(1);
    let stats = error_stats(variant, classes, range, per_range, seed)?;
    let slots = 1 << 15;
    let rows = TiledRows::new(slots, classes.next_power_of_two(), classes)?;
    let approx = SoftmaxApprox::new(variant, rows, range)?;
    let sim = Simulator::new(SimConfig::with_slots(slots))?;
    let ct = sim.encrypt(&vec![Complex64::new(0.0, 0.0); slots])?;
    let start = Instant::now();
    let run = approx.apply(&sim, &ct, sim.config().bootstrap_min_level, 0)?;
    let seconds = start.elapsed().as_secs_f64();
    let (inverse_r, inverse_iterations) = approx.inverse_params();
    Ok(SoftmaxBench {
        variant: variant.name().to_owned(),
        classes,
        range,
        rows: stats.rows,
        max_error: stats.max,
        mean_error: stats.mean,
        levels: run.levels,
        bootstraps: run.bootstraps,
        inverse_r,
        inverse_iterations,
        simulator_seconds_per_ciphertext: seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_reports_consistent_numbers() {
        let b = bench_softmax(SoftmaxVariant::HetalRs, 3, 16.0, 600, 1).unwrap();
        assert_eq!(b.rows, 600);
        assert!(b.max_error >= b.mean_error && b.max_error < 1e-6);
        assert!(b.levels > 0 && b.bootstraps > 0 && b.inverse_iterations > 0);
        let json = serde_json::to_string(&b).unwrap();
        assert!(json.contains("\"variant\":\"hetal-rs\""));
    }
}
