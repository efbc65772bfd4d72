//! Double-hoisted baby-step giant-step linear transforms (Bossuat, Mouchet, Troncoso-Pastoriza
//! and Hubaux, EUROCRYPT 2021, §4.2).
//!
//! A transform `Σ_g rot_g( Σ_b d_{g,b} ⊙ rot_b(ct) )` with plain hoisting pays, per baby step,
//! an inner product with the rotation key and two ModDowns, and per giant step a whole key
//! switch (decomposition, inner product, two ModDowns), then a rescale. Double hoisting keeps
//! the baby-step rotations in the extended basis `Q_l ∪ P`:
//!
//! * the input's `c1` is decomposed once; each baby step is its inner product with the rotation
//!   key (permuted digits), *not* divided by P, plus the rotated `c0` over `Q_l`;
//! * the rotated `c0` is folded into the first inner product as `P·σ_b(c0)` (it stands for
//!   `σ_b(c0)` once divided by P), so a baby step is two polynomials over `Q_l ∪ P`;
//! * the diagonals, encoded over `Q_l ∪ P`, multiply those raw inner products; each giant step
//!   needs one ModDown (of its sum's `c1`, which it must decompose) instead of one per baby
//!   step, and its own key switch (ModUp fused with the inner products) stays over `Q_l ∪ P`
//!   as well;
//! * everything is summed over `Q_l ∪ P` and divided by `q_l·P` once per output polynomial
//!   (ModDown fused with the rescale), so the whole transform carries a single rounding.
//!
//! Writing `x` for the parts over `Q_l` and `y` for those over `Q_l ∪ P`, every partial result
//! stands for `x + y/P`; the final division computes `round((P·x + y) / (q_l·P))` exactly.

use std::collections::{BTreeMap, BTreeSet};

use super::Evaluator;
use crate::crypto::Ciphertext;
use crate::error::{Error, Result};
use crate::keys::GaloisKey;
use crate::keys::switching::{
    decompose, inner_products, key_switch_inner_products, mod_down, mod_down_and_rescale,
};
use crate::math::poly::{Form, RnsPoly, for_each_limb, for_each_limb_pair, join};
use crate::params::context::Context;

/// One giant step of a pre-encoded transform: its rotation and its diagonals, each with the
/// baby-step rotation it multiplies (diagonals in NTT form over `Q_l ∪ P`, pre-rotated by
/// `-giant` as in [`crate::circuits::lintrans::BsgsPlan`]).
#[derive(Debug, Clone)]
pub struct GiantStep<'a> {
    /// Left rotation applied to the group's sum.
    pub giant: i32,
    /// (baby-step rotation, diagonal) pairs.
    pub diagonals: Vec<(i32, &'a RnsPoly)>,
}

/// A giant step's sums: `x0, x1` over `Q_l`, `y0, y1` over `Q_l ∪ P`.
#[derive(Default)]
struct GroupSums {
    x0: Option<RnsPoly>,
    x1: Option<RnsPoly>,
    y0: Option<RnsPoly>,
    y1: Option<RnsPoly>,
}

/// Products per 128-bit accumulator before a reduction (residues below 2^62: each product is
/// below 2^124, so 15 of them and a reduced residue stay below 2^128).
const LAZY_TERMS: usize = 15;

/// Baby-step rotations held at once. Each is two polynomials over `Q_l ∪ P` (34 MiB at the top
/// of `boot-n16`), so all 15 baby steps of a 63-diagonal level would hold 0.5 GiB; they are
/// computed and folded into the giant-step sums 8 at a time instead (2 passes over the sums).
const BABY_CHUNK: usize = 8;

/// `Σ_k a_k ⊙ d_k` limb by limb (NTT form) with 128-bit lazy accumulation (one reduction per
/// output residue for up to [`LAZY_TERMS`] terms), added to `acc` (or into a new polynomial
/// when `acc` is `None`). Every `a_k` has the output's shape; a `d_k` may have more limbs (the
/// output is then over `Q_l` and `d_k`'s first limbs are used). No terms: `acc` unchanged.
fn dot_into(ctx: &Context, acc: &mut Option<RnsPoly>, terms: &[(&RnsPoly, &RnsPoly)]) {
    let Some((first, _)) = terms.first() else {
        return;
    };
    let ring = ctx.ring();
    let n = ctx.n();
    let (nq, np) = (first.num_q(), first.num_p());
    let fresh = acc.is_none();
    let out = acc.get_or_insert_with(|| RnsPoly::for_overwrite(n, nq, np, Form::Ntt));
    for_each_limb(out.data_mut(), n, |i, out| {
        let m = ring.modulus(i, nq);
        let limbs: Vec<(&[u64], &[u64])> = terms
            .iter()
            .map(|(a, d)| (a.limb(i), &d.data()[i * n..(i + 1) * n]))
            .collect();
        for (start, chunk) in limbs.chunks(LAZY_TERMS).enumerate() {
            for (c, o) in out.iter_mut().enumerate() {
                let mut acc: u128 = if fresh && start == 0 { 0 } else { *o as u128 };
                for (a, d) in chunk {
                    acc += a[c] as u128 * d[c] as u128;
                }
                *o = m.reduce_u128(acc);
            }
        }
    });
}

