//! The approximation of `x ↦ x − round(x)` used by EvalMod, and its error analysis.
//!
//! After ModRaise and CoeffToSlot each slot holds `x = m + I` with `|m| ≤ 1/ratio` (the message
//! as a fraction of q0, `ratio = q0/Δ`) and `I` an integer with `|I| < K` (the overflow of the
//! modulus raise). EvalMod returns `m`:
//!
//! 1. `c_0 = p(y) ≈ cos(2πy/2^r)` with `y = x − 1/4`, `p` the Chebyshev interpolant of degree
//!    `d` on `[−K, K]` (its Chebyshev coefficients decay like `(ω/2)^j/j!`, `ω = 2πK/2^r`, so
//!    `r` double angles let a small degree cover a wide range). The shift by `−1/4` is one
//!    constant addition and makes `p` even: only `T_2, T_4, …` appear, so the evaluation needs
//!    half the baby-step powers of a general series of the same degree and depth;
//! 2. `r` double-angle steps `c_{i+1} = 2c_i² − 1`, giving `c_r ≈ cos(2π(x − 1/4)) = sin(2πx)`;
//! 3. `m ≈ sin(2πx)/2π`, or, with the arcsine correction, `m ≈ arcsin(sin 2πx)/2π` which removes
//!    the cubic error `(2π)² m³/6` of the plain sine.
//!
//! Error propagation (see [`Mod1Poly::error_bound`]): an error `e` in `c_i` becomes at most
//! `4e + 2e²` in `c_{i+1}` (`|c_i| ≤ 1`), so `e_r ≤ 4^r e_0` to first order.

use std::f64::consts::PI;

use crate::circuits::polynomial::ChebyshevSeries;
use crate::circuits::polynomial::chebyshev::cosine_interpolation_bound;
use crate::circuits::polynomial::eval::chebyshev_depth;
use crate::{Error, Result};

pub mod eval;

/// Parameters of the EvalMod approximation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mod1Params {
    /// Half-width `K` of the interpolation interval, in units of q0: the ModRaise overflow `I`
    /// must satisfy `|I| ≤ K − 1`.
    pub k: f64,
    /// Chebyshev degree `d` of the scaled cosine.
    pub degree: usize,
    /// Number `r` of double-angle steps.
    pub double_angle: u32,
    /// Degree of the arcsine correction (0: none; otherwise odd, e.g. 3 or 5).
    pub arcsine_degree: usize,
    /// log2 of `q0/Δ`: the message occupies at most `2^-log_message_ratio` of q0.
    pub log_message_ratio: f64,
    /// log2 of the baby-step count of the cosine's evaluation: `None` is depth-optimal
    /// (`⌈log2(d+1)⌉` levels, many products); `Some(3)` uses ~half the ciphertext products for
    /// one more level.
    pub cosine_log_baby: Option<u32>,
}

impl Mod1Params {
    fn validate(&self) -> Result<()> {
        if !(self.k.is_finite() && self.k >= 1.0) {
            return Err(Error::InvalidParameters(format!(
                "EvalMod range K = {} must be at least 1",
                self.k
            )));
        }
        if self.degree < 2 || self.degree > 512 {
            return Err(Error::InvalidParameters(format!(
                "EvalMod degree {} is not in 2..=512",
                self.degree
            )));
        }
        if self.double_angle > 8 {
            return Err(Error::InvalidParameters(format!(
                "{} double-angle steps: at most 8 are supported",
                self.double_angle
            )));
        }
        if self.arcsine_degree != 0
            && (self.arcsine_degree.is_multiple_of(2) || self.arcsine_degree > 31)
        {
            return Err(Error::InvalidParameters(format!(
                "arcsine degree {} must be 0 or an odd number up to 31",
                self.arcsine_degree
            )));
        }
        if !(self.log_message_ratio.is_finite() && self.log_message_ratio >= 2.0) {
            return Err(Error::InvalidParameters(format!(
                "log message ratio {} must be at least 2",
                self.log_message_ratio
            )));
        }
        Ok(())
    }

