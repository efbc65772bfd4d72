//! The canonical embedding between complex slot vectors and plaintext polynomials.
//!
//! * [`fft`] — the special FFT (pure floating point, no ring): slots ↔ folded coefficients.
pub mod fft;
