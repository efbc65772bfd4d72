//! Linear transforms on slot vectors, stored by (generalised) diagonals.
//!
//! A transform `M` on a slot vector `v` of period `L` is written as
//! `M v = Σ_k d_k ⊙ rot_k(v)`, where `rot_k(v)[j] = v[j + k]` is the left rotation that the
//! Galois automorphism `X ↦ X^{5^k}` performs on CKKS slots, and `d_k` is the `k`-th diagonal.
//! With `k = g·n1 + b` (baby step `b ∈ [0, n1)`, giant step `g·n1`), the baby-step giant-step
//! form `M v = Σ_g rot_{g·n1}( Σ_b rot_{-g·n1}(d_{g·n1+b}) ⊙ rot_b(v) )` needs only the
//! rotations `b` (all of one ciphertext, hence hoisted) and `g·n1`.
//!
//! * [`diagonal`] — [`DiagonalMatrix`]: construction, products, plain application.
//! * [`bsgs`] — [`BsgsPlan`]: the split of the diagonal offsets into baby and giant steps, the
//!   rotations it needs, and its plain evaluation (the reference for the homomorphic one).
//! * [`eval`] — [`EncodedTransform`]: the diagonals encoded once at their level, evaluated
//!   homomorphically with hoisted baby steps.

pub mod bsgs;
pub mod diagonal;
pub mod eval;

pub use bsgs::BsgsPlan;
pub use diagonal::DiagonalMatrix;
pub use eval::EncodedTransform;
