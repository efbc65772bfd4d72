//! The canonical embedding between complex slot vectors and plaintext polynomials.
//!
//! * [`fft`] — the special FFT (pure floating point, no ring): slots ↔ folded coefficients.
//! * [`encoder`] — [`Encoder`]: slot vectors ↔ plaintext polynomials at a level and scale,
//!   with sparse packing.
pub mod encoder;
pub mod fft;

pub use encoder::Encoder;
/// The complex number type of slot values (re-exported so callers need no direct dependency).
pub use num_complex::Complex64;
