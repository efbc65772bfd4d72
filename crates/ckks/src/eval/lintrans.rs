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
//!   `σ_b(c0)` once divided by P), so a baby step is two polynomials over `Q_l ∪ P`; they are
//!   computed block by block and multiplied by the diagonals at once, never stored whole
//!   ([`super::baby_steps`]);
//! * the diagonals, encoded over `Q_l ∪ P`, multiply those raw inner products; each giant step
//!   needs one ModDown (of its sum's `c1`, which it must decompose) instead of one per baby
//!   step, and its own key switch (ModUp fused with the inner products) stays over `Q_l ∪ P`
//!   as well;
//! * everything is summed over `Q_l ∪ P` and divided by `q_l·P` once per output polynomial
//!   (ModDown fused with the rescale), so the whole transform carries a single rounding.
//!
//! Writing `x` for the parts over `Q_l` and `y` for those over `Q_l ∪ P`, every partial result
//! stands for `x + y/P`; the final division computes `round((P·x + y) / (q_l·P))` exactly.

use std::collections::BTreeSet;

use super::Evaluator;
use super::baby_steps::{BabyStep, baby_step_sums};
use crate::crypto::Ciphertext;
use crate::error::{Error, Result};
use crate::keys::GaloisKey;
use crate::keys::switching::{
    decompose, key_switch_inner_products, mod_down, mod_down_and_rescale,
};
use crate::math::poly::{Form, RnsPoly, for_each_limb, join};
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
            let perms: Vec<_> = keyed
                .iter()
                .map(|(_, key)| self.permutation(key.element))
                .collect();
            let steps: Vec<BabyStep<'_>> = keyed
                .iter()
                .zip(&perms)
                .map(|((_, key), perm)| BabyStep {
                    key: &key.key,
                    perm,
                })
                .collect();
            let terms: Vec<Vec<(usize, &RnsPoly)>> = groups
                .iter()
                .map(|group| {
                    group
                        .diagonals
                        .iter()
                        .filter_map(|(b, d)| {
                            keyed.iter().position(|(k, _)| k == b).map(|i| (i, *d))
                        })
                        .collect()
                })
                .collect();
            let baby_sums = baby_step_sums(ctx, &dec, &p_c0, &steps, &terms);
            for (sum, baby) in sums.iter_mut().zip(baby_sums) {
                if let Some((y0, y1)) = baby {
                    sum.y0 = Some(y0);
                    sum.y1 = Some(y1);
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
