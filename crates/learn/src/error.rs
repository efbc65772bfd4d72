//! The crate's error type.

use thiserror::Error;

/// Result alias used throughout `hetal-learn`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in the encrypted learning algorithms: an operation that needs a
/// level the ciphertext no longer has, operands that do not fit together, shapes that cannot be
/// packed, and failures reported by the CKKS backend.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// An operation needs a multiplicative level that the operand does not have.
    #[error("{op} needs a ciphertext at level >= {needed}, got level {level}")]
    LevelExhausted {
        /// The operation that failed.
        op: &'static str,
        /// Level it needs at least.
        needed: usize,
        /// Level of the operand.
        level: usize,
    },
    /// A level request that makes no sense (dropping up, or above the maximum level).
    #[error("invalid level: {0}")]
    InvalidLevel(String),
    /// A slot vector has the wrong length.
    #[error("slot vector has length {got}, expected {expected}")]
    SlotLength {
        /// The backend's slot count.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A matrix shape, unit shape or block layout is unusable.
    #[error("invalid shape: {0}")]
    Shape(String),
    /// A block matrix, plan or work unit is inconsistent (wrong number of blocks, bad index...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A value cannot be bootstrapped (out of the backend's range, or bootstrapping unsupported).
    #[error("bootstrapping failed: {0}")]
    Bootstrap(String),
    /// The CKKS backend reported an error.
    #[error("CKKS backend: {0}")]
    Backend(String),
}
