//! Sparse-secret encapsulation (Bossuat, Troncoso-Pastoriza, Hubaux, ACNS 2022).
//!
//! The user's key `s` is dense ternary. For bootstrapping, the level-0 ciphertext is switched to
//! an ephemeral sparse key `s'` (Hamming weight `h`, 32 by default) with a key that lives only
//! modulo the small modulus `q_0 · p'` (`p'` one extra 61-bit prime), ModRaised (the overflow
//! `I` is now bounded by the weight of `s'`, so EvalMod's range K is small), and switched back
//! to `s` right away at the top level with an ordinary hybrid key over `Q_L · P` under `s`.
//! See the security argument in the [module documentation](super).

use std::sync::Arc;

use zeroize::Zeroize;

use crate::crypto::Ciphertext;
use crate::keys::switching::{KeySwitchKey, key_switch, mod_down};
use crate::keys::{RelinearizationKey, SecretKey};
use crate::math::modulus::Modulus;
use crate::math::poly::{Form, RnsPoly, for_each_limb_pair, join};
use crate::math::primes::PrimeGenerator;
use crate::math::ring::RnsRing;
use crate::math::sample::{self, Prng};
use crate::params::context::Context;
use crate::serial::wire::{Reader, Writer};
use crate::serial::{from_bytes, to_bytes};
use crate::{Error, Result};

/// Default Hamming weight of the ephemeral sparse secret (Lattigo's default, and the weight the
/// ACNS 2022 security estimates are given for).
pub const DEFAULT_SPARSE_WEIGHT: usize = 32;

/// Leading bytes of serialized encapsulation keys.
const MAGIC: [u8; 4] = *b"HBSE";
/// Version of that format.
const FORMAT_VERSION: u16 = 1;

/// Bits of the extra prime `p'` of the dense-to-sparse key's modulus `q_0 · p'`.
const SMALL_P_BITS: u32 = 61;

/// The two switching keys of the encapsulation. Public material: no secret can be derived
/// from it beyond what RLWE allows (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct SparseSecretKeys {
    hamming_weight: usize,
    context_id: u64,
    small_p: u64,
    /// `s → s'` modulo `q_0 · p'`: `b = −a·s' + e + p'·s` (NTT form, limbs `q_0`, `p'`).
    to_sparse_b: RnsPoly,
    to_sparse_a: RnsPoly,
    /// `s' → s` over the whole chain.
    to_dense: KeySwitchKey,
}

/// The small ring `Z_{q_0 p'}[X]/(X^N + 1)` and `p'`, derived deterministically from the context.
fn small_ring(ctx: &Context) -> Result<(RnsRing, u64)> {
    let n = ctx.n();
    let mut primes = PrimeGenerator::new(n);
    let used: Vec<u64> = ctx
        .q_primes()
        .iter()
        .chain(ctx.p_primes())
        .copied()
        .collect();
    let p = loop {
        let c = primes
            .next_prime(SMALL_P_BITS)
            .ok_or(Error::PrimeGeneration {
                bits: SMALL_P_BITS,
                count: 1,
                n,
            })?;
        if !used.contains(&c) {
            break c;
        }
    };
    let ring = RnsRing::new(n, &[ctx.q(0)], &[p])
        .ok_or_else(|| Error::InvalidParameters("cannot build the encapsulation ring".into()))?;
    Ok((ring, p))
}

/// The centred coefficients of limb 0 of an NTT-form polynomial over the context's primes.
fn limb0_coefficients(ctx: &Context, poly: &RnsPoly) -> Vec<i64> {
    let table = &ctx.ring().q_tables()[0];
    let mut limb = poly.limb(0).to_vec();
    table.inverse(&mut limb);
    let m = table.modulus();
    let out = limb.iter().map(|&v| m.center(v)).collect();
    limb.zeroize();
    out
}

