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

use crate::math::basis::LimbAdder;
use crate::math::modulus::Modulus;
use crate::math::poly::{Form, RnsPoly, for_each_limb, for_each_limb_pair, join};
use crate::math::pool;
use crate::params::context::Context;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Digits from which the inner products take the periodically reduced loop: below it, the
/// 128-bit sums (products below 2^124, plus one residue when accumulating) cannot overflow.
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
    let n = ctx.n();
    let level = d.num_q() - 1;
    let scaled = scaled_digits(ctx, d);
    let digits = (0..ctx.digits_at_level(level))
        .map(|j| {
            let mut ext = RnsPoly::for_overwrite(n, d.num_q(), ctx.num_p(), Form::Ntt);
            for_each_limb(ext.data_mut(), n, |t, limb| {
                if let Some(own) = raise_digit_limb(ctx, d, &scaled, j, t, limb) {
                    limb.copy_from_slice(own);
                }
            });
            ext
        })
        .collect();
    pool::give(scaled);
    Decomposed { level, digits }
}

/// Step 1 of ModUp for every digit at once: limb `i` of `d` in coefficient form, multiplied by
/// `(Q_j/q_i)^{-1} mod q_i` for its digit `j`. The inverse NTTs leave out `N^{-1}`, which is
/// folded into that constant (one pass over each limb instead of two).
fn scaled_digits(ctx: &Context, d: &RnsPoly) -> Vec<u64> {
    assert!(
        d.num_p() == 0 && d.form() == Form::Ntt,
        "decompose takes an NTT-form polynomial over Q_l"
    );
    let ring = ctx.ring();
    let (n, nq) = (ctx.n(), d.num_q());
    let level = nq - 1;
    let mut scaled = pool::take_for_overwrite(nq * n);
    for_each_limb(&mut scaled, n, |i, limb| {
        let table = &ring.q_tables()[i];
        let mu = ctx.mod_up_converter(i / ctx.digit_size(), level);
        limb.copy_from_slice(d.limb(i));
        table.inverse_unnormalized(limb);
        mu.converter
            .scale_limb_in_place(i - mu.start, limb, table.n_inv());
    });
    scaled
}

/// Limb `t` of digit `j` raised to `Q_l ∪ P` (NTT form): for a limb of the digit itself, the
/// limb of `d` is returned (nothing is computed); otherwise the fast basis conversion from the
/// digit's scaled limbs is written into `out` and transformed there, and `None` is returned.
fn raise_digit_limb<'d>(
    ctx: &Context,
    d: &'d RnsPoly,
    scaled: &[u64],
    j: usize,
    t: usize,
    out: &mut [u64],
) -> Option<&'d [u64]> {
    let n = ctx.n();
    let nq = d.num_q();
    let mu = ctx.mod_up_converter(j, nq - 1);
    match mu.row(t, nq, ctx.max_level() + 1) {
        None => Some(d.limb(t)),
        Some(r) => {
            let digit = &scaled[mu.start * n..(mu.start + mu.count) * n];
            mu.converter.convert_limb(digit, r, out);
            ctx.ring().table(t, nq).forward(out);
            None
        }
    }
}

/// ModUp fused with the inner products (no perm): for each output limb `t`, the digits' limb
/// `t` is raised into a scratch buffer of `dnum` limbs (cache-resident) and consumed at once,
/// so the raised digits (`dnum` polynomials over `Q_l ∪ P`) are never written to memory.
/// Equals `inner_products(ctx, &decompose(ctx, d), key, None)`; use [`decompose`] when the
/// digits serve several keys (hoisting).
pub fn key_switch_inner_products(
    ctx: &Context,
    d: &RnsPoly,
    key: &KeySwitchKey,
) -> (RnsPoly, RnsPoly) {
    let (n, nq, np) = (ctx.n(), d.num_q(), ctx.num_p());
    let total_q = ctx.max_level() + 1;
    let beta = ctx.digits_at_level(nq - 1);
    let scaled = scaled_digits(ctx, d);
    let mut acc0 = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
    let mut acc1 = RnsPoly::for_overwrite(n, nq, np, Form::Ntt);
    for_each_limb_pair(acc0.data_mut(), acc1.data_mut(), n, |t, o0, o1| {
        let mut scratch = pool::take_for_overwrite(beta * n);
        let mut own: Vec<Option<&[u64]>> = Vec::with_capacity(beta);
        for (j, out) in scratch.chunks_exact_mut(n).enumerate() {
            own.push(raise_digit_limb(ctx, d, &scaled, j, t, out));
        }
        let digits: Vec<&[u64]> = own
            .iter()
            .zip(scratch.chunks_exact(n))
            .map(|(o, s)| o.unwrap_or(s))
            .collect();
        let kt = if t < nq { t } else { total_q + t - nq };
        let b: Vec<&[u64]> = key.b[..beta].iter().map(|p| p.limb(kt)).collect();
        let a: Vec<&[u64]> = key.a[..beta].iter().map(|p| p.limb(kt)).collect();
        inner_product_limb(
            ctx.ring().modulus(t, nq),
            &digits,
            &b,
            &a,
            None,
            false,
            (o0, o1),
        );
        pool::give(scratch);
    });
    pool::give(scaled);
    (acc0, acc1)
}

