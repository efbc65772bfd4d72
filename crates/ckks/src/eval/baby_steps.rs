//! The baby steps of a double-hoisted linear transform, fused limb by limb.
//!
//! Every baby step `b` is the raw inner product of the input's decomposed `c1` with the
//! rotation key of `b` (digits read through the Galois permutation `σ_b`), plus `P·σ_b(c0)` on
//! the q-limbs: two polynomials over `Q_l ∪ P`. Each giant step then sums the products of those
//! rotations with its diagonals. Computing every rotation as a whole polynomial first (two
//! polynomials over `Q_l ∪ P` per baby step, 34 MiB at the top of `boot-n16`) writes them to
//! memory and reads them back once per giant step, and reads the digits once per rotation key.
//!
//! Here the work runs per output limb `t` and per block of [`BLOCK`] coefficients: the block of
//! every baby rotation is computed into a small buffer (all keys read against the digits' limb
//! `t` while it is in cache), and at once multiplied by the diagonals of every giant step. The
//! rotations never reach memory, each giant step's sums are written once, and the result is
//! equal, residue for residue, to the unfused evaluation.

use crate::keys::switching::{Decomposed, KeySwitchKey};
use crate::math::modulus::Modulus;
use crate::math::poly::{Form, RnsPoly};
use crate::math::pool;
use crate::params::context::Context;
#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Coefficients per block: the rotations' blocks (`2 · babies · BLOCK` words, 240 KiB for 15
/// baby steps) stay in the L2 cache beside the digits' limb being read.
const BLOCK: usize = 1024;

/// Terms per 128-bit accumulator before a reduction: residues are below 2^62, so each product
/// is below 2^124 and 15 of them plus a reduced residue stay below 2^128.
const LAZY_TERMS: usize = 15;

/// Limb `t` of a rotation key's `b_j` and `a_j` (one slice per digit).
type KeyLimbs<'a> = (Vec<&'a [u64]>, Vec<&'a [u64]>);

/// One hoisted baby-step rotation: its rotation key and the NTT-form permutation of its Galois
/// element.
pub(super) struct BabyStep<'a> {
    /// The rotation key (from `σ_b(s)` to `s`).
    pub key: &'a KeySwitchKey,
    /// `out[j] = in[perm[j]]` applies `σ_b` in NTT form.
    pub perm: &'a [u32],
}

