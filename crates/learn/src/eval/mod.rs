//! The slot-evaluator abstraction that every algorithm of this crate is written against.
//!
//! HETAL's algorithms only need a handful of operations on vectors of complex slots; this module
//! names them once ([`SlotEvaluator`]) so that the same code runs on
//! * the exact, operation-counting plaintext [`Simulator`] (fast, used for large shapes and for
//!   checking the operation counts of the cost tables), and
//! * the CKKS backend (the same computation on ciphertexts, used to trust the results).
//!
//! Server-side code only sees [`SlotEvaluator`]; encryption and decryption live on the separate
//! [`SlotCodec`] trait that only the data owner (and tests) use.
//!
//! Level conventions (as in CKKS): a ciphertext at level `ℓ` can go through `ℓ` more rescaling
//! operations. [`SlotEvaluator::mul`], [`SlotEvaluator::mul_const`] and
//! [`SlotEvaluator::mul_scalar`] consume one level and fail with
//! [`Error::LevelExhausted`](crate::Error::LevelExhausted) on a level-0 input. Binary operations on
//! operands at different levels first bring the higher one down, so the result is at the lower
//! level. Everything else (additions, rotations, conjugation, multiplication by `i`) is free of
//! levels.

pub mod ckks;
pub mod ckks_boot;
pub mod ckks_session;
pub mod ckks_tensor;
pub mod counter;
pub mod offload;
pub mod plain_cache;
pub mod sim;

pub use ckks::{CkksClient, CkksSlots, NoClient};
pub use ckks_boot::{BootstrapStats, ServerBootstrapper, bootstrap_params_for};
pub use ckks_session::{CkksSession, SecretKeyClient};
pub use ckks_tensor::TensorBackend;
pub use counter::{Op, OpCounter, OpCounts};
pub use offload::{BootstrapExecutor, BootstrapVia, LocalBootstrap};
pub use sim::{SimConfig, SimCt, Simulator};

use crate::Result;
use num_complex::Complex64;

/// The homomorphic operations HETAL's algorithms use, on ciphertexts of `slots()` complex slots.
///
/// Rotations are *left* rotations of the whole slot vector: slot `i` of `rotate(x, k)` holds slot
/// `(i + k) mod slots` of `x`; a negative `k` rotates right. A rotation by a multiple of `slots()`
/// is the identity and is neither performed nor counted.
///
/// Backends that are `Sync` can run work units in parallel
/// ([`run_units`](crate::matmul::run_units)).
pub trait SlotEvaluator {
    /// The ciphertext type.
    type Ct: Clone + Send + Sync;

    /// Number of complex slots per ciphertext.
    fn slots(&self) -> usize;
    /// Level of a freshly encrypted ciphertext.
    fn max_level(&self) -> usize;
    /// Level of a ciphertext right after [`SlotEvaluator::bootstrap`].
    fn bootstrap_level(&self) -> usize;
    /// Remaining multiplicative levels of `ct`.
    fn level(&self, ct: &Self::Ct) -> usize;
    /// Scaling factor of `ct` (the simulator reports its configured nominal scale).
    fn scale(&self, ct: &Self::Ct) -> f64;
    /// The backend's operation counter.
    fn counter(&self) -> &OpCounter;
    /// Snapshot of the operations performed so far.
    fn counts(&self) -> OpCounts {
        self.counter().snapshot()
    }

