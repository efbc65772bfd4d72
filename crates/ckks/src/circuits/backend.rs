//! [`SlotBackend`]: the operations the circuits need from a CKKS evaluator.
//!
//! The circuits manage levels and scales exactly (Lattigo style): every ciphertext carries its
//! scale, additions only ever combine operands of equal scale, and the scale of each product is
//! chosen in advance so that, after the rescale, it lands on the scale the next step expects.
//! The backend only has to perform the primitive operations below without hidden rescales.
//!
//! Two implementations exist: the CKKS evaluator itself (see `bootstrap`) and
//! [`super::simulator::SlotSimulator`], a noise-free model that tracks levels and scales and
//! rejects every mismatched operation, used to test the circuits' bookkeeping in plain arithmetic.

use num_complex::Complex64;

use crate::Result;

/// Relative tolerance when checking that two operands of an addition have the same scale.
/// Scales are tracked in `f64`; rounding constants to integers perturbs them by far less.
pub const SCALE_TOLERANCE: f64 = 1e-9;

/// Homomorphic operations on ciphertexts whose slots hold complex numbers.
pub trait SlotBackend {
    /// A ciphertext.
    type Ct: Clone;
    /// A plaintext encoded at a given level and scale.
    type Pt;

    /// Number of physical slots (N/2).
    fn max_slots(&self) -> usize;
    /// Highest level (that of a fresh or just modulus-raised ciphertext).
    fn max_level(&self) -> usize;
    /// Level of a ciphertext (0 = only q_0 left).
    fn level(&self, ct: &Self::Ct) -> usize;
    /// Scale of a ciphertext.
    fn scale(&self, ct: &Self::Ct) -> f64;
    /// Relabels the scale: the encoded integers stay, the represented values are divided by
    /// `new / old`. Free and exact; used to fold constant factors into the bookkeeping.
    fn set_scale(&self, ct: &mut Self::Ct, scale: f64);
    /// The prime `q_level` that a rescale at `level` divides by, as `f64`.
    fn prime(&self, level: usize) -> f64;

