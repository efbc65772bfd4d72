//! [`CkksBackend`]: the circuits' [`SlotBackend`] on real ciphertexts ([`Evaluator`] + [`Encoder`]).
//!
//! Inside a bootstrap every ciphertext is treated as full-slot (its physical N/2 slots): the
//! sparse input's slots are periodic and the transforms keep track of the period themselves.
//! Plaintext diagonals are kept in NTT form at their level ([`NttPlaintext`]), so a product
//! with a pre-encoded diagonal is one pointwise multiplication per limb, with no transform.
//! The DFT diagonals are also encoded modulo the special primes, so that the linear transforms
//! run double-hoisted ([`Evaluator::linear_transform_double_hoisted`]). With deferred diagonals
//! ([`CkksBackend::with_deferred_diagonals`], the lean memory layout of long chains) a diagonal
//! keeps its slot values, one complex number per slot instead of `l + 1 + K` limbs, and is
//! encoded when its transform runs, a few giant steps at a time.

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

/// Bytes of deferred diagonals encoded at once inside a transform: the giant steps are
/// evaluated in chunks of about this size (each chunk repeats the input's decomposition). On
/// `boot-n16-deep` (18.5 MiB per diagonal at the top) a chunk is one giant step: 384 MiB took
/// the full-slot bootstrap to a 12.01 GiB peak, above the 12 GiB budget.
const DEFERRED_CHUNK_BYTES: usize = 192 << 20;

/// A plaintext at a level with its scale: a polynomial in NTT form with `level + 1` limbs
/// (and the special primes' for a diagonal), or a diagonal's slot values to encode when used.
#[derive(Debug, Clone, PartialEq)]
pub struct NttPlaintext {
    body: PlaintextBody,
    level: usize,
    scale: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum PlaintextBody {
    /// Encoded in NTT form.
    Encoded(RnsPoly),
    /// Slot values of a diagonal, encoded over `Q_level ∪ P` when needed.
    Deferred(Vec<Complex64>),
}

impl NttPlaintext {
    /// Memory held, in bytes.
    pub fn size_bytes(&self) -> usize {
        match &self.body {
            PlaintextBody::Encoded(poly) => std::mem::size_of_val(poly.data()),
            PlaintextBody::Deferred(values) => std::mem::size_of_val(values.as_slice()),
        }
    }

