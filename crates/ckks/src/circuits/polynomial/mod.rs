//! Polynomials in the Chebyshev basis: interpolation and evaluation.
//!
//! * [`chebyshev`] — [`ChebyshevSeries`]: interpolation at Chebyshev nodes, Clenshaw evaluation,
//!   and the a priori interpolation bound for (scaled) cosines.
//! * [`split`] — the baby-step giant-step decomposition of a Chebyshev series (division by
//!   `T_{2^k}`), shared by the plain reference evaluator and the homomorphic one.
//! * [`eval`] — homomorphic evaluation with exact scale management.

pub mod chebyshev;
pub mod eval;
pub mod split;

pub use chebyshev::ChebyshevSeries;