    /// Encodes `values` (a period: `values.len()` divides N/2, replicated over the slots) at
    /// `level` with `scale`.
    fn encode(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Self::Pt>;

    /// `a + b` (same level, same scale).
    fn add(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// `a − b` (same level, same scale).
    fn sub(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// `ct · pt` without rescaling (scales multiply; levels must match).
    fn mul_plain(&self, ct: &Self::Ct, pt: &Self::Pt) -> Result<Self::Ct>;
    /// `acc += ct · pt` without rescaling.
    fn mul_plain_add(&self, acc: &mut Self::Ct, ct: &Self::Ct, pt: &Self::Pt) -> Result<()>;
    /// Multiplies by the integer `round(value · const_scale)`; the scale is multiplied by
    /// `const_scale`, so the represented value is multiplied by `value`. No level is consumed.
    fn mul_const(&self, ct: &Self::Ct, value: f64, const_scale: f64) -> Result<Self::Ct>;
    /// Adds the constant `value` to every slot (at the ciphertext's scale).
    fn add_const(&self, ct: &Self::Ct, value: Complex64) -> Result<Self::Ct>;
    /// Multiplies by `i` (exact: the monomial `X^{N/2}`).
    fn mul_i(&self, ct: &Self::Ct) -> Result<Self::Ct>;
    /// `a · b` relinearised, without rescaling (levels must match; scales multiply).
    fn mul_relin(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// `Σ_k value_k · ct_k + constant` labelled `result_scale`, at the lowest level of the
    /// terms (higher terms are read as if dropped to it): each constant is the integer
    /// `round(value_k · result_scale / scale(ct_k))`, so every product lands on
    /// `result_scale`; the real `constant` is added at that scale; no level is consumed. The
    /// default composes [`SlotBackend::drop_to_level`], [`SlotBackend::mul_const`],
    /// [`SlotBackend::set_scale`], [`SlotBackend::add`] and [`SlotBackend::add_const`]; the
    /// CKKS backend sums lazily in one pass without copying the operands.
    fn linear_combination(
        &self,
        terms: &[(&Self::Ct, f64)],
        constant: f64,
        result_scale: f64,
    ) -> Result<Self::Ct> {
        let level = terms
            .iter()
            .map(|(ct, _)| self.level(ct))
            .min()
            .ok_or_else(|| {
                crate::Error::InvalidInput("a linear combination needs a term".into())
            })?;
        let mut acc: Option<Self::Ct> = None;
        for &(ct, value) in terms {
            let ct = self.drop_to_level(ct, level)?;
            let mut term = self.mul_const(&ct, value, result_scale / self.scale(&ct))?;
            self.set_scale(&mut term, result_scale);
            acc = Some(match acc {
                None => term,
                Some(a) => self.add(&a, &term)?,
            });
        }
        let acc = acc.ok_or_else(|| {
            crate::Error::InvalidInput("a linear combination needs a term".into())
        })?;
        if constant == 0.0 {
            Ok(acc)
        } else {
            self.add_const(&acc, Complex64::new(constant, 0.0))
        }
    }

    /// `a · b + addend`, relinearised and rescaled once (levels of `a` and `b` must match;
    /// `addend`, if any, must have the product's level and scale). The default composes
    /// [`SlotBackend::mul_relin`], [`SlotBackend::add`] and [`SlotBackend::rescale`]; the CKKS
    /// backend adds before relinearising and fuses the key switch's ModDown with the rescale.
    fn mul_relin_rescale(
        &self,
        a: &Self::Ct,
        b: &Self::Ct,
        addend: Option<&Self::Ct>,
    ) -> Result<Self::Ct> {
        let prod = self.mul_relin(a, b)?;
        let sum = match addend {
            Some(c) => self.add(&prod, c)?,
            None => prod,
        };
        self.rescale(&sum)
    }
    /// `Σ_k a_k · b_k + addend`, relinearised and rescaled once (lazy relinearization: the
    /// degree-2 products are summed before the single key switch). Every operand must be at
    /// one level and every product (and `addend`, if any) at one scale. The default composes
    /// [`SlotBackend::mul_relin`], [`SlotBackend::add`] and [`SlotBackend::rescale`]; the CKKS
    /// backend sums the tensors and relinearises once.
    fn sum_of_products_rescale(
        &self,
        pairs: &[(&Self::Ct, &Self::Ct)],
        addend: Option<&Self::Ct>,
    ) -> Result<Self::Ct> {
        let mut acc: Option<Self::Ct> = addend.cloned();
        for &(a, b) in pairs {
            let prod = self.mul_relin(a, b)?;
            acc = Some(match acc {
                None => prod,
                Some(x) => self.add(&x, &prod)?,
            });
        }
        let acc = acc.ok_or_else(|| {
            crate::Error::InvalidInput("a sum of products needs a product".into())
        })?;
        self.rescale(&acc)
    }
    /// Divides by the top prime: the level drops by one and the scale is divided by it.
    fn rescale(&self, ct: &Self::Ct) -> Result<Self::Ct>;
    /// Drops primes down to `level` without changing the scale.
    fn drop_to_level(&self, ct: &Self::Ct, level: usize) -> Result<Self::Ct>;
    /// Left rotation of the slots by `step` (`rot_k(v)[j] = v[j + k]`).
    fn rotate(&self, ct: &Self::Ct, step: i64) -> Result<Self::Ct>;
    /// The rotations of one ciphertext by several steps, sharing the key-switching
    /// decomposition (hoisting).
    fn rotate_hoisted(&self, ct: &Self::Ct, steps: &[i64]) -> Result<Vec<Self::Ct>>;
    /// Complex conjugation of every slot.
    fn conjugate(&self, ct: &Self::Ct) -> Result<Self::Ct>;
    /// Encodes one diagonal of a linear transform for [`SlotBackend::linear_transform`]
    /// (same arguments as [`SlotBackend::encode`], which is the default). The CKKS backend
    /// also encodes it modulo the special primes, for double hoisting.
    fn encode_diagonal(&self, values: &[Complex64], level: usize, scale: f64) -> Result<Self::Pt> {
        self.encode(values, level, scale)
    }

    /// The baby-step giant-step transform `Σ_g rot_g( Σ_b pt_{g,b} ⊙ rot_b(ct) )` followed by
    /// one rescale. `groups` holds, per giant step `g`, the `(b, pt)` pairs (plaintexts from
    /// [`SlotBackend::encode_diagonal`] at `ct`'s level, all with the same scale);
    /// `baby_steps` lists the non-zero baby steps. The default composes the primitives above
    /// (hoisted baby steps, one rotation per giant step); a backend may fuse them.
    fn linear_transform(
        &self,
        ct: &Self::Ct,
        baby_steps: &[i64],
        groups: &[crate::circuits::lintrans::eval::EncodedGroup<Self::Pt>],
    ) -> Result<Self::Ct> {
        crate::circuits::lintrans::eval::apply_with_primitives(self, ct, baby_steps, groups)
    }

    /// ModRaise: reinterprets a level-0 ciphertext modulo the whole chain. The plaintext gains
    /// `q_0 · I` for a small integer polynomial `I` (bounded by the secret's Hamming weight);
    /// the scale is unchanged.
    fn mod_raise(&self, ct: &Self::Ct) -> Result<Self::Ct>;
}
