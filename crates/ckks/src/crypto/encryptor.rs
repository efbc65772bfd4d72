//! Encryption with the public key, seeded symmetric encryption, and decryption.

use super::plaintext::{Ciphertext, Ciphertext3, Plaintext};
use super::special_prime::{DividedKey, FreshNoise, SpecialPrimeDivision};
use crate::error::{Error, Result};
use crate::keys::{PublicKey, SecretKey};
use crate::math::poly::{Form, RnsPoly, for_each_limb, join};
use crate::math::sample::{self, Prng};
use crate::params::context::Context;
use std::borrow::Cow;
use std::sync::Arc;

/// The plaintext's polynomial in NTT form (borrowed when it already is), after checking that
/// it fits the context.
fn check_plaintext<'p>(ctx: &Context, pt: &'p Plaintext) -> Result<Cow<'p, RnsPoly>> {
    if pt.poly.n() != ctx.n() || pt.level() > ctx.max_level() {
        return Err(Error::ParameterMismatch(format!(
            "plaintext of degree {} at level {} does not fit the context (N = {}, max level {})",
            pt.poly.n(),
            pt.level(),
            ctx.n(),
            ctx.max_level()
        )));
    }
    if pt.poly.form() == Form::Ntt {
        return Ok(Cow::Borrowed(&pt.poly));
    }
    let mut m = pt.poly.clone();
    m.ntt(ctx.ring());
    Ok(Cow::Owned(m))
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

/// Public-key encryption: `(v·b + e0 + m, v·a + e1)` with ternary `v` and Gaussian errors.
///
/// With the key's special-prime part, encryption runs over `Q_l·p` for the first special prime
/// `p` and divides by `p` (see [`super::special_prime`]): the fresh noise is then the rounding
/// error of that division. The encryptor then holds the key in the prepared form of
/// [`DividedKey`] (twice the key's q-limbs in memory: 50 MiB at `ops-n16` instead of 25 MiB)
/// instead of a copy of it.
#[derive(Debug)]
pub struct Encryptor {
    ctx: Arc<Context>,
    key: EncryptionKey,
    rng: Prng,
}

/// The key in the form the encryption path uses.
#[derive(Debug)]
enum EncryptionKey {
    /// Over `Q_l·p`, divided by the special prime `p`.
    SpecialPrime {
        division: SpecialPrimeDivision,
        key: DividedKey,
    },
    /// Over `Q_l` only (a key without its special-prime part, or a context without one).
    Plain(PublicKey),
}

impl Encryptor {
    /// An encryptor for `pk`; fails if the key belongs to another context.
    pub fn new(ctx: &Arc<Context>, pk: &PublicKey, rng: Prng) -> Result<Self> {
        if pk.context_id != ctx.id() {
            return Err(Error::ParameterMismatch(
                "public key belongs to another context".into(),
            ));
        }
        let ring = ctx.ring();
        let key = match (&pk.special, SpecialPrimeDivision::new(ring)) {
            (Some((b_p, a_p)), Some(division)) => EncryptionKey::SpecialPrime {
                key: division.divided_key(ring, (&pk.b, &pk.a), (b_p.limb(0), a_p.limb(0))),
                division,
            },
            _ => EncryptionKey::Plain(pk.clone()),
        };
        Ok(Self {
            ctx: ctx.clone(),
            key,
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
        let pk = match &self.key {
            EncryptionKey::SpecialPrime { division, key } => {
                // Each polynomial from its own seed, so the three are sampled side by side.
                let seeds = [self.rng.seed(), self.rng.seed(), self.rng.seed()];
                let sampled = |k: usize| {
                    let mut rng = Prng::from_seed(seeds[k]);
                    match k {
                        0 => sample::ternary(&mut rng, n),
                        _ => sample::gaussian(&mut rng, n),
                    }
                };
                let (v, (e0, e1)) =
                    join(n, || sampled(0), || join(n, || sampled(1), || sampled(2)));
                let noise = FreshNoise {
                    v: &v,
                    e0: &e0,
                    e1: &e1,
                };
                let (c0, c1) = division.encrypt(ring, key, noise, &m);
                return Ciphertext::from_parts(c0, c1, pt.scale, pt.slots, ctx.id(), None);
            }
            EncryptionKey::Plain(pk) => pk,
        };
        let v = small_poly(ctx, &sample::ternary(&mut self.rng, n), nq);
        let e0 = small_poly(ctx, &sample::gaussian(&mut self.rng, n), nq);
        let mut c1 = small_poly(ctx, &sample::gaussian(&mut self.rng, n), nq);
        let mut c0 = prefix(&pk.b, nq);
        c0.mul_assign(ring, &v);
        c0.add_assign(ring, &e0);
        c0.add_assign(ring, &m);
        let mut va = prefix(&pk.a, nq);
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
        // c0 = e + m - c1·s in one pass, with the key's Shoup constants (no copy of the key).
        let (s, s_shoup) = (self.sk.poly(), self.sk.shoup_companion(ring));
        for_each_limb(c0.data_mut(), ctx.n(), |i, out| {
            let md = ring.modulus(i, nq);
            let (mi, ci) = (m.limb(i), c1.limb(i));
            let (si, ss) = (s.limb(i), s_shoup.limb(i));
            for ((o, (&x, &a)), (&k, &ks)) in
                out.iter_mut().zip(mi.iter().zip(ci)).zip(si.iter().zip(ss))
            {
                *o = md.sub(md.add(*o, x), md.mul_shoup(a, k, ks));
            }
        });
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
        // One fused pass `c0 + c1·s` per limb, reading the key's limbs and their Shoup
        // constants in place (no copy of the secret, no copy of c0).
        let s_shoup = self.sk.shoup_companion(ring);
        let mut m = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        for_each_limb(m.data_mut(), n, |i, out| {
            let md = ring.modulus(i, nq);
            let (c0, c1) = (ct.c0.limb(i), ct.c1.limb(i));
            let (si, ss) = (s.limb(i), s_shoup.limb(i));
            for ((o, (&a, &b)), (&k, &ks)) in
                out.iter_mut().zip(c0.iter().zip(c1)).zip(si.iter().zip(ss))
            {
                *o = md.add(a, md.mul_shoup(b, k, ks));
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
