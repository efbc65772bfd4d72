//! Chebyshev interpolation on an interval and plain evaluation (Clenshaw).

use std::f64::consts::PI;

use crate::{Error, Result};

/// `p(x) = Σ_j c_j T_j(t)` with `t = (2x − a − b)/(b − a)` mapping `[a, b]` onto `[-1, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChebyshevSeries {
    coeffs: Vec<f64>,
    a: f64,
    b: f64,
}

impl ChebyshevSeries {
    /// Wraps coefficients on `[a, b]`.
    pub fn new(coeffs: Vec<f64>, a: f64, b: f64) -> Result<Self> {
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(Error::InvalidInput(format!(
                "interval [{a}, {b}] is not a finite non-empty interval"
            )));
        }
        if coeffs.is_empty() || coeffs.iter().any(|c| !c.is_finite()) {
            return Err(Error::InvalidInput(
                "Chebyshev coefficients must be finite and non-empty".into(),
            ));
        }
        Ok(Self { coeffs, a, b })
    }

    /// Interpolates `f` at the `degree + 1` Chebyshev nodes of the first kind on `[a, b]`.
    /// Near-minimax: the error is at most `(2 + (2/π) log(d+1))` times the best possible.
    pub fn interpolate(f: impl Fn(f64) -> f64, a: f64, b: f64, degree: usize) -> Result<Self> {
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(Error::InvalidInput(format!(
                "interval [{a}, {b}] is not a finite non-empty interval"
            )));
        }
        let m = degree + 1;
        let values: Vec<f64> = (0..m)
            .map(|i| {
                let t = (PI * (i as f64 + 0.5) / m as f64).cos();
                f(0.5 * (b - a) * t + 0.5 * (a + b))
            })
            .collect();
        let coeffs: Vec<f64> = (0..m)
            .map(|j| {
                let s: f64 = values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v * (PI * j as f64 * (i as f64 + 0.5) / m as f64).cos())
                    .sum();
                let c = 2.0 * s / m as f64;
                if j == 0 { c / 2.0 } else { c }
            })
            .collect();
        Self::new(coeffs, a, b)
    }

    /// Coefficients `c_0 … c_d` in the Chebyshev basis.
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    /// Degree `d`.
    pub fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// Interval `[a, b]`.
    pub fn interval(&self) -> (f64, f64) {
        (self.a, self.b)
    }

    /// Maps `x ∈ [a, b]` to `t ∈ [-1, 1]`.
    pub fn to_unit(&self, x: f64) -> f64 {
        (2.0 * x - self.a - self.b) / (self.b - self.a)
    }

    /// `p(x)` by Clenshaw's recurrence.
    pub fn eval(&self, x: f64) -> f64 {
        clenshaw(&self.coeffs, self.to_unit(x))
    }
}

/// `Σ_j c_j T_j(t)` by Clenshaw's recurrence.
pub fn clenshaw(coeffs: &[f64], t: f64) -> f64 {
    let mut b1 = 0.0;
    let mut b2 = 0.0;
    for &c in coeffs.iter().skip(1).rev() {
        let b0 = 2.0 * t * b1 - b2 + c;
        b2 = b1;
        b1 = b0;
    }
    coeffs.first().copied().unwrap_or(0.0) + t * b1 - b2
}

/// A priori bound on the Chebyshev truncation error of `cos(ω t + φ)` on `[-1, 1]` at degree
/// `d`: its Chebyshev coefficients are `2|J_j(ω)|` and `|J_j(ω)| ≤ (ω/2)^j / j!`, so the tail
/// (which bounds both truncation and, doubled, interpolation error) is `Σ_{j>d} 2(ω/2)^j/j!`.
/// Returned doubled (interpolation aliases the tail once more).
pub fn cosine_interpolation_bound(omega: f64, degree: usize) -> f64 {
    let half = omega.abs() / 2.0;
    let mut term = 1.0f64; // (ω/2)^j / j! at j = 0
    for j in 1..=degree + 1 {
        term *= half / j as f64;
    }
    // term is now (ω/2)^{d+1}/(d+1)!; sum the tail geometrically-bounded
    let mut tail = 0.0;
    let mut j = degree + 1;
    while term > 1e-300 && j < degree + 400 {
        tail += term;
        j += 1;
        term *= half / j as f64;
    }
    4.0 * tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_reproduces_polynomials_and_smooth_functions() {
        // x^3 - 2x on [-2, 3] is exactly representable at degree 3.
        let p = ChebyshevSeries::interpolate(|x| x * x * x - 2.0 * x, -2.0, 3.0, 3).unwrap();
        for i in 0..=50 {
            let x = -2.0 + 5.0 * i as f64 / 50.0;
            assert!((p.eval(x) - (x * x * x - 2.0 * x)).abs() < 1e-12);
        }
        let f = |x: f64| (3.0 * x + 0.4).cos();
        for d in [8usize, 16, 24] {
            let p = ChebyshevSeries::interpolate(f, -1.0, 1.0, d).unwrap();
            let bound = cosine_interpolation_bound(3.0, d);
            let err = (0..=1000)
                .map(|i| -1.0 + 2.0 * i as f64 / 1000.0)
                .map(|x| (p.eval(x) - f(x)).abs())
                .fold(0.0, f64::max);
            assert!(err <= bound.max(1e-14), "d={d}: {err} > {bound}");
        }
    }

    #[test]
    fn invalid_intervals_are_errors() {
        assert!(ChebyshevSeries::interpolate(|x| x, 1.0, 1.0, 3).is_err());
        assert!(ChebyshevSeries::new(vec![], -1.0, 1.0).is_err());
        assert!(ChebyshevSeries::new(vec![f64::NAN], -1.0, 1.0).is_err());
    }
}
