//! Sums of ciphertext products, relinearized and rescaled with only their quadratic part in
//! memory.
//!
//! `Σ_k a_k·b_k + c` has three parts: `d0 = Σ a0·b0 + c0`, `d1 = Σ (a0·b1 + a1·b0) + c1` and
//! `d2 = Σ a1·b1`. Only `d2` is key-switched, so only `d2` is materialised (one lazy sum, one
//! reduction per coefficient). `d0` and `d1` join the key switch's raw inner products as
//! `P·d0`, `P·d1` inside the division by `q_l·P` (ModDown fused with the rescale), limb by
//! limb while each limb is in cache: no three-part product, no partial sums and no separate
//! pass that adds `P·d` are written to memory. The result equals, residue for residue, the
//! tensor products summed, relinearized and rescaled one step at a time.

use super::Evaluator;
use crate::crypto::Ciphertext;
use crate::error::{Error, Result};
use crate::keys::switching::{key_switch_inner_products, mod_down_and_rescale_with};
use crate::math::modulus::Modulus;
use crate::math::poly::{Form, RnsPoly, for_each_limb, join};

/// Products per 128-bit lazy sum with a reduced residue on top (each product is below 2^124).
const LAZY_PRODUCTS: usize = 14;

/// Factor limbs of one coefficient-wise sum of products.
type FactorLimbs<'a> = Vec<(&'a [u64], &'a [u64])>;

impl Evaluator {
    /// `(Σ_k a_k·b_k + addend) / q_l`, relinearized once and rescaled with the key switch's
    /// division (one exact rounded division by `q_l·P`); see the module documentation. Every
    /// operand must be at the same level `l ≥ 1`, the products must have one scale and the
    /// addend that scale too; the result has scale `a·b / q_l` at level `l − 1`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] without pairs or for operands with different slot counts,
    /// [`Error::Level`] for operands at different levels or at level 0,
    /// [`Error::ScaleMismatch`] for products (or the addend) of different scales,
    /// [`Error::MissingRelinKey`] without the relinearization key, and the usual ciphertext
    /// checks.
    pub fn sum_of_products_and_rescale(
        &self,
        pairs: &[(&Ciphertext, &Ciphertext)],
        addend: Option<&Ciphertext>,
    ) -> Result<Ciphertext> {
        let Some(&(first_a, first_b)) = pairs.first() else {
            return Err(Error::InvalidInput(
                "a sum of products needs a product".into(),
            ));
        };
        let level = first_a.level();
        let scale = first_a.scale * first_b.scale;
        for ct in pairs.iter().flat_map(|&(a, b)| [a, b]).chain(addend) {
            self.check(ct)?;
            Self::check_slots(first_a.slots, ct.slots)?;
            if ct.level() != level {
                return Err(Error::Level(format!(
                    "sum of products at level {level} with an operand at level {}",
                    ct.level()
                )));
            }
        }
        for s in pairs
            .iter()
            .map(|(a, b)| a.scale * b.scale)
            .chain(addend.map(|c| c.scale))
        {
            if !super::scales_match(scale, s) {
                return Err(Error::ScaleMismatch {
                    left: scale,
                    right: s,
                });
            }
        }
        if level == 0 {
            return Err(Error::Level(
                "cannot rescale a level-0 product: no prime left to divide by".into(),
            ));
        }
        let key = self.relin_key()?;
        let ctx = &*self.ctx;
        let ring = ctx.ring();
        let (n, nq) = (ctx.n(), level + 1);
        // d2 = Σ a1·b1 over Q_l, the only part that is key-switched.
        let mut d2 = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        for_each_limb(d2.data_mut(), n, |i, out| {
            let terms: FactorLimbs<'_> = pairs
                .iter()
                .map(|(a, b)| (a.c1.limb(i), b.c1.limb(i)))
                .collect();
            add_times_dot(ring.modulus(i, nq), None, &terms, None, false, out);
        });
        let (acc0, acc1) = key_switch_inner_products(ctx, &d2, &key.key);
        drop(d2);
        // P·d0 and P·d1, limb by limb inside the division.
        let linear0 = |i: usize, limb: &mut [u64]| {
            let terms: FactorLimbs<'_> = pairs
                .iter()
                .map(|(a, b)| (a.c0.limb(i), b.c0.limb(i)))
                .collect();
            let m = ring.modulus(i, nq);
            add_times_dot(
                m,
                Some(ctx.p_mod_q(i)),
                &terms,
                addend.map(|c| c.c0.limb(i)),
                true,
                limb,
            );
        };
        let linear1 = |i: usize, limb: &mut [u64]| {
            let terms: FactorLimbs<'_> = pairs
                .iter()
                .flat_map(|(a, b)| [(a.c0.limb(i), b.c1.limb(i)), (a.c1.limb(i), b.c0.limb(i))])
                .collect();
            let m = ring.modulus(i, nq);
            add_times_dot(
                m,
                Some(ctx.p_mod_q(i)),
                &terms,
                addend.map(|c| c.c1.limb(i)),
                true,
                limb,
            );
        };
        let (c0, c1) = join(
            n,
            || mod_down_and_rescale_with(ctx, acc0, Some(&linear0)),
            || mod_down_and_rescale_with(ctx, acc1, Some(&linear1)),
        );
        Ok(Ciphertext {
            c0,
            c1,
            scale: scale / ctx.q(level) as f64,
            slots: first_a.slots,
            context_id: first_a.context_id,
            seed: None,
        })
    }
}

