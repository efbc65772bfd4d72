//! Hybrid key switching (GHS with dnum digits, special primes P).
//!
//! A [`KeySwitchKey`] from `s'` to `s` is, for each digit `j`, a pair over `Q_L ∪ P`:
//! `b_j = -a_j·s + e_j + P·T_j·s'`, where `T_j ≡ 1 (mod q_i)` for the primes of digit `j` and
//! `≡ 0` for the others. Switching `d` (so that the result decrypts to `d·s'`):
//! 1. [`decompose`]: split `d` into its digits, raise each to `Q_l ∪ P` with the fast basis
//!    conversion (ModUp; the conversion's `u·Q_j` overflow vanishes against `T_j`);
//! 2. [`key_switch_decomposed`]: the inner products `Σ_j d̃_j·(b_j, a_j)` with 128-bit lazy
//!    accumulation, optionally reading each digit through a Galois permutation (hoisting);
//! 3. [`mod_down`]: divide by P back to `Q_l`.

use crate::math::modulus::Modulus;
use crate::math::poly::{Form, RnsPoly, for_each_limb, join};
use crate::math::pool;
use crate::params::context::Context;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Products per 128-bit accumulator before a reduction (each product is below 2^124).
const LAZY_TERMS: usize = 15;

/// A key-switching key: one `(b_j, a_j)` pair per digit, in NTT form over all q and p primes.
/// `a_j` is expanded from `seeds[j]`, so a serializer may ship the seeds instead.
#[derive(Clone, Debug, PartialEq)]
pub struct KeySwitchKey {
    pub(crate) b: Vec<RnsPoly>,
    pub(crate) a: Vec<RnsPoly>,
    pub(crate) seeds: Vec<[u8; 32]>,
}

impl KeySwitchKey {
    /// The `b_j` polynomials.
    pub fn b(&self) -> &[RnsPoly] {
        &self.b
    }

    /// The `a_j` polynomials.
    pub fn a(&self) -> &[RnsPoly] {
        &self.a
    }

    /// The seeds the `a_j` were expanded from.
    pub fn seeds(&self) -> &[[u8; 32]] {
        &self.seeds
    }

    /// Rebuilds a key from its `b_j` and seeds, regenerating the `a_j`. `None` if the shapes do
    /// not match the context.
    pub fn from_seeds(ctx: &Context, b: Vec<RnsPoly>, seeds: Vec<[u8; 32]>) -> Option<Self> {
        let (nq, np) = (ctx.max_level() + 1, ctx.num_p());
        if b.len() != ctx.dnum() || seeds.len() != b.len() {
            return None;
        }
        if b.iter().any(|p| {
            p.num_q() != nq || p.num_p() != np || p.form() != Form::Ntt || p.n() != ctx.n()
        }) {
            return None;
        }
        let a = seeds
            .iter()
            .map(|s| crate::math::sample::uniform_poly(ctx.ring(), s, nq, np))
            .collect();
        Some(Self { b, a, seeds })
    }

    /// Size in bytes of the residues held in memory.
    pub fn size_bytes(&self) -> usize {
        self.b
            .iter()
            .chain(&self.a)
            .map(|p| p.data().len() * 8)
            .sum()
    }
}

/// A polynomial of `Q_l` split into digits, each raised to `Q_l ∪ P` (NTT form): the expensive,
/// key-independent half of key switching, shared by hoisted rotations.
#[derive(Clone, Debug)]
pub struct Decomposed {
    level: usize,
    digits: Vec<RnsPoly>,
}

impl Decomposed {
    /// Level of the decomposed polynomial.
    pub fn level(&self) -> usize {
        self.level
    }

    /// The raised digits.
    pub fn digits(&self) -> &[RnsPoly] {
        &self.digits
    }
}

