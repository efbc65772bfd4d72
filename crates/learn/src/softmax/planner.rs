//! The level planner of the softmax pipeline: it knows the depth of every remaining stage and
//! inserts a bootstrap just in time — before a stage whose depth would take a ciphertext below
//! the bootstrappable level (or, for the last stage, below the requested output level), unless
//! everything left fits in the levels the ciphertext has. Two real ciphertexts that need a
//! refresh at the same time go through one bootstrap as `a + i·b`.

use num_complex::Complex64;
use std::time::{Duration, Instant};

use crate::eval::SlotEvaluator;
use crate::{Error, Result};

/// Broadcasts column 0 of every row over the row (other columns must be zero): log₂(cols)
/// right rotations, exact because the filled part never reaches the next row.
pub fn fill_row<E: SlotEvaluator>(ev: &E, ct: &E::Ct, cols: usize) -> Result<E::Ct> {
    let mut acc = ct.clone();
    let mut step = 1;
    while step < cols {
        let r = ev.rotate(&acc, -(step as isize))?;
        acc = ev.add(&acc, &r)?;
        step <<= 1;
    }
    Ok(acc)
}

/// Just-in-time bootstrapping: a ciphertext is refreshed before a stage only when the stage
/// would leave it below the bootstrappable level *and* the rest of the pipeline does not fit in
/// the levels it has.
pub(crate) struct Runner<'a, E: SlotEvaluator> {
    pub(crate) ev: &'a E,
    pub(crate) boot_min: usize,
    pub(crate) out_min: usize,
    pub(crate) remaining: usize,
    pub(crate) bootstraps: usize,
    /// Wall time spent in the bootstraps (one clock read before and after each).
    pub(crate) boot_time: Duration,
}

impl<E: SlotEvaluator> Runner<'_, E> {
    pub(crate) fn fits(&self, level: usize) -> bool {
        level >= self.remaining + self.out_min
    }

    /// The level a stage's result must keep: bootstrappable, or `out_min` for the last stage.
    pub(crate) fn floor(&self, depth: usize) -> usize {
        if self.remaining <= depth {
            self.out_min
        } else {
            self.boot_min
        }
    }

    pub(crate) fn needs_boot(&self, level: usize, depth: usize) -> bool {
        !self.fits(level) && level < depth + self.floor(depth)
    }

    pub(crate) fn boot(&mut self, ct: &E::Ct, depth: usize) -> Result<E::Ct> {
        let clock = Instant::now();
        let out = self.ev.bootstrap(ct)?;
        self.boot_time += clock.elapsed();
        self.bootstraps += 1;
        if self.needs_boot(self.ev.level(&out), depth) {
            return Err(Error::LevelExhausted {
                op: "softmax stage after bootstrapping",
                needed: depth + self.floor(depth),
                level: self.ev.level(&out),
            });
        }
        Ok(out)
    }

    /// Before consuming `depth` levels of `ct` on the critical path.
    pub(crate) fn stage(&mut self, ct: &mut E::Ct, depth: usize) -> Result<()> {
        if self.needs_boot(self.ev.level(ct), depth) {
            *ct = self.boot(ct, depth)?;
        }
        self.remaining = self.remaining.saturating_sub(depth);
        Ok(())
    }

    /// Before using a parked operand in an operation of `depth` levels.
    pub(crate) fn refresh(&mut self, ct: &mut E::Ct, depth: usize) -> Result<()> {
        if self.needs_boot(self.ev.level(ct), depth) {
            *ct = self.boot(ct, depth)?;
        }
        Ok(())
    }

    /// Bootstraps two real-valued ciphertexts as one (`a + i·b`), then separates them again
    /// (one level): half the bootstraps of refreshing them separately.
    pub(crate) fn bootstrap_pair(&mut self, a: &E::Ct, b: &E::Ct) -> Result<(E::Ct, E::Ct)> {
        let ev = self.ev;
        let packed = ev.add(a, &ev.mul_i(b)?)?;
        let clock = Instant::now();
        let fresh = ev.bootstrap(&packed)?;
        self.boot_time += clock.elapsed();
        self.bootstraps += 1;
        let conj = ev.conjugate(&fresh)?;
        let re = ev.mul_scalar(&ev.add(&fresh, &conj)?, Complex64::new(0.5, 0.0))?;
        let im = ev.mul_scalar(&ev.sub(&fresh, &conj)?, Complex64::new(0.0, -0.5))?;
        Ok((re, im))
    }
}
