//! Linear combinations of ciphertexts with real constants in one lazy pass.

use super::Evaluator;
use crate::crypto::Ciphertext;
use crate::error::{Error, Result};
use crate::math::poly::{Form, RnsPoly, for_each_limb, reduce_rounded_f64};

/// Products per 128-bit accumulator before a reduction (each product is below 2^124).
const LAZY_TERMS: usize = 15;

impl Evaluator {
    /// `Σ_k values[k] · cts[k]` at scale `result_scale`: each constant is encoded as the
    /// integer `round(value_k · result_scale / scale(ct_k))`, so every product lands on
    /// `result_scale` (no level is consumed). One pass per limb with 128-bit lazy accumulation,
    /// instead of one multiplication and one addition (and their buffers) per term.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for no terms, a non-finite value or scale, or operands with
    /// different slot counts; [`Error::Level`] for operands at different levels; the usual
    /// ciphertext checks.
    pub fn linear_combination(
        &self,
        terms: &[(&Ciphertext, f64)],
        result_scale: f64,
    ) -> Result<Ciphertext> {
        let Some(&(first, _)) = terms.first() else {
            return Err(Error::InvalidInput(
                "a linear combination needs a term".into(),
            ));
        };
        if let Some(&(ct, _)) = terms.iter().find(|(ct, _)| ct.level() != first.level()) {
            return Err(Error::Level(format!(
                "linear combination of levels {} and {}",
                first.level(),
                ct.level()
            )));
        }
        self.linear_combination_at(terms, first.level(), 0.0, result_scale)
    }

    /// `Σ_k values[k] · cts[k] + constant` at `level` and scale `result_scale`, as
    /// [`Evaluator::linear_combination`], for operands at `level` or above: each is read on
    /// its first `level + 1` limbs (what dropping it to `level` would keep), so callers that
    /// combine powers from several levels copy nothing. The real `constant` is added at the
    /// result's scale in the same pass (a constant is the same residue in every NTT slot).
    ///
    /// # Errors
    /// As [`Evaluator::linear_combination`], and [`Error::Level`] for an operand below `level`
    /// or a non-finite constant.
    pub fn linear_combination_at(
        &self,
        terms: &[(&Ciphertext, f64)],
        level: usize,
        constant: f64,
        result_scale: f64,
    ) -> Result<Ciphertext> {
        let Some(&(first, _)) = terms.first() else {
            return Err(Error::InvalidInput(
                "a linear combination needs a term".into(),
            ));
        };
        if !(result_scale.is_finite() && result_scale > 0.0 && constant.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "result scale {result_scale} or constant {constant} is not finite (scale > 0)"
            )));
        }
        for &(ct, value) in terms {
            self.check(ct)?;
            Self::check_slots(first.slots, ct.slots)?;
            if ct.level() < level {
                return Err(Error::Level(format!(
                    "linear combination at level {level} of an operand at level {}",
                    ct.level()
                )));
            }
            if !(value.is_finite() && ct.scale.is_finite() && ct.scale > 0.0) {
                return Err(Error::InvalidInput(format!(
                    "constant {value} for a ciphertext of scale {}",
                    ct.scale
                )));
            }
        }
        let ring = self.ctx.ring();
        let (n, nq) = (self.ctx.n(), level + 1);
        // constants[i][k]: the integer of term k modulo q_i.
        let constants: Vec<Vec<u64>> = (0..nq)
            .map(|i| {
                let m = ring.modulus(i, nq);
                terms
                    .iter()
                    .map(|&(ct, v)| reduce_rounded_f64(m, v * result_scale / ct.scale))
                    .collect()
            })
            .collect();
        // The constant's residue per limb (added to c0 only).
        let offsets: Vec<u64> = (0..nq)
            .map(|i| reduce_rounded_f64(ring.modulus(i, nq), constant * result_scale))
            .collect();
        let combine = |pick: fn(&Ciphertext) -> &RnsPoly, offsets: Option<&[u64]>| {
            let mut out = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
            for_each_limb(out.data_mut(), n, |i, out| {
                let m = ring.modulus(i, nq);
                let offset = offsets.map_or(0, |o| o[i]);
                let limbs: Vec<(&[u64], u64)> = terms
                    .iter()
                    .zip(&constants[i])
                    .map(|(&(ct, _), &w)| (pick(ct).limb(i), w))
                    .collect();
                for (start, chunk) in limbs.chunks(LAZY_TERMS).enumerate() {
                    for (c, o) in out.iter_mut().enumerate() {
                        let mut acc: u128 = if start == 0 { 0 } else { *o as u128 };
                        for &(x, w) in chunk {
                            acc += x[c] as u128 * w as u128;
                        }
                        *o = m.reduce_u128(acc);
                    }
                }
                if offset != 0 {
                    for o in out.iter_mut() {
                        *o = m.add(*o, offset);
                    }
                }
            });
            out
        };
        Ok(Ciphertext {
            c0: combine(|ct| &ct.c0, Some(&offsets)),
            c1: combine(|ct| &ct.c1, None),
            scale: result_scale,
            slots: first.slots,
            context_id: first.context_id,
            seed: None,
        })
    }
}
