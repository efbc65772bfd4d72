//! [`DftPlan`]: the CoeffToSlot / SlotToCoeff matrices, factored into a number of levels.

use std::collections::BTreeSet;

use num_complex::Complex64;

use super::special_fft::{butterfly_stages, inverse_butterfly_stages};
use crate::circuits::lintrans::{BsgsPlan, DiagonalMatrix};
use crate::{Error, Result};

/// Which direction of the homomorphic DFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DftKind {
    /// Slots `z = U c` → coefficients (bit-reversed): `P U^{-1}`, followed by the split into
    /// real and imaginary parts.
    CoeffsToSlots,
    /// Bit-reversed coefficients → slots: `U P^{-1}`, preceded by the recombination of the real
    /// and imaginary parts.
    SlotsToCoeffs,
}

/// A homomorphic DFT for `2^log_slots` slots of a ring of degree `2^log_n`, in `levels` levels.
///
/// Output conventions, with `w = P·c` the bit-reversed coefficient vector and `s` = `scale`:
/// * CoeffsToSlots, full slots (`n = N/2`): out = `s·w/2`; then `out + conj(out) = s·Re w`
///   and `(out − conj(out))·(−i) = s·Im w` give the two real halves.
/// * CoeffsToSlots, sparse (`n < N/2`): vectors have period `2n`; the input is `n`-periodic and
///   out = `[s·w/2 ; −i·s·w/2]`, so that `out + conj(out) = [s·Re w ; s·Im w]` packs both real
///   halves into one ciphertext (one EvalMod serves both).
/// * SlotsToCoeffs, full: input `w`, out = `s·U c`. Sparse: input `[Re w ; Im w]` (period `2n`),
///   out = `s·U c` (`n`-periodic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DftPlan {
    /// Direction.
    pub kind: DftKind,
    /// log2 of the ring degree N.
    pub log_n: u32,
    /// log2 of the slot count n (`1 ≤ log_slots ≤ log_n − 1`).
    pub log_slots: u32,
    /// Number of levels (rescales) the transform consumes, `1 ≤ levels ≤ log_slots`.
    pub levels: usize,
    /// Scalar folded into the transform (e.g. EvalMod's input normalisation).
    pub scale: Complex64,
}

impl DftPlan {
    /// Validates and builds a plan.
    pub fn new(
        kind: DftKind,
        log_n: u32,
        log_slots: u32,
        levels: usize,
        scale: Complex64,
    ) -> Result<Self> {
        if log_n < 2 || log_slots == 0 || log_slots > log_n - 1 {
            return Err(Error::InvalidInput(format!(
                "slot count 2^{log_slots} is not between 2 and N/2 = 2^{}",
                log_n.saturating_sub(1)
            )));
        }
        if levels == 0 || levels > log_slots as usize {
            return Err(Error::InvalidInput(format!(
                "a DFT on 2^{log_slots} slots can use 1 to {log_slots} levels, not {levels}"
            )));
        }
        if !(scale.re.is_finite() && scale.im.is_finite()) || scale.norm() == 0.0 {
            return Err(Error::InvalidInput(format!(
                "DFT scale {scale} is not a finite non-zero number"
            )));
        }
        Ok(Self {
            kind,
            log_n,
            log_slots,
            levels,
            scale,
        })
    }

    /// Slot count n.
    pub fn slots(&self) -> usize {
        1 << self.log_slots
    }

    /// Whether the slots are sparse (`n < N/2`): real and imaginary halves share one ciphertext.
    pub fn is_sparse(&self) -> bool {
        self.log_slots + 1 < self.log_n
    }

    /// Period of the vectors the matrices act on (the slot count their diagonals are encoded
    /// with): `2n` when sparse, `n` otherwise.
    pub fn vector_len(&self) -> usize {
        if self.is_sparse() {
            2 * self.slots()
        } else {
            self.slots()
        }
    }

    /// How many butterfly stages each level merges, in application order. The largest stages
    /// (half-length near n/2) wrap around and merge most cheaply, so the extra stages go there.
    pub fn stages_per_level(&self) -> Vec<usize> {
        let total = self.log_slots as usize;
        let base = total / self.levels;
        let extra = total % self.levels;
        let mut sizes: Vec<usize> = (0..self.levels)
            .map(|i| base + usize::from(i < extra))
            .collect();
        if self.kind == DftKind::SlotsToCoeffs {
            sizes.reverse();
        }
        sizes
    }

