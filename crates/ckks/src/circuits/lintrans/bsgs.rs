//! [`BsgsPlan`]: how a [`DiagonalMatrix`] is evaluated with baby-step giant-step.

use std::collections::{BTreeMap, BTreeSet};

use num_complex::Complex64;

use super::DiagonalMatrix;
use crate::{Error, Result};

/// Relative cost of one hoisted baby-step rotation against one giant-step rotation (the
/// default planner's). With double
/// hoisting (the CKKS backend) a baby step is one inner product with its key (no ModDown) and
/// a giant step a ModDown, a decomposition and an inner product: measured at N = 2^16, about
/// 0.15–0.2. Every extra baby step also costs a rotation key (memory), so the planner uses
/// 0.3: for a 63-diagonal DFT level it picks 15 baby / 3 giant steps instead of 7 / 7
/// (boot-n16 full slots: 46 rotation keys instead of 38, about a quarter less key-switching
/// work in the transforms).
pub const HOISTED_ROTATION_COST: f64 = 0.3;

/// The cost of a baby step that makes the planner minimise the number of distinct rotations
/// (baby and giant steps count alike): the fewest rotation keys, at the price of more giant
/// steps (key switches with a ModDown). Chains whose keys dominate memory use it.
pub const FEWEST_KEYS_ROTATION_COST: f64 = 1.0;

/// The baby-step giant-step split of a matrix's diagonals.
///
/// Offset `k` is written `k = g·n1 + b` with `b = k mod n1 ∈ [0, n1)`; the plan stores, per
/// giant step `g·n1`, the baby steps it combines, and the diagonals pre-rotated by `-g·n1` so
/// that the sum over baby steps needs no rotation of the plaintexts.
#[derive(Debug, Clone, PartialEq)]
pub struct BsgsPlan {
    n1: i64,
    len: usize,
    /// giant offset `g·n1` → (baby offset `b` → diagonal `rot_{-g·n1}(d_{g·n1+b})`).
    groups: BTreeMap<i64, BTreeMap<i64, Vec<Complex64>>>,
}

impl BsgsPlan {
    /// Plans `matrix` with the baby-step size that minimises the rotation cost
    /// (a hoisted baby step counts as [`HOISTED_ROTATION_COST`] of a giant step).
    pub fn new(matrix: &DiagonalMatrix) -> Result<Self> {
        Self::with_rotation_cost(matrix, HOISTED_ROTATION_COST)
    }