impl SparseSecretKeys {
    /// Generates the keys on the client from the dense secret key `sk`, with an ephemeral
    /// sparse secret of weight `hamming_weight` that is wiped before returning.
    pub fn generate(
        ctx: &Arc<Context>,
        sk: &SecretKey,
        hamming_weight: usize,
        rng: &mut Prng,
    ) -> Result<Self> {
        if sk.context_id() != ctx.id() {
            return Err(Error::ParameterMismatch(
                "secret key belongs to another context".into(),
            ));
        }
        let n = ctx.n();
        if hamming_weight == 0 || hamming_weight > n {
            return Err(Error::InvalidParameters(format!(
                "sparse secret weight {hamming_weight} must be in 1..={n}"
            )));
        }
        let (small, small_p) = small_ring(ctx)?;
        let mut sparse = sample::sparse_ternary(rng, n, hamming_weight);
        let mut dense = limb0_coefficients(ctx, sk.poly());

        // s → s' modulo q_0·p'
        let mut s_sparse = RnsPoly::from_signed(&small, &sparse, 1, 1);
        s_sparse.ntt(&small);
        let mut s_dense = RnsPoly::from_signed(&small, &dense, 1, 1);
        s_dense.ntt(&small);
        let seed = rng.seed();
        let a = sample::uniform_poly(&small, &seed, 1, 1);
        let mut b = RnsPoly::from_signed(&small, &sample::gaussian(rng, n), 1, 1);
        b.ntt(&small);
        let mut as_ = a.clone();
        as_.mul_assign(&small, &s_sparse);
        b.sub_assign(&small, &as_);
        let q0 = small.modulus(0, 1);
        let p_mod_q0 = q0.reduce(small_p);
        for (x, &s) in b.limb_mut(0).iter_mut().zip(s_dense.limb(0)) {
            *x = q0.add(*x, q0.mul(s, p_mod_q0));
        }
        s_sparse.data_mut().zeroize();
        s_dense.data_mut().zeroize();

        // s' → s over Q_L·P: b_j = −a_j·s + e_j + P·T_j·s'
        let ring = ctx.ring();
        let (nq, np) = (ctx.max_level() + 1, ctx.num_p());
        let mut target = RnsPoly::from_signed(ring, &sparse, nq, np);
        target.ntt(ring);
        let alpha = ctx.digit_size();
        let mut kb = Vec::with_capacity(ctx.dnum());
        let mut ka = Vec::with_capacity(ctx.dnum());
        let mut seeds = Vec::with_capacity(ctx.dnum());
        for j in 0..ctx.dnum() {
            let seed = rng.seed();
            let aj = sample::uniform_poly(ring, &seed, nq, np);
            let mut bj = RnsPoly::from_signed(ring, &sample::gaussian(rng, n), nq, np);
            bj.ntt(ring);
            let mut as_ = aj.clone();
            as_.mul_assign(ring, sk.poly());
            bj.sub_assign(ring, &as_);
            for i in j * alpha..((j + 1) * alpha).min(nq) {
                let m = ring.q_tables()[i].modulus();
                let pq = ctx.p_mod_q(i);
                let pqs = m.shoup(pq);
                let src = target.limb(i).to_vec();
                for (x, &t) in bj.limb_mut(i).iter_mut().zip(&src) {
                    *x = m.add(*x, m.mul_shoup(t, pq, pqs));
                }
            }
            kb.push(bj);
            ka.push(aj);
            seeds.push(seed);
        }
        target.data_mut().zeroize();
        sparse.zeroize();
        dense.zeroize();
        Ok(Self {
            hamming_weight,
            context_id: ctx.id(),
            small_p,
            to_sparse_b: b,
            to_sparse_a: a,
            to_dense: KeySwitchKey {
                b: kb,
                a: ka,
                seeds,
            },
        })
    }

    /// Weight of the sparse secret.
    pub fn hamming_weight(&self) -> usize {
        self.hamming_weight
    }

