//! Encryption with the public key, seeded symmetric encryption, and decryption.

use super::plaintext::{Ciphertext, Ciphertext3, Plaintext};
use crate::error::{Error, Result};
use crate::keys::switching::mod_down_adding;
use crate::keys::{PublicKey, SecretKey};
use crate::math::poly::{Form, RnsPoly, for_each_limb, join};
use crate::math::sample::{self, Prng};
use crate::params::context::Context;
use std::sync::Arc;

fn check_plaintext(ctx: &Context, pt: &Plaintext) -> Result<RnsPoly> {
    if pt.poly.n() != ctx.n() || pt.level() > ctx.max_level() {
        return Err(Error::ParameterMismatch(format!(
            "plaintext of degree {} at level {} does not fit the context (N = {}, max level {})",
            pt.poly.n(),
            pt.level(),
            ctx.n(),
            ctx.max_level()
        )));
    }
    let mut m = pt.poly.clone();
    m.ntt(ctx.ring());
    Ok(m)
}

/// `x` restricted to its first `num_q` q-limbs (no p-limbs).
fn prefix(x: &RnsPoly, num_q: usize) -> RnsPoly {
    let n = x.n();
    RnsPoly::from_data(n, num_q, 0, x.form(), x.data()[..num_q * n].to_vec())
        .expect("prefix length matches its shape")
}

/// Small signed coefficients as an NTT-form polynomial over `num_q` q-limbs.
fn small_poly(ctx: &Context, coeffs: &[i64], num_q: usize) -> RnsPoly {
    let mut p = RnsPoly::from_signed(ctx.ring(), coeffs, num_q, 0);
    p.ntt(ctx.ring());
    p
}

/// `(x_q ∥ x_p) ⊙ v` over `Q_l ∪ P` (NTT form) in one pass, where `v` has `l + 1` q-limbs and
/// every p-limb, `x_q` at least `l + 1` q-limbs and `x_p` only p-limbs: the public key's
/// halves times the ephemeral ternary polynomial, without copying the key first.
fn times_over_qp(ctx: &Context, x_q: &RnsPoly, x_p: &RnsPoly, v: &RnsPoly) -> RnsPoly {
    let ring = ctx.ring();
    let (n, nq, np) = (ctx.n(), v.num_q(), v.num_p());
    let mut out = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
    for_each_limb(out.data_mut(), n, |i, o| {
        let m = ring.modulus(i, nq);
        let x = if i < nq {
            x_q.limb(i)
        } else {
            x_p.limb(i - nq)
        };
        for ((o, &a), &b) in o.iter_mut().zip(x).zip(v.limb(i)) {
            *o = m.mul_reduced(a, b);
        }
    });
    out
}

/// Public-key encryption: `(v·b + e0 + m, v·a + e1)` with ternary `v` and Gaussian errors.
#[derive(Debug)]
pub struct Encryptor {
    ctx: Arc<Context>,
    pk: PublicKey,
    rng: Prng,
}

impl Encryptor {
    /// An encryptor for `pk`; fails if the key belongs to another context.
    pub fn new(ctx: &Arc<Context>, pk: &PublicKey, rng: Prng) -> Result<Self> {
        if pk.context_id != ctx.id() {
            return Err(Error::ParameterMismatch(
                "public key belongs to another context".into(),
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            pk: pk.clone(),
            rng,
        })
    }

    /// Encrypts at the plaintext's level, scale and slot count.
    pub fn encrypt(&mut self, pt: &Plaintext) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        let ring = ctx.ring();
        let m = check_plaintext(ctx, pt)?;
        let nq = pt.level() + 1;
        let n = ctx.n();
        if let Some((b_p, a_p)) = &self.pk.special {
            // Over Q_l·P, then divide by P: the noise shrinks to the rounding error.
            let np = ctx.num_p();
            let over_qp = |c: Vec<i64>| {
                let mut p = RnsPoly::from_signed(ring, &c, nq, np);
                p.ntt(ring);
                p
            };
            // The errors are added in coefficient form inside the division by P, which
            // computes round((v·pk + e) / P) exactly as if they had been transformed over Q·P.
            let v = over_qp(sample::ternary(&mut self.rng, n));
            let e0 = sample::gaussian(&mut self.rng, n);
            let e1 = sample::gaussian(&mut self.rng, n);
            let c0 = times_over_qp(ctx, &self.pk.b, b_p, &v);
            let c1 = times_over_qp(ctx, &self.pk.a, a_p, &v);
            let (mut c0, c1) = join(
                n,
                || mod_down_adding(ctx, c0, Some(&e0)),
                || mod_down_adding(ctx, c1, Some(&e1)),
            );
            c0.add_assign(ring, &m);
            return Ciphertext::from_parts(c0, c1, pt.scale, pt.slots, ctx.id(), None);
        }
        let v = small_poly(ctx, &sample::ternary(&mut self.rng, n), nq);
        let e0 = small_poly(ctx, &sample::gaussian(&mut self.rng, n), nq);
        let mut c1 = small_poly(ctx, &sample::gaussian(&mut self.rng, n), nq);
        let mut c0 = prefix(&self.pk.b, nq);
        c0.mul_assign(ring, &v);
        c0.add_assign(ring, &e0);
        c0.add_assign(ring, &m);
        let mut va = prefix(&self.pk.a, nq);
        va.mul_assign(ring, &v);
        c1.add_assign(ring, &va);
        Ciphertext::from_parts(c0, c1, pt.scale, pt.slots, ctx.id(), None)
    }