    /// `a + b`.
    fn add(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// `acc ← acc + b` (backends may avoid the copy).
    fn add_assign(&self, acc: &mut Self::Ct, b: &Self::Ct) -> Result<()> {
        *acc = self.add(acc, b)?;
        Ok(())
    }
    /// `a − b`.
    fn sub(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// `−a`.
    fn neg(&self, a: &Self::Ct) -> Result<Self::Ct>;
    /// `a + v` slot-wise for a constant vector `v` of length `slots()`; no level.
    fn add_const(&self, a: &Self::Ct, values: &[Complex64]) -> Result<Self::Ct>;
    /// `a + c` in every slot; no level.
    fn add_scalar(&self, a: &Self::Ct, c: Complex64) -> Result<Self::Ct>;
    /// CMult: `a ⊙ v` slot-wise for a constant vector `v` of length `slots()`; one level.
    fn mul_const(&self, a: &Self::Ct, values: &[Complex64]) -> Result<Self::Ct>;
    /// `a · c` in every slot for a constant complex scalar; one level.
    fn mul_scalar(&self, a: &Self::Ct, c: Complex64) -> Result<Self::Ct>;
    /// Mult: `a ⊙ b` with relinearization and rescale; one level.
    fn mul(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::Ct>;
    /// `a ⊙ a`; one level.
    fn square(&self, a: &Self::Ct) -> Result<Self::Ct> {
        self.mul(a, a)
    }

    /// A running sum of ciphertext products that is rescaled once, at the end (lazy
    /// rescaling): `Σ aᵢ ⊙ bᵢ` costs one rescale instead of one per product. Each product
    /// counts as one Mult; the result is one level below the lowest operand.
    type ProductSum: Clone;
    /// Starts a product sum with `a ⊙ b`.
    fn product_sum(&self, a: &Self::Ct, b: &Self::Ct) -> Result<Self::ProductSum>;
    /// `acc ← acc + a ⊙ b`.
    fn product_sum_add(&self, acc: &mut Self::ProductSum, a: &Self::Ct, b: &Self::Ct)
    -> Result<()>;
    /// The finished sum as a ciphertext.
    fn product_sum_finish(&self, acc: &Self::ProductSum) -> Result<Self::Ct>;
    /// Left rotation by `k` slots (negative: right).
    fn rotate(&self, a: &Self::Ct, k: isize) -> Result<Self::Ct>;
    /// Several rotations of the same ciphertext, sharing the key-switching decomposition
    /// (hoisting). Returns one ciphertext per step, in order; each nonzero step counts as a Rot.
    fn rotate_hoisted(&self, a: &Self::Ct, steps: &[isize]) -> Result<Vec<Self::Ct>>;
    /// Slot-wise complex conjugate.
    fn conjugate(&self, a: &Self::Ct) -> Result<Self::Ct>;
    /// Exact multiplication by the imaginary unit; no level.
    fn mul_i(&self, a: &Self::Ct) -> Result<Self::Ct>;
    /// The same value at a lower `level` (≤ the current one).
    fn drop_to_level(&self, a: &Self::Ct, level: usize) -> Result<Self::Ct>;
    /// Refreshes `a` to [`SlotEvaluator::bootstrap_level`].
    fn bootstrap(&self, a: &Self::Ct) -> Result<Self::Ct>;
    /// Refreshes several independent ciphertexts, in order: a stage that may run in parallel
    /// ([`BootstrapVia`] hands it to a [`BootstrapExecutor`], e.g. a trainer's workers). By
    /// default one [`SlotEvaluator::bootstrap`] after the other.
    fn bootstrap_many(&self, cts: &[Self::Ct]) -> Result<Vec<Self::Ct>> {
        cts.iter().map(|c| self.bootstrap(c)).collect()
    }
}

/// Encryption and decryption: what the data owner does. Kept apart from [`SlotEvaluator`] so that
/// server-side code cannot decrypt by construction.
pub trait SlotCodec: SlotEvaluator {
    /// Encrypts `values` (at most `slots()` of them; the rest are zero) at `level`.
    fn encrypt_at(&self, values: &[Complex64], level: usize) -> Result<Self::Ct>;
    /// Encrypts `values` at [`SlotEvaluator::max_level`].
    fn encrypt(&self, values: &[Complex64]) -> Result<Self::Ct> {
        self.encrypt_at(values, self.max_level())
    }
    /// Decrypts and decodes all `slots()` slots.
    fn decrypt(&self, ct: &Self::Ct) -> Result<Vec<Complex64>>;
}

/// `acc ← acc + a ⊙ b` on an optional product sum (started on first use).
pub fn product_accumulate<E: SlotEvaluator>(
    ev: &E,
    acc: &mut Option<E::ProductSum>,
    a: &E::Ct,
    b: &E::Ct,
) -> Result<()> {
    match acc {
        Some(s) => ev.product_sum_add(s, a, b),
        None => {
            *acc = Some(ev.product_sum(a, b)?);
            Ok(())
        }
    }
}

/// Finishes an optional product sum (an error if nothing was added).
pub fn product_finish<E: SlotEvaluator>(ev: &E, acc: Option<E::ProductSum>) -> Result<E::Ct> {
    let acc = acc.ok_or_else(|| crate::Error::InvalidInput("sum of no products".into()))?;
    ev.product_sum_finish(&acc)
}

/// `a + b + …` over a non-empty list (an error on an empty one).
pub fn sum_all<E: SlotEvaluator>(ev: &E, terms: &[E::Ct]) -> Result<E::Ct> {
    let (first, rest) = terms
        .split_first()
        .ok_or_else(|| crate::Error::InvalidInput("sum of no ciphertexts".into()))?;
    let mut acc = first.clone();
    for t in rest {
        ev.add_assign(&mut acc, t)?;
    }
    Ok(acc)
}
