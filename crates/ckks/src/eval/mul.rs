//! Products, relinearization, rescaling and level management.

use super::Evaluator;
use crate::crypto::{Ciphertext, Ciphertext3, Plaintext};
use crate::error::{Error, Result};
use crate::keys::switching::{key_switch, key_switch_inner_products, mod_down_and_rescale};
use crate::math::poly::{Form, RnsPoly, for_each_limb, for_each_limb_pair, join};
use crate::math::pool;
use std::borrow::Cow;

impl Evaluator {
    /// Drops `ct` to `level` (exact; scale unchanged). [`Error::Level`] if `level` is above the
    /// ciphertext's level.
    pub fn drop_to_level(&self, ct: &Ciphertext, level: usize) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.drop_to_level_inplace(&mut out, level)?;
        Ok(out)
    }

    /// In-place [`Evaluator::drop_to_level`].
    pub fn drop_to_level_inplace(&self, ct: &mut Ciphertext, level: usize) -> Result<()> {
        self.check(ct)?;
        if level > ct.level() {
            return Err(Error::Level(format!(
                "cannot drop a level-{} ciphertext to the higher level {level}",
                ct.level()
            )));
        }
        if level < ct.level() {
            ct.c0.truncate_q(level + 1);
            ct.c1.truncate_q(level + 1);
            // The seed still describes the prefix of c1, but keep things simple: a dropped
            // ciphertext is no longer "fresh".
            ct.seed = None;
        }
        Ok(())
    }

    /// Both operands at the lower of their levels.
    pub(super) fn level_aligned<'a>(
        &self,
        a: &'a Ciphertext,
        b: &'a Ciphertext,
    ) -> Result<(Cow<'a, Ciphertext>, Cow<'a, Ciphertext>)> {
        self.check(a)?;
        self.check(b)?;
        Self::check_slots(a.slots, b.slots)?;
        let l = a.level().min(b.level());
        let a = if a.level() > l {
            Cow::Owned(self.drop_to_level(a, l)?)
        } else {
            Cow::Borrowed(a)
        };
        let b = if b.level() > l {
            Cow::Owned(self.drop_to_level(b, l)?)
        } else {
            Cow::Borrowed(b)
        };
        Ok((a, b))
    }

    /// Divides by `q_level` with rounding: the level drops by one and the scale is divided by
    /// `q_level`. [`Error::Level`] at level 0.
    pub fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check(ct)?;
        let l = ct.level();
        if l == 0 {
            return Err(Error::Level(
                "cannot rescale a level-0 ciphertext: no prime left to divide by".into(),
            ));
        }
        let (c0, c1) = self.rescale_pair(&ct.c0, &ct.c1);
        Ok(Ciphertext {
            c0,
            c1,
            scale: ct.scale / self.ctx.q(l) as f64,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        })
    }

    /// In-place [`Evaluator::rescale`] (the result is written into fresh pooled buffers and
    /// replaces `ct`, which costs no more than dividing in place).
    pub fn rescale_inplace(&self, ct: &mut Ciphertext) -> Result<()> {
        *ct = self.rescale(ct)?;
        Ok(())
    }

    /// Divides two NTT-form polynomials over `q_0..q_l` (`l ≥ 1`) by `q_l` with rounding, in
    /// one pass over the output limbs: each output limb's correction is transformed in the
    /// output buffer itself and combined there with the input limb (no copy of the input).
    fn rescale_pair(&self, x0: &RnsPoly, x1: &RnsPoly) -> (RnsPoly, RnsPoly) {
        let ring = self.ctx.ring();
        let n = self.ctx.n();
        let l = x0.num_q() - 1;
        debug_assert_eq!(x1.num_q(), l + 1);
        let rc = self.ctx.rescale_constants(l);
        let last_table = &ring.q_tables()[l];
        let last_mod = *last_table.modulus();
        // [x]_{q_l} + floor(q_l/2) in coefficient form, so that truncation rounds. The inverse
        // NTT leaves out N^{-1}, applied in the same pass as the addition.
        let (n_inv, n_inv_shoup) = (last_table.n_inv(), last_mod.shoup(last_table.n_inv()));
        let lifted = |x: &RnsPoly| {
            let mut last = pool::take_empty(n);
            last.extend_from_slice(x.limb(l));
            last_table.inverse_unnormalized(&mut last);
            for v in last.iter_mut() {
                *v = last_mod.add(last_mod.mul_shoup(*v, n_inv, n_inv_shoup), rc.half_last);
            }
            last
        };
        let (last0, last1) = join(n, || lifted(x0), || lifted(x1));
        let mut y0 = RnsPoly::for_overwrite(n, l, 0, Form::Ntt);
        let mut y1 = RnsPoly::for_overwrite(n, l, 0, Form::Ntt);
        for_each_limb_pair(y0.data_mut(), y1.data_mut(), n, |i, o0, o1| {
            let table = &ring.q_tables()[i];
            let m = table.modulus();
            let (h, (w, ws)) = (rc.half_last_mod[i], rc.inv_last[i]);
            for (last, x, out) in [(&last0, x0.limb(i), o0), (&last1, x1.limb(i), o1)] {
                for (o, &v) in out.iter_mut().zip(last.iter()) {
                    *o = m.sub(m.reduce(v), h);
                }
                table.forward(out);
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = m.mul_shoup(m.sub(v, *o), w, ws);
                }
            }
        });
        pool::give(last0);
        pool::give(last1);
        (y0, y1)
    }

    /// The tensor product `(a0·b0, a0·b1 + a1·b0, a1·b1)` without relinearization. Levels are
    /// aligned by dropping; the scale is the product of the scales.
    pub fn mul_no_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext3> {
        let (a, b) = self.level_aligned(a, b)?;
        let ring = self.ctx.ring();
        let (n, nq) = (self.ctx.n(), a.c0.num_q());
        let mut d0 = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        let mut d1 = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        let mut d2 = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        let (a0, a1, b0, b1) = (a.c0.data(), a.c1.data(), b.c0.data(), b.c1.data());
        let work = |i: usize, o0: &mut [u64], o1: &mut [u64], o2: &mut [u64]| {
            let m = ring.modulus(i, nq);
            let r = i * n..(i + 1) * n;
            let (x0, x1, y0, y1) = (&a0[r.clone()], &a1[r.clone()], &b0[r.clone()], &b1[r]);
            for c in 0..n {
                o0[c] = m.mul(x0[c], y0[c]);
                o1[c] =
                    m.reduce_u128(x0[c] as u128 * y1[c] as u128 + x1[c] as u128 * y0[c] as u128);
                o2[c] = m.mul(x1[c], y1[c]);
            }
        };
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            d0.data_mut()
                .par_chunks_exact_mut(n)
                .zip(d1.data_mut().par_chunks_exact_mut(n))
                .zip(d2.data_mut().par_chunks_exact_mut(n))
                .enumerate()
                .for_each(|(i, ((o0, o1), o2))| work(i, o0, o1, o2));
        }
        #[cfg(not(feature = "parallel"))]
        d0.data_mut()
            .chunks_exact_mut(n)
            .zip(d1.data_mut().chunks_exact_mut(n))
            .zip(d2.data_mut().chunks_exact_mut(n))
            .enumerate()
            .for_each(|(i, ((o0, o1), o2))| work(i, o0, o1, o2));
        Ok(Ciphertext3 {
            d0,
            d1,
            d2,
            scale: a.scale * b.scale,
            slots: a.slots,
            context_id: a.context_id,
        })
    }

    /// Relinearizes a three-component product with the relinearization key.
    pub fn relinearize(&self, ct: &Ciphertext3) -> Result<Ciphertext> {
        if ct.context_id != self.ctx.id() {
            return Err(Error::ParameterMismatch(
                "ciphertext belongs to another context".into(),
            ));
        }
        let key = self.relin_key()?;
        let ring = self.ctx.ring();
        let (k0, k1) = key_switch(&self.ctx, &ct.d2, &key.key);
        let mut c0 = ct.d0.clone();
        let mut c1 = ct.d1.clone();
        c0.add_assign(ring, &k0);
        c1.add_assign(ring, &k1);
        Ok(Ciphertext {
            c0,
            c1,
            scale: ct.scale,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        })
    }

    /// `a · b` with relinearization, no rescale (scales multiply).
    pub fn mul(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.relinearize(&self.mul_no_relin(a, b)?)
    }

    /// `a²` with relinearization, no rescale.
    pub fn square(&self, a: &Ciphertext) -> Result<Ciphertext> {
        self.mul(a, a)
    }

    /// `a · b`, relinearized and rescaled once. The key switch's division by P and the
    /// rescale's division by `q_l` are done as one exact rounded division by `q_l·P`, which
    /// saves the NTTs of a separate rescale. [`Error::Level`] at level 0.
    pub fn mul_and_rescale(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        let (a, b) = self.level_aligned(a, b)?;
        self.sum_of_products_and_rescale(&[(&a, &b)], None)
    }

    /// The relinearization key of this evaluator, or [`Error::MissingRelinKey`].
    pub(crate) fn relin_key(&self) -> Result<&crate::keys::RelinearizationKey> {
        self.keys
            .as_ref()
            .and_then(|k| k.relin.as_ref())
            .ok_or(Error::MissingRelinKey)
    }

    /// Relinearizes a three-component product and rescales it once, with the key switch's
    /// division by P and the rescale's division by `q_l` done as one exact rounded division by
    /// `q_l·P` (see [`Evaluator::mul_and_rescale`]). [`Error::Level`] at level 0,
    /// [`Error::MissingRelinKey`] without the key.
    pub fn relinearize_and_rescale(&self, t: &Ciphertext3) -> Result<Ciphertext> {
        if t.context_id != self.ctx.id() {
            return Err(Error::ParameterMismatch(
                "ciphertext belongs to another context".into(),
            ));
        }
        let l = t.level();
        if l == 0 {
            return Err(Error::Level(
                "cannot rescale a level-0 product: no prime left to divide by".into(),
            ));
        }
        let key = self.relin_key()?;
        let (mut acc0, mut acc1) = key_switch_inner_products(&self.ctx, &t.d2, &key.key);
        // acc += P·d on the q-limbs (P ≡ 0 on the p-limbs).
        let ring = self.ctx.ring();
        let n = self.ctx.n();
        let nq = l + 1;
        let lift = |acc: &mut RnsPoly, d: &RnsPoly| {
            for_each_limb(&mut acc.data_mut()[..nq * n], n, |i, limb| {
                let m = ring.modulus(i, nq);
                let pq = self.ctx.p_mod_q(i);
                let pqs = m.shoup(pq);
                for (x, &y) in limb.iter_mut().zip(d.limb(i)) {
                    *x = m.add(*x, m.mul_shoup(y, pq, pqs));
                }
            });
        };
        lift(&mut acc0, &t.d0);
        lift(&mut acc1, &t.d1);
        let (c0, c1) = join(
            n,
            || mod_down_and_rescale(&self.ctx, acc0),
            || mod_down_and_rescale(&self.ctx, acc1),
        );
        Ok(Ciphertext {
            c0,
            c1,
            scale: t.scale / self.ctx.q(l) as f64,
            slots: t.slots,
            context_id: t.context_id,
            seed: None,
        })
    }

    /// Sum of two three-component products (lazy relinearization: add, then relinearize once).
    pub fn add3(&self, a: &Ciphertext3, b: &Ciphertext3) -> Result<Ciphertext3> {
        if a.context_id != self.ctx.id() || b.context_id != self.ctx.id() {
            return Err(Error::ParameterMismatch(
                "ciphertext belongs to another context".into(),
            ));
        }
        Self::check_slots(a.slots, b.slots)?;
        if a.level() != b.level() {
            return Err(Error::Level(format!(
                "three-component products at levels {} and {} must be aligned before adding",
                a.level(),
                b.level()
            )));
        }
        if !super::scales_match(a.scale, b.scale) {
            return Err(Error::ScaleMismatch {
                left: a.scale,
                right: b.scale,
            });
        }
        let ring = self.ctx.ring();
        let mut out = a.clone();
        out.d0.add_assign(ring, &b.d0);
        out.d1.add_assign(ring, &b.d1);
        out.d2.add_assign(ring, &b.d2);
        Ok(out)
    }

    /// `ct · pt` (no rescale; scales multiply). Levels are aligned by dropping.
    pub fn mul_plain(&self, ct: &Ciphertext, pt: &Plaintext) -> Result<Ciphertext> {
        let mut out = ct.clone();
        self.mul_plain_inplace(&mut out, pt)?;
        Ok(out)
    }

    /// In-place [`Evaluator::mul_plain`].
    pub fn mul_plain_inplace(&self, ct: &mut Ciphertext, pt: &Plaintext) -> Result<()> {
        self.check(ct)?;
        self.check_plain(pt)?;
        Self::check_slots(ct.slots, pt.slots)?;
        let l = ct.level().min(pt.level());
        self.drop_to_level_inplace(ct, l)?;
        let m = self.plain_at_level(pt, l);
        let ring = self.ctx.ring();
        ct.c0.mul_assign(ring, &m);
        ct.c1.mul_assign(ring, &m);
        ct.scale *= pt.scale;
        ct.seed = None;
        Ok(())
    }

    /// `acc += ct · pt` (no rescale). `acc` must already be at the product's scale and level
    /// `min(ct.level, pt.level)` or above (it is dropped as needed).
    pub fn mul_plain_add(
        &self,
        acc: &mut Ciphertext,
        ct: &Ciphertext,
        pt: &Plaintext,
    ) -> Result<()> {
        let prod = self.mul_plain(ct, pt)?;
        self.add_inplace(acc, &prod)
    }

    /// The plaintext polynomial in NTT form restricted to `q_0..q_level`.
    pub(super) fn plain_at_level(&self, pt: &Plaintext, level: usize) -> RnsPoly {
        let mut m = pt.poly.clone();
        m.truncate_q(level + 1);
        m.ntt(self.ctx.ring());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SymmetricEncryptor;
    use crate::encoding::Encoder;
    use crate::keys::KeyGenerator;
    use crate::math::sample::Prng;
    use crate::params::{context::Context, presets};
    use num_complex::Complex64;
    use std::sync::Arc;

    /// Rescale computed coefficient by coefficient from its definition, on a copy in
    /// coefficient form: `y_i = (x_i − r + h) · q_l^{-1} mod q_i` with `r = [x_l + h]_{q_l}`
    /// reduced mod `q_i` and `h = floor(q_l / 2)`.
    fn rescale_reference(ctx: &Context, x: &RnsPoly) -> RnsPoly {
        let ring = ctx.ring();
        let l = x.num_q() - 1;
        let mut coeff = x.clone();
        coeff.intt(ring);
        let q_l = ctx.q(l);
        let h = q_l / 2;
        let mut y = RnsPoly::zero(ctx.n(), l, 0, Form::Coefficient);
        for i in 0..l {
            let m = ring.modulus(i, l);
            let inv = m.inv(m.reduce(q_l)).unwrap();
            for (k, out) in y.limb_mut(i).iter_mut().enumerate() {
                let r = (coeff.limb(l)[k] + h) % q_l;
                *out = m.mul(
                    m.add(m.sub(coeff.limb(i)[k], m.reduce(r)), m.reduce(h)),
                    inv,
                );
            }
        }
        y.ntt(ring);
        y
    }

    #[test]
    fn rescale_equals_the_coefficientwise_definition_at_every_level() {
        let ctx: Arc<Context> =
            Context::new(&presets::preset("insecure-test-n10").unwrap(), true).unwrap();
        let keygen = KeyGenerator::new(&ctx, Prng::from_seed([5; 32]));
        let mut enc =
            SymmetricEncryptor::new(&ctx, keygen.secret_key(), Prng::from_seed([6; 32])).unwrap();
        let values: Vec<Complex64> = (0..ctx.max_slots())
            .map(|i| Complex64::new((i as f64 * 0.7).sin(), 0.0))
            .collect();
        let pt = Encoder::new(&ctx)
            .encode(&values, ctx.max_level(), ctx.default_scale())
            .unwrap();
        let evaluator = Evaluator::new(&ctx, None).unwrap();
        let mut ct = enc.encrypt(&pt).unwrap();
        assert!(ctx.max_level() >= 2, "the test wants several levels");
        while ct.level() > 0 {
            let want = (
                rescale_reference(&ctx, ct.c0()),
                rescale_reference(&ctx, ct.c1()),
            );
            let q_l = ctx.q(ct.level()) as f64;
            let scale = ct.scale();
            ct = evaluator.rescale(&ct).unwrap();
            assert_eq!(
                (ct.c0(), ct.c1()),
                (&want.0, &want.1),
                "level {}",
                ct.level()
            );
            assert_eq!(ct.scale(), scale / q_l);
        }
    }
}
