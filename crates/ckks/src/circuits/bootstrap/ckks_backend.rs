//! [`CkksBackend`]: the circuits' [`SlotBackend`] on real ciphertexts ([`Evaluator`] + [`Encoder`]).
//!
//! Inside a bootstrap every ciphertext is treated as full-slot (its physical N/2 slots): the
//! sparse input's slots are periodic and the transforms keep track of the period themselves.
//! Plaintext diagonals are kept in NTT form at their level ([`NttPlaintext`]), so a product
//! with a pre-encoded diagonal is one pointwise multiplication per limb, with no transform.
//! The DFT diagonals are also encoded modulo the special primes, so that the linear transforms
//! run double-hoisted ([`Evaluator::linear_transform_double_hoisted`]).

use std::borrow::Cow;

use num_complex::Complex64;

use super::encapsulation::SparseSecretKeys;
use crate::circuits::backend::{SCALE_TOLERANCE, SlotBackend};
use crate::circuits::lintrans::eval::{EncodedGroup, apply_with_primitives};
use crate::crypto::Ciphertext;
use crate::encoding::Encoder;
use crate::eval::{Evaluator, GiantStep};
use crate::math::poly::RnsPoly;
use crate::math::pool;
use crate::{Error, Result};

/// A plaintext polynomial in NTT form with `level + 1` limbs and its scale.
#[derive(Debug, Clone, PartialEq)]
pub struct NttPlaintext {
    poly: RnsPoly,
    level: usize,
    scale: f64,
}

impl NttPlaintext {
    /// Memory held, in bytes.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of_val(self.poly.data())
    }

    /// The polynomial over `Q_level` only (a copy without the special-prime limbs if it has
    /// them).
    fn q_poly(&self) -> Cow<'_, RnsPoly> {
        if self.poly.num_p() == 0 {
            Cow::Borrowed(&self.poly)
        } else {
            let mut q = self.poly.clone();
            q.drop_p();
            Cow::Owned(q)
        }
    }
}

/// The CKKS evaluator and encoder seen through [`SlotBackend`].
#[derive(Debug, Clone, Copy)]
pub struct CkksBackend<'a> {
    eval: &'a Evaluator,
    encoder: &'a Encoder,
    encapsulation: Option<&'a SparseSecretKeys>,
}

impl<'a> CkksBackend<'a> {
    /// Wraps an evaluator (holding the bootstrapping keys) and an encoder of the same context.
    pub fn new(eval: &'a Evaluator, encoder: &'a Encoder) -> Result<Self> {
        if eval.context().id() != encoder.context().id() {
            return Err(Error::ParameterMismatch(
                "evaluator and encoder belong to different contexts".into(),
            ));
        }
        Ok(Self {
            eval,
            encoder,
            encapsulation: None,
        })
    }

    /// ModRaise through the sparse-secret encapsulation (dense → sparse at level 0, raise,
    /// sparse → dense at the top).
    pub fn with_encapsulation(mut self, keys: &'a SparseSecretKeys) -> Self {
        self.encapsulation = Some(keys);
        self
    }

    /// The evaluator.
    pub fn evaluator(&self) -> &Evaluator {
        self.eval
    }

    fn step(&self, step: i64) -> i32 {
        let half = self.eval.context().max_slots() as i64;
        // in [0, N/2) ⊂ i32 for every supported ring degree
        step.rem_euclid(half) as i32
    }

    fn full(&self, mut ct: Ciphertext) -> Ciphertext {
        ct.slots = self.eval.context().max_slots();
        ct
    }
}