    /// The matrices, one per level, in application order.
    pub fn matrices(&self) -> Result<Vec<DiagonalMatrix>> {
        let n = self.slots();
        let len = self.vector_len();
        let stages: Vec<DiagonalMatrix> = match self.kind {
            DftKind::CoeffsToSlots => {
                let mut s = inverse_butterfly_stages(n)?;
                s.reverse();
                s
            }
            DftKind::SlotsToCoeffs => butterfly_stages(n)?,
        };
        let mut stages = stages.into_iter();
        let mut levels = Vec::with_capacity(self.levels);
        for size in self.stages_per_level() {
            let mut m = DiagonalMatrix::scalar(n, Complex64::new(1.0, 0.0))?;
            for _ in 0..size {
                let s = stages
                    .next()
                    .ok_or_else(|| Error::InvalidInput("stage count mismatch".into()))?;
                m = s.mul(&m)?;
            }
            levels.push(m.replicate(len)?);
        }
        let half = Complex64::new(0.5, 0.0);
        match self.kind {
            DftKind::CoeffsToSlots => {
                let last = levels
                    .last_mut()
                    .ok_or_else(|| Error::InvalidInput("no level".into()))?;
                if self.is_sparse() {
                    let rows: Vec<Complex64> = (0..len)
                        .map(|j| {
                            if j < n {
                                half
                            } else {
                                Complex64::new(0.0, -0.5)
                            }
                        })
                        .collect();
                    last.scale_rows(&rows)?;
                } else {
                    last.scale(half);
                }
            }
            DftKind::SlotsToCoeffs => {
                if self.is_sparse() {
                    let first = &mut levels[0];
                    *first = first.mul(&Self::recombine(n)?)?;
                }
            }
        }
        levels[0].scale(self.scale);
        Ok(levels)
    }

    /// `[[I, iI], [I, iI]]` on period-`2n` vectors: `[a ; b] ↦ a + i·b` (replicated).
    fn recombine(n: usize) -> Result<DiagonalMatrix> {
        let one = Complex64::new(1.0, 0.0);
        let i = Complex64::new(0.0, 1.0);
        let mut r = DiagonalMatrix::zero(2 * n)?;
        let d0: Vec<Complex64> = (0..2 * n).map(|j| if j < n { one } else { i }).collect();
        let dn: Vec<Complex64> = (0..2 * n).map(|j| if j < n { i } else { one }).collect();
        r.add_to_diagonal(0, &d0)?;
        r.add_to_diagonal(n as i64, &dn)?;
        Ok(r)
    }

    /// The baby-step giant-step plan of each level, in application order.
    pub fn bsgs_plans(&self) -> Result<Vec<BsgsPlan>> {
        self.matrices()?.iter().map(BsgsPlan::new).collect()
    }

    /// [`Self::bsgs_plans`] with a baby step costing `baby_cost` giant steps
    /// (see [`BsgsPlan::with_rotation_cost`]).
    pub fn bsgs_plans_with_cost(&self, baby_cost: f64) -> Result<Vec<BsgsPlan>> {
        self.matrices()?
            .iter()
            .map(|m| BsgsPlan::with_rotation_cost(m, baby_cost))
            .collect()
    }

    /// Every rotation offset the transform needs (centred, not reduced modulo N/2).
    pub fn rotations(&self) -> Result<BTreeSet<i64>> {
        Ok(Self::rotations_of(&self.bsgs_plans()?))
    }