/// A baby-step rotation of the input as two polynomials over `Q_l ∪ P` standing for `/P`: the
/// raw inner products with the rotation key, the rotated `c0` folded into the first as `P·c0`
/// (so that every diagonal multiplies two polynomials, read once for both).
struct BabyRotation {
    y0: RnsPoly,
    y1: RnsPoly,
}

/// `(acc0, acc1) += Σ_k (a_k ⊙ d_k, b_k ⊙ d_k)` over `Q_l ∪ P` with 128-bit lazy accumulation,
/// each diagonal limb read once for both outputs; both accumulators are created when `acc0` is
/// `None` (they are always set together). No terms: unchanged.
fn dot_pair_into(
    ctx: &Context,
    acc0: &mut Option<RnsPoly>,
    acc1: &mut Option<RnsPoly>,
    terms: &[(&RnsPoly, &RnsPoly, &RnsPoly)],
) {
    let Some((first, _, _)) = terms.first() else {
        return;
    };
    let ring = ctx.ring();
    let n = ctx.n();
    let (nq, np) = (first.num_q(), first.num_p());
    let fresh = acc0.is_none() || acc1.is_none();
    if fresh {
        *acc0 = Some(RnsPoly::for_overwrite(n, nq, np, Form::Ntt));
        *acc1 = Some(RnsPoly::for_overwrite(n, nq, np, Form::Ntt));
    }
    let (Some(out0), Some(out1)) = (acc0.as_mut(), acc1.as_mut()) else {
        return;
    };
    for_each_limb_pair(out0.data_mut(), out1.data_mut(), n, |i, o0, o1| {
        let m = ring.modulus(i, nq);
        let limbs: Vec<(&[u64], &[u64], &[u64])> = terms
            .iter()
            .map(|(a, b, d)| (a.limb(i), b.limb(i), &d.data()[i * n..(i + 1) * n]))
            .collect();
        for (start, chunk) in limbs.chunks(LAZY_TERMS).enumerate() {
            for (c, (r0, r1)) in o0.iter_mut().zip(o1.iter_mut()).enumerate() {
                let (mut s0, mut s1): (u128, u128) = if fresh && start == 0 {
                    (0, 0)
                } else {
                    (*r0 as u128, *r1 as u128)
                };
                for (a, b, d) in chunk {
                    let dc = d[c] as u128;
                    s0 += a[c] as u128 * dc;
                    s1 += b[c] as u128 * dc;
                }
                *r0 = m.reduce_u128(s0);
                *r1 = m.reduce_u128(s1);
            }
        }
    });
}

/// `y += P·x` on the q-limbs of `y` (`x` over the same `Q_l`): folds a part over `Q_l` into one
/// over `Q_l ∪ P` that stands for `y/P`.
fn add_p_times(ctx: &Context, y: &mut RnsPoly, x: &RnsPoly) {
    let n = ctx.n();
    let ring = ctx.ring();
    let nq = x.num_q();
    let xd = x.data();
    let q_part = &mut y.data_mut()[..nq * n];
    for_each_limb(q_part, n, |i, out| {
        let m = ring.modulus(i, nq);
        let p = ctx.p_mod_q(i);
        let ps = m.shoup(p);
        for (o, &v) in out.iter_mut().zip(&xd[i * n..(i + 1) * n]) {
            *o = m.add(*o, m.mul_shoup(v, p, ps));
        }
    });
}