impl SlotBackend for CkksBackend<'_> {
    type Ct = Ciphertext;
    type Pt = NttPlaintext;

    fn max_slots(&self) -> usize {
        self.eval.context().max_slots()
    }

    fn max_level(&self) -> usize {
        self.eval.context().max_level()
    }

    fn level(&self, ct: &Ciphertext) -> usize {
        ct.level()
    }

    fn scale(&self, ct: &Ciphertext) -> f64 {
        ct.scale()
    }

    fn set_scale(&self, ct: &mut Ciphertext, scale: f64) {
        ct.set_scale(scale);
    }

    fn prime(&self, level: usize) -> f64 {
        let ctx = self.eval.context();
        if level > ctx.max_level() {
            return f64::NAN;
        }
        ctx.q(level) as f64
    }

    fn encode(&self, values: &[Complex64], level: usize, scale: f64) -> Result<NttPlaintext> {
        let poly = self.encoder.encode_poly(values, level, scale)?;
        Ok(NttPlaintext { poly, level, scale })
    }

    fn encode_diagonal(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<NttPlaintext> {
        let poly = self.encoder.encode_poly_extended(values, level, scale)?;
        Ok(NttPlaintext { poly, level, scale })
    }

    fn linear_transform(
        &self,
        ct: &Ciphertext,
        baby_steps: &[i64],
        groups: &[EncodedGroup<NttPlaintext>],
    ) -> Result<Ciphertext> {
        let mut pts = groups.iter().flat_map(|(_, g)| g.iter().map(|(_, pt)| pt));
        let Some(first) = pts.next() else {
            return Err(Error::InvalidInput("empty linear transform".into()));
        };
        let np = self.eval.context().num_p();
        let uniform = pts.all(|pt| {
            pt.level == first.level
                && pt.poly.num_p() == np
                && (pt.scale - first.scale).abs() <= SCALE_TOLERANCE * first.scale
        });
        if !uniform || first.poly.num_p() != np {
            // Diagonals not encoded for double hoisting: the generic evaluation.
            return apply_with_primitives(self, ct, baby_steps, groups);
        }
        if ct.level() != first.level {
            return Err(Error::Level(format!(
                "linear transform encoded for level {} applied at level {}",
                first.level,
                ct.level()
            )));
        }
        let steps: Vec<GiantStep<'_>> = groups
            .iter()
            .map(|(giant, group)| GiantStep {
                giant: self.step(*giant),
                diagonals: group
                    .iter()
                    .map(|(b, pt)| (self.step(*b), &pt.poly))
                    .collect(),
            })
            .collect();
        self.eval
            .linear_transform_double_hoisted(ct, &steps, first.scale)
    }

    fn add(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.add(a, b)
    }

    fn sub(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        self.eval.sub(a, b)
    }

    fn mul_plain(&self, ct: &Ciphertext, pt: &NttPlaintext) -> Result<Ciphertext> {
        if ct.level() != pt.level {
            return Err(Error::Level(format!(
                "ciphertext at level {} times plaintext at level {}",
                ct.level(),
                pt.level
            )));
        }
        let ring = self.eval.context().ring();
        let mut out = ct.clone();
        let poly = pt.q_poly();
        out.c0.mul_assign(ring, &poly);
        out.c1.mul_assign(ring, &poly);
        out.scale *= pt.scale;
        out.seed = None;
        Ok(out)
    }

    fn mul_plain_add(
        &self,
        acc: &mut Ciphertext,
        ct: &Ciphertext,
        pt: &NttPlaintext,
    ) -> Result<()> {
        let product_scale = ct.scale * pt.scale;
        if acc.level() != ct.level() || ct.level() != pt.level {
            return Err(Error::Level(format!(
                "accumulator at level {}, product of levels {} and {}",
                acc.level(),
                ct.level(),
                pt.level
            )));
        }
        if (acc.scale - product_scale).abs() > SCALE_TOLERANCE * acc.scale.max(product_scale) {
            return Err(Error::ScaleMismatch {
                left: acc.scale,
                right: product_scale,
            });
        }
        let ring = self.eval.context().ring();
        let poly = pt.q_poly();
        acc.c0.add_mul_assign(ring, &ct.c0, &poly);
        acc.c1.add_mul_assign(ring, &ct.c1, &poly);
        acc.seed = None;
        Ok(())
    }

    fn mul_const(&self, ct: &Ciphertext, value: f64, const_scale: f64) -> Result<Ciphertext> {
        self.eval
            .mul_const_with_scale(ct, Complex64::new(value, 0.0), const_scale)
    }

    fn linear_combination(
        &self,
        terms: &[(&Ciphertext, f64)],
        constant: f64,
        result_scale: f64,
    ) -> Result<Ciphertext> {
        let level = terms
            .iter()
            .map(|(ct, _)| ct.level())
            .min()
            .ok_or_else(|| Error::InvalidInput("a linear combination needs a term".into()))?;
        self.eval
            .linear_combination_at(terms, level, constant, result_scale)
    }

    fn add_const(&self, ct: &Ciphertext, value: Complex64) -> Result<Ciphertext> {
        self.eval.add_const(ct, value)
    }

    fn mul_i(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.eval.mul_i(ct)
    }

    fn mul_relin(&self, a: &Ciphertext, b: &Ciphertext) -> Result<Ciphertext> {
        if a.level() != b.level() {
            return Err(Error::Level(format!(
                "product of levels {} and {}",
                a.level(),
                b.level()
            )));
        }
        self.eval.mul(a, b)
    }

    fn mul_relin_rescale(
        &self,
        a: &Ciphertext,
        b: &Ciphertext,
        addend: Option<&Ciphertext>,
    ) -> Result<Ciphertext> {
        self.sum_of_products_rescale(&[(a, b)], addend)
    }

    fn sum_of_products_rescale(
        &self,
        pairs: &[(&Ciphertext, &Ciphertext)],
        addend: Option<&Ciphertext>,
    ) -> Result<Ciphertext> {
        // The evaluator checks levels, scales and slots (typed errors).
        self.eval.sum_of_products_and_rescale(pairs, addend)
    }

    fn rescale(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.eval.rescale(ct)
    }

    fn drop_to_level(&self, ct: &Ciphertext, level: usize) -> Result<Ciphertext> {
        if level >= ct.level() {
            // Same level: a copy; above: the evaluator's typed error.
            return self.eval.drop_to_level(ct, level);
        }
        // Copy only the limbs that stay (the evaluator copies the whole ciphertext first).
        let n = self.eval.context().n();
        let prefix = |p: &RnsPoly| {
            let mut data = pool::take_empty((level + 1) * n);
            data.extend_from_slice(&p.data()[..(level + 1) * n]);
            RnsPoly::from_data(n, level + 1, 0, p.form(), data)
                .ok_or_else(|| Error::InvalidInput("ciphertext limb layout".into()))
        };
        Ciphertext::from_parts(
            prefix(&ct.c0)?,
            prefix(&ct.c1)?,
            ct.scale,
            ct.slots,
            ct.context_id,
            None,
        )
    }

    fn rotate(&self, ct: &Ciphertext, step: i64) -> Result<Ciphertext> {
        self.eval.rotate(ct, self.step(step))
    }

    fn rotate_hoisted(&self, ct: &Ciphertext, steps: &[i64]) -> Result<Vec<Ciphertext>> {
        if steps.is_empty() {
            return Ok(Vec::new());
        }
        let steps: Vec<i32> = steps.iter().map(|&s| self.step(s)).collect();
        self.eval.rotate_hoisted(ct, &steps)
    }

    fn conjugate(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        self.eval.conjugate(ct)
    }

    fn mod_raise(&self, ct: &Ciphertext) -> Result<Ciphertext> {
        let ctx = self.eval.context();
        let raised = match self.encapsulation {
            None => self.eval.mod_raise(ct)?,
            Some(keys) => {
                let sparse = keys.to_sparse(ctx, ct)?;
                keys.raise_to_dense(ctx, &sparse)?
            }
        };
        Ok(self.full(raised))
    }
}
