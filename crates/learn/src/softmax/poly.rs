//! Real polynomials in the monomial or the Chebyshev basis: plaintext evaluation, Chebyshev
//! interpolation, and depth-optimal evaluation on ciphertexts.
//!
//! The ciphertext evaluation splits `p = p_lo + x^(2^(D−1)) · p_hi` recursively (the power-of-two
//! baby-step/giant-step form of Paterson–Stockmeyer; in the Chebyshev basis the giant is
//! `T_(2^(D−1))` and the split uses `T_(h+i) = 2·T_h·T_i − T_(h−i)`), so a degree-`d` polynomial costs exactly
//! `⌈log₂(d + 1)⌉` levels *including* its coefficients: each coefficient multiplies a leaf `x`
//! (one level, in parallel with the powers) instead of a finished power. Zero coefficients are
//! skipped, so odd polynomials need no special case. An optional mask vector is folded into the
//! coefficients (a leaf `c·x` becomes a CMult by `c·mask`), which masks the result for free.

use num_complex::Complex64;

use crate::eval::SlotEvaluator;
use crate::{Error, Result};

/// The basis a [`Poly`]'s coefficients refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// `xᵏ`: fine for low degrees (the coefficients of a high-degree fit explode).
    Monomial,
    /// Chebyshev polynomials `Tₖ(x)`, bounded by 1 on `[-1, 1]`: stable at any degree, for
    /// arguments that stay inside `[-1, 1]`.
    Chebyshev,
}

/// A real polynomial `Σ cₖ xᵏ` (or `Σ cₖ Tₖ(x)` in the Chebyshev basis).
#[derive(Debug, Clone, PartialEq)]
pub struct Poly {
    coeffs: Vec<f64>,
    basis: Basis,
}

impl Poly {
    /// From monomial coefficients `[c₀, c₁, …]` (trailing zeros are dropped).
    pub fn new(coeffs: Vec<f64>) -> Self {
        Self::in_basis(coeffs, Basis::Monomial)
    }

    /// From Chebyshev coefficients `[c₀, c₁, …]` of `Σ cₖ Tₖ(x)` (trailing zeros are dropped).
    pub fn chebyshev(coeffs: Vec<f64>) -> Self {
        Self::in_basis(coeffs, Basis::Chebyshev)
    }

    fn in_basis(mut coeffs: Vec<f64>, basis: Basis) -> Self {
        while coeffs.len() > 1 && coeffs.last() == Some(&0.0) {
            coeffs.pop();
        }
        if coeffs.is_empty() {
            coeffs.push(0.0);
        }
        Self { coeffs, basis }
    }

    /// Coefficients, lowest degree first, in [`Poly::basis`].
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    /// The basis of the coefficients.
    pub fn basis(&self) -> Basis {
        self.basis
    }

    /// Degree (0 for constants).
    pub fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// Levels the ciphertext evaluation consumes: `⌈log₂(degree + 1)⌉`.
    pub fn depth(&self) -> usize {
        (usize::BITS - self.degree().leading_zeros()) as usize
    }

    /// Horner (monomial) or Clenshaw (Chebyshev) evaluation.
    pub fn eval(&self, x: f64) -> f64 {
        match self.basis {
            Basis::Monomial => self.coeffs.iter().rev().fold(0.0, |acc, &c| acc * x + c),
            Basis::Chebyshev => {
                let (mut b1, mut b2) = (0.0, 0.0);
                for &c in self.coeffs[1..].iter().rev() {
                    (b1, b2) = (2.0 * x * b1 - b2 + c, b1);
                }
                x * b1 - b2 + self.coeffs[0]
            }
        }
    }

    /// `α · p(x)`.
    pub fn scaled(&self, alpha: f64) -> Self {
        Self::in_basis(self.coeffs.iter().map(|c| c * alpha).collect(), self.basis)
    }

    /// `p(x) + c` (`T₀ = 1`, so the same in both bases).
    pub fn shifted(&self, c: f64) -> Self {
        let mut coeffs = self.coeffs.clone();
        coeffs[0] += c;
        Self::in_basis(coeffs, self.basis)
    }

