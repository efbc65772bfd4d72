//! Real polynomials in the monomial basis: plaintext evaluation, Chebyshev interpolation, and
//! depth-optimal evaluation on ciphertexts.
//!
//! The ciphertext evaluation splits `p = p_lo + x^(2^(D−1)) · p_hi` recursively (the power-of-two
//! baby-step/giant-step form of Paterson–Stockmeyer), so a degree-`d` polynomial costs exactly
//! `⌈log₂(d + 1)⌉` levels *including* its coefficients: each coefficient multiplies a leaf `x`
//! (one level, in parallel with the powers) instead of a finished power. Zero coefficients are
//! skipped, so odd polynomials need no special case. An optional mask vector is folded into the
//! coefficients (a leaf `c·x` becomes a CMult by `c·mask`), which masks the result for free.

use num_complex::Complex64;

use crate::eval::SlotEvaluator;
use crate::{Error, Result};

/// A real polynomial `Σ cₖ xᵏ`.
#[derive(Debug, Clone, PartialEq)]
pub struct Poly {
    coeffs: Vec<f64>,
}

impl Poly {
    /// From coefficients `[c₀, c₁, …]` (trailing zeros are dropped).
    pub fn new(mut coeffs: Vec<f64>) -> Self {
        while coeffs.len() > 1 && coeffs.last() == Some(&0.0) {
            coeffs.pop();
        }
        if coeffs.is_empty() {
            coeffs.push(0.0);
        }
        Self { coeffs }
    }

    /// Coefficients, lowest degree first.
    pub fn coeffs(&self) -> &[f64] {
        &self.coeffs
    }

    /// Degree (0 for constants).
    pub fn degree(&self) -> usize {
        self.coeffs.len() - 1
    }

    /// Levels the ciphertext evaluation consumes: `⌈log₂(degree + 1)⌉`.
    pub fn depth(&self) -> usize {
        (usize::BITS - self.degree().leading_zeros()) as usize
    }

    /// Horner evaluation.
    pub fn eval(&self, x: f64) -> f64 {
        self.coeffs.iter().rev().fold(0.0, |acc, &c| acc * x + c)
    }

    /// `α · p(x)`.
    pub fn scaled(&self, alpha: f64) -> Self {
        Self::new(self.coeffs.iter().map(|c| c * alpha).collect())
    }

    /// `p(x) + c`.
    pub fn shifted(&self, c: f64) -> Self {
        let mut coeffs = self.coeffs.clone();
        coeffs[0] += c;
        Self::new(coeffs)
    }

    /// `p(α·x)`: folds an input scaling into the coefficients.
    pub fn input_scaled(&self, alpha: f64) -> Self {
        let mut a = 1.0;
        Self::new(
            self.coeffs
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
        let n = degree + 1;
        let nodes: Vec<f64> = (0..n)
            .map(|k| (std::f64::consts::PI * (k as f64 + 0.5) / n as f64).cos())
            .collect();
        let values: Vec<f64> = nodes.iter().map(|&t| f(t)).collect();
        // Chebyshev coefficients a_j = (2/n) Σ f(t_k) T_j(t_k) (a_0 halved).
        let cheb: Vec<f64> = (0..n)
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
            .collect();
        // T_0 = 1, T_1 = t, T_{j+1} = 2t T_j − T_{j−1}, as monomial vectors.
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
        Self::new(out)
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
                .cloned()
                .ok_or_else(|| Error::InvalidInput("no power".into()))?;
            powers.push(ev.square(&last)?);
        }
        match (eval_rec(ev, &powers, &self.coeffs, factor)?, factor) {
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

/// `powers[j] = x^(2^j)`; `coeffs.len() ≤ 2^powers.len()`. A `Term::Const(c)` stands for
/// `c · factor`.
fn eval_rec<E: SlotEvaluator>(
    ev: &E,
    powers: &[E::Ct],
    coeffs: &[f64],
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
    let lo = eval_rec(ev, powers, &coeffs[..half], factor)?;
    let hi = match eval_rec(ev, powers, &coeffs[half..], factor)? {
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
