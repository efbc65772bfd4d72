//! Additions, negation, and products by constants (no key needed).

use super::{Evaluator, scales_match};
use crate::crypto::{Ciphertext, Plaintext};
use crate::error::{Error, Result};
use crate::math::poly::{RnsPoly, for_each_limb, reduce_rounded_f64};
use num_complex::Complex64;
use std::borrow::Cow;

impl Evaluator {
    /// Both operands at a common level and scale, following the module's alignment rule.
    fn add_aligned<'a>(
        &self,
        a: &'a Ciphertext,
        b: &'a Ciphertext,
    ) -> Result<(Cow<'a, Ciphertext>, Cow<'a, Ciphertext>)> {
        self.check(a)?;
        self.check(b)?;
        Self::check_slots(a.slots, b.slots)?;
        if scales_match(a.scale, b.scale) {
            return self.level_aligned(a, b);
        }
        match a.level().cmp(&b.level()) {
            std::cmp::Ordering::Equal => Err(Error::ScaleMismatch {
                left: a.scale,
                right: b.scale,
            }),
            std::cmp::Ordering::Greater => {
                let adjusted = self.bring_to_scale(a, b.level(), b.scale, a.scale, b.scale)?;
                Ok((Cow::Owned(adjusted), Cow::Borrowed(b)))
            }
            std::cmp::Ordering::Less => {
                let adjusted = self.bring_to_scale(b, a.level(), a.scale, a.scale, b.scale)?;
                Ok((Cow::Borrowed(a), Cow::Owned(adjusted)))
            }
        }
    }

    /// Brings `ct` (above `level`) to `level` with scale `target`: drop to `level + 1`, multiply
    /// by `round(target · q_{level+1} / Δ)`, rescale.
    fn bring_to_scale(
        &self,
        ct: &Ciphertext,
        level: usize,
        target: f64,
        left: f64,
        right: f64,
    ) -> Result<Ciphertext> {
        let mismatch = Error::ScaleMismatch { left, right };
        let mut c = self.drop_to_level(ct, level + 1)?;
        let q = self.ctx.q(level + 1) as f64;
        let factor = (target * q / c.scale).round();
        if !(factor.is_finite() && factor >= 1.0 && factor < q) {
            return Err(mismatch);
        }
        self.mul_const_with_scale_inplace(&mut c, Complex64::new(1.0, 0.0), factor)?;
        self.rescale_inplace(&mut c)?;
        if !scales_match(c.scale, target) {
            return Err(mismatch);
        }
        c.scale = target;
        Ok(c)
    }

    /// `a + b` (operands aligned per the module's rule).
    pub fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let (a, b) = self.add_aligned(a, b)?;
        let mut out = a.into_owned();
        out.c0.add_assign(self.ctx.ring(), &b.c0);
        out.c1.add_assign(self.ctx.ring(), &b.c1);
        out.seed = None;
        Ok(out)
    }

    /// `a += b`.
    pub fn add_inplace(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        if a.level() == b.level() && scales_match(a.scale, b.scale) {
            self.check(a)?;
            self.check(b)?;
            Self::check_slots(a.slots, b.slots)?;
            a.c0.add_assign(self.ctx.ring(), &b.c0);
            a.c1.add_assign(self.ctx.ring(), &b.c1);
            a.seed = None;
            return Ok(());
        }
        *a = self.add(a, b)?;
        Ok(())
    }

    /// `a - b` (operands aligned per the module's rule).
    pub fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let (a, b) = self.add_aligned(a, b)?;
        let mut out = a.into_owned();
        out.c0.sub_assign(self.ctx.ring(), &b.c0);
        out.c1.sub_assign(self.ctx.ring(), &b.c1);
        out.seed = None;
        Ok(out)
    }

    /// `a -= b`.
    pub fn sub_inplace(&self, a: &mut Ciphertext, b: &Ciphertext) -> Result<()> {
        *a = self.sub(a, b)?;
        Ok(())
    }

    /// `-a`.
    pub fn neg(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.check(a)?;
        let mut out = a.clone();
        out.c0.neg_assign(self.ctx.ring());
        out.c1.neg_assign(self.ctx.ring());
        out.seed = None;
        Ok(out)
    }

    /// The plaintext at the ciphertext's level (dropping whichever is higher) after checking
    /// the scales agree.
    fn plain_for_add<'a>(
        &self,
        ct: &'a Ciphertext,
        pt: &Plaintext,
    ) -> Result<(Cow<'a, Ciphertext>, RnsPoly)> {
        self.check(ct)?;
        self.check_plain(pt)?;
        Self::check_slots(ct.slots, pt.slots)?;
        if !scales_match(ct.scale, pt.scale) {
            return Err(Error::ScaleMismatch {
                left: ct.scale,
                right: pt.scale,
            });
        }
        let l = ct.level().min(pt.level());
        let ct = if ct.level() > l {
            Cow::Owned(self.drop_to_level(ct, l)?)
        } else {
            Cow::Borrowed(ct)
        };
        Ok((ct, self.plain_at_level(pt, l)))
    }

    /// `ct + pt` (scales must match; levels aligned by dropping).
    pub fn add_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        let (ct, m) = self.plain_for_add(ct, pt)?;
        let mut out = ct.into_owned();
        out.c0.add_assign(self.ctx.ring(), &m);
        Ok(out)
    }

    /// `ct - pt` (scales must match; levels aligned by dropping).
    pub fn sub_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        let (ct, m) = self.plain_for_add(ct, pt)?;
        let mut out = ct.into_owned();
        out.c0.sub_assign(self.ctx.ring(), &m);
        Ok(out)
    }

    /// Per limb, the NTT values of `round(re) + round(im)·X^(N/2)` are `r ± i·I`; returns
    /// `(r mod q, i·I mod q)` per limb so that index `j` gets `r + sign_j·iI`.
    fn constant_parts(&self, num_q: usize, re: f64, im: f64) -> Vec<(u64, u64)> {
        let ring = self.ctx.ring();
        (0..num_q)
            .map(|i| {
                let m = ring.modulus(i, num_q);
                let r = reduce_rounded_f64(m, re);
                let iv = reduce_rounded_f64(m, im);
                (r, m.mul(iv, self.ctx.imaginary_unit(i, num_q)))
            })
            .collect()
    }

    /// Adds the constant `c` to every slot (encoded at the ciphertext's scale; no level used).
    pub fn add_const(&self, ct: &Ciphertext, c: Complex64) -> Result<Ciphertext> {
        self.check(ct)?;
        if !(c.re.is_finite() && c.im.is_finite()) {
            return Err(Error::InvalidInput(format!("constant {c} is not finite")));
        }
        let mut out = ct.clone();
        let nq = out.c0.num_q();
        let parts = self.constant_parts(nq, c.re * ct.scale, c.im * ct.scale);
        let signs = self.ctx.half_monomial_signs();
        let ring = self.ctx.ring();
        let n = self.ctx.n();
        for_each_limb(out.c0.data_mut(), n, |i, limb| {
            let m = ring.modulus(i, nq);
            let (r, ii) = parts[i];
            let (plus, minus) = (m.add(r, ii), m.sub(r, ii));
            for (v, &s) in limb.iter_mut().zip(signs) {
                *v = m.add(*v, if s { plus } else { minus });
            }
        });
        Ok(out)
    }

    /// Multiplies by the constant `c` encoded at `const_scale` (the integer polynomial
    /// `round(c.re·const_scale) + round(c.im·const_scale)·X^(N/2)`): the scale is multiplied by
    /// `const_scale`, no level is consumed.
    pub fn mul_const_with_scale(
        &self,
        ct: &Ciphertext,
        c: Complex64,
        const_scale: f64,
    ) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.mul_const_with_scale_inplace(&mut out, c, const_scale)?;
        Ok(out)
    }

    /// In-place [`Evaluator::mul_const_with_scale`].
    pub fn mul_const_with_scale_inplace(
        &self,
        ct: &mut Ciphertext,
        c: Complex64,
        const_scale: f64,
    ) -> Result<()> {
        self.check(ct)?;
        if !(c.re.is_finite() && c.im.is_finite() && const_scale.is_finite() && const_scale > 0.0) {
            return Err(Error::InvalidInput(format!(
                "constant {c} at scale {const_scale} is not finite and positive-scaled"
            )));
        }
        let nq = ct.c0.num_q();
        let parts = self.constant_parts(nq, c.re * const_scale, c.im * const_scale);
        let signs = self.ctx.half_monomial_signs();
        let ring = self.ctx.ring();
        let n = self.ctx.n();
        let apply = |poly: &mut RnsPoly| {
            for_each_limb(poly.data_mut(), n, |i, limb| {
                let m = ring.modulus(i, nq);
                let (r, ii) = parts[i];
                if ii == 0 {
                    let rs = m.shoup(r);
                    for v in limb.iter_mut() {
                        *v = m.mul_shoup(*v, r, rs);
                    }
                } else {
                    let (plus, minus) = (m.add(r, ii), m.sub(r, ii));
                    let (ps, ms) = (m.shoup(plus), m.shoup(minus));
                    for (v, &s) in limb.iter_mut().zip(signs) {
                        *v = if s {
                            m.mul_shoup(*v, plus, ps)
                        } else {
                            m.mul_shoup(*v, minus, ms)
                        };
                    }
                }
            });
        };
        apply(&mut ct.c0);
        apply(&mut ct.c1);
        ct.scale *= const_scale;
        ct.seed = None;
        Ok(())
    }

    /// Multiplies by the constant `c` and rescales, keeping the scale exactly: `c` is encoded
    /// at scale `q_level`, so `Δ·q_level / q_level = Δ`. Consumes one level ([`Error::Level`] at
    /// level 0).
    pub fn mul_const(&self, ct: &Ciphertext, c: Complex64) -> Result<Ciphertext> {
        self.check(ct)?;
        let l = ct.level();
        if l == 0 {
            return Err(Error::Level(
                "mul_const needs a level to rescale; the ciphertext is at level 0".into(),
            ));
        }
        let mut out = self.mul_const_with_scale(ct, c, self.ctx.q(l) as f64)?;
        self.rescale_inplace(&mut out)?;
        out.scale = ct.scale;
        Ok(out)
    }

    /// Multiplies by an integer (exact; no level, scale unchanged).
    pub fn mul_const_int(&self, ct: &Ciphertext, k: i64) -> Result<Ciphertext> {
        self.check(ct)?;
        let mut out = ct.clone();
        let nq = out.c0.num_q();
        let ring = self.ctx.ring();
        let scalars: Vec<u64> = (0..nq).map(|i| ring.modulus(i, nq).from_i64(k)).collect();
        out.c0.mul_scalar_per_limb(ring, &scalars);
        out.c1.mul_scalar_per_limb(ring, &scalars);
        out.seed = None;
        Ok(out)
    }
}