/// The baby-step sums of every giant step: for giant step `g`, `Σ_k d_k ⊙ (ip0_b + P·σ_b(c0),
/// ip1_b)` over `Q_l ∪ P` (NTT form), where `terms[g]` lists the `(index into babies, d_k)`
/// pairs and `ip_b` are the raw inner products of `dec` with baby `b`'s key through its
/// permutation. `p_c0` is `P·c0` over `Q_l`. A giant step without terms gets `None`.
///
/// # Panics
/// If a diagonal or `p_c0` does not have the decomposition's shape, or an index is out of
/// range (the caller validates both).
pub(super) fn baby_step_sums(
    ctx: &Context,
    dec: &Decomposed,
    p_c0: &RnsPoly,
    babies: &[BabyStep<'_>],
    terms: &[Vec<(usize, &RnsPoly)>],
) -> Vec<Option<(RnsPoly, RnsPoly)>> {
    let n = ctx.n();
    let nq = dec.level() + 1;
    let np = ctx.num_p();
    let limbs = nq + np;
    assert_eq!(
        p_c0.num_q(),
        nq,
        "P·c0 must be over the decomposition's Q_l"
    );
    for (i, d) in terms.iter().flatten() {
        assert!(*i < babies.len(), "baby-step index out of range");
        assert!(
            d.num_q() == nq && d.num_p() == np && d.n() == n,
            "diagonal shape must match the decomposition"
        );
    }
    let mut sums: Vec<Option<(RnsPoly, RnsPoly)>> = terms
        .iter()
        .map(|t| {
            (!t.is_empty()).then(|| {
                (
                    RnsPoly::for_overwrite(n, nq, np, Form::Ntt),
                    RnsPoly::for_overwrite(n, nq, np, Form::Ntt),
                )
            })
        })
        .collect();
    // Limb t of every output: rows[t][k] for the k-th (giant step, half) with terms.
    let mut columns: Vec<std::vec::IntoIter<&mut [u64]>> = sums
        .iter_mut()
        .flatten()
        .flat_map(|(y0, y1)| [y0, y1])
        .map(|y| {
            y.data_mut()
                .chunks_exact_mut(n)
                .collect::<Vec<_>>()
                .into_iter()
        })
        .collect();
    let rows: Vec<Vec<&mut [u64]>> = (0..limbs)
        .map(|_| columns.iter_mut().filter_map(Iterator::next).collect())
        .collect();
    // The giant steps with terms, in the order of the rows' pairs.
    let active: Vec<&Vec<(usize, &RnsPoly)>> = terms.iter().filter(|t| !t.is_empty()).collect();
    let work = |t: usize, row: Vec<&mut [u64]>| {
        limb_sums(ctx, dec, p_c0, babies, &active, t, row);
    };
    #[cfg(feature = "parallel")]
    rows.into_par_iter()
        .enumerate()
        .for_each(|(t, row)| work(t, row));
    #[cfg(not(feature = "parallel"))]
    rows.into_iter()
        .enumerate()
        .for_each(|(t, row)| work(t, row));
    sums
}

/// Limb `t` of every giant step's sums (`row` holds `y0, y1` of each active giant step in
/// turn), block by block.
fn limb_sums(
    ctx: &Context,
    dec: &Decomposed,
    p_c0: &RnsPoly,
    babies: &[BabyStep<'_>],
    active: &[&Vec<(usize, &RnsPoly)>],
    t: usize,
    mut row: Vec<&mut [u64]>,
) {
    let n = ctx.n();
    let nq = dec.level() + 1;
    let total_q = ctx.max_level() + 1;
    let m = ctx.ring().modulus(t, nq);
    let kt = if t < nq { t } else { total_q + t - nq };
    let digits: Vec<&[u64]> = dec.digits().iter().map(|d| d.limb(t)).collect();
    let beta = digits.len();
    let keys: Vec<KeyLimbs<'_>> = babies
        .iter()
        .map(|b| {
            (
                b.key.b[..beta].iter().map(|p| p.limb(kt)).collect(),
                b.key.a[..beta].iter().map(|p| p.limb(kt)).collect(),
            )
        })
        .collect();
    let c0 = (t < nq).then(|| p_c0.limb(t));
    let block = BLOCK.min(n);
    let mut rotated = pool::take_for_overwrite(2 * babies.len() * block);
    for start in (0..n).step_by(block) {
        let len = block.min(n - start);
        let range = start..start + len;
        for (((b0, b1), baby), (kb, ka)) in rotated
            .chunks_exact_mut(2 * block)
            .map(|c| c.split_at_mut(block))
            .zip(babies)
            .zip(&keys)
        {
            rotation_block(
                m,
                &digits,
                (kb, ka),
                c0,
                &baby.perm[range.clone()],
                start,
                (&mut b0[..len], &mut b1[..len]),
            );
        }
        for (pair, group) in row.chunks_exact_mut(2).zip(active) {
            let [o0, o1] = pair else { continue };
            let limbs: Vec<(&[u64], &[u64], &[u64])> = group
                .iter()
                .map(|&(i, d)| {
                    let base = 2 * block * i;
                    (
                        &rotated[base..base + len],
                        &rotated[base + block..base + block + len],
                        &d.limb(t)[range.clone()],
                    )
                })
                .collect();
            dot_block(m, &limbs, (&mut o0[range.clone()], &mut o1[range.clone()]));
        }
    }
    pool::give(rotated);
}

/// One block of a baby rotation: `out0[c] = Σ_j d_j[perm[c]]·b_j[start + c] + c0[perm[c]]`,
/// `out1[c] = Σ_j d_j[perm[c]]·a_j[start + c]` (no `c0` on the p-limbs).
fn rotation_block(
    m: &Modulus,
    digits: &[&[u64]],
    (b, a): (&[&[u64]], &[&[u64]]),
    c0: Option<&[u64]>,
    perm: &[u32],
    start: usize,
    (out0, out1): (&mut [u64], &mut [u64]),
) {
    if digits.len() >= LAZY_TERMS {
        // Too many digits for one lazy sum (no practical dnum): reduce every product.
        for (c, ((o0, o1), &src)) in out0.iter_mut().zip(out1.iter_mut()).zip(perm).enumerate() {
            let src = src as usize;
            let (mut s0, mut s1) = (c0.map_or(0, |x| x[src]), 0);
            for ((d, kb), ka) in digits.iter().zip(b).zip(a) {
                s0 = m.add(s0, m.mul(d[src], kb[start + c]));
                s1 = m.add(s1, m.mul(d[src], ka[start + c]));
            }
            *o0 = s0;
            *o1 = s1;
        }
        return;
    }
    let b: Vec<&[u64]> = b.iter().map(|k| &k[start..start + perm.len()]).collect();
    let a: Vec<&[u64]> = a.iter().map(|k| &k[start..start + perm.len()]).collect();
    for (c, ((o0, o1), &src)) in out0.iter_mut().zip(out1.iter_mut()).zip(perm).enumerate() {
        let src = src as usize;
        let mut s0 = c0.map_or(0, |x| x[src] as u128);
        let mut s1 = 0u128;
        for ((d, kb), ka) in digits.iter().zip(&b).zip(&a) {
            let x = d[src] as u128;
            s0 += x * kb[c] as u128;
            s1 += x * ka[c] as u128;
        }
        *o0 = m.reduce_u128(s0);
        *o1 = m.reduce_u128(s1);
    }
}

/// `(out0, out1) = Σ_k (y0_k ⊙ d_k, y1_k ⊙ d_k)` on one block, with one reduction per
/// [`LAZY_TERMS`] terms.
fn dot_block(
    m: &Modulus,
    terms: &[(&[u64], &[u64], &[u64])],
    (out0, out1): (&mut [u64], &mut [u64]),
) {
    for (k, chunk) in terms.chunks(LAZY_TERMS).enumerate() {
        for (c, (o0, o1)) in out0.iter_mut().zip(out1.iter_mut()).enumerate() {
            let (mut s0, mut s1): (u128, u128) = if k == 0 {
                (0, 0)
            } else {
                (*o0 as u128, *o1 as u128)
            };
            for (y0, y1, d) in chunk {
                let dc = d[c] as u128;
                s0 += y0[c] as u128 * dc;
                s1 += y1[c] as u128 * dc;
            }
            *o0 = m.reduce_u128(s0);
            *o1 = m.reduce_u128(s1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyGenerator;
    use crate::keys::switching::{decompose, inner_products};
    use crate::math::sample::{Prng, uniform_poly};
    use crate::params::{ParameterSpec, SecretDistribution, SecurityLevel};
    use std::sync::Arc;

    /// Insecure test parameters (N = 2^11: two blocks per limb), three digits over six q primes.
    fn insecure_context() -> Arc<Context> {
        let spec = ParameterSpec {
            name: "insecure-test-baby-steps".into(),
            log_n: 11,
            q_bits: vec![50, 40, 40, 40, 40, 40],
            p_bits: vec![55, 55],
            log_scale: 40,
            dnum: 3,
            secret: SecretDistribution::Ternary,
            security: SecurityLevel::InsecureForTests,
        };
        Context::new(&spec, true).unwrap()
    }

    /// The fused kernel equals the unfused evaluation residue for residue: each rotation as
    /// whole polynomials (inner products through the permutation, plus `P·σ_b(c0)` on the
    /// q-limbs), then every giant step's dot product with its diagonals, one product at a time.
    /// Giant steps with 1, 3 and 17 terms (past one lazy sum) and none; top and lower levels.
    #[test]
    fn fused_baby_steps_equal_rotations_then_products() {
        let ctx = insecure_context();
        let ring = ctx.ring();
        let n = ctx.n();
        let np = ctx.num_p();
        let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([7; 32]));
        let keys: Vec<_> = (1..=17)
            .map(|k| kg.galois_key(ctx.galois_element_for_rotation(k)).unwrap())
            .collect();
        let perms: Vec<Vec<u32>> = keys
            .iter()
            .map(|k| ring.galois_permutation(k.element()))
            .collect();
        let babies: Vec<BabyStep<'_>> = keys
            .iter()
            .zip(&perms)
            .map(|(k, perm)| BabyStep { key: k.key(), perm })
            .collect();
        for nq in [6, 4] {
            let c0 = uniform_poly(ring, &[1; 32], nq, 0);
            let c1 = uniform_poly(ring, &[2; 32], nq, 0);
            let mut p_c0 = c0.clone();
            for i in 0..nq {
                let m = ring.modulus(i, nq);
                for v in p_c0.limb_mut(i) {
                    *v = m.mul(*v, ctx.p_mod_q(i));
                }
            }
            let diags: Vec<RnsPoly> = (0..17u8)
                .map(|s| uniform_poly(ring, &[10 + s; 32], nq, np))
                .collect();
            let terms: Vec<Vec<(usize, &RnsPoly)>> = vec![
                vec![(3, &diags[0])],
                vec![],
                vec![(0, &diags[1]), (5, &diags[2]), (16, &diags[3])],
                (0..17).map(|i| (i, &diags[16 - i])).collect(),
            ];
            let dec = decompose(&ctx, &c1);
            let got = baby_step_sums(&ctx, &dec, &p_c0, &babies, &terms);
            assert_eq!(got.len(), terms.len());
            // The reference: whole rotations, then the products.
            let rotations: Vec<(RnsPoly, RnsPoly)> = babies
                .iter()
                .map(|b| {
                    let (mut y0, y1) = inner_products(&ctx, &dec, b.key, Some(b.perm));
                    for i in 0..nq {
                        let m = ring.modulus(i, nq);
                        let src = p_c0.limb(i).to_vec();
                        for (o, &j) in y0.limb_mut(i).iter_mut().zip(b.perm) {
                            *o = m.add(*o, src[j as usize]);
                        }
                    }
                    (y0, y1)
                })
                .collect();
            for (group, sums) in terms.iter().zip(&got) {
                let Some((y0, y1)) = sums else {
                    assert!(group.is_empty());
                    continue;
                };
                for t in 0..nq + np {
                    let m = ring.modulus(t, nq);
                    for c in 0..n {
                        let (mut w0, mut w1) = (0, 0);
                        for &(i, d) in group {
                            let dc = d.limb(t)[c];
                            w0 = m.add(w0, m.mul(rotations[i].0.limb(t)[c], dc));
                            w1 = m.add(w1, m.mul(rotations[i].1.limb(t)[c], dc));
                        }
                        assert_eq!((y0.limb(t)[c], y1.limb(t)[c]), (w0, w1), "limb {t}, {c}");
                    }
                }
            }
        }
    }
}