    /// Plans `matrix` with the baby-step size that minimises `giant steps + baby_cost · baby
    /// steps` (the smallest size on ties); [`FEWEST_KEYS_ROTATION_COST`] minimises the number of
    /// rotation keys.
    pub fn with_rotation_cost(matrix: &DiagonalMatrix, baby_cost: f64) -> Result<Self> {
        if !(baby_cost.is_finite() && baby_cost > 0.0) {
            return Err(Error::InvalidInput(format!(
                "a baby step's relative cost must be positive, not {baby_cost}"
            )));
        }
        let offsets = matrix.offsets();
        if offsets.is_empty() {
            return Err(Error::InvalidInput(
                "cannot plan a linear transform without diagonals".into(),
            ));
        }
        let mut best: Option<(f64, i64)> = None;
        let mut n1 = 1i64;
        while n1 as usize <= matrix.len() {
            let (baby, giant) = Self::step_sets(&offsets, n1);
            let cost = giant.len() as f64 + baby_cost * baby.len() as f64;
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, n1));
            }
            n1 *= 2;
        }
        let n1 = best.map_or(1, |(_, n1)| n1);
        Self::with_baby_step(matrix, n1 as usize)
    }

    /// Plans `matrix` with the given baby-step size `n1` (a power of two).
    pub fn with_baby_step(matrix: &DiagonalMatrix, n1: usize) -> Result<Self> {
        if !n1.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "baby-step size {n1} is not a power of two"
            )));
        }
        let len = matrix.len();
        let n1 = n1 as i64;
        let mut groups: BTreeMap<i64, BTreeMap<i64, Vec<Complex64>>> = BTreeMap::new();
        for (&k, d) in matrix.diagonals() {
            let b = k.rem_euclid(n1);
            let giant = k - b;
            // rot_{-giant}(d)[j] = d[j - giant]
            let shift = giant.rem_euclid(len as i64) as usize;
            let rotated: Vec<Complex64> = (0..len).map(|j| d[(j + len - shift) % len]).collect();
            groups.entry(giant).or_default().insert(b, rotated);
        }
        Ok(Self { n1, len, groups })
    }

    fn step_sets(offsets: &[i64], n1: i64) -> (BTreeSet<i64>, BTreeSet<i64>) {
        let mut baby = BTreeSet::new();
        let mut giant = BTreeSet::new();
        for &k in offsets {
            let b = k.rem_euclid(n1);
            if b != 0 {
                baby.insert(b);
            }
            if k - b != 0 {
                giant.insert(k - b);
            }
        }
        (baby, giant)
    }

    /// Baby-step size.
    pub fn baby_step(&self) -> usize {
        self.n1 as usize
    }

    /// Period of the vectors the plan acts on.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the plan has no diagonal (never true for a plan built by [`BsgsPlan::new`]).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Non-zero baby-step rotations (all applied to the same input: hoisted).
    pub fn baby_rotations(&self) -> BTreeSet<i64> {
        self.groups
            .values()
            .flat_map(|g| g.keys().copied())
            .filter(|&b| b != 0)
            .collect()
    }

    /// Non-zero giant-step rotations.
    pub fn giant_rotations(&self) -> BTreeSet<i64> {
        self.groups.keys().copied().filter(|&g| g != 0).collect()
    }

    /// Every rotation offset the plan performs (baby and giant).
    pub fn rotations(&self) -> BTreeSet<i64> {
        let mut all = self.baby_rotations();
        all.extend(self.giant_rotations());
        all
    }

    /// Giant offset → (baby offset → pre-rotated diagonal), the data encoded as plaintexts.
    pub fn groups(&self) -> &BTreeMap<i64, BTreeMap<i64, Vec<Complex64>>> {
        &self.groups
    }

    /// Number of plaintext diagonals.
    pub fn diagonal_count(&self) -> usize {
        self.groups.values().map(|g| g.len()).sum()
    }

    /// Evaluates the plan on a plain physical slot vector exactly as the homomorphic evaluation
    /// does (rotate by baby steps, multiply by pre-rotated diagonals, sum, rotate by giant step).
    pub fn apply_plain(&self, v: &[Complex64]) -> Result<Vec<Complex64>> {
        let n = v.len();
        if n == 0 || !n.is_multiple_of(self.len) {
            return Err(Error::InvalidInput(format!(
                "vector of length {n} for a plan of period {}",
                self.len
            )));
        }
        let rotate = |x: &[Complex64], k: i64| -> Vec<Complex64> {
            let s = k.rem_euclid(n as i64) as usize;
            (0..n).map(|j| x[(j + s) % n]).collect()
        };
        let babies: BTreeMap<i64, Vec<Complex64>> = self
            .groups
            .values()
            .flat_map(|g| g.keys().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|b| (b, rotate(v, b)))
            .collect();
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&giant, group) in &self.groups {
            let mut inner = vec![Complex64::new(0.0, 0.0); n];
            for (b, d) in group {
                let rb = &babies[b];
                for j in 0..n {
                    inner[j] += d[j % self.len] * rb[j];
                }
            }
            for (o, x) in out.iter_mut().zip(rotate(&inner, giant)) {
                *o += x;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn banded(len: usize, offsets: &[i64], rng: &mut ChaCha8Rng) -> DiagonalMatrix {
        let mut m = DiagonalMatrix::zero(len).unwrap();
        for &k in offsets {
            let d: Vec<Complex64> = (0..len)
                .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
                .collect();
            m.add_to_diagonal(k, &d).unwrap();
        }
        m
    }

    #[test]
    fn bsgs_evaluation_equals_direct_application() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let offsets: Vec<i64> = (-7..=7).map(|k| 4 * k).collect();
        let m = banded(64, &offsets, &mut rng);
        let v: Vec<Complex64> = (0..128)
            .map(|j| Complex64::new(((j % 64) as f64).sin(), ((j % 64) as f64).cos()))
            .collect();
        let direct = m.apply(&v).unwrap();
        for n1 in [1usize, 2, 4, 8, 16, 64] {
            let plan = BsgsPlan::with_baby_step(&m, n1).unwrap();
            let got = plan.apply_plain(&v).unwrap();
            for j in 0..v.len() {
                assert!((got[j] - direct[j]).norm() < 1e-12, "n1={n1} j={j}");
            }
        }
        let plan = BsgsPlan::new(&m).unwrap();
        // 15 diagonals spaced by 4: the optimum needs far fewer than 14 rotations.
        assert!(plan.rotations().len() < 10, "{:?}", plan.rotations());
        assert_eq!(plan.diagonal_count(), 15);
    }

    #[test]
    fn empty_matrix_is_an_error() {
        let m = DiagonalMatrix::zero(8).unwrap();
        assert!(BsgsPlan::new(&m).is_err());
        let m = DiagonalMatrix::scalar(8, Complex64::new(1.0, 0.0)).unwrap();
        assert!(BsgsPlan::with_baby_step(&m, 3).is_err());
    }
}
