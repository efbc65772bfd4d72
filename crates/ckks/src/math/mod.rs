//! Ring arithmetic below the scheme: modular words, primes, NTT, RNS polynomials, samplers.
//!
//! * [`modulus`] — Barrett and Shoup arithmetic modulo primes below 2^62.
//! * [`primes`] — Miller–Rabin and deterministic NTT-friendly prime generation.
//! * [`ntt`] — the negacyclic NTT of one prime (tfhe-ntt backend, scalar reference).
//! * [`ring`] — the tables of all primes of a parameter set.
//! * [`poly`] — [`poly::RnsPoly`], polynomials in RNS form.
//! * [`pool`] — reuse of large limb buffers.
//! * [`crt`] — exact CRT reconstruction to f64 (decoding).
//! * [`basis`] — fast basis conversion and rescaling constants.
//! * [`sample`] — ChaCha20 and the uniform, ternary and Gaussian samplers.

pub mod basis;
pub mod crt;
pub mod modulus;
pub mod ntt;
pub mod poly;
pub mod pool;
pub mod primes;
pub mod ring;
pub mod sample;
