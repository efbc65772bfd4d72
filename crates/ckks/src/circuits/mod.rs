//! Homomorphic circuits built on the evaluator: what CKKS bootstrapping is made of.
//!
//! * [`polynomial`] — Chebyshev interpolation and the evaluation of Chebyshev series.
//! * [`lintrans`] — linear transforms on slot vectors stored by diagonals, evaluated with
//!   baby-step giant-step (BSGS) and hoisted rotations.
//! * [`dft`] — the canonical embedding (the encoder's special FFT) factored into a configurable
//!   number of sparse levels: CoeffToSlot and SlotToCoeff.
//! * [`mod1`] — the approximation of `x mod 1` (scaled cosine, double-angle steps, optional
//!   arcsine correction) used by EvalMod, with its error analysis.
//!
//! * [`bootstrap`] — the bootstrapping pipeline, its parameters and key requirements.
//! * [`backend`] — [`backend::SlotBackend`], the evaluator operations the circuits use, and
//!   [`simulator`], a noise-free model of it that checks levels and scales.
//!
//! Everything in these modules that is pure math over `f64` / complex vectors is tested in
//! plain arithmetic against dense references, so the homomorphic layers only add noise.

pub mod backend;
pub mod bootstrap;
pub mod dft;
pub mod lintrans;
pub mod mod1;
pub mod polynomial;
pub mod simulator;