    /// Largest message `|m|` in units of q0.
    pub fn message_bound(&self) -> f64 {
        (-self.log_message_ratio).exp2()
    }
}

/// The interpolated polynomials of EvalMod.
#[derive(Debug, Clone, PartialEq)]
pub struct Mod1Poly {
    params: Mod1Params,
    cosine: ChebyshevSeries,
    arcsine: Option<ChebyshevSeries>,
}

impl Mod1Poly {
    /// Interpolates the scaled cosine (and the arcsine correction).
    pub fn new(params: Mod1Params) -> Result<Self> {
        params.validate()?;
        let two_r = f64::from(1u32 << params.double_angle);
        let interpolated = ChebyshevSeries::interpolate(
            |y| (2.0 * PI * y / two_r).cos(),
            -params.k,
            params.k,
            params.degree,
        )?;
        // The function is even and the nodes symmetric, so the odd coefficients are zero up to
        // rounding: make them exactly zero so that the evaluator skips the odd powers.
        let even: Vec<f64> = interpolated
            .coeffs()
            .iter()
            .enumerate()
            .map(|(j, &c)| if j % 2 == 0 { c } else { 0.0 })
            .collect();
        let cosine = ChebyshevSeries::new(even, -params.k, params.k)?;
        let arcsine = if params.arcsine_degree == 0 {
            None
        } else {
            // Taylor polynomial of arcsin(y)/2π, rewritten in the Chebyshev basis on [−1, 1]:
            // the input sin(2πm) stays far inside, so the Taylor tail is what limits precision.
            let mut power = vec![0.0; params.arcsine_degree + 1];
            let mut coeff = 1.0; // (2k)! / (4^k (k!)^2)
            for k in 0..=params.arcsine_degree / 2 {
                if k > 0 {
                    coeff *= (2 * k - 1) as f64 / (2 * k) as f64;
                }
                power[2 * k + 1] = coeff / (2 * k + 1) as f64 / (2.0 * PI);
            }
            Some(ChebyshevSeries::new(power_to_chebyshev(&power), -1.0, 1.0)?)
        };
        Ok(Self {
            params,
            cosine,
            arcsine,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &Mod1Params {
        &self.params
    }

    /// The scaled cosine `p(y) ≈ cos(2πy/2^r)` on `[−K, K]`, an even series, evaluated at
    /// `y = x − `[`Self::COSINE_SHIFT`].
    pub fn cosine(&self) -> &ChebyshevSeries {
        &self.cosine
    }

    /// The arcsine correction `arcsin(y)/2π` (Taylor polynomial in the Chebyshev basis on
    /// `[−1, 1]`), if enabled.
    pub fn arcsine(&self) -> Option<&ChebyshevSeries> {
        self.arcsine.as_ref()
    }

    /// Levels EvalMod consumes: the cosine series, `r` double angles, the arcsine series
    /// (as evaluated by [`crate::circuits::polynomial::eval::evaluate_chebyshev`]).
    pub fn depth(&self) -> Result<usize> {
        let cos = chebyshev_depth(self.cosine.coeffs(), self.params.cosine_log_baby)?;
        let arcsine = match &self.arcsine {
            Some(a) => chebyshev_depth(a.coeffs(), None)?,
            None => 0,
        };
        Ok(cos + self.params.double_angle as usize + arcsine)
    }

    /// The final scalar applied to `sin(2πx)` when there is no arcsine correction: `1/2π`.
    pub fn sine_scale(&self) -> f64 {
        if self.arcsine.is_some() {
            1.0
        } else {
            1.0 / (2.0 * PI)
        }
    }

    /// The shift subtracted from `x` before the cosine: `cos(2π(x − 1/4)) = sin(2πx)`.
    pub const COSINE_SHIFT: f64 = 0.25;

    /// Evaluates the whole approximation in `f64`, as the circuit does.
    pub fn eval(&self, x: f64) -> f64 {
        let mut c = self.cosine.eval(x - Self::COSINE_SHIFT);
        for _ in 0..self.params.double_angle {
            c = 2.0 * c * c - 1.0;
        }
        match &self.arcsine {
            Some(a) => a.eval(c),
            None => c / (2.0 * PI),
        }
    }

    /// A priori bound on `|eval(I + m) − m|` (units of q0) for `|I| ≤ K − 1`, `|m| ≤` the
    /// message bound, ignoring homomorphic noise: the cosine interpolation error amplified by the
    /// double angles, plus the sine's cubic error (or the arcsine interpolation error).
    pub fn error_bound(&self) -> f64 {
        let p = &self.params;
        let omega = 2.0 * PI * p.k / f64::from(1u32 << p.double_angle);
        let mut e = cosine_interpolation_bound(omega, p.degree);
        for _ in 0..p.double_angle {
            e = 4.0 * e + 2.0 * e * e;
        }
        let m = p.message_bound();
        match &self.arcsine {
            None => e / (2.0 * PI) + (2.0 * PI).powi(2) * m.powi(3) / 6.0,
            Some(_) => {
                let y_max = (2.0 * PI * m + e).min(0.99);
                // arcsin' ≤ 1/sqrt(1 − y_max²) on the interval; the Taylor tail of arcsin beyond
                // the interpolation degree bounds its interpolation error (doubled for aliasing).
                let slope = 1.0 / (1.0 - y_max * y_max).sqrt();
                let deg = p.arcsine_degree + 2;
                let tail = y_max.powi(deg as i32) / (1.0 - y_max * y_max) / (2.0 * PI);
                e * slope / (2.0 * PI) + 2.0 * tail
            }
        }
    }

    /// The largest error measured on a grid of `samples` messages per integer `I`.
    pub fn measured_error(&self, samples: usize) -> f64 {
        let p = &self.params;
        let m_max = p.message_bound();
        let i_max = (p.k - 1.0).floor() as i64;
        let mut worst = 0.0f64;
        for i in -i_max..=i_max {
            for s in 0..=samples {
                let m = -m_max + 2.0 * m_max * s as f64 / samples.max(1) as f64;
                worst = worst.max((self.eval(i as f64 + m) - m).abs());
            }
        }
        worst
    }
}

/// Rewrites `Σ_k p_k y^k` in the Chebyshev basis, using
/// `y^k = 2^{1−k} Σ_{j ≤ k/2} C(k, j) T_{k−2j}` (the `T_0` term halved).
pub fn power_to_chebyshev(power: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; power.len().max(1)];
    for (k, &pk) in power.iter().enumerate() {
        if pk == 0.0 {
            continue;
        }
        if k == 0 {
            out[0] += pk;
            continue;
        }
        let mut binom = 1.0f64; // C(k, j)
        let base = 2f64.powi(1 - k as i32);
        for j in 0..=k / 2 {
            if j > 0 {
                binom *= (k - j + 1) as f64 / j as f64;
            }
            let idx = k - 2 * j;
            let w = if idx == 0 { 0.5 } else { 1.0 };
            out[idx] += pk * base * binom * w;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(k: f64, degree: usize, r: u32, arcsine: usize, ratio: f64) -> Mod1Params {
        Mod1Params {
            k,
            degree,
            double_angle: r,
            arcsine_degree: arcsine,
            log_message_ratio: ratio,
            cosine_log_baby: None,
        }
    }

    #[test]
    fn measured_error_is_below_the_a_priori_bound() {
        for p in [
            params(16.0, 30, 3, 0, 8.0),
            params(16.0, 30, 3, 7, 8.0),
            params(12.0, 24, 3, 0, 10.0),
            params(32.0, 40, 4, 5, 8.0),
        ] {
            let poly = Mod1Poly::new(p).unwrap();
            let measured = poly.measured_error(64);
            let bound = poly.error_bound();
            assert!(
                measured <= bound,
                "{p:?}: measured {measured} > bound {bound}"
            );
        }
    }

    #[test]
    fn arcsine_correction_removes_the_cubic_error() {
        let plain = Mod1Poly::new(params(16.0, 30, 3, 0, 6.0)).unwrap();
        let corrected = Mod1Poly::new(params(16.0, 30, 3, 7, 6.0)).unwrap();
        let m = plain.params().message_bound();
        let cubic = (2.0 * PI).powi(2) * m.powi(3) / 6.0;
        assert!(plain.measured_error(64) > 0.5 * cubic);
        assert!(corrected.measured_error(64) < 0.1 * cubic);
    }

    #[test]
    fn power_basis_conversion_is_exact() {
        let p = [0.3, -1.0, 0.5, 2.0, 0.0, -0.25];
        let c = power_to_chebyshev(&p);
        for i in 0..=20 {
            let y = -1.0 + i as f64 / 10.0;
            let direct: f64 = p
                .iter()
                .enumerate()
                .map(|(k, a)| a * y.powi(k as i32))
                .sum();
            let cheb = crate::circuits::polynomial::chebyshev::clenshaw(&c, y);
            assert!((direct - cheb).abs() < 1e-12);
        }
    }

    #[test]
    fn depth_counts_levels() {
        let plain = Mod1Poly::new(params(16.0, 30, 3, 0, 8.0)).unwrap();
        assert!((5 + 3..=6 + 3).contains(&plain.depth().unwrap()));
        let arcsine = Mod1Poly::new(params(16.0, 30, 3, 3, 8.0)).unwrap();
        assert_eq!(arcsine.depth().unwrap(), plain.depth().unwrap() + 2);
    }

    #[test]
    fn shifted_cosine_is_even_and_needs_fewer_products() {
        use crate::circuits::polynomial::eval::chebyshev_cost;
        let p = Mod1Params {
            cosine_log_baby: Some(3),
            ..params(16.0, 60, 2, 0, 8.0)
        };
        let poly = Mod1Poly::new(p).unwrap();
        let c = poly.cosine().coeffs();
        assert!(c.iter().skip(1).step_by(2).all(|&x| x == 0.0));
        // The unshifted cosine of the same degree has every power.
        let general =
            ChebyshevSeries::interpolate(|x| (2.0 * PI * (x - 0.25) / 4.0).cos(), -16.0, 16.0, 60)
                .unwrap();
        let (d_even, n_even) = chebyshev_cost(c, Some(3)).unwrap();
        let (d_gen, n_gen) = chebyshev_cost(general.coeffs(), Some(3)).unwrap();
        assert_eq!(d_even, d_gen);
        assert!(n_even + 3 <= n_gen, "{n_even} vs {n_gen} products");
        // The remainder chains are relinearised lazily: 10 key switches for 13 products.
        use crate::circuits::polynomial::eval::chebyshev_key_switches;
        assert_eq!(
            (n_even, chebyshev_key_switches(c, Some(3)).unwrap()),
            (13, 10)
        );
        // Same function: x − round(x) near the integers.
        for i in -15..=15 {
            let x = f64::from(i) + 0.001;
            assert!((poly.eval(x) - 0.001).abs() < 1e-8, "{x}: {}", poly.eval(x));
        }
    }

    #[test]
    fn invalid_parameters_are_errors() {
        assert!(Mod1Poly::new(params(0.5, 30, 3, 0, 8.0)).is_err());
        assert!(Mod1Poly::new(params(16.0, 1, 3, 0, 8.0)).is_err());
        assert!(Mod1Poly::new(params(16.0, 30, 3, 4, 8.0)).is_err());
        assert!(Mod1Poly::new(params(16.0, 30, 9, 0, 8.0)).is_err());
    }
}