    /// The same polynomial in the monomial basis (exact in exact arithmetic; only sensible for
    /// low degrees).
    pub fn to_monomial(&self) -> Self {
        match self.basis {
            Basis::Monomial => self.clone(),
            Basis::Chebyshev => Self::new(chebyshev_to_monomial(&self.coeffs)),
        }
    }

    /// `p(α·x)` in the monomial basis: folds an input scaling into the coefficients.
    pub fn input_scaled(&self, alpha: f64) -> Self {
        let mut a = 1.0;
        Self::new(
            self.to_monomial()
                .coeffs
                .iter()
                .map(|c| {
                    let v = c * a;
                    a *= alpha;
                    v
                })
                .collect(),
        )
    }

    /// The interpolant of `f` at the `degree + 1` Chebyshev nodes of `[-1, 1]`, in the monomial
    /// basis of `t ∈ [-1, 1]` (near-minimax; coefficients stay moderate for small degrees).
    pub fn chebyshev_interpolant(f: impl Fn(f64) -> f64, degree: usize) -> Self {
        Self::new(chebyshev_to_monomial(&chebyshev_coefficients(f, degree)))
    }

    /// The same interpolant kept in the Chebyshev basis (stable at any degree).
    pub fn chebyshev_fit(f: impl Fn(f64) -> f64, degree: usize) -> Self {
        Self::chebyshev(chebyshev_coefficients(f, degree))
    }

    /// Evaluates on a ciphertext with `depth()` levels; `mask` (a slot vector) multiplies the
    /// result for free. A constant polynomial is an error (there is no ciphertext to return).
    pub fn eval_ct<E: SlotEvaluator>(
        &self,
        ev: &E,
        x: &E::Ct,
        mask: Option<&[Complex64]>,
    ) -> Result<E::Ct> {
        let factor = match mask {
            Some(m) => Factor::Mask(m),
            None => Factor::One,
        };
        self.eval_with(ev, x, &factor)
    }

    /// `t · p(x)` with the ciphertext `t` folded into the coefficients (each leaf `c·x` becomes
    /// `(c·t)·x`): no level more than `p(x)` alone as long as `t` is at least one level above
    /// `x` — the product of a comparison with its lever in the maximum costs nothing extra.
    pub fn eval_ct_times<E: SlotEvaluator>(&self, ev: &E, x: &E::Ct, t: &E::Ct) -> Result<E::Ct> {
        self.eval_with(ev, x, &Factor::Ct(t))
    }

    fn eval_with<E: SlotEvaluator>(
        &self,
        ev: &E,
        x: &E::Ct,
        factor: &Factor<'_, E::Ct>,
    ) -> Result<E::Ct> {
        let mut powers = vec![x.clone()];
        for _ in 1..self.depth() {
            let last = powers
                .last()
                .ok_or_else(|| Error::InvalidInput("no power".into()))?;
            let sq = ev.square(last)?;
            // T_(2k) = 2·T_k² − 1: the doubling and the shift cost no level.
            powers.push(match self.basis {
                Basis::Monomial => sq,
                Basis::Chebyshev => ev.add_scalar(&ev.add(&sq, &sq)?, Complex64::new(-1.0, 0.0))?,
            });
        }
        match (
            eval_rec(ev, &powers, &self.coeffs, self.basis, factor)?,
            factor,
        ) {
            (Term::Ct(ct), _) => Ok(ct),
            (Term::Const(c), Factor::Ct(t)) => ev.mul_scalar(t, Complex64::new(c, 0.0)),
            (Term::Zero, Factor::Ct(t)) => ev.mul_scalar(t, Complex64::new(0.0, 0.0)),
            (Term::Const(_) | Term::Zero, _) => Err(Error::InvalidInput(
                "constant polynomial has no ciphertext value".into(),
            )),
        }
    }
}