    /// Every rotation offset the given plans perform (centred, not reduced modulo N/2).
    pub fn rotations_of(plans: &[BsgsPlan]) -> BTreeSet<i64> {
        plans.iter().flat_map(BsgsPlan::rotations).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::special_fft::{bit_reverse, dense_embedding};
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn max_diff(a: &[Complex64], b: &[Complex64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    fn apply_all(ms: &[DiagonalMatrix], v: &[Complex64]) -> Vec<Complex64> {
        let mut v = v.to_vec();
        for m in ms {
            v = m.apply(&v).unwrap();
        }
        v
    }

    fn embed(u: &[Vec<Complex64>], c: &[Complex64]) -> Vec<Complex64> {
        u.iter()
            .map(|row| row.iter().zip(c).map(|(a, b)| a * b).sum())
            .collect()
    }

    /// Checks CoeffsToSlots then SlotsToCoeffs against the dense embedding on physical vectors of
    /// N/2 slots, for every level count, full and sparse.
    #[test]
    fn factored_dft_matches_dense_embedding() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let log_n = 11;
        let phys = 1usize << (log_n - 1);
        for log_slots in 4..=10u32 {
            let n = 1usize << log_slots;
            let u = dense_embedding(n).unwrap();
            let c: Vec<Complex64> = (0..n)
                .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
                .collect();
            let z = embed(&u, &c);
            let w = bit_reverse(&c);
            let z_phys: Vec<Complex64> = (0..phys).map(|j| z[j % n]).collect();
            for levels in 1..=log_slots as usize {
                let s = Complex64::new(0.25, 0.0);
                let cts =
                    DftPlan::new(DftKind::CoeffsToSlots, log_n, log_slots, levels, s).unwrap();
                let stc =
                    DftPlan::new(DftKind::SlotsToCoeffs, log_n, log_slots, levels, s).unwrap();
                let ms = cts.matrices().unwrap();
                assert_eq!(ms.len(), levels);
                let out = apply_all(&ms, &z_phys);
                let len = cts.vector_len();
                let tol = 1e-10 * n as f64;
                // real halves: out + conj(out) (and, for full slots, (out - conj(out))·(-i))
                let re: Vec<Complex64> = out.iter().map(|x| x + x.conj()).collect();
                let mut halves_phys: Vec<Complex64> = Vec::new();
                if cts.is_sparse() {
                    for (j, r) in re.iter().enumerate() {
                        let k = j % len;
                        let expect = if k < n {
                            w[k].re * 0.25
                        } else {
                            w[k - n].im * 0.25
                        };
                        assert!((r - expect).norm() < tol, "sparse cts n={n} l={levels}");
                    }
                    // feed SlotsToCoeffs with [Re w ; Im w]
                    halves_phys = re.clone();
                } else {
                    let im: Vec<Complex64> = out
                        .iter()
                        .map(|x| (x - x.conj()) * Complex64::new(0.0, -1.0))
                        .collect();
                    for j in 0..phys {
                        assert!((re[j] - w[j].re * 0.25).norm() < tol);
                        assert!((im[j] - w[j].im * 0.25).norm() < tol);
                    }
                    for j in 0..phys {
                        halves_phys.push(re[j] + Complex64::new(0.0, 1.0) * im[j]);
                    }
                }
                let back = apply_all(&stc.matrices().unwrap(), &halves_phys);
                let expect: Vec<Complex64> = (0..phys).map(|j| z[j % n] * 0.0625).collect();
                assert!(
                    max_diff(&back, &expect) < tol,
                    "round trip n={n} levels={levels}"
                );
            }
        }
    }

    #[test]
    fn merged_levels_have_few_diagonals_and_rotations() {
        // 2^15 slots is too slow to multiply out densely in a test, but the diagonal count
        // of a level merging k stages is at most 2^{k+1} - 1 (+1 for the sparse repacking).
        let plan =
            DftPlan::new(DftKind::CoeffsToSlots, 13, 12, 3, Complex64::new(1.0, 0.0)).unwrap();
        for (m, k) in plan.matrices().unwrap().iter().zip(plan.stages_per_level()) {
            assert!(
                m.offsets().len() < 1 << (k + 1),
                "{} diagonals",
                m.offsets().len()
            );
        }
        let rotations = plan.rotations().unwrap();
        assert!(rotations.len() < 3 * 16, "{} rotations", rotations.len());
    }

    #[test]
    fn invalid_plans_are_errors() {
        let one = Complex64::new(1.0, 0.0);
        assert!(DftPlan::new(DftKind::CoeffsToSlots, 10, 10, 2, one).is_err());
        assert!(DftPlan::new(DftKind::CoeffsToSlots, 10, 4, 5, one).is_err());
        assert!(DftPlan::new(DftKind::CoeffsToSlots, 10, 4, 0, one).is_err());
        assert!(DftPlan::new(DftKind::CoeffsToSlots, 10, 4, 2, Complex64::new(0.0, 0.0)).is_err());
    }
}