/// `P·x` over `Q_l` (`x` over `Q_l`): computed once per transform, so that each baby step adds
/// its rotation `P·σ_b(x) = σ_b(P·x)` with a permuted read and no multiplication.
fn p_times(ctx: &Context, x: &RnsPoly) -> RnsPoly {
    let n = ctx.n();
    let ring = ctx.ring();
    let nq = x.num_q();
    let mut out = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
    let xd = x.data();
    for_each_limb(out.data_mut(), n, |i, out| {
        let m = ring.modulus(i, nq);
        let p = ctx.p_mod_q(i);
        let ps = m.shoup(p);
        for (o, &v) in out.iter_mut().zip(&xd[i * n..(i + 1) * n]) {
            *o = m.mul_shoup(v, p, ps);
        }
    });
    out
}

/// `y += σ(x)` on the q-limbs of `y` (`x` over the same `Q_l`, NTT form, `perm` the
/// automorphism's NTT permutation): the rotated, P-scaled `c0` of a baby step.
fn add_permuted(ctx: &Context, y: &mut RnsPoly, x: &RnsPoly, perm: &[u32]) {
    let n = ctx.n();
    let ring = ctx.ring();
    let nq = x.num_q();
    let xd = x.data();
    let q_part = &mut y.data_mut()[..nq * n];
    for_each_limb(q_part, n, |i, out| {
        let m = ring.modulus(i, nq);
        let src = &xd[i * n..(i + 1) * n];
        for (o, &j) in out.iter_mut().zip(perm) {
            *o = m.add(*o, src[j as usize]);
        }
    });
}

fn add_into(ctx: &Context, acc: &mut Option<RnsPoly>, x: RnsPoly) {
    match acc {
        Some(a) => a.add_assign(ctx.ring(), &x),
        None => *acc = Some(x),
    }
}

