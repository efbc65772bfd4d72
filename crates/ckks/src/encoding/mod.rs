//! The canonical embedding between complex slot vectors and plaintext polynomials.
//!
//! * [`fft`] — the special FFT (pure floating point, no ring): slots ↔ folded coefficients.
//! * [`encoder`] — [`Encoder`]: slot vectors ↔ plaintext polynomials at a level and scale,
//!   with sparse packing.
//! * [`small_crt`] — exact O(L) reconstruction of small centered values (the decoding fast path).
pub mod encoder;
pub mod fft;
pub mod small_crt;

pub use encoder::Encoder;
/// The complex number type of slot values (re-exported so callers need no direct dependency).
pub use num_complex::Complex64;
