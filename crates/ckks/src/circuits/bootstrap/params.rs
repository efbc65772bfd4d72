//! [`BootstrapParams`]: slot count, DFT level split and EvalMod approximation of a bootstrap.

use std::collections::BTreeSet;

use num_complex::Complex64;

use crate::circuits::dft::{DftKind, DftPlan};
use crate::circuits::mod1::{Mod1Params, Mod1Poly};
use crate::{Error, Result};

/// What a bootstrap does, independent of keys and ciphertexts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapParams {
    /// log2 of the slot count n of the ciphertexts to refresh (`4 ≤ log_slots ≤ log_n − 1`).
    pub log_slots: u32,
    /// Levels of CoeffToSlot (merged butterfly stages per level ≈ log_slots / levels).
    pub coeff_to_slot_levels: usize,
    /// Levels of SlotToCoeff.
    pub slot_to_coeff_levels: usize,
    /// The EvalMod approximation.
    pub mod1: Mod1Params,
}

impl BootstrapParams {
    /// Defaults tuned for a sparse bootstrapping secret of Hamming weight 32 (see the module
    /// documentation of [`super`]): the overflow `I` then has standard deviation
    /// `sqrt(h/12) ≈ 1.6`, so K = 16 (|I| ≤ 15, about 9σ) fails with probability below 2^-60
    /// per coefficient. A degree-60 cosine with 2 double angles (depth 6 + 2) is accurate to
    /// about 2^-46 near the integers. The message ratio `2^r` (8 ≤ r ≤ 11, larger for fewer
    /// slots) balances the amplification of EvalMod's noise (×2^r) against the sine's cubic
    /// error `(2π)²/6 · 2^-2r |c|³`, negligible for typical inputs (random slots have coefficients
    /// of size ~n^-1/2) but not for a message concentrated on one coefficient (a constant
    /// vector): such inputs lose bits unless `arcsine_degree` is set to 3 (2 more levels).
    /// The cosine is even in `x − 1/4` and uses the baby powers `T_2, T_4, T_6` and the giants
    /// `T_8, T_16, T_32`: depth 6 in 13 ciphertext products and 10 key switches (the remainder
    /// chains are relinearised lazily); EvalMod is 8 levels in all, as in the `boot-n16` level
    /// budget.
    pub fn sparse_secret_default(log_slots: u32) -> Self {
        // Message ratio q_0/(Δk): EvalMod's noise is amplified by it, the sine's cubic error
        // (2π m)²/6 shrinks with its square. Full slots have tiny coefficients (|c| ~ n^-1/2),
        // so 2^8 is best; fewer slots have larger coefficients and need a larger ratio.
        let log_message_ratio = 8.0 + f64::from(10u32.saturating_sub(log_slots).div_ceil(2));
        Self {
            log_slots,
            coeff_to_slot_levels: 3,
            slot_to_coeff_levels: 3,
            mod1: Mod1Params {
                k: 16.0,
                degree: 60,
                double_angle: 2,
                arcsine_degree: 0,
                log_message_ratio,
                cosine_log_baby: Some(3),
            },
        }
    }

    /// Checks the parameters against a ring degree `2^log_n`.
    pub fn validate(&self, log_n: u32) -> Result<()> {
        if self.log_slots < 4 || self.log_slots + 1 > log_n {
            return Err(Error::InvalidParameters(format!(
                "bootstrapping supports 2^4 to 2^{} slots, not 2^{}",
                log_n.saturating_sub(1),
                self.log_slots
            )));
        }
        for (name, levels) in [
            ("CoeffToSlot", self.coeff_to_slot_levels),
            ("SlotToCoeff", self.slot_to_coeff_levels),
        ] {
            if levels == 0 || levels > self.log_slots as usize {
                return Err(Error::InvalidParameters(format!(
                    "{name} on 2^{} slots takes 1 to {} levels, not {levels}",
                    self.log_slots, self.log_slots
                )));
            }
        }
        Mod1Poly::new(self.mod1)?;
        Ok(())
    }

    /// Slot count n.
    pub fn slots(&self) -> usize {
        1 << self.log_slots
    }

    /// `N / 2n`: the gap between the coefficients of a sparse plaintext (1 for full slots).
    pub fn gap(&self, log_n: u32) -> usize {
        1 << (log_n - 1 - self.log_slots)
    }

    /// The CoeffToSlot plan: it also divides by `K · gap` (EvalMod's interval map and the
    /// sub-sum's factor).
    pub fn coeff_to_slot(&self, log_n: u32) -> Result<DftPlan> {
        let s = 1.0 / (self.mod1.k * self.gap(log_n) as f64);
        DftPlan::new(
            DftKind::CoeffsToSlots,
            log_n,
            self.log_slots,
            self.coeff_to_slot_levels,
            Complex64::new(s, 0.0),
        )
    }

    /// The SlotToCoeff plan.
    pub fn slot_to_coeff(&self, log_n: u32) -> Result<DftPlan> {
        DftPlan::new(
            DftKind::SlotsToCoeffs,
            log_n,
            self.log_slots,
            self.slot_to_coeff_levels,
            Complex64::new(1.0, 0.0),
        )
    }

    /// Levels a bootstrap consumes (CoeffToSlot + EvalMod + SlotToCoeff).
    pub fn depth(&self) -> Result<usize> {
        Ok(self.coeff_to_slot_levels
            + Mod1Poly::new(self.mod1)?.depth()?
            + self.slot_to_coeff_levels)
    }

    /// The rotation steps (in `[1, N/2)`) whose Galois keys a bootstrap needs: the sub-sum that
    /// projects a sparse ModRaise onto its sub-ring, and the BSGS steps of both DFTs. The
    /// conjugation key is needed as well.
    pub fn rotation_steps(&self, log_n: u32) -> Result<BTreeSet<usize>> {
        self.validate(log_n)?;
        let half = 1i64 << (log_n - 1);
        let mut steps = BTreeSet::new();
        let n = self.slots() as i64;
        let mut shift = n;
        while shift < half {
            steps.insert(shift);
            shift *= 2;
        }
        steps.extend(self.coeff_to_slot(log_n)?.rotations()?);
        steps.extend(self.slot_to_coeff(log_n)?.rotations()?);
        Ok(steps
            .into_iter()
            .map(|k| k.rem_euclid(half) as usize)
            .filter(|&k| k != 0)
            .collect())
    }
}