/// `out[c] (+)= w · (Σ_k x_k[c]·y_k[c] + init[c])` modulo `m` (`w = 1` when `None`; added to
/// `out` when `accumulate`, written otherwise), with one reduction per coefficient for up to
/// [`LAZY_PRODUCTS`] terms (more: one per product).
fn add_times_dot(
    m: &Modulus,
    w: Option<u64>,
    terms: &[(&[u64], &[u64])],
    init: Option<&[u64]>,
    accumulate: bool,
    out: &mut [u64],
) {
    let w = w.map(|w| (w, m.shoup(w)));
    let scaled = |v: u64| w.map_or(v, |(w, ws)| m.mul_shoup(v, w, ws));
    let store = |o: &mut u64, v: u64| *o = if accumulate { m.add(*o, v) } else { v };
    if terms.len() <= LAZY_PRODUCTS {
        for (c, o) in out.iter_mut().enumerate() {
            let mut s = init.map_or(0, |x| x[c] as u128);
            for (x, y) in terms {
                s += x[c] as u128 * y[c] as u128;
            }
            store(o, scaled(m.reduce_u128(s)));
        }
    } else {
        for (c, o) in out.iter_mut().enumerate() {
            let mut r = init.map_or(0, |x| x[c]);
            for (x, y) in terms {
                r = m.add(r, m.mul(x[c], y[c]));
            }
            store(o, scaled(r));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyGenerator;
    use crate::math::sample::{Prng, uniform_poly};
    use crate::params::context::Context;
    use crate::params::{ParameterSpec, SecretDistribution, SecurityLevel};
    use std::sync::Arc;

    /// Insecure test parameters (N = 2^10), three digits over six q primes.
    fn insecure_evaluator() -> Evaluator {
        let spec = ParameterSpec {
            name: "insecure-test-products".into(),
            log_n: 10,
            q_bits: vec![50, 40, 40, 40, 40, 40],
            p_bits: vec![55, 55],
            log_scale: 40,
            dnum: 3,
            secret: SecretDistribution::Ternary,
            security: SecurityLevel::InsecureForTests,
        };
        let ctx: Arc<Context> = Context::new(&spec, true).unwrap();
        let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([3; 32]));
        let keys = kg.evaluation_keys(&[], false).unwrap();
        Evaluator::new(&ctx, Some(Arc::new(keys))).unwrap()
    }

    /// A ciphertext with uniform residues at `level` (exact comparisons need no decryption).
    fn random_ct(ev: &Evaluator, level: usize, scale: f64, seed: u8) -> Ciphertext {
        let ctx = ev.context();
        let c0 = uniform_poly(ctx.ring(), &[seed; 32], level + 1, 0);
        let c1 = uniform_poly(ctx.ring(), &[seed + 100; 32], level + 1, 0);
        Ciphertext::from_parts(c0, c1, scale, ctx.max_slots(), ctx.id(), None).unwrap()
    }

    /// The fused sum equals the tensor products summed, relinearized and rescaled step by step,
    /// residue for residue: one product, three products with an addend, at two levels.
    #[test]
    fn fused_sum_of_products_equals_step_by_step() {
        let ev = insecure_evaluator();
        let s = 2f64.powi(40);
        for level in [5, 2] {
            let cts: Vec<Ciphertext> = (0..6u8).map(|k| random_ct(&ev, level, s, k)).collect();
            let addend = random_ct(&ev, level, s * s, 50);
            let one = [(&cts[0], &cts[1])];
            let three = [(&cts[0], &cts[1]), (&cts[2], &cts[2]), (&cts[4], &cts[5])];
            for (pairs, add) in [(&one[..], None), (&three[..], Some(&addend))] {
                let mut t = ev.mul_no_relin(pairs[0].0, pairs[0].1).unwrap();
                for (a, b) in &pairs[1..] {
                    t = ev.add3(&t, &ev.mul_no_relin(a, b).unwrap()).unwrap();
                }
                if let Some(c) = add {
                    t.d0.add_assign(ev.context().ring(), &c.c0);
                    t.d1.add_assign(ev.context().ring(), &c.c1);
                }
                let want = ev.relinearize_and_rescale(&t).unwrap();
                let got = ev.sum_of_products_and_rescale(pairs, add).unwrap();
                assert_eq!(got.c0, want.c0, "level {level}, {} pairs", pairs.len());
                assert_eq!(got.c1, want.c1, "level {level}, {} pairs", pairs.len());
                assert_eq!(got.level(), level - 1);
                assert!(super::super::scales_match(got.scale, want.scale));
            }
        }
    }

    /// Bad inputs are typed errors: no pairs, mixed levels, mixed scales, level 0.
    #[test]
    fn sum_of_products_rejects_bad_operands() {
        let ev = insecure_evaluator();
        let s = 2f64.powi(40);
        let (a, b) = (random_ct(&ev, 3, s, 1), random_ct(&ev, 2, s, 2));
        assert!(matches!(
            ev.sum_of_products_and_rescale(&[], None),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            ev.sum_of_products_and_rescale(&[(&a, &b)], None),
            Err(Error::Level(_))
        ));
        let c = random_ct(&ev, 3, 2.0 * s, 3);
        assert!(matches!(
            ev.sum_of_products_and_rescale(&[(&a, &a), (&a, &c)], None),
            Err(Error::ScaleMismatch { .. })
        ));
        assert!(matches!(
            ev.sum_of_products_and_rescale(&[(&a, &a)], Some(&a)),
            Err(Error::ScaleMismatch { .. })
        ));
        let z = random_ct(&ev, 0, s, 4);
        assert!(matches!(
            ev.sum_of_products_and_rescale(&[(&z, &z)], None),
            Err(Error::Level(_))
        ));
    }
}