    /// Memory held by the keys, in bytes.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of_val(self.to_sparse_b.data())
            + std::mem::size_of_val(self.to_sparse_a.data())
            + self.to_dense.size_bytes()
    }

    /// Fails unless the keys were made for `ctx`.
    pub fn check_context(&self, ctx: &Context) -> Result<()> {
        if self.context_id != ctx.id() {
            return Err(Error::ParameterMismatch(
                "sparse-secret keys belong to another context".into(),
            ));
        }
        Ok(())
    }

    /// Switches a level-0 ciphertext from `s` to `s'` (modulo q_0, through q_0·p').
    pub fn to_sparse(&self, ctx: &Context, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check_context(ctx)?;
        if ct.level() != 0 {
            return Err(Error::Level(format!(
                "the dense-to-sparse switch works at level 0, not {}",
                ct.level()
            )));
        }
        let (small, p) = small_ring(ctx)?;
        if p != self.small_p {
            return Err(Error::ParameterMismatch(
                "sparse-secret keys were made for another small prime".into(),
            ));
        }
        let c1 = limb0_coefficients(ctx, &ct.c1);
        let mut raised = RnsPoly::from_signed(&small, &c1, 1, 1);
        raised.ntt(&small);
        let mut d0 = raised.clone();
        d0.mul_assign(&small, &self.to_sparse_b);
        let mut d1 = raised;
        d1.mul_assign(&small, &self.to_sparse_a);
        let d0 = Self::mod_down(ctx, &small, d0)?;
        let d1 = Self::mod_down(ctx, &small, d1)?;
        let mut out = ct.clone();
        out.c0.add_assign(ctx.ring(), &d0);
        out.c1 = d1;
        out.seed = None;
        Ok(out)
    }

    /// `(x − [x]_{p'}) / p'` modulo q_0, returned in the context's NTT form (one limb).
    fn mod_down(ctx: &Context, small: &RnsRing, mut x: RnsPoly) -> Result<RnsPoly> {
        let n = ctx.n();
        let q_table = &small.q_tables()[0];
        let p_table = &small.p_tables()[0];
        let q0: &Modulus = q_table.modulus();
        let pm: &Modulus = p_table.modulus();
        let mut lo = x.limb(0).to_vec();
        q_table.inverse(&mut lo);
        let mut hi = x.limb(1).to_vec();
        p_table.inverse(&mut hi);
        let p_inv = q0
            .inv(q0.reduce(pm.value()))
            .ok_or_else(|| Error::InvalidParameters("p' is not invertible modulo q_0".into()))?;
        for (v, &h) in lo.iter_mut().zip(&hi) {
            let r = q0.from_i64(pm.center(h));
            *v = q0.mul(q0.sub(*v, r), p_inv);
        }
        x.data_mut().fill(0);
        ctx.ring().q_tables()[0].forward(&mut lo);
        RnsPoly::from_data(n, 1, 0, Form::Ntt, lo)
            .ok_or_else(|| Error::InvalidInput("cannot shape the switched polynomial".into()))
    }

    /// Serializes the keys for the receiver of `ctx`: magic, version, weight, `p'`, the
    /// `s' → s` key (in the crate's relinearization-key container, which has the same layout and
    /// checks the context fingerprint), then the two residue limbs of each half of the
    /// `s → s'` key, bit-packed.
    pub fn to_bytes(&self, ctx: &Context) -> Result<Vec<u8>> {
        self.check_context(ctx)?;
        let inner = to_bytes(
            &RelinearizationKey::from_key(self.to_dense.clone(), ctx.id()),
            ctx,
        )?;
        let mut w = Writer::default();
        w.bytes(&MAGIC);
        w.u16(FORMAT_VERSION);
        w.u32(self.hamming_weight as u32);
        w.u64(self.small_p);
        w.u64(inner.len() as u64);
        w.bytes(&inner);
        let primes = [ctx.q(0), self.small_p];
        for poly in [&self.to_sparse_b, &self.to_sparse_a] {
            for (i, &p) in primes.iter().enumerate() {
                w.packed(poly.limb(i), 64 - p.leading_zeros());
            }
        }
        Ok(w.into_bytes())
    }

    /// Reads keys written by [`Self::to_bytes`], checking everything against `ctx` before
    /// allocating: version, weight, the derived `p'`, the inner key's container and every residue.
    pub fn from_bytes(bytes: &[u8], ctx: &Arc<Context>) -> Result<Self> {
        let mut r = Reader::new(bytes);
        if r.take(MAGIC.len(), "magic")? != MAGIC {
            return Err(Error::Serialization(
                "not sparse-secret encapsulation keys (bad magic)".into(),
            ));
        }
        let version = r.u16("version")?;
        if version != FORMAT_VERSION {
            return Err(Error::Serialization(format!(
                "encapsulation keys of version {version}, expected {FORMAT_VERSION}"
            )));
        }
        let n = ctx.n();
        let hamming_weight = r.u32("Hamming weight")? as usize;
        if hamming_weight == 0 || hamming_weight > n {
            return Err(Error::Serialization(format!(
                "Hamming weight {hamming_weight} is not in 1..={n}"
            )));
        }
        let (_, small_p) = small_ring(ctx)?;
        if r.u64("small prime")? != small_p {
            return Err(Error::Serialization(
                "encapsulation keys were made for another small prime".into(),
            ));
        }
        let inner_len = r.u64("inner key length")?;
        if inner_len > r.remaining() as u64 {
            return Err(Error::Serialization(format!(
                "inner key of {inner_len} bytes, only {} left",
                r.remaining()
            )));
        }
        let inner = r.take(inner_len as usize, "inner key")?;
        let to_dense = from_bytes::<RelinearizationKey>(inner, ctx)?.key().clone();
        let primes = [ctx.q(0), small_p];
        let mut polys = Vec::with_capacity(2);
        for what in ["s → s' key, b", "s → s' key, a"] {
            let mut data = Vec::new();
            for &p in &primes {
                r.packed_below(n, 64 - p.leading_zeros(), p, &mut data, what)?;
            }
            polys.push(
                RnsPoly::from_data(n, 1, 1, Form::Ntt, data)
                    .ok_or_else(|| Error::Serialization(format!("{what}: wrong length")))?,
            );
        }
        r.finish("the encapsulation keys")?;
        let a = polys.pop();
        let b = polys.pop();
        let (Some(to_sparse_b), Some(to_sparse_a)) = (b, a) else {
            return Err(Error::Serialization("missing key halves".into()));
        };
        Ok(Self {
            hamming_weight,
            context_id: ctx.id(),
            small_p,
            to_sparse_b,
            to_sparse_a,
            to_dense,
        })
    }

    /// ModRaise of a level-0 ciphertext under `s'` followed by the switch back to `s`: the
    /// same result as [`Evaluator::mod_raise`](crate::eval::Evaluator::mod_raise) then
    /// [`Self::to_dense`], without the decomposition of the raised `c1`. Its coefficients are
    /// the centered residues modulo `q_0` (`|c1| ≤ q_0/2`, below every digit's modulus), so
    /// every digit of the hybrid decomposition is `c1` itself, and `Σ_j c1·key_j` is `c1` times
    /// the summed key, whose gadget `Σ_j T_j ≡ 1 (mod Q)`: one product per limb instead of a
    /// ModUp (an inverse NTT and `dnum` basis conversions and NTTs over `Q_L ∪ P`). The noise is
    /// `c1·Σ_j e_j / P`, negligible (`q_0 ≈ 2^60` against `P`).
    ///
    /// # Errors
    /// [`Error::ParameterMismatch`] for keys of another context, [`Error::Level`] unless `ct`
    /// is at level 0.
    pub fn raise_to_dense(&self, ctx: &Context, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check_context(ctx)?;
        if ct.level() != 0 {
            return Err(Error::Level(format!(
                "the raise to the dense key takes a level-0 ciphertext, not level {}",
                ct.level()
            )));
        }
        let ring = ctx.ring();
        let n = ctx.n();
        let (nq, np) = (ctx.max_level() + 1, ctx.num_p());
        let mut c0 = RnsPoly::from_signed(ring, &limb0_coefficients(ctx, &ct.c0), nq, 0);
        c0.ntt(ring);
        let mut d = RnsPoly::from_signed(ring, &limb0_coefficients(ctx, &ct.c1), nq, np);
        d.ntt(ring);
        let (b, a) = (self.to_dense.b(), self.to_dense.a());
        let mut k0 = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
        let mut k1 = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
        for_each_limb_pair(k0.data_mut(), k1.data_mut(), n, |t, o0, o1| {
            let m = ring.modulus(t, nq);
            let x = d.limb(t);
            let (bl, al): (Vec<&[u64]>, Vec<&[u64]>) =
                b.iter().zip(a).map(|(b, a)| (b.limb(t), a.limb(t))).unzip();
            for c in 0..n {
                // at most dnum ≤ 64 residues below 2^62: the sums fit in 128 bits
                let bs = m.reduce_u128(bl.iter().map(|l| u128::from(l[c])).sum());
                let as_ = m.reduce_u128(al.iter().map(|l| u128::from(l[c])).sum());
                o0[c] = m.mul(x[c], bs);
                o1[c] = m.mul(x[c], as_);
            }
        });
        let (k0, k1) = join(n, || mod_down(ctx, k0), || mod_down(ctx, k1));
        c0.add_assign(ring, &k0);
        Ciphertext::from_parts(c0, k1, ct.scale, ct.slots, ct.context_id, None)
    }

    /// Switches a ciphertext (any level, typically just ModRaised) from `s'` back to `s`.
    pub fn to_dense(&self, ctx: &Context, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check_context(ctx)?;
        let (k0, k1) = key_switch(ctx, &ct.c1, &self.to_dense);
        let mut out = ct.clone();
        out.c0.add_assign(ctx.ring(), &k0);
        out.c1 = k1;
        out.seed = None;
        Ok(out)
    }
}
