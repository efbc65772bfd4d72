//! The approximate softmax on plaintext matrices, computed by running the encrypted pipeline on
//! the exact simulator: the plaintext reference trainer uses it to see exactly what the
//! encrypted trainer's probabilities are (up to CKKS noise).

use ndarray::Array2;
use num_complex::Complex64;

use super::approx::{HETAL_WINDOW, SoftmaxApprox, SoftmaxVariant};
use super::exact::RowSoftmax;
use super::geometry::TiledRows;
use crate::eval::{SimConfig, Simulator, SlotCodec};
use crate::{Error, Result};

/// Largest simulated block (HETAL's 2^15 slots).
pub const MAX_SIM_SLOTS: usize = 1 << 15;

/// A [`RowSoftmax`] that evaluates a [`SoftmaxVariant`] on the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedSoftmax {
    variant: SoftmaxVariant,
    range: u32,
}

impl SimulatedSoftmax {
    /// `variant` for logits in `[-range, range]`.
    pub fn new(variant: SoftmaxVariant, range: u32) -> Self {
        Self { variant, range }
    }
}

/// Runs `variant` row-wise on `logits` (rows × classes) on a simulator, packing
/// `slots / period` rows per block.
pub fn simulate_rows(
    variant: SoftmaxVariant,
    range: f64,
    logits: &Array2<f64>,
) -> Result<Array2<f64>> {
    simulate_rows_in_window(variant, range, logits, HETAL_WINDOW)
}

/// [`simulate_rows`] with `window` levels between bootstraps (bootstrap from 3 to
/// `3 + window`), the approximation configured for that window
/// ([`SoftmaxApprox::for_window`]).
pub fn simulate_rows_in_window(
    variant: SoftmaxVariant,
    range: f64,
    logits: &Array2<f64>,
    window: usize,
) -> Result<Array2<f64>> {
    let (n, c) = logits.dim();
    let period = c.next_power_of_two();
    let slots = (n * period)
        .next_power_of_two()
        .clamp(period * 2, MAX_SIM_SLOTS);
    let rows = TiledRows::new(slots, period, c)?;
    let approx = SoftmaxApprox::for_window(variant, rows, range, window)?;
    // Bootstrapped messages must stay within ±1, as CKKS bootstrapping needs: the simulator
    // enforces it, so every run here also checks the pipeline's ranges.
    let base = SimConfig::with_slots(slots);
    let bootstrap_level = base.bootstrap_min_level + window;
    let sim = Simulator::new(SimConfig {
        bootstrap_max_abs: Some(1.0),
        bootstrap_level,
        max_level: base.max_level.max(bootstrap_level),
        ..base
    })?;
    let per_block = rows.rows();
    let mut out = Array2::zeros((n, c));
    for start in (0..n).step_by(per_block) {
        let end = (start + per_block).min(n);
        let mut values = vec![Complex64::new(0.0, 0.0); slots];
        for r in start..end {
            for j in 0..c {
                values[rows.slot(r - start, j)] = Complex64::new(logits[[r, j]], 0.0);
            }
        }
        let ct = sim.encrypt(&values)?;
        let run = approx.apply(&sim, &ct, sim.config().bootstrap_min_level, 0)?;
        let dec = sim.decrypt(&run.output)?;
        for r in start..end {
            for j in 0..c {
                out[[r, j]] = dec[rows.slot(r - start, j)].re;
            }
        }
    }
    if out.iter().any(|v: &f64| !v.is_finite()) {
        return Err(Error::InvalidInput(
            "approximate softmax produced a non-finite value".into(),
        ));
    }
    Ok(out)
}

impl RowSoftmax for SimulatedSoftmax {
    fn softmax_rows(&self, logits: &Array2<f64>) -> Result<Array2<f64>> {
        simulate_rows(self.variant, f64::from(self.range), logits)
    }
}