/// Splits `d` (NTT form, q-limbs only, level `d.num_q() - 1`) into digits raised to `Q_l ∪ P`.
///
/// # Panics
/// If `d` has p-limbs, is not in NTT form, or has more limbs than the context.
pub fn decompose(ctx: &Context, d: &RnsPoly) -> Decomposed {
    assert!(
        d.num_p() == 0 && d.form() == Form::Ntt,
        "decompose takes an NTT-form polynomial over Q_l"
    );
    let ring = ctx.ring();
    let n = ctx.n();
    let nq = d.num_q();
    let level = nq - 1;
    let total_q = ctx.max_level() + 1;
    let mut coeff = d.clone();
    coeff.intt(ring);
    let digits = (0..ctx.digits_at_level(level))
        .map(|j| {
            let mu = ctx.mod_up_converter(j, level);
            let mut scaled = pool::take_for_overwrite(mu.count * n);
            mu.converter.scale_inputs(
                &coeff.data()[mu.start * n..(mu.start + mu.count) * n],
                &mut scaled,
                n,
            );
            let mut ext = RnsPoly::for_overwrite(n, nq, ctx.num_p(), Form::Ntt);
            for_each_limb(ext.data_mut(), n, |t, limb| match mu.row(t, nq, total_q) {
                None => limb.copy_from_slice(d.limb(t)),
                Some(r) => {
                    mu.converter.convert_limb(&scaled, r, limb);
                    ring.table(t, nq).forward(limb);
                }
            });
            pool::give(scaled);
            ext
        })
        .collect();
    Decomposed { level, digits }
}

/// One output limb of the inner products: `acc0 = Σ_j d_j[perm]·b_j`, `acc1 = Σ_j d_j[perm]·a_j`.
fn inner_product_limb(
    m: &Modulus,
    digits: &[&[u64]],
    b: &[&[u64]],
    a: &[&[u64]],
    perm: Option<&[u32]>,
    accumulate: bool,
    (out0, out1): (&mut [u64], &mut [u64]),
) {
    let beta = digits.len();
    for c in 0..out0.len() {
        let src = match perm {
            Some(p) => p[c] as usize,
            None => c,
        };
        // A reduced residue (< 2^62) on top of at most 15 products still fits 128 bits.
        let (mut s0, mut s1) = if accumulate {
            (out0[c] as u128, out1[c] as u128)
        } else {
            (0u128, 0u128)
        };
        for j in 0..beta {
            let d = digits[j][src] as u128;
            s0 += d * b[j][c] as u128;
            s1 += d * a[j][c] as u128;
            if j % LAZY_TERMS == LAZY_TERMS - 1 {
                s0 = m.reduce_u128(s0) as u128;
                s1 = m.reduce_u128(s1) as u128;
            }
        }
        out0[c] = m.reduce_u128(s0);
        out1[c] = m.reduce_u128(s1);
    }
}

/// Inner products of the (optionally Galois-permuted) digits with `key`, then ModDown:
/// returns `(k0, k1)` over `Q_l` in NTT form with `k0 + k1·s ≈ σ(d)·s'`, where `σ` is the
/// automorphism whose NTT permutation is `perm` (identity if `None`) and `s'` the key's source.
pub fn key_switch_decomposed(
    ctx: &Context,
    dec: &Decomposed,
    key: &KeySwitchKey,
    perm: Option<&[u32]>,
) -> (RnsPoly, RnsPoly) {
    let (acc0, acc1) = inner_products(ctx, dec, key, perm);
    join(ctx.n(), || mod_down(ctx, acc0), || mod_down(ctx, acc1))
}

/// The inner products `Σ_j d̃_j[perm]·(b_j, a_j)` over `Q_l ∪ P` (NTT form), before ModDown.
pub fn inner_products(
    ctx: &Context,
    dec: &Decomposed,
    key: &KeySwitchKey,
    perm: Option<&[u32]>,
) -> (RnsPoly, RnsPoly) {
    let (n, nq, np) = (ctx.n(), dec.level + 1, ctx.num_p());
    let mut acc0 = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
    let mut acc1 = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
    inner_products_into(ctx, dec, key, perm, false, &mut acc0, &mut acc1);
    (acc0, acc1)
}

