//! Automorphisms (rotations, conjugation), hoisting, and exact monomial products.

use super::Evaluator;
use crate::crypto::Ciphertext;
use crate::error::{Error, Result};
use crate::keys::switching::{
    decompose, inner_products, inner_products_into, key_switch, key_switch_decomposed, mod_down,
};
use crate::keys::{Decomposed, GaloisKey};
use crate::math::poly::{Form, RnsPoly, for_each_limb};

impl Evaluator {
    pub(super) fn galois_key(
        &self,
        element: u64,
        what: impl FnOnce() -> String,
    ) -> Result<&GaloisKey> {
        self.keys
            .as_ref()
            .and_then(|k| k.galois.get(element))
            .ok_or_else(|| Error::MissingGaloisKey(what()))
    }

    /// Applies `X → X^element` with its Galois key: `(σ(c0), 0) + KeySwitch(σ(c1))`.
    pub fn apply_galois(&self, ct: &Ciphertext, element: u64) -> Result<Ciphertext> {
        self.check(ct)?;
        let key = self.galois_key(element, || format!("Galois element {element}"))?;
        Ok(self.apply_galois_with(ct, key))
    }

    fn apply_galois_with(&self, ct: &Ciphertext, key: &GaloisKey) -> Ciphertext {
        let ring = self.ctx.ring();
        let g = key.element;
        let perm = self.permutation(g);
        let c1 = ct.c1.automorphism(ring, g, &perm);
        let (k0, k1) = key_switch(&self.ctx, &c1, &key.key);
        let mut c0 = ct.c0.automorphism(ring, g, &perm);
        c0.add_assign(ring, &k0);
        Ciphertext {
            c0,
            c1: k1,
            scale: ct.scale,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        }
    }

    /// Left rotation of the slots by `k` (negative: right), using the Galois element `5^k`;
    /// see the module documentation for sparse slots. Rotation by a multiple of N/2 is a copy.
    /// [`Error::MissingGaloisKey`] ("rotation by k") if the key was not generated.
    pub fn rotate(&self, ct: &Ciphertext, k: i32) -> Result<Ciphertext> {
        self.check(ct)?;
        let g = self.ctx.galois_element_for_rotation(k);
        if g == 1 {
            return Ok(ct.clone());
        }
        let key = self.galois_key(g, || format!("rotation by {k}"))?;
        Ok(self.apply_galois_with(ct, key))
    }

    /// The key-independent half of key switching for `ct.c1`: its digits raised to `Q_l ∪ P`.
    /// Compute it once, then call [`Evaluator::rotate_decomposed`] for each step (hoisting).
    pub fn decompose(&self, ct: &Ciphertext) -> Result<Decomposed> {
        self.check(ct)?;
        Ok(decompose(&self.ctx, &ct.c1))
    }

    /// Left rotation by `k` of `ct`, reusing `dec = self.decompose(ct)` (Halevi–Shoup: the
    /// automorphism is applied to the raised digits in NTT form). `dec` must come from `ct`.
    pub fn rotate_decomposed(
        &self,
        ct: &Ciphertext,
        dec: &Decomposed,
        k: i32,
    ) -> Result<Ciphertext> {
        self.check(ct)?;
        if dec.level() != ct.level() {
            return Err(Error::Level(format!(
                "decomposition at level {} used with a ciphertext at level {}",
                dec.level(),
                ct.level()
            )));
        }
        let g = self.ctx.galois_element_for_rotation(k);
        if g == 1 {
            return Ok(ct.clone());
        }
        let key = self.galois_key(g, || format!("rotation by {k}"))?;
        Ok(self.apply_galois_decomposed(ct, dec, key))
    }

    fn apply_galois_decomposed(
        &self,
        ct: &Ciphertext,
        dec: &Decomposed,
        key: &GaloisKey,
    ) -> Ciphertext {
        let ring = self.ctx.ring();
        let perm = self.permutation(key.element);
        let (k0, k1) = key_switch_decomposed(&self.ctx, dec, &key.key, Some(&perm));
        let mut c0 = ct.c0.automorphism(ring, key.element, &perm);
        c0.add_assign(ring, &k0);
        Ciphertext {
            c0,
            c1: k1,
            scale: ct.scale,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        }
    }