/// One output limb of the inner products: `acc0 = Σ_j d_j[perm]·b_j`, `acc1 = Σ_j d_j[perm]·a_j`
/// (plus the old `out` values when `accumulate`).
///
/// With fewer than [`LAZY_TERMS`] digits (every practical dnum) the 128-bit sums need a single
/// reduction per output coefficient; more digits take the periodically reduced loop.
fn inner_product_limb(
    m: &Modulus,
    digits: &[&[u64]],
    b: &[&[u64]],
    a: &[&[u64]],
    perm: Option<&[u32]>,
    accumulate: bool,
    (out0, out1): (&mut [u64], &mut [u64]),
) {
    if digits.len() >= LAZY_TERMS {
        return inner_product_limb_reference(m, digits, b, a, perm, accumulate, (out0, out1));
    }
    // A reduced residue (< 2^62) on top of at most 14 products (< 2^124 each) fits 128 bits.
    let start = |o0: u64, o1: u64| {
        if accumulate {
            (o0 as u128, o1 as u128)
        } else {
            (0, 0)
        }
    };
    match perm {
        None => {
            for (c, (o0, o1)) in out0.iter_mut().zip(out1.iter_mut()).enumerate() {
                let (mut s0, mut s1) = start(*o0, *o1);
                for ((d, kb), ka) in digits.iter().zip(b).zip(a) {
                    let x = d[c] as u128;
                    s0 += x * kb[c] as u128;
                    s1 += x * ka[c] as u128;
                }
                *o0 = m.reduce_u128(s0);
                *o1 = m.reduce_u128(s1);
            }
        }
        Some(perm) => {
            for (c, ((o0, o1), &src)) in out0.iter_mut().zip(out1.iter_mut()).zip(perm).enumerate()
            {
                let (mut s0, mut s1) = start(*o0, *o1);
                for ((d, kb), ka) in digits.iter().zip(b).zip(a) {
                    let x = d[src as usize] as u128;
                    s0 += x * kb[c] as u128;
                    s1 += x * ka[c] as u128;
                }
                *o0 = m.reduce_u128(s0);
                *o1 = m.reduce_u128(s1);
            }
        }
    }
}

/// The plain inner product: a reduction after every product (any number of digits); the
/// reference for [`inner_product_limb`].
fn inner_product_limb_reference(
    m: &Modulus,
    digits: &[&[u64]],
    b: &[&[u64]],
    a: &[&[u64]],
    perm: Option<&[u32]>,
    accumulate: bool,
    (out0, out1): (&mut [u64], &mut [u64]),
) {
    for c in 0..out0.len() {
        let src = perm.map_or(c, |p| p[c] as usize);
        let (mut s0, mut s1) = if accumulate {
            (out0[c], out1[c])
        } else {
            (0, 0)
        };
        for ((d, kb), ka) in digits.iter().zip(b).zip(a) {
            s0 = m.add(s0, m.mul(d[src], kb[c]));
            s1 = m.add(s1, m.mul(d[src], ka[c]));
        }
        out0[c] = s0;
        out1[c] = s1;
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
pub fn mod_down_and_rescale(ctx: &Context, x: RnsPoly) -> RnsPoly {
    mod_down_and_rescale_with(ctx, x, None)
}

/// [`mod_down_and_rescale`] of `x + y`, where `add_to(i, limb)` adds limb `i` of `y` (over
/// `Q_l`, NTT form, zero on the p-limbs) to `limb`: `y` is never materialised, and each of its
/// limbs is added while the division works on that limb (one pass over memory fewer).
///
/// # Panics
/// If the polynomial has a single q-limb.
pub(crate) fn mod_down_and_rescale_with(
    ctx: &Context,
    mut x: RnsPoly,
    add_to: Option<LimbAdder<'_>>,
) -> RnsPoly {
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
            if let Some(add) = add_to {
                add(l, limb);
            }
            ring.q_tables()[l].inverse(limb);
        } else {
            ring.p_tables()[j - 1].inverse(limb);
        }
    });
    x.drop_p();
    x.truncate_q(l);
    ctx.divide_by_qp(l).apply_with(
        &mut from,
        x.data_mut(),
        &ring.q_tables()[..l],
        n,
        None,
        add_to,
    );
    pool::give(from);
    x
}