/// The inner products of [`inner_products`] written into (`accumulate == false`) or added to
/// (`accumulate == true`) `acc0`, `acc1` (NTT form over `Q_l ∪ P`, the decomposition's
/// shape): summing several key switches this way needs a single ModDown for the sum.
///
/// # Panics
/// If the accumulators do not have the decomposition's shape.
pub fn inner_products_into(
    ctx: &Context,
    dec: &Decomposed,
    key: &KeySwitchKey,
    perm: Option<&[u32]>,
    accumulate: bool,
    acc0: &mut RnsPoly,
    acc1: &mut RnsPoly,
) {
    let ring = ctx.ring();
    let n = ctx.n();
    let nq = dec.level + 1;
    let np = ctx.num_p();
    let total_q = ctx.max_level() + 1;
    for acc in [&*acc0, &*acc1] {
        assert!(
            acc.num_q() == nq && acc.num_p() == np && acc.n() == n && acc.form() == Form::Ntt,
            "accumulator shape must match the decomposition"
        );
    }
    let limb_of = |t: usize| if t < nq { t } else { total_q + t - nq };
    let work = |t: usize, o0: &mut [u64], o1: &mut [u64]| {
        let kt = limb_of(t);
        let digits: Vec<&[u64]> = dec.digits.iter().map(|d| d.limb(t)).collect();
        let b: Vec<&[u64]> = key.b[..digits.len()].iter().map(|p| p.limb(kt)).collect();
        let a: Vec<&[u64]> = key.a[..digits.len()].iter().map(|p| p.limb(kt)).collect();
        inner_product_limb(
            ring.modulus(t, nq),
            &digits,
            &b,
            &a,
            perm,
            accumulate,
            (o0, o1),
        );
    };
    #[cfg(feature = "parallel")]
    acc0.data_mut()
        .par_chunks_exact_mut(n)
        .zip(acc1.data_mut().par_chunks_exact_mut(n))
        .enumerate()
        .for_each(|(t, (o0, o1))| work(t, o0, o1));
    #[cfg(not(feature = "parallel"))]
    acc0.data_mut()
        .chunks_exact_mut(n)
        .zip(acc1.data_mut().chunks_exact_mut(n))
        .enumerate()
        .for_each(|(t, (o0, o1))| work(t, o0, o1));
}

/// Divides a polynomial over `Q_l ∪ P` (NTT form) by P with rounding, returning it over `Q_l`
/// (NTT form). The division is exact ([`crate::math::basis::DivideAndRound`]): the only error
/// it adds is the final rounding.
pub fn mod_down(ctx: &Context, x: RnsPoly) -> RnsPoly {
    mod_down_adding(ctx, x, None)
}

/// [`mod_down`] of `x + e` for a small polynomial `e` in coefficient form (`N` signed
/// coefficients), without transforming `e`: `round((x + e) / P)`.
pub(crate) fn mod_down_adding(ctx: &Context, mut x: RnsPoly, e: Option<&[i64]>) -> RnsPoly {
    let ring = ctx.ring();
    let n = ctx.n();
    let nq = x.num_q();
    let mut p_part = pool::take_empty(x.data().len() - nq * n);
    p_part.extend_from_slice(&x.data()[nq * n..]);
    for_each_limb(&mut p_part, n, |j, limb| ring.p_tables()[j].inverse(limb));
    x.drop_p();
    ctx.divide_by_p()
        .apply_adding(&mut p_part, x.data_mut(), &ring.q_tables()[..nq], n, e);
    pool::give(p_part);
    x
}

/// Divides a polynomial over `Q_l ∪ P` (NTT form, `l ≥ 1`) by `q_l·P` with rounding, returning
/// it over `Q_{l-1}`: ModDown and rescale in one exact division, saving the NTTs of a
/// separate rescale.
///
/// # Panics
/// If the polynomial has a single q-limb.
pub fn mod_down_and_rescale(ctx: &Context, mut x: RnsPoly) -> RnsPoly {
    let ring = ctx.ring();
    let n = ctx.n();
    let nq = x.num_q();
    assert!(nq >= 2, "rescaling needs two q-limbs");
    let l = nq - 1;
    // Source limbs: q_l then the p limbs, which are contiguous at the end of the buffer.
    let mut from = pool::take_empty(x.data().len() - l * n);
    from.extend_from_slice(&x.data()[l * n..]);
    for_each_limb(&mut from, n, |j, limb| {
        if j == 0 {
            ring.q_tables()[l].inverse(limb);
        } else {
            ring.p_tables()[j - 1].inverse(limb);
        }
    });
    x.drop_p();
    x.truncate_q(l);
    ctx.divide_by_qp(l)
        .apply(&mut from, x.data_mut(), &ring.q_tables()[..l], n);
    pool::give(from);
    x
}

/// Key-switches `d` (NTT form over `Q_l`) with `key`: `decompose` then `key_switch_decomposed`.
pub fn key_switch(ctx: &Context, d: &RnsPoly, key: &KeySwitchKey) -> (RnsPoly, RnsPoly) {
    let dec = decompose(ctx, d);
    key_switch_decomposed(ctx, &dec, key, None)
}
