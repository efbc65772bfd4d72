//! The special FFT (canonical embedding restricted to the slots) as butterfly matrices.

use std::f64::consts::PI;

use num_complex::Complex64;

use crate::circuits::lintrans::DiagonalMatrix;
use crate::{Error, Result};

fn check_slots(n: usize) -> Result<()> {
    if !n.is_power_of_two() || n < 2 {
        return Err(Error::InvalidInput(format!(
            "slot count {n} must be a power of two, at least 2"
        )));
    }
    Ok(())
}

/// `5^j mod 4n` for `j < n`: the exponents of the primitive `4n`-th root at the slots.
pub fn rotation_group(n: usize) -> Vec<usize> {
    let m = 4 * n;
    let mut out = Vec::with_capacity(n);
    let mut g = 1usize;
    for _ in 0..n {
        out.push(g);
        g = (g * 5) % m;
    }
    out
}

/// `ξ^e` with `ξ = e^{2πi/4n}`.
fn root(n: usize, e: usize) -> Complex64 {
    let angle = 2.0 * PI * (e % (4 * n)) as f64 / (4 * n) as f64;
    Complex64::new(angle.cos(), angle.sin())
}

/// The dense embedding `U[j][k] = ξ^{5^j k}` (reference for tests; `O(n²)`).
pub fn dense_embedding(n: usize) -> Result<Vec<Vec<Complex64>>> {
    check_slots(n)?;
    let group = rotation_group(n);
    Ok(group
        .iter()
        .map(|&g| (0..n).map(|k| root(n, g * k % (4 * n))).collect())
        .collect())
}

/// Reverses the low `log2(v.len())` bits of the indices of `v`.
pub fn bit_reverse<T: Copy>(v: &[T]) -> Vec<T> {
    let n = v.len();
    let bits = n.trailing_zeros();
    (0..n)
        .map(|i| {
            let r = if bits == 0 {
                0
            } else {
                i.reverse_bits() >> (usize::BITS - bits)
            };
            v[r]
        })
        .collect()
}

/// The butterfly stages `S_1, …, S_{log n}` (in application order) with
/// `U = S_{log n} ⋯ S_1 · P`. Stage `l` (half-length `h = 2^{l-1}`) maps
/// `(u, v) ↦ (u + w v, u − w v)` on index pairs `(p, p + h)`, `w = ξ^{(5^j mod 8h)·n/(2h)}`:
/// diagonals at offsets `0, ±h`.
pub fn butterfly_stages(n: usize) -> Result<Vec<DiagonalMatrix>> {
    check_slots(n)?;
    let group = rotation_group(n);
    let mut stages = Vec::new();
    let mut len = 2;
    while len <= n {
        let h = len / 2;
        let lenq = 4 * len;
        let gap = 4 * n / lenq;
        let mut s = DiagonalMatrix::zero(n)?;
        for block in (0..n).step_by(len) {
            for (j, &g) in group.iter().enumerate().take(h) {
                let w = root(n, (g % lenq) * gap);
                let p = block + j;
                s.set(p, 0, Complex64::new(1.0, 0.0));
                add(&mut s, p, h as i64, w);
                add(&mut s, p + h, -(h as i64), Complex64::new(1.0, 0.0));
                s.set(p + h, 0, -w);
            }
        }
        stages.push(s);
        len *= 2;
    }
    Ok(stages)
}

/// The inverse stages `S_1^{-1}, …, S_{log n}^{-1}` (stage `l` at index `l-1`); CoeffToSlot
/// applies them from the last to the first. `S^{-1}` maps `(a, b) ↦ ((a+b)/2, w̄(a−b)/2)`.
pub fn inverse_butterfly_stages(n: usize) -> Result<Vec<DiagonalMatrix>> {
    check_slots(n)?;
    let group = rotation_group(n);
    let mut stages = Vec::new();
    let mut len = 2;
    let half = Complex64::new(0.5, 0.0);
    while len <= n {
        let h = len / 2;
        let lenq = 4 * len;
        let gap = 4 * n / lenq;
        let mut s = DiagonalMatrix::zero(n)?;
        for block in (0..n).step_by(len) {
            for (j, &g) in group.iter().enumerate().take(h) {
                let wc = root(n, (g % lenq) * gap).conj();
                let p = block + j;
                s.set(p, 0, half);
                add(&mut s, p, h as i64, half);
                add(&mut s, p + h, -(h as i64), wc * 0.5);
                s.set(p + h, 0, -wc * 0.5);
            }
        }
        stages.push(s);
        len *= 2;
    }
    Ok(stages)
}

/// Adds to an entry: for `h = n/2` the offsets `+h` and `−h` are the same diagonal.
fn add(m: &mut DiagonalMatrix, row: usize, offset: i64, value: Complex64) {
    let current = m
        .diagonal(offset)
        .map_or(Complex64::new(0.0, 0.0), |d| d[row % m.len()]);
    m.set(row, offset, current + value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn max_diff(a: &[Complex64], b: &[Complex64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).norm())
            .fold(0.0, f64::max)
    }

    #[test]
    fn factored_fft_equals_dense_embedding() {
        for log_n in 1..=10 {
            let n = 1usize << log_n;
            let dense = dense_embedding(n).unwrap();
            let stages = butterfly_stages(n).unwrap();
            assert_eq!(stages.len(), log_n);
            for s in &stages {
                assert!(s.offsets().len() <= 3);
            }
            let c: Vec<Complex64> = (0..n)
                .map(|k| Complex64::new((k as f64 * 0.37).sin(), (k as f64 * 1.3).cos()))
                .collect();
            let expect: Vec<Complex64> = dense
                .iter()
                .map(|row| row.iter().zip(&c).map(|(u, x)| u * x).sum())
                .collect();
            let mut v = bit_reverse(&c);
            for s in &stages {
                v = s.apply(&v).unwrap();
            }
            assert!(max_diff(&v, &expect) < 1e-9 * n as f64, "n={n}");
            // inverse: S_1^{-1} ⋯ S_L^{-1} z = P c
            let inv = inverse_butterfly_stages(n).unwrap();
            let mut w = expect.clone();
            for s in inv.iter().rev() {
                w = s.apply(&w).unwrap();
            }
            assert!(
                max_diff(&w, &bit_reverse(&c)) < 1e-9 * n as f64,
                "inverse n={n}"
            );
        }
    }

    #[test]
    fn bad_slot_counts_are_errors() {
        assert!(butterfly_stages(12).is_err());
        assert!(dense_embedding(1).is_err());
    }
}