/// What every coefficient is multiplied by.
enum Factor<'a, C> {
    One,
    Mask(&'a [Complex64]),
    Ct(&'a C),
}

enum Term<C> {
    Zero,
    Const(f64),
    Ct(C),
}

fn masked(mask: &[Complex64], c: f64) -> Vec<Complex64> {
    mask.iter().map(|v| v * c).collect()
}

/// `c · factor · x`.
fn scale<E: SlotEvaluator>(ev: &E, x: &E::Ct, c: f64, factor: &Factor<'_, E::Ct>) -> Result<E::Ct> {
    match factor {
        Factor::One => ev.mul_scalar(x, Complex64::new(c, 0.0)),
        Factor::Mask(m) => ev.mul_const(x, &masked(m, c)),
        Factor::Ct(t) => ev.mul(x, &ev.mul_scalar(t, Complex64::new(c, 0.0))?),
    }
}

/// `x + c · factor`.
fn add_constant<E: SlotEvaluator>(
    ev: &E,
    x: &E::Ct,
    c: f64,
    factor: &Factor<'_, E::Ct>,
) -> Result<E::Ct> {
    if c == 0.0 {
        return Ok(x.clone());
    }
    match factor {
        Factor::One => ev.add_scalar(x, Complex64::new(c, 0.0)),
        Factor::Mask(m) => ev.add_const(x, &masked(m, c)),
        Factor::Ct(t) => ev.add(x, &ev.mul_scalar(t, Complex64::new(c, 0.0))?),
    }
}

/// Chebyshev coefficients `a_j` of the degree-`degree` interpolant of `f` at the Chebyshev nodes
/// of `[-1, 1]`.
fn chebyshev_coefficients(f: impl Fn(f64) -> f64, degree: usize) -> Vec<f64> {
    let n = degree + 1;
    let values: Vec<f64> = (0..n)
        .map(|k| f((std::f64::consts::PI * (k as f64 + 0.5) / n as f64).cos()))
        .collect();
    // a_j = (2/n) Σ f(t_k) T_j(t_k) (a_0 halved).
    (0..n)
        .map(|j| {
            let s: f64 = (0..n)
                .map(|k| {
                    values[k]
                        * (std::f64::consts::PI * j as f64 * (k as f64 + 0.5) / n as f64).cos()
                })
                .sum();
            let a = 2.0 * s / n as f64;
            if j == 0 { a / 2.0 } else { a }
        })
        .collect()
}

/// Monomial coefficients of `Σ a_j T_j(t)` (`T_{j+1} = 2t T_j − T_{j−1}`).
fn chebyshev_to_monomial(cheb: &[f64]) -> Vec<f64> {
    let n = cheb.len();
    let mut out = vec![0.0; n];
    let mut prev = vec![0.0; n];
    let mut cur = vec![0.0; n];
    prev[0] = 1.0;
    if n > 1 {
        cur[1] = 1.0;
    }
    for (j, &a) in cheb.iter().enumerate() {
        let t_j = if j == 0 { &prev } else { &cur };
        for (o, c) in out.iter_mut().zip(t_j) {
            *o += a * c;
        }
        if j >= 1 && j + 1 < n {
            let mut next = vec![0.0; n];
            for i in 0..n - 1 {
                next[i + 1] += 2.0 * cur[i];
            }
            for (x, p) in next.iter_mut().zip(&prev) {
                *x -= p;
            }
            prev = std::mem::replace(&mut cur, next);
        }
    }
    out
}

/// Splits Chebyshev coefficients at `half` (a power of two with `coeffs.len() ≤ 2·half`):
/// `Σ cₖTₖ = lo + T_half · hi`, from `T_(half+i) = 2·T_half·T_i − T_(half−i)`.
fn chebyshev_split(coeffs: &[f64], half: usize) -> (Vec<f64>, Vec<f64>) {
    let mut lo = coeffs[..half].to_vec();
    let mut hi = vec![0.0; coeffs.len() - half];
    for (i, &c) in coeffs[half..].iter().enumerate() {
        if i == 0 {
            hi[0] = c;
        } else {
            hi[i] = 2.0 * c;
            lo[half - i] -= c;
        }
    }
    (lo, hi)
}

/// `powers[j] = x^(2^j)` (or `T_(2^j)(x)`); `coeffs.len() ≤ 2^powers.len()`. A
/// `Term::Const(c)` stands for `c · factor`.
fn eval_rec<E: SlotEvaluator>(
    ev: &E,
    powers: &[E::Ct],
    coeffs: &[f64],
    basis: Basis,
    factor: &Factor<'_, E::Ct>,
) -> Result<Term<E::Ct>> {
    if coeffs.iter().all(|&c| c == 0.0) {
        return Ok(Term::Zero);
    }
    if coeffs.len() == 1 {
        return Ok(Term::Const(coeffs[0]));
    }
    if coeffs.len() == 2 {
        if coeffs[1] == 0.0 {
            return Ok(Term::Const(coeffs[0]));
        }
        let lin = scale(ev, &powers[0], coeffs[1], factor)?;
        return Ok(Term::Ct(add_constant(ev, &lin, coeffs[0], factor)?));
    }
    let d = (usize::BITS - (coeffs.len() - 1).leading_zeros()) as usize;
    let half = 1usize << (d - 1);
    let giant = powers
        .get(d - 1)
        .ok_or_else(|| Error::InvalidInput("missing power".into()))?;
    let (lo, hi) = match basis {
        Basis::Monomial => (coeffs[..half].to_vec(), coeffs[half..].to_vec()),
        Basis::Chebyshev => chebyshev_split(coeffs, half),
    };
    let lo = eval_rec(ev, powers, &lo, basis, factor)?;
    let hi = match eval_rec(ev, powers, &hi, basis, factor)? {
        Term::Zero => Term::Zero,
        Term::Const(c) => Term::Ct(scale(ev, giant, c, factor)?),
        Term::Ct(h) => Term::Ct(ev.mul(giant, &h)?),
    };
    Ok(match (lo, hi) {
        (lo, Term::Zero) => lo,
        (Term::Zero, hi) => hi,
        (Term::Const(c), Term::Ct(h)) => Term::Ct(add_constant(ev, &h, c, factor)?),
        (Term::Ct(l), Term::Ct(h)) => Term::Ct(ev.add(&l, &h)?),
        (Term::Ct(l), Term::Const(c)) => Term::Ct(add_constant(ev, &l, c, factor)?),
        (Term::Const(a), Term::Const(b)) => Term::Const(a + b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator, SlotCodec};

    fn sim() -> Simulator {
        Simulator::new(SimConfig {
            max_level: 30,
            bootstrap_level: 30,
            ..SimConfig::with_slots(16)
        })
        .unwrap()
    }

    #[test]
    fn ciphertext_evaluation_matches_horner_at_optimal_depth() {
        let ev = sim();
        let xs: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(i as f64 / 8.0 - 1.0, 0.0))
            .collect();
        let x = ev.encrypt(&xs).unwrap();
        for coeffs in [
            vec![0.5, -1.0, 0.25],
            vec![
                0.0,
                35.0 / 16.0,
                0.0,
                -35.0 / 16.0,
                0.0,
                21.0 / 16.0,
                0.0,
                -5.0 / 16.0,
            ],
            vec![
                1.0,
                1.0,
                0.5,
                1.0 / 6.0,
                1.0 / 24.0,
                1.0 / 120.0,
                1.0 / 720.0,
                1.0 / 5040.0,
                1.0 / 40320.0,
            ],
            vec![
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0,
            ],
        ] {
            let p = Poly::new(coeffs);
            let y = ev.decrypt(&p.eval_ct(&ev, &x, None).unwrap()).unwrap();
            let out = p.eval_ct(&ev, &x, None).unwrap();
            assert_eq!(
                ev.level(&x) - ev.level(&out),
                p.depth(),
                "degree {}",
                p.degree()
            );
            for (xi, yi) in xs.iter().zip(&y) {
                assert!((p.eval(xi.re) - yi.re).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn mask_is_folded_without_extra_level() {
        let ev = sim();
        let xs: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(i as f64 / 16.0, 0.0))
            .collect();
        let mask: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new((i % 2) as f64, 0.0))
            .collect();
        let x = ev.encrypt(&xs).unwrap();
        let p = Poly::new(vec![1.0, 2.0, 3.0, 4.0]);
        let out = p.eval_ct(&ev, &x, Some(&mask)).unwrap();
        assert_eq!(ev.level(&x) - ev.level(&out), 2);
        for (i, v) in ev.decrypt(&out).unwrap().iter().enumerate() {
            assert!((v.re - p.eval(xs[i].re) * (i % 2) as f64).abs() < 1e-12);
        }
    }

    #[test]
    fn ciphertext_factor_costs_no_level_when_it_is_higher() {
        let ev = sim();
        let xs: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(i as f64 / 8.0 - 1.0, 0.0))
            .collect();
        let ts: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(0.5 - i as f64 / 20.0, 0.0))
            .collect();
        let x = ev.encrypt_at(&xs, 20).unwrap();
        let t = ev.encrypt_at(&ts, 21).unwrap();
        let p = Poly::new(CMP_LIKE.to_vec());
        let out = p.eval_ct_times(&ev, &x, &t).unwrap();
        assert_eq!(ev.level(&out), 20 - p.depth());
        for ((xi, ti), yi) in xs.iter().zip(&ts).zip(ev.decrypt(&out).unwrap()) {
            assert!((ti.re * p.eval(xi.re) - yi.re).abs() < 1e-12);
        }
        // A constant term is scaled by t too.
        let q = Poly::new(vec![0.25, 1.0, 0.0, -0.5]);
        let out = q.eval_ct_times(&ev, &x, &t).unwrap();
        for ((xi, ti), yi) in xs.iter().zip(&ts).zip(ev.decrypt(&out).unwrap()) {
            assert!((ti.re * q.eval(xi.re) - yi.re).abs() < 1e-12);
        }
    }

    const CMP_LIKE: [f64; 8] = [0.0, 2.1875, 0.0, -2.1875, 0.0, 1.3125, 0.0, -0.3125];

    #[test]
    fn chebyshev_basis_matches_clenshaw_and_its_monomial_form_at_optimal_depth() {
        let ev = sim();
        let xs: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(i as f64 / 7.5 - 1.0, 0.0))
            .collect();
        let x = ev.encrypt_at(&xs, 20).unwrap();
        let ts: Vec<Complex64> = (0..16)
            .map(|i| Complex64::new(0.3 + i as f64 / 40.0, 0.0))
            .collect();
        // One level above x: the factor costs no level of its own.
        let t = ev.encrypt_at(&ts, 21).unwrap();
        // A dense degree-13 series, an odd degree-31 one and a lone T_16 (the inverse start's
        // residual shape).
        let dense: Vec<f64> = (0..14).map(|k| 1.0 / (k as f64 + 1.0)).collect();
        let odd: Vec<f64> = (0..32)
            .map(|k| {
                if k % 2 == 1 {
                    (-0.9f64).powi(k) / k as f64
                } else {
                    0.0
                }
            })
            .collect();
        let mut lone = vec![0.0; 17];
        lone[16] = 0.5;
        for coeffs in [dense, odd, lone] {
            let p = Poly::chebyshev(coeffs);
            let mono = p.to_monomial();
            let out = p.eval_ct(&ev, &x, None).unwrap();
            assert_eq!(
                ev.level(&x) - ev.level(&out),
                p.depth(),
                "degree {}",
                p.degree()
            );
            let times = p.eval_ct_times(&ev, &x, &t).unwrap();
            assert_eq!(ev.level(&x) - ev.level(&times), p.depth());
            let y = ev.decrypt(&out).unwrap();
            let yt = ev.decrypt(&times).unwrap();
            for i in 0..16 {
                let v = xs[i].re;
                // T_k(cos θ) = cos kθ: an independent reference.
                let direct: f64 = p
                    .coeffs()
                    .iter()
                    .enumerate()
                    .map(|(k, c)| c * (k as f64 * v.clamp(-1.0, 1.0).acos()).cos())
                    .sum();
                assert!((p.eval(v) - direct).abs() < 1e-12);
                // The monomial form is exact up to rounding, which grows with its coefficients
                // (why high degrees stay in the Chebyshev basis).
                let rounding = 1e-14 * mono.coeffs().iter().map(|c| c.abs()).sum::<f64>();
                assert!((mono.eval(v) - direct).abs() < 1e-12 + rounding);
                assert!((y[i].re - direct).abs() < 1e-12);
                assert!((yt[i].re - ts[i].re * direct).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn chebyshev_interpolant_of_exp_is_accurate() {
        let p = Poly::chebyshev_interpolant(f64::exp, 7);
        let worst = (0..=1000)
            .map(|i| {
                let t = -1.0 + i as f64 / 500.0;
                ((p.eval(t) - t.exp()) / t.exp()).abs()
            })
            .fold(0.0, f64::max);
        // Chebyshev bound for degree 7: e / (2^7 · 8!) ≈ 5.3e-7.
        assert!(worst < 6e-7, "{worst}");
        assert_eq!(p.input_scaled(2.0).eval(0.25), p.eval(0.5));
    }
}