impl Evaluator {
    /// The transform `Σ_g rot_g( Σ_b d_{g,b} ⊙ rot_b(ct) )` followed by one rescale, with double
    /// hoisting (see the module documentation). Every diagonal must be in NTT form over
    /// `Q_l ∪ P` at `ct`'s level `l ≥ 1` and carry `plaintext_scale`; the output has scale
    /// `ct.scale · plaintext_scale / q_l` at level `l − 1`.
    ///
    /// # Errors
    /// [`Error::Level`] at level 0, [`Error::InvalidInput`] for a diagonal of the wrong shape or
    /// an empty transform, [`Error::MissingGaloisKey`] for a missing rotation key (all checked
    /// before any work), and the usual ciphertext checks.
    pub fn linear_transform_double_hoisted(
        &self,
        ct: &Ciphertext,
        groups: &[GiantStep<'_>],
        plaintext_scale: f64,
    ) -> Result<Ciphertext> {
        self.check(ct)?;
        let ctx = &*self.ctx;
        let (ring, n) = (ctx.ring(), ctx.n());
        let nq = ct.level() + 1;
        let np = ctx.num_p();
        if nq < 2 {
            return Err(Error::Level(
                "a linear transform needs a level to rescale".into(),
            ));
        }
        if groups.iter().all(|g| g.diagonals.is_empty()) {
            return Err(Error::InvalidInput("empty linear transform".into()));
        }
        let key_for = |k: i32| -> Result<Option<&GaloisKey>> {
            let g = ctx.galois_element_for_rotation(k);
            if g == 1 {
                Ok(None)
            } else {
                self.galois_key(g, || format!("rotation by {k}")).map(Some)
            }
        };
        // Every baby step once, in a fixed order; every key checked before any work.
        let mut babies: BTreeSet<i32> = BTreeSet::new();
        let mut giant_keys = Vec::with_capacity(groups.len());
        for group in groups {
            giant_keys.push(key_for(group.giant)?);
            for &(b, d) in &group.diagonals {
                if d.n() != n || d.num_q() != nq || d.num_p() != np || d.form() != Form::Ntt {
                    return Err(Error::InvalidInput(format!(
                        "a diagonal over {} + {} limbs (form {:?}) for a ciphertext at level {}",
                        d.num_q(),
                        d.num_p(),
                        d.form(),
                        nq - 1
                    )));
                }
                babies.insert(b);
            }
        }
        let baby_keys = babies
            .iter()
            .map(|&b| key_for(b))
            .collect::<Result<Vec<_>>>()?;

        // Per giant step: x0 = d_0·c0, x1 = d_0·c1 over Q_l (identity baby step only), and
        // y0, y1 = Σ d_b·(ip0_b + P·σ_b(c0), ip1_b) over Q_l ∪ P (raw inner products).
        let mut sums: Vec<GroupSums> = groups.iter().map(|_| GroupSums::default()).collect();
        let keyed: Vec<(i32, &GaloisKey)> = babies
            .iter()
            .zip(&baby_keys)
            .filter_map(|(&b, key)| key.map(|k| (b, k)))
            .collect();
        // The identity baby steps (no key) multiply the input itself over Q_l: x0 and x1.
        for (group, sum) in groups.iter().zip(&mut sums) {
            let (mut x0, mut x1) = (Vec::new(), Vec::new());
            for (b, d) in &group.diagonals {
                if !keyed.iter().any(|(k, _)| k == b) {
                    x0.push((&ct.c0, *d));
                    x1.push((&ct.c1, *d));
                }
            }
            dot_into(ctx, &mut sum.x0, &x0);
            dot_into(ctx, &mut sum.x1, &x1);
        }
        if !keyed.is_empty() {
            let dec = decompose(ctx, &ct.c1);
            let p_c0 = p_times(ctx, &ct.c0);
            for chunk in keyed.chunks(BABY_CHUNK) {
                let rotations: BTreeMap<i32, BabyRotation> = chunk
                    .iter()
                    .map(|&(b, key)| {
                        let perm = self.permutation(key.element);
                        let (mut y0, y1) = inner_products(ctx, &dec, &key.key, Some(&perm));
                        add_permuted(ctx, &mut y0, &p_c0, &perm);
                        (b, BabyRotation { y0, y1 })
                    })
                    .collect();
                for (group, sum) in groups.iter().zip(&mut sums) {
                    let terms: Vec<(&RnsPoly, &RnsPoly, &RnsPoly)> = group
                        .diagonals
                        .iter()
                        .filter_map(|(b, d)| rotations.get(b).map(|r| (&r.y0, &r.y1, *d)))
                        .collect();
                    dot_pair_into(ctx, &mut sum.y0, &mut sum.y1, &terms);
                }
            }
        }

        // Σ over giant steps: x0, x1 over Q_l; y0, y1 over Q_l ∪ P.
        let mut out_x0: Option<RnsPoly> = None;
        let mut out_x1: Option<RnsPoly> = None;
        let mut y0 = RnsPoly::zero(n, nq, np, Form::Ntt);
        let mut y1 = RnsPoly::zero(n, nq, np, Form::Ntt);
        for (s, key) in sums.into_iter().zip(&giant_keys) {
            let Some(key) = key else {
                if let Some(x0) = s.x0 {
                    add_into(ctx, &mut out_x0, x0);
                }
                if let Some(x1) = s.x1 {
                    add_into(ctx, &mut out_x1, x1);
                }
                if let Some(s0) = s.y0 {
                    y0.add_assign(ring, &s0);
                }
                if let Some(s1) = s.y1 {
                    y1.add_assign(ring, &s1);
                }
                continue;
            };
            let perm = self.permutation(key.element);
            // The group's c1 over Q_l (x1 + y1/P), decomposed for the giant-step key switch,
            // whose raw inner products land directly in the Q_l ∪ P sums.
            let c1 = match (s.y1, s.x1) {
                (Some(s1), x1) => {
                    let mut c1 = mod_down(ctx, s1);
                    if let Some(x1) = x1 {
                        c1.add_assign(ring, &x1);
                    }
                    Some(c1)
                }
                (None, x1) => x1,
            };
            if let Some(c1) = c1 {
                // One key for this decomposition: rotate c1 first and use the fused ModUp and
                // inner products (the raised digits never reach memory).
                let rotated = c1.automorphism(ring, key.element, &perm);
                let (k0, k1) = key_switch_inner_products(ctx, &rotated, &key.key);
                y0.add_assign(ring, &k0);
                y1.add_assign(ring, &k1);
            }
            if let Some(x0) = s.x0 {
                add_into(ctx, &mut out_x0, x0.automorphism(ring, key.element, &perm));
            }
            if let Some(s0) = s.y0 {
                y0.add_assign(ring, &s0.automorphism(ring, key.element, &perm));
            }
        }
        if let Some(x0) = &out_x0 {
            add_p_times(ctx, &mut y0, x0);
        }
        if let Some(x1) = &out_x1 {
            add_p_times(ctx, &mut y1, x1);
        }
        let (c0, c1) = join(
            n,
            || mod_down_and_rescale(ctx, y0),
            || mod_down_and_rescale(ctx, y1),
        );
        Ok(Ciphertext {
            c0,
            c1,
            scale: ct.scale * plaintext_scale / ctx.q(nq - 1) as f64,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        })
    }
}
