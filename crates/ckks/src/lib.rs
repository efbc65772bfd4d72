//! # hetal-ckks — RNS-CKKS homomorphic encryption in pure Rust
//!
//! Layers, bottom to top (each module depends only on the ones above it in this list):
//!
//! * [`math`] — word-size modular arithmetic (Barrett, Shoup), NTT-friendly primes, the negacyclic
//!   NTT, RNS polynomials, fast basis conversion and samplers. No notion of encryption.
//! * [`params`] — parameter specifications, named presets (secure and insecure-for-tests), the
//!   Homomorphic Encryption Standard security check, and the precomputed [`params::context::Context`].
//! * [`encoding`] — the canonical embedding (special FFT) between complex slot vectors and
//!   plaintext polynomials, with sparse packing.
//! * [`keys`] — secret, public, relinearization and Galois keys, hybrid key switching.
//! * [`crypto`] — encryption (public key, seeded symmetric) and decryption.
//! * [`eval`] — homomorphic arithmetic on ciphertexts: add, multiply, rescale, rotate, conjugate.
//! * [`serial`] — versioned, parameter-checked serialization of everything that may leave the client.
//!
//! Typical flow: [`params::context::Context::new`] from a spec (a preset) → [`keys::KeyGenerator`]
//! (secret, public and evaluation keys) → [`encoding`] → [`crypto::Encryptor`] →
//! [`eval::Evaluator`] → [`crypto::Decryptor`] → decode. Parallel loops run on rayon's global
//! pool; [`with_threads`] runs a closure on a pool of a chosen size.
//!
//! The math crates of hetal do no I/O: this crate never touches files or sockets.

pub mod circuits;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod eval;
pub mod keys;
pub mod math;
pub mod params;
pub mod serial;

pub use error::{Error, Result};
pub use eval::with_threads;
