//! Homomorphic arithmetic on ciphertexts: [`Evaluator`].
//!
//! # Levels and scales: the alignment rule
//!
//! Every ciphertext carries its level (rescales left; `level + 1` live q-limbs) and its scale Δ.
//! Binary operations first bring both operands to the same level, never silently producing a
//! wrong result:
//!
//! * **Levels**: the operand at the higher level is dropped to the lower level (dropping limbs
//!   is exact and keeps the scale).
//! * **Scales (add/sub, and plaintext/constant additions)**: after level alignment the scales
//!   must agree within a relative [`SCALE_TOLERANCE`] (1e-9). When they do not and the levels
//!   differed, the higher operand is instead brought to one level above the lower one,
//!   multiplied by the integer `round(Δ_low · q_{low+1} / Δ_high)` and rescaled, so that its
//!   scale lands on `Δ_low` (OpenFHE's "flexible" rule; costs one of its levels, which it had
//!   to spare). Otherwise the operation fails with [`Error::ScaleMismatch`].
//! * **Products** multiply scales; no scale agreement is needed.
//!
//! Other typed errors: rescaling at level 0 or dropping to a higher level gives
//! [`Error::Level`]; a rotation without its key gives [`Error::MissingGaloisKey`]
//! ("rotation by k" or "conjugation"); a product without a relinearization key gives
//! [`Error::MissingRelinKey`]; operands of another context give [`Error::ParameterMismatch`];
//! operands with different slot counts give [`Error::InvalidInput`].
//!
//! # Rotations and sparse packing
//!
//! `rotate(ct, k)` applies the Galois element `5^k mod 2N` on the full ring, i.e. rotates the
//! N/2 physical slots left by `k`. A ciphertext with `n < N/2` slots holds its vector replicated
//! N/(2n) times (sparse packing), so this is the cyclic left rotation of its `n` slots by
//! `k mod n`; the key needed is the one for `k` itself (keys for `k` and `k + n` differ).
//!
//! # Threads
//!
//! Limb-level loops run on rayon's global pool (feature `parallel`); use [`with_threads`] to
//! run a closure on a pool of a chosen size.

mod arith;
mod baby_steps;
mod combine;
mod lintrans;
mod mul;
mod products;
mod rotate;

pub use lintrans::GiantStep;

use crate::crypto::{Ciphertext, Plaintext};
use crate::error::{Error, Result};
use crate::keys::EvaluationKeys;
use crate::params::context::Context;
use std::collections::HashMap;
use std::sync::Arc;

/// Relative tolerance within which two scales count as equal.
pub const SCALE_TOLERANCE: f64 = 1e-9;

/// True when `a` and `b` agree within [`SCALE_TOLERANCE`].
pub fn scales_match(a: f64, b: f64) -> bool {
    (a - b).abs() <= SCALE_TOLERANCE * a.abs().max(b.abs())
}

/// Runs `f` on a rayon pool of `threads` threads (0 = rayon's default), so that every parallel
/// limb loop inside uses that many threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot build a thread pool: {e}")))?;
    Ok(pool.install(f))
}

/// Evaluates homomorphic operations for one context with (optionally) its evaluation keys.
///
/// The NTT-form permutation of every Galois element with a key is precomputed once here.
#[derive(Debug, Clone)]
pub struct Evaluator {
    ctx: Arc<Context>,
    keys: Option<Arc<EvaluationKeys>>,
    permutations: Arc<HashMap<u64, Vec<u32>>>,
}

impl Evaluator {
    /// An evaluator; `keys` are needed for products with relinearization and for rotations.
    /// Fails with [`Error::ParameterMismatch`] if the keys belong to another context.
    pub fn new(ctx: &Arc<Context>, keys: Option<Arc<EvaluationKeys>>) -> Result<Self> {
        if let Some(k) = &keys
            && k.context_id != ctx.id()
        {
            return Err(Error::ParameterMismatch(
                "evaluation keys belong to another context".into(),
            ));
        }
        let permutations = keys
            .iter()
            .flat_map(|k| k.galois.elements())
            .map(|g| (g, ctx.ring().galois_permutation(g)))
            .collect();
        Ok(Self {
            ctx: ctx.clone(),
            keys,
            permutations: Arc::new(permutations),
        })
    }

    /// The NTT-form permutation of `X → X^g` (cached for elements with a key).
    fn permutation(&self, g: u64) -> std::borrow::Cow<'_, [u32]> {
        match self.permutations.get(&g) {
            Some(p) => std::borrow::Cow::Borrowed(p.as_slice()),
            None => std::borrow::Cow::Owned(self.ctx.ring().galois_permutation(g)),
        }
    }

    /// The context.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The evaluation keys, if any.
    pub fn keys(&self) -> Option<&Arc<EvaluationKeys>> {
        self.keys.as_ref()
    }

    fn check(&self, ct: &Ciphertext) -> Result<()> {
        if ct.context_id != self.ctx.id() {
            return Err(Error::ParameterMismatch(format!(
                "ciphertext of context {:#018x} given to an evaluator of context {:#018x}",
                ct.context_id,
                self.ctx.id()
            )));
        }
        if ct.c0.n() != self.ctx.n() || ct.level() > self.ctx.max_level() {
            return Err(Error::ParameterMismatch(
                "ciphertext shape does not match the context".into(),
            ));
        }
        Ok(())
    }

    fn check_plain(&self, pt: &Plaintext) -> Result<()> {
        if pt.poly.n() != self.ctx.n() || pt.level() > self.ctx.max_level() {
            return Err(Error::ParameterMismatch(
                "plaintext shape does not match the context".into(),
            ));
        }
        Ok(())
    }

    fn check_slots(a: usize, b: usize) -> Result<()> {
        if a != b {
            return Err(Error::InvalidInput(format!(
                "operands hold {a} and {b} slots; slot counts must match"
            )));
        }
        Ok(())
    }
}
