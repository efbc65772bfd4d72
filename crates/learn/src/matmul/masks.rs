//! Constant slot vectors (plaintext masks) used by the matrix multiplications. Workers rebuild
//! them from a few parameters instead of receiving them.

use crate::pack::UnitShape;
use num_complex::Complex64;

const ZERO: Complex64 = Complex64::new(0.0, 0.0);

fn build(unit: UnitShape, f: impl Fn(usize, usize) -> Complex64) -> Vec<Complex64> {
    let s1 = unit.s1();
    (0..unit.slots()).map(|i| f(i / s1, i % s1)).collect()
}

/// 1 in column `k` of every row.
pub fn column(unit: UnitShape, k: usize, value: f64) -> Vec<Complex64> {
    build(unit, |_, j| {
        if j == k {
            Complex64::new(value, 0.0)
        } else {
            ZERO
        }
    })
}

/// 1 in every column of row `k`.
pub fn row(unit: UnitShape, k: usize, value: f64) -> Vec<Complex64> {
    build(unit, |r, _| {
        if r == k {
            Complex64::new(value, 0.0)
        } else {
            ZERO
        }
    })
}

/// 1 in the last `k` columns of every row (`j ≥ s1 − k`): where a small rotation wraps into the
/// next row.
pub fn last_columns(unit: UnitShape, k: usize) -> Vec<Complex64> {
    let from = unit.s1().saturating_sub(k);
    build(unit, |_, j| {
        if j >= from {
            Complex64::new(1.0, 0.0)
        } else {
            ZERO
        }
    })
}

/// DiagABT's generalised-diagonal mask `μ_m`, times `h`: `h` where `j ≡ r + 2m (mod c)`, `−i·h`
/// where `j ≡ r + 2m + 1 (mod c)`, 0 elsewhere. Taking the real part of `D ⊙ μ_m` (with
/// `D[r,·] = Z[r, r+2m] + i·Z[r, r+2m+1]`) leaves `h·Z[r, j mod c]` on the two diagonals.
pub fn abt_diagonal(unit: UnitShape, period: usize, m: usize, h: f64) -> Vec<Complex64> {
    build(unit, |r, j| {
        pair_value(j % period, (r + 2 * m) % period, period, h)
    })
}

/// DiagATB's mask `ν_m`, times `h`: `h` where `ρ ≡ l + 2m (mod c)`, `−i·h` where
/// `ρ ≡ l + 2m + 1 (mod c)`, 0 elsewhere.
pub fn atb_diagonal(unit: UnitShape, period: usize, m: usize, h: f64) -> Vec<Complex64> {
    build(unit, |rho, l| {
        pair_value(rho % period, (l + 2 * m) % period, period, h)
    })
}

/// `h` if `x = first`, `−i·h` if `x = first + 1 (mod period)`, else 0.
fn pair_value(x: usize, first: usize, period: usize, h: f64) -> Complex64 {
    if x == first {
        Complex64::new(h, 0.0)
    } else if x == (first + 1) % period {
        Complex64::new(0.0, -h)
    } else {
        ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_have_the_documented_support() {
        let u = UnitShape::new(4, 4).unwrap();
        let mu = abt_diagonal(u, 4, 1, 0.5);
        // Row 1: j ≡ 3 → 0.5, j ≡ 0 → −0.5i.
        assert_eq!(mu[4 + 3], Complex64::new(0.5, 0.0));
        assert_eq!(mu[4], Complex64::new(0.0, -0.5));
        assert_eq!(mu.iter().filter(|v| v.norm() > 0.0).count(), 8);
        let nu = atb_diagonal(u, 2, 0, 1.0);
        assert_eq!(nu[0], Complex64::new(1.0, 0.0));
        assert_eq!(nu[4], Complex64::new(0.0, -1.0));
        assert_eq!(last_columns(u, 1).iter().filter(|v| v.re == 1.0).count(), 4);
        assert_eq!(column(u, 2, 1.0)[6].re, 1.0);
        assert_eq!(row(u, 3, 2.0)[13].re, 2.0);
    }
}