/// Key-switches `d` (NTT form over `Q_l`) with `key`: ModUp fused with the inner products
/// ([`key_switch_inner_products`]), then ModDown; equals `decompose` then
/// `key_switch_decomposed`.
pub fn key_switch(ctx: &Context, d: &RnsPoly, key: &KeySwitchKey) -> (RnsPoly, RnsPoly) {
    let (acc0, acc1) = key_switch_inner_products(ctx, d, key);
    join(ctx.n(), || mod_down(ctx, acc0), || mod_down(ctx, acc1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyGenerator;
    use crate::math::modulus::Modulus;
    use crate::math::primes::PrimeGenerator;
    use crate::math::sample::Prng;
    use crate::params::{ParameterSpec, SecretDistribution, SecurityLevel};
    use proptest::prelude::*;
    use std::sync::Arc;

    /// Insecure test parameters (N = 2^10), three digits over six q primes at level 5.
    fn insecure_context() -> Arc<Context> {
        let spec = ParameterSpec {
            name: "insecure-test-switching".into(),
            log_n: 10,
            q_bits: vec![50, 40, 40, 40, 40, 40],
            p_bits: vec![55, 55],
            log_scale: 40,
            dnum: 3,
            secret: SecretDistribution::Ternary,
            security: SecurityLevel::InsecureForTests,
        };
        Context::new(&spec, true).unwrap()
    }

    fn random_poly(ctx: &Context, nq: usize, seed: u8) -> RnsPoly {
        crate::math::sample::uniform_poly(ctx.ring(), &[seed; 32], nq, 0)
    }

    /// The fused ModUp + inner products equal the hoisting path (decompose, then the inner
    /// products) exactly, at the top level and at lower levels with partial digits.
    #[test]
    fn fused_key_switch_equals_decompose_then_inner_products() {
        let ctx = insecure_context();
        let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([5; 32]));
        let key = kg.relinearization_key();
        for nq in [6, 5, 3, 1] {
            let d = random_poly(&ctx, nq, nq as u8);
            let dec = decompose(&ctx, &d);
            let (want0, want1) = inner_products(&ctx, &dec, key.key(), None);
            let (got0, got1) = key_switch_inner_products(&ctx, &d, key.key());
            assert_eq!(got0, want0, "level {}", nq - 1);
            assert_eq!(got1, want1, "level {}", nq - 1);
            // Each digit carries the limbs of d that belong to it unchanged.
            assert_eq!(dec.digits().len(), ctx.digits_at_level(nq - 1));
            for (j, digit) in dec.digits().iter().enumerate() {
                let mu = ctx.mod_up_converter(j, nq - 1);
                for t in mu.start..mu.start + mu.count {
                    assert_eq!(digit.limb(t), d.limb(t));
                }
            }
        }
    }

    fn refs(v: &[Vec<u64>]) -> Vec<&[u64]> {
        v.iter().map(|x| &x[..]).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// The lazy inner-product kernel equals the per-product reference, with and without a
        /// permutation and accumulation, for 1 to 17 digits (past the lazy limit).
        #[test]
        fn lazy_inner_product_matches_reference(
            seed in any::<u64>(), beta in 1usize..=17, permuted in any::<bool>(), accumulate in any::<bool>()
        ) {
            let n = 8;
            let m = Modulus::new(PrimeGenerator::new(1).next_prime(61).unwrap()).unwrap();
            let mut s = seed;
            let mut next = || {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                m.reduce(s)
            };
            let mut limbs = |count: usize| -> Vec<Vec<u64>> {
                (0..count).map(|_| (0..n).map(|_| next()).collect()).collect()
            };
            let (d, b, a, init) = (limbs(beta), limbs(beta), limbs(beta), limbs(2));
            let perm: Vec<u32> = (0..n as u32).map(|c| (c * 5 + 3) % n as u32).collect();
            let perm = permuted.then_some(&perm[..]);
            let (dr, br, ar) = (refs(&d), refs(&b), refs(&a));
            let (mut f0, mut f1) = (init[0].clone(), init[1].clone());
            let (mut r0, mut r1) = (init[0].clone(), init[1].clone());
            inner_product_limb(&m, &dr, &br, &ar, perm, accumulate, (&mut f0, &mut f1));
            inner_product_limb_reference(&m, &dr, &br, &ar, perm, accumulate, (&mut r0, &mut r1));
            prop_assert_eq!((f0, f1), (r0, r1));
        }
    }
}
