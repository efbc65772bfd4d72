//! [`DiagonalMatrix`]: a slot transform stored as its non-zero diagonals.

use std::collections::BTreeMap;

use num_complex::Complex64;

use crate::{Error, Result};

/// Diagonals whose largest entry is below this fraction of the matrix's largest entry are
/// dropped after a product: they are cancellations, not structure, and each kept diagonal costs
/// a plaintext multiplication (and possibly a rotation) homomorphically.
const PRUNE_RELATIVE: f64 = 1e-13;

/// A linear map on slot vectors of period `len`, stored by diagonals.
///
/// Entry `(j, j + k mod len)` is `diagonals[k][j]`; offsets are kept in the centred range
/// `(-len/2, len/2]` so that a symmetric band needs rotations in both directions rather than
/// rotations by almost `len`. Applied to a physical slot vector whose period divides `len`,
/// rotating the physical vector by `k` realises `rot_k`; the diagonals are encoded with `len`
/// slots and are thus replicated over the physical vector.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagonalMatrix {
    len: usize,
    diagonals: BTreeMap<i64, Vec<Complex64>>,
}

impl DiagonalMatrix {
    /// The zero map on vectors of period `len` (a power of two, at least 1).
    pub fn zero(len: usize) -> Result<Self> {
        if !len.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "diagonal matrix length {len} is not a power of two"
            )));
        }
        Ok(Self {
            len,
            diagonals: BTreeMap::new(),
        })
    }

    /// The identity scaled by `value`.
    pub fn scalar(len: usize, value: Complex64) -> Result<Self> {
        let mut m = Self::zero(len)?;
        m.diagonals.insert(0, vec![value; len]);
        Ok(m)
    }

    /// Builds the matrix from a dense row-major `len × len` matrix, keeping non-zero diagonals.
    pub fn from_dense(dense: &[Vec<Complex64>]) -> Result<Self> {
        let len = dense.len();
        let mut m = Self::zero(len)?;
        if dense.iter().any(|row| row.len() != len) {
            return Err(Error::InvalidInput("dense matrix is not square".into()));
        }
        for k in 0..len {
            let diag: Vec<Complex64> = (0..len).map(|j| dense[j][(j + k) % len]).collect();
            if diag.iter().any(|x| x.norm() > 0.0) {
                m.diagonals.insert(m.centre(k as i64), diag);
            }
        }
        Ok(m)
    }

    /// Period of the vectors this matrix acts on (the slot count its diagonals are encoded with).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the matrix has no non-zero diagonal.
    pub fn is_empty(&self) -> bool {
        self.diagonals.is_empty()
    }

    /// Offsets of the stored diagonals, in `(-len/2, len/2]`, ascending.
    pub fn offsets(&self) -> Vec<i64> {
        self.diagonals.keys().copied().collect()
    }

    /// The diagonal at `offset` (any integer, reduced modulo `len`), if stored.
    pub fn diagonal(&self, offset: i64) -> Option<&[Complex64]> {
        self.diagonals
            .get(&self.centre(offset))
            .map(|d| d.as_slice())
    }

    /// The stored diagonals by centred offset.
    pub fn diagonals(&self) -> &BTreeMap<i64, Vec<Complex64>> {
        &self.diagonals
    }

    /// Adds `values` to the diagonal at `offset` (creating it if needed).
    pub fn add_to_diagonal(&mut self, offset: i64, values: &[Complex64]) -> Result<()> {
        if values.len() != self.len {
            return Err(Error::InvalidInput(format!(
                "diagonal has {} entries, matrix length is {}",
                values.len(),
                self.len
            )));
        }
        let key = self.centre(offset);
        let diag = self
            .diagonals
            .entry(key)
            .or_insert_with(|| vec![Complex64::new(0.0, 0.0); values.len()]);
        for (d, v) in diag.iter_mut().zip(values) {
            *d += v;
        }
        Ok(())
    }

    /// Sets entry `(row, row + offset)` (indices modulo `len`).
    pub fn set(&mut self, row: usize, offset: i64, value: Complex64) {
        let len = self.len;
        let key = self.centre(offset);
        let diag = self
            .diagonals
            .entry(key)
            .or_insert_with(|| vec![Complex64::new(0.0, 0.0); len]);
        diag[row % len] = value;
    }

    /// Multiplies every entry by `factor`.
    pub fn scale(&mut self, factor: Complex64) {
        for d in self.diagonals.values_mut() {
            for x in d.iter_mut() {
                *x *= factor;
            }
        }
    }

    /// Multiplies row `j` by `row_factors[j]` (left product with a diagonal matrix).
    pub fn scale_rows(&mut self, row_factors: &[Complex64]) -> Result<()> {
        if row_factors.len() != self.len {
            return Err(Error::InvalidInput(format!(
                "{} row factors for a matrix of length {}",
                row_factors.len(),
                self.len
            )));
        }
        for d in self.diagonals.values_mut() {
            for (x, f) in d.iter_mut().zip(row_factors) {
                *x *= f;
            }
        }
        Ok(())
    }

    /// The product `self · rhs` (apply `rhs` first), with cancelled diagonals pruned.
    pub fn mul(&self, rhs: &DiagonalMatrix) -> Result<DiagonalMatrix> {
        if self.len != rhs.len {
            return Err(Error::InvalidInput(format!(
                "cannot multiply matrices of lengths {} and {}",
                self.len, rhs.len
            )));
        }
        let len = self.len;
        let mut out = DiagonalMatrix::zero(len)?;
        for (&ka, da) in &self.diagonals {
            for (&kb, db) in &rhs.diagonals {
                // (A·B)[j][j+ka+kb] += A[j][j+ka] · B[j+ka][j+ka+kb]
                let key = out.centre(ka + kb);
                let dst = out
                    .diagonals
                    .entry(key)
                    .or_insert_with(|| vec![Complex64::new(0.0, 0.0); len]);
                let shift = ka.rem_euclid(len as i64) as usize;
                for j in 0..len {
                    dst[j] += da[j] * db[(j + shift) % len];
                }
            }
        }
        out.prune();
        Ok(out)
    }

    /// Applies the matrix to `v`, whose length must be a multiple of `len` (a physical slot
    /// vector): `out[j] = Σ_k d_k[j mod len] · v[j + k]`.
    pub fn apply(&self, v: &[Complex64]) -> Result<Vec<Complex64>> {
        if v.is_empty() || !v.len().is_multiple_of(self.len) {
            return Err(Error::InvalidInput(format!(
                "vector of length {} for a matrix of period {}",
                v.len(),
                self.len
            )));
        }
        let n = v.len();
        let mut out = vec![Complex64::new(0.0, 0.0); n];
        for (&k, d) in &self.diagonals {
            let shift = k.rem_euclid(n as i64) as usize;
            for (j, o) in out.iter_mut().enumerate() {
                *o += d[j % self.len] * v[(j + shift) % n];
            }
        }
        Ok(out)
    }

    /// The dense `len × len` matrix (for tests and small checks).
    pub fn to_dense(&self) -> Vec<Vec<Complex64>> {
        let len = self.len;
        let mut dense = vec![vec![Complex64::new(0.0, 0.0); len]; len];
        for (&k, d) in &self.diagonals {
            let shift = k.rem_euclid(len as i64) as usize;
            for (j, row) in dense.iter_mut().enumerate() {
                row[(j + shift) % len] += d[j];
            }
        }
        dense
    }

    /// The same map on vectors of period `new_len` (a multiple of `len`): diagonals replicated.
    /// Valid for inputs whose period divides `len`; offsets stay the same integers.
    pub fn replicate(&self, new_len: usize) -> Result<DiagonalMatrix> {
        if !new_len.is_power_of_two() || new_len < self.len {
            return Err(Error::InvalidInput(format!(
                "cannot replicate a matrix of length {} to length {new_len}",
                self.len
            )));
        }
        let mut out = DiagonalMatrix::zero(new_len)?;
        for (&k, d) in &self.diagonals {
            let rep: Vec<Complex64> = (0..new_len).map(|j| d[j % self.len]).collect();
            out.diagonals.insert(k, rep);
        }
        Ok(out)
    }

    /// Largest absolute entry.
    pub fn max_abs(&self) -> f64 {
        self.diagonals
            .values()
            .flat_map(|d| d.iter())
            .fold(0.0f64, |m, x| m.max(x.norm()))
    }

    fn prune(&mut self) {
        let threshold = self.max_abs() * PRUNE_RELATIVE;
        self.diagonals
            .retain(|_, d| d.iter().any(|x| x.norm() > threshold));
    }

    /// Reduces an offset to the centred range `(-len/2, len/2]`.
    fn centre(&self, k: i64) -> i64 {
        let len = self.len as i64;
        let r = k.rem_euclid(len);
        if r > len / 2 { r - len } else { r }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<Complex64> {
        (0..n)
            .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
            .collect()
    }

    fn dense_mul(a: &[Vec<Complex64>], b: &[Vec<Complex64>]) -> Vec<Vec<Complex64>> {
        let n = a.len();
        (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| (0..n).map(|k| a[i][k] * b[k][j]).sum())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn dense_round_trip_and_product_match_dense_algebra() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 16;
        let a: Vec<Vec<Complex64>> = (0..n).map(|_| random_vec(&mut rng, n)).collect();
        let b: Vec<Vec<Complex64>> = (0..n).map(|_| random_vec(&mut rng, n)).collect();
        let da = DiagonalMatrix::from_dense(&a).unwrap();
        let db = DiagonalMatrix::from_dense(&b).unwrap();
        assert_eq!(da.to_dense(), a);
        let prod = da.mul(&db).unwrap().to_dense();
        let expect = dense_mul(&a, &b);
        for i in 0..n {
            for j in 0..n {
                assert!((prod[i][j] - expect[i][j]).norm() < 1e-12);
            }
        }
        let v = random_vec(&mut rng, n);
        let got = da.apply(&v).unwrap();
        for i in 0..n {
            let e: Complex64 = (0..n).map(|k| a[i][k] * v[k]).sum();
            assert!((got[i] - e).norm() < 1e-12);
        }
    }

    #[test]
    fn replicated_matrix_acts_on_periodic_vectors() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let a: Vec<Vec<Complex64>> = (0..8).map(|_| random_vec(&mut rng, 8)).collect();
        let m = DiagonalMatrix::from_dense(&a).unwrap();
        let v = random_vec(&mut rng, 8);
        let v_phys: Vec<Complex64> = (0..32).map(|j| v[j % 8]).collect();
        let small = m.apply(&v).unwrap();
        let big = m.replicate(16).unwrap().apply(&v_phys).unwrap();
        for j in 0..32 {
            assert!((big[j] - small[j % 8]).norm() < 1e-12);
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(DiagonalMatrix::zero(12).is_err());
        let m = DiagonalMatrix::scalar(8, Complex64::new(1.0, 0.0)).unwrap();
        assert!(m.apply(&[Complex64::new(0.0, 0.0); 12]).is_err());
        let other = DiagonalMatrix::scalar(4, Complex64::new(1.0, 0.0)).unwrap();
        assert!(m.mul(&other).is_err());
    }
}
