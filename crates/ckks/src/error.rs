//! The crate's error type.

use thiserror::Error;

/// Result alias used throughout `hetal-ckks`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in CKKS: invalid parameters, operands that do not fit together,
/// missing keys and malformed serialized data. Variants name what differs so that the caller can
/// fix the input instead of guessing.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A parameter specification is inconsistent or unsupported.
    #[error("invalid parameters: {0}")]
    InvalidParameters(String),
    /// A preset below 128-bit security was requested without the explicit opt-in.
    #[error(
        "preset `{name}` is insecure ({reason}); it is meant for tests only — opt in explicitly to use it"
    )]
    InsecureParameters {
        /// Preset name.
        name: String,
        /// Why it is insecure.
        reason: String,
    },
    /// No NTT-friendly prime with the requested size exists (or not enough of them).
    #[error("cannot find {count} NTT-friendly primes of {bits} bits for ring degree {n}")]
    PrimeGeneration {
        /// Requested bit size.
        bits: u32,
        /// Requested count.
        count: usize,
        /// Ring degree.
        n: usize,
    },
    /// An operand is at a level that the operation cannot use.
    #[error("level error: {0}")]
    Level(String),
    /// Operand scales differ and cannot be aligned automatically.
    #[error("scale mismatch: {left} vs {right}")]
    ScaleMismatch {
        /// Scale of the left operand.
        left: f64,
        /// Scale of the right operand.
        right: f64,
    },
    /// The rotation key for a step (or the conjugation key) was not generated.
    #[error("missing Galois key for {0}")]
    MissingGaloisKey(String),
    /// The relinearization key is needed but was not supplied.
    #[error("missing relinearization key")]
    MissingRelinKey,
    /// Operands belong to different parameter sets.
    #[error("parameter mismatch: {0}")]
    ParameterMismatch(String),
    /// An input vector, slot count or dimension is out of range.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Serialized bytes are corrupted, truncated, of another version or another kind.
    #[error("serialization error: {0}")]
    Serialization(String),
}
