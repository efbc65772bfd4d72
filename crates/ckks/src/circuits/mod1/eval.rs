//! Homomorphic EvalMod: scaled cosine, double angles, arcsine correction.

use std::f64::consts::PI;

use num_complex::Complex64;

use super::Mod1Poly;
use crate::circuits::backend::SlotBackend;
use crate::circuits::polynomial::eval::evaluate_chebyshev;
use crate::{Error, Result};

/// Evaluates [`Mod1Poly`] on `t`, a ciphertext holding `x/K` (so that `t ∈ [−1, 1]`): the
/// even cosine series at `t − 1/(4K)`, the double angles, then the arcsine or `1/2π`.
///
/// The input scale should be the prime its first rescale divides by (the scale then stays near
/// the primes through the squarings). The output holds `x − round(x)` (in units of q0); its
/// scale is whatever the squarings left, exactly tracked.
pub fn eval_mod<B: SlotBackend>(backend: &B, poly: &Mod1Poly, t: &B::Ct) -> Result<B::Ct> {
    let log_baby = poly.params().cosine_log_baby;
    let cos_depth =
        crate::circuits::polynomial::eval::chebyshev_depth(poly.cosine().coeffs(), log_baby)?;
    let level = backend.level(t);
    let out_level = level.checked_sub(cos_depth).ok_or_else(|| {
        Error::Level(format!(
            "EvalMod needs {cos_depth} levels for the cosine, input at level {level}"
        ))
    })?;
    // The cosine is an even series in y = x − 1/4, i.e. in t − 1/(4K) (a constant addition).
    let shift = -Mod1Poly::COSINE_SHIFT / poly.params().k;
    let y = backend.add_const(t, Complex64::new(shift, 0.0))?;
    // Target the cosine at the prime of the level its result will be squared and rescaled at.
    let mut c = evaluate_chebyshev(
        backend,
        &y,
        poly.cosine().coeffs(),
        backend.prime(out_level),
        log_baby,
    )?;
    for _ in 0..poly.params().double_angle {
        // cos(2θ) = 2 cos²θ − 1: (2c)·c relinearised and rescaled once, then the constant.
        let twice = backend.add(&c, &c)?;
        let sq = backend.mul_relin_rescale(&twice, &c, None)?;
        c = backend.add_const(&sq, Complex64::new(-1.0, 0.0))?;
    }
    match poly.arcsine() {
        Some(a) => {
            let target = backend.scale(&c);
            evaluate_chebyshev(backend, &c, a.coeffs(), target, None)
        }
        None => {
            let s = backend.scale(&c);
            backend.set_scale(&mut c, s * 2.0 * PI);
            Ok(c)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::mod1::Mod1Params;
    use crate::circuits::simulator::SlotSimulator;

    #[test]
    fn eval_mod_reduces_modulo_one() {
        let params = Mod1Params {
            k: 12.0,
            degree: 30,
            double_angle: 3,
            arcsine_degree: 3,
            log_message_ratio: 8.0,
            cosine_log_baby: Some(3),
        };
        let poly = Mod1Poly::new(params).unwrap();
        let depth = poly.depth().unwrap();
        let primes: Vec<f64> = (0..depth + 2)
            .map(|i| 2f64.powi(55) - (i as f64) * 2f64.powi(20) * 7.0 + 1.0)
            .collect();
        let sim = SlotSimulator::new(7, primes).unwrap();
        let m_max = params.message_bound();
        let xs: Vec<(f64, f64)> = (0..64)
            .map(|j| {
                let i = (j as i64 % 23) - 11;
                let m = m_max * ((j as f64 * 0.77).sin());
                (i as f64, m)
            })
            .collect();
        let t: Vec<Complex64> = xs
            .iter()
            .map(|(i, m)| Complex64::new((i + m) / params.k, 0.0))
            .collect();
        let top = sim.max_level();
        let ct = sim.encrypt(&t, top, sim.prime(top)).unwrap();
        let out = eval_mod(&sim, &poly, &ct).unwrap();
        assert_eq!(out.level, top - depth);
        let bound = poly.error_bound();
        for ((_, m), y) in xs.iter().zip(&out.values) {
            assert!((y.re - m).abs() <= bound, "{} vs {m}, bound {bound}", y.re);
        }
    }
}