    /// Whether the plaintext is kept as slot values until used.
    pub fn is_deferred(&self) -> bool {
        matches!(self.body, PlaintextBody::Deferred(_))
    }
}

/// The CKKS evaluator and encoder seen through [`SlotBackend`].
#[derive(Debug, Clone, Copy)]
pub struct CkksBackend<'a> {
    eval: &'a Evaluator,
    encoder: &'a Encoder,
    encapsulation: Option<&'a SparseSecretKeys>,
    defer_diagonals: bool,
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
            defer_diagonals: false,
        })
    }

    /// Keeps the diagonals of [`SlotBackend::encode_diagonal`] as slot values and encodes them
    /// when their transform runs (less memory, an encoding per diagonal and use).
    pub fn with_deferred_diagonals(mut self, defer: bool) -> Self {
        self.defer_diagonals = defer;
        self
    }

    /// The plaintext over `Q_level` only (a copy without the special-prime limbs if it has
    /// them; an encoding if it is deferred).
    fn q_poly<'p>(&self, pt: &'p NttPlaintext) -> Result<Cow<'p, RnsPoly>> {
        match &pt.body {
            PlaintextBody::Encoded(poly) if poly.num_p() == 0 => Ok(Cow::Borrowed(poly)),
            PlaintextBody::Encoded(poly) => {
                let mut q = poly.clone();
                q.drop_p();
                Ok(Cow::Owned(q))
            }
            PlaintextBody::Deferred(values) => Ok(Cow::Owned(
                self.encoder.encode_poly(values, pt.level, pt.scale)?,
            )),
        }
    }

    /// Whether the plaintext is (or will be encoded) over `Q_level ∪ P`.
    fn is_extended(&self, pt: &NttPlaintext) -> bool {
        match &pt.body {
            PlaintextBody::Encoded(poly) => poly.num_p() == self.eval.context().num_p(),
            PlaintextBody::Deferred(_) => true,
        }
    }

    /// The plaintext over `Q_level ∪ P` (an encoding if it is deferred).
    fn extended_poly<'p>(&self, pt: &'p NttPlaintext) -> Result<Cow<'p, RnsPoly>> {
        match &pt.body {
            PlaintextBody::Encoded(poly) => Ok(Cow::Borrowed(poly)),
            PlaintextBody::Deferred(values) => Ok(Cow::Owned(
                self.encoder
                    .encode_poly_extended(values, pt.level, pt.scale)?,
            )),
        }
    }

    /// The double-hoisted transform over `groups`, whose diagonals are all extended, at one
    /// level and one scale. Deferred diagonals are encoded a chunk of giant steps at a time
    /// (about [`DEFERRED_CHUNK_BYTES`]); the chunks' rescaled outputs are summed.
    fn double_hoisted(
        &self,
        ct: &Ciphertext,
        groups: &[EncodedGroup<NttPlaintext>],
        scale: f64,
    ) -> Result<Ciphertext> {
        let ctx = self.eval.context();
        let diagonal_bytes = (ct.level() + 1 + ctx.num_p()) * ctx.n() * 8;
        let per_chunk = (DEFERRED_CHUNK_BYTES / diagonal_bytes.max(1)).max(1);
        let deferred = groups
            .iter()
            .any(|(_, g)| g.iter().any(|(_, pt)| pt.is_deferred()));
        let mut chunks: Vec<&[EncodedGroup<NttPlaintext>]> = Vec::new();
        if deferred {
            let mut start = 0;
            let mut count = 0;
            for (i, (_, group)) in groups.iter().enumerate() {
                if count > 0 && count + group.len() > per_chunk {
                    chunks.push(&groups[start..i]);
                    start = i;
                    count = 0;
                }
                count += group.len();
            }
            chunks.push(&groups[start..]);
        } else {
            chunks.push(groups);
        }
        let mut total: Option<Ciphertext> = None;
        for chunk in chunks {
            let polys: Vec<Vec<(i32, Cow<'_, RnsPoly>)>> = chunk
                .iter()
                .map(|(_, group)| {
                    group
                        .iter()
                        .map(|(b, pt)| Ok((self.step(*b), self.extended_poly(pt)?)))
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<_>>()?;
            let steps: Vec<GiantStep<'_>> = chunk
                .iter()
                .zip(&polys)
                .map(|((giant, _), diagonals)| GiantStep {
                    giant: self.step(*giant),
                    diagonals: diagonals.iter().map(|(b, p)| (*b, p.as_ref())).collect(),
                })
                .collect();
            let part = self
                .eval
                .linear_transform_double_hoisted(ct, &steps, scale)?;
            total = Some(match total {
                None => part,
                Some(acc) => self.eval.add(&acc, &part)?,
            });
        }
        total.ok_or_else(|| Error::InvalidInput("empty linear transform".into()))
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
        Ok(NttPlaintext {
            body: PlaintextBody::Encoded(poly),
            level,
            scale,
        })
    }

    fn encode_diagonal(
        &self,
        values: &[Complex64],
        level: usize,
        scale: f64,
    ) -> Result<NttPlaintext> {
        let body = if self.defer_diagonals {
            // Encode once now so that a bad level or scale fails at planning, not mid-bootstrap.
            self.encoder.encode_poly(values, level, scale)?;
            PlaintextBody::Deferred(values.to_vec())
        } else {
            PlaintextBody::Encoded(self.encoder.encode_poly_extended(values, level, scale)?)
        };
        Ok(NttPlaintext { body, level, scale })
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
        let uniform = pts.all(|pt| {
            pt.level == first.level
                && self.is_extended(pt)
                && (pt.scale - first.scale).abs() <= SCALE_TOLERANCE * first.scale
        });
        if !uniform || !self.is_extended(first) {
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
        self.double_hoisted(ct, groups, first.scale)
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
        let poly = self.q_poly(pt)?;
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
        let poly = self.q_poly(pt)?;
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
