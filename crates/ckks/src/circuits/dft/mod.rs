//! The homomorphic DFT of bootstrapping: CoeffToSlot and SlotToCoeff.
//!
//! For `n` slots the encoder's canonical embedding maps the coefficient vector `c` (with
//! `c_k = a_k + i·a_{k+n}` for the plaintext polynomial in `Y = X^{N/2n}`) to the slots
//! `z_j = Σ_k c_k ξ^{5^j k}`, `ξ = e^{2πi/4n}`: `z = U c`. The special FFT factors
//! `U = S_{log n} ⋯ S_1 · P` (`P` the bit-reversal permutation) into butterfly stages with
//! three diagonals each ([`special_fft`]). CoeffToSlot evaluates `P U^{-1} = S_1^{-1} ⋯ S_{log n}^{-1}`
//! and SlotToCoeff evaluates `U P^{-1}`: the permutation cancels because EvalMod acts slot-wise.
//! [`factor`] merges consecutive stages into a configurable number of levels (each level costs
//! one rescale; merging trades depth for more diagonals) and folds in the scalars and the
//! real/imaginary repacking of sparse slots.

pub mod factor;
pub mod special_fft;

pub use factor::{DftKind, DftPlan};