    /// Encrypts zero at `level` with `scale` and `slots` (a fresh mask for re-randomization).
    pub fn encrypt_zero(&mut self, level: usize, scale: f64, slots: usize) -> Result<Ciphertext> {
        let zero = RnsPoly::zero(self.ctx.n(), level + 1, 0, Form::Ntt);
        self.encrypt(&Plaintext::new(zero, scale, slots)?)
    }
}

/// Secret-key encryption `(-a·s + e + m, a)` with `a` expanded from a fresh 32-byte seed that
/// the ciphertext keeps (so it can be serialized at half size).
pub struct SymmetricEncryptor<'a> {
    ctx: Arc<Context>,
    sk: &'a SecretKey,
    rng: Prng,
}

impl std::fmt::Debug for SymmetricEncryptor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymmetricEncryptor").finish_non_exhaustive()
    }
}

impl<'a> SymmetricEncryptor<'a> {
    /// An encryptor borrowing the secret key; fails if the key belongs to another context.
    pub fn new(ctx: &Arc<Context>, sk: &'a SecretKey, rng: Prng) -> Result<Self> {
        if sk.context_id() != ctx.id() {
            return Err(Error::ParameterMismatch(
                "secret key belongs to another context".into(),
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            sk,
            rng,
        })
    }

    /// Encrypts at the plaintext's level; the result carries the seed of `c1`.
    pub fn encrypt(&mut self, pt: &Plaintext) -> Result<Ciphertext> {
        let ctx = &self.ctx;
        let ring = ctx.ring();
        let m = check_plaintext(ctx, pt)?;
        let nq = pt.level() + 1;
        let seed = self.rng.seed();
        let c1 = sample::uniform_poly(ring, &seed, nq, 0);
        let mut c0 = small_poly(ctx, &sample::gaussian(&mut self.rng, ctx.n()), nq);
        c0.add_assign(ring, &m);
        let s = crate::keys::secret::SecretPoly(prefix(self.sk.poly(), nq));
        let mut as_ = c1.clone();
        as_.mul_assign(ring, &s);
        c0.sub_assign(ring, &as_);
        Ciphertext::from_parts(c0, c1, pt.scale, pt.slots, ctx.id(), Some(seed))
    }
}

/// Regenerates `c1` of a seeded ciphertext at `level` (deserializers call this).
pub fn expand_seeded_c1(ctx: &Context, seed: &[u8; 32], level: usize) -> RnsPoly {
    sample::uniform_poly(ctx.ring(), seed, level + 1, 0)
}

/// Decryption with the secret key: `c0 + c1·s`.
pub struct Decryptor<'a> {
    ctx: Arc<Context>,
    sk: &'a SecretKey,
}

impl std::fmt::Debug for Decryptor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor").finish_non_exhaustive()
    }
}

impl<'a> Decryptor<'a> {
    /// A decryptor borrowing the secret key; fails if the key belongs to another context.
    pub fn new(ctx: &Arc<Context>, sk: &'a SecretKey) -> Result<Self> {
        if sk.context_id() != ctx.id() {
            return Err(Error::ParameterMismatch(
                "secret key belongs to another context".into(),
            ));
        }
        Ok(Self {
            ctx: ctx.clone(),
            sk,
        })
    }

    fn check(&self, context_id: u64) -> Result<()> {
        if context_id != self.ctx.id() {
            return Err(Error::ParameterMismatch(
                "ciphertext belongs to another context".into(),
            ));
        }
        Ok(())
    }

    /// Decrypts to a plaintext (NTT form) with the ciphertext's level, scale and slots.
    pub fn decrypt(&self, ct: &Ciphertext) -> Result<Plaintext> {
        self.check(ct.context_id)?;
        let ring = self.ctx.ring();
        let (n, nq) = (self.ctx.n(), ct.level() + 1);
        let s = self.sk.poly();
        if ct.c0.form() != Form::Ntt || ct.c1.form() != Form::Ntt || s.num_q() < nq {
            return Err(Error::ParameterMismatch(
                "ciphertext or secret key is not in the NTT form of this context".into(),
            ));
        }
        // One fused pass `c0 + c1·s` per limb, reading the key's limbs in place (no copy of
        // the secret, no copy of c0).
        let mut m = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        for_each_limb(m.data_mut(), n, |i, out| {
            let md = ring.modulus(i, nq);
            let (c0, c1, si) = (ct.c0.limb(i), ct.c1.limb(i), s.limb(i));
            for (((o, &a), &b), &k) in out.iter_mut().zip(c0).zip(c1).zip(si) {
                *o = md.add(a, md.mul_reduced(b, k));
            }
        });
        Plaintext::new(m, ct.scale, ct.slots)
    }

    /// Decrypts a three-component product: `d0 + d1·s + d2·s²`.
    pub fn decrypt3(&self, ct: &Ciphertext3) -> Result<Plaintext> {
        self.check(ct.context_id)?;
        let ring = self.ctx.ring();
        let s = crate::keys::secret::SecretPoly(prefix(self.sk.poly(), ct.level() + 1));
        let mut m = ct.d2.clone();
        m.mul_assign(ring, &s);
        m.add_assign(ring, &ct.d1);
        m.mul_assign(ring, &s);
        m.add_assign(ring, &ct.d0);
        Plaintext::new(m, ct.scale, ct.slots)
    }
}