    /// Rotations of one ciphertext by each of `steps`, sharing one digit decomposition of `c1`
    /// (see [`Evaluator::rotate_decomposed`]). All keys are checked before any work is done.
    pub fn rotate_hoisted(&self, ct: &Ciphertext, steps: &[i32]) -> Result<Vec<Ciphertext>> {
        self.check(ct)?;
        let keys = steps
            .iter()
            .map(|&k| {
                let g = self.ctx.galois_element_for_rotation(k);
                if g == 1 {
                    Ok(None)
                } else {
                    self.galois_key(g, || format!("rotation by {k}")).map(Some)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if keys.iter().all(Option::is_none) {
            return Ok(vec![ct.clone(); steps.len()]);
        }
        let dec = decompose(&self.ctx, &ct.c1);
        Ok(keys
            .iter()
            .map(|key| match key {
                None => ct.clone(),
                Some(key) => self.apply_galois_decomposed(ct, &dec, key),
            })
            .collect())
    }

    /// The sum `Σ_k rotate(ct, steps[k])` (repeated steps count repeatedly), hoisted: one
    /// decomposition of `c1`, one inner product with each rotation key accumulated over
    /// `Q_l ∪ P`, and a single ModDown for the whole sum instead of one per rotation (so the
    /// sum also carries a single rounding error). A step of 0 adds `ct` itself.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if `steps` is empty; [`Error::MissingGaloisKey`] if a rotation
    /// key is missing; the usual ciphertext checks.
    pub fn rotate_hoisted_sum(&self, ct: &Ciphertext, steps: &[i32]) -> Result<Ciphertext> {
        self.check(ct)?;
        if steps.is_empty() {
            return Err(Error::InvalidInput(
                "rotate_hoisted_sum needs at least one step".into(),
            ));
        }
        let keys = steps
            .iter()
            .map(|&k| {
                let g = self.ctx.galois_element_for_rotation(k);
                if g == 1 {
                    Ok(None)
                } else {
                    self.galois_key(g, || format!("rotation by {k}")).map(Some)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let ring = self.ctx.ring();
        let (n, nq) = (self.ctx.n(), ct.c0.num_q());
        // Σ σ_k(c0) (and the unrotated terms) over Q_l; the key-switched parts over Q_l ∪ P.
        let mut c0 = RnsPoly::zero(n, nq, 0, Form::Ntt);
        let mut c1_plain = RnsPoly::zero(n, nq, 0, Form::Ntt);
        let mut acc: Option<(RnsPoly, RnsPoly)> = None;
        let dec = if keys.iter().any(Option::is_some) {
            Some(decompose(&self.ctx, &ct.c1))
        } else {
            None
        };
        let mut rotated = RnsPoly::for_overwrite(n, nq, 0, Form::Ntt);
        for key in &keys {
            match (key, &dec) {
                (Some(key), Some(dec)) => {
                    let perm = self.permutation(key.element);
                    ct.c0
                        .automorphism_into(ring, key.element, &perm, &mut rotated);
                    c0.add_assign(ring, &rotated);
                    match &mut acc {
                        Some((a0, a1)) => {
                            inner_products_into(&self.ctx, dec, &key.key, Some(&perm), true, a0, a1)
                        }
                        None => acc = Some(inner_products(&self.ctx, dec, &key.key, Some(&perm))),
                    }
                }
                _ => {
                    c0.add_assign(ring, &ct.c0);
                    c1_plain.add_assign(ring, &ct.c1);
                }
            }
        }
        let c1 = match acc {
            Some((a0, a1)) => {
                c0.add_assign(ring, &mod_down(&self.ctx, a0));
                let mut c1 = mod_down(&self.ctx, a1);
                c1.add_assign(ring, &c1_plain);
                c1
            }
            None => c1_plain,
        };
        Ok(Ciphertext {
            c0,
            c1,
            scale: ct.scale,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        })
    }

    /// Complex conjugation of every slot ([`Error::MissingGaloisKey`] "conjugation" without
    /// its key).
    pub fn conjugate(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check(ct)?;
        let g = self.ctx.galois_element_for_conjugation();
        let key = self.galois_key(g, || "conjugation".to_string())?;
        Ok(self.apply_galois_with(ct, key))
    }

    /// Multiplies every slot by `i`: the exact product with `X^(N/2)` (no level, no noise).
    pub fn mul_i(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check(ct)?;
        let mut out = ct.clone();
        let nq = out.c0.num_q();
        let ring = self.ctx.ring();
        let signs = self.ctx.half_monomial_signs();
        let n = self.ctx.n();
        let apply = |poly: &mut RnsPoly| {
            for_each_limb(poly.data_mut(), n, |i, limb| {
                let m = ring.modulus(i, nq);
                let unit = self.ctx.imaginary_unit(i, nq);
                let neg_unit = m.neg(unit);
                let (us, ns) = (m.shoup(unit), m.shoup(neg_unit));
                for (v, &s) in limb.iter_mut().zip(signs) {
                    *v = if s {
                        m.mul_shoup(*v, unit, us)
                    } else {
                        m.mul_shoup(*v, neg_unit, ns)
                    };
                }
            });
        };
        apply(&mut out.c0);
        apply(&mut out.c1);
        out.seed = None;
        Ok(out)
    }

    /// Multiplies by the monomial `X^k` (exact, no level; `X^N = -1`).
    pub fn mul_by_monomial(&self, ct: &Ciphertext, k: usize) -> Result<Ciphertext> {
        self.check(ct)?;
        let mut out = ct.clone();
        let ring = self.ctx.ring();
        out.c0.mul_monomial(ring, k);
        out.c1.mul_monomial(ring, k);
        out.seed = None;
        Ok(out)
    }

    /// ModRaise for bootstrapping: reinterprets a level-0 ciphertext modulo the whole q chain
    /// (centered lift of each coefficient modulo q_0). The plaintext gains `q_0·I` for a small
    /// integer polynomial `I`; the scale is unchanged. [`Error::Level`] unless at level 0.
    pub fn mod_raise(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.check(ct)?;
        if ct.level() != 0 {
            return Err(Error::Level(format!(
                "mod_raise takes a level-0 ciphertext, got level {}",
                ct.level()
            )));
        }
        let ring = self.ctx.ring();
        let q0 = ring.q_tables()[0].modulus();
        let nq = self.ctx.max_level() + 1;
        let raise = |p: &RnsPoly| {
            let mut c = p.clone();
            c.intt(ring);
            let centered: Vec<i64> = c.limb(0).iter().map(|&v| q0.center(v)).collect();
            let mut out = RnsPoly::from_signed(ring, &centered, nq, 0);
            out.ntt(ring);
            debug_assert_eq!(out.form(), Form::Ntt);
            out
        };
        Ok(Ciphertext {
            c0: raise(&ct.c0),
            c1: raise(&ct.c1),
            scale: ct.scale,
            slots: ct.slots,
            context_id: ct.context_id,
            seed: None,
        })
    }
}
