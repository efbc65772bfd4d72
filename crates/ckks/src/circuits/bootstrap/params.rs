//! [`BootstrapParams`]: slot count, DFT level split and EvalMod approximation of a bootstrap.

use std::collections::BTreeSet;

use num_complex::Complex64;

use crate::circuits::dft::{DftKind, DftPlan};
use crate::circuits::lintrans::BsgsPlan;
use crate::circuits::lintrans::bsgs::{FEWEST_KEYS_ROTATION_COST, HOISTED_ROTATION_COST};
use crate::circuits::mod1::{Mod1Params, Mod1Poly};
use crate::params::ParameterSpec;
use crate::{Error, Result};

/// The bound for the bootstrapping keys plus one bootstrap at N = 2^16, bytes (12 GiB).
pub const BOOTSTRAP_MEMORY_BUDGET: u64 = 12 << 30;

/// Memory a bootstrap needs besides its keys and diagonals (ciphertexts, the hoisted
/// decomposition, the baby-step buffers): `boot-n16` peaks 0.48 GiB above them at full slots;
/// 1 GiB leaves room for a longer chain.
const WORKING_MEMORY: u64 = 1 << 30;

/// How a bootstrap trades time for memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLayout {
    /// The DFT diagonals are encoded once, in NTT form over `Q_l ∪ P` at their level, and the
    /// baby-step giant-step split favours cheap hoisted baby steps (more rotation keys).
    Fast,
    /// The fewest rotation keys (baby and giant steps weigh alike), and the diagonals are kept
    /// as slot values (one complex number per slot instead of `l + 1 + K` limbs) and encoded
    /// when their transform runs. For chains whose fast layout would not fit
    /// [`BOOTSTRAP_MEMORY_BUDGET`]; see [`BootstrapParams::fit_to_memory`].
    Lean,
}

/// Estimated bytes of a bootstrap's key set and DFT diagonals on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapMemory {
    /// Rotation keys, conjugation, relinearization and the sparse-to-dense switching key.
    pub key_bytes: u64,
    /// The DFT diagonals as the layout stores them.
    pub diagonal_bytes: u64,
}

impl BootstrapMemory {
    /// Keys, diagonals and [`WORKING_MEMORY`].
    pub fn total_bytes(&self) -> u64 {
        self.key_bytes + self.diagonal_bytes + WORKING_MEMORY
    }
}

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
    /// Rotation keys and diagonal storage: time against memory.
    pub memory: MemoryLayout,
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
            memory: MemoryLayout::Fast,
        }
    }

    /// `self`, switched to [`MemoryLayout::Lean`] when the fast layout's keys, diagonals and
    /// working memory on `spec`'s chain would exceed [`BOOTSTRAP_MEMORY_BUDGET`]: `boot-n16`
    /// (6.5 GiB of keys, 4.3 GiB of diagonals at full slots) stays fast, `boot-n16-deep` (dnum 7
    /// over 32 + 5 limbs: every key twice as large) goes lean. A lean `self` stays lean. The
    /// key generator and the bootstrapper both call this, so they agree on the rotations.
    pub fn fit_to_memory(self, spec: &ParameterSpec) -> Result<Self> {
        if self.memory == MemoryLayout::Lean {
            return Ok(self);
        }
        if self.memory_estimate(spec)?.total_bytes() <= BOOTSTRAP_MEMORY_BUDGET {
            Ok(self)
        } else {
            Ok(Self {
                memory: MemoryLayout::Lean,
                ..self
            })
        }
    }

    /// The bytes of the key set and diagonals this bootstrap needs on `spec`'s chain: every key
    /// holds `digits × 2` polynomials over `Q_L ∪ P`; a pre-encoded diagonal at level `l` holds
    /// `l + 1 + K` limbs, a deferred one its slot values.
    pub fn memory_estimate(&self, spec: &ParameterSpec) -> Result<BootstrapMemory> {
        self.validate(spec.log_n)?;
        let n = spec.n() as u64;
        let limbs = spec.q_bits.len();
        let k = spec.p_bits.len();
        let per_digit = limbs.div_ceil(spec.dnum.max(1)).max(1);
        let digits = limbs.div_ceil(per_digit) as u64;
        // rotations + conjugation + relinearization + sparse-to-dense (the dense-to-sparse key
        // lives modulo q_0·p' only: negligible)
        let keys = self.rotation_steps(spec.log_n)?.len() as u64 + 3;
        let key_bytes = keys * digits * 2 * (limbs + k) as u64 * n * 8;
        let top = limbs - 1;
        let depth = self.depth()?;
        if depth > top {
            return Err(Error::InvalidParameters(format!(
                "bootstrapping needs {depth} levels above q_0, the chain has {top}"
            )));
        }
        // SlotToCoeff starts below CoeffToSlot and EvalMod
        let stc_in = top - (depth - self.slot_to_coeff_levels);
        let mut diagonal_bytes = 0u64;
        let transforms = [
            (self.coeff_to_slot_plans(spec.log_n)?, top),
            (self.slot_to_coeff_plans(spec.log_n)?, stc_in),
        ];
        for (plans, first_level) in &transforms {
            for (i, plan) in plans.iter().enumerate() {
                let per_diagonal = match self.memory {
                    MemoryLayout::Fast => (first_level - i + 1 + k) as u64 * n * 8,
                    MemoryLayout::Lean => plan.len() as u64 * 16,
                };
                diagonal_bytes += plan.diagonal_count() as u64 * per_diagonal;
            }
        }
        Ok(BootstrapMemory {
            key_bytes,
            diagonal_bytes,
        })
    }

    /// A baby step's cost relative to a giant step for the BSGS planner.
    fn baby_step_cost(&self) -> f64 {
        match self.memory {
            MemoryLayout::Fast => HOISTED_ROTATION_COST,
            MemoryLayout::Lean => FEWEST_KEYS_ROTATION_COST,
        }
    }

    /// The BSGS plans of CoeffToSlot's levels, in application order.
    pub fn coeff_to_slot_plans(&self, log_n: u32) -> Result<Vec<BsgsPlan>> {
        self.coeff_to_slot(log_n)?
            .bsgs_plans_with_cost(self.baby_step_cost())
    }

    /// The BSGS plans of SlotToCoeff's levels, in application order.
    pub fn slot_to_coeff_plans(&self, log_n: u32) -> Result<Vec<BsgsPlan>> {
        self.slot_to_coeff(log_n)?
            .bsgs_plans_with_cost(self.baby_step_cost())
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
        steps.extend(DftPlan::rotations_of(&self.coeff_to_slot_plans(log_n)?));
        steps.extend(DftPlan::rotations_of(&self.slot_to_coeff_plans(log_n)?));
        Ok(steps
            .into_iter()
            .map(|k| k.rem_euclid(half) as usize)
            .filter(|&k| k != 0)
            .collect())
    }
}
