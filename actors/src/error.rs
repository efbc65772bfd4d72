//! The one error type of the actors.

use hetal_runtime::{CodecError, NodeError, SendError};

/// Why an actor operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActorError {
    /// The learning algorithms refused the input or failed.
    #[error("learn: {0}")]
    Learn(#[from] hetal_learn::Error),
    /// A ciphertext, key or parameter set could not be (de)serialized.
    #[error("ckks: {0}")]
    Ckks(String),
    /// A message could not be encoded or decoded.
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    /// A message could not be delivered or was refused.
    #[error("send: {0}")]
    Send(#[from] SendError),
    /// The node failed.
    #[error("node: {0}")]
    Node(#[from] NodeError),
    /// A message arrived out of protocol order or with inconsistent content.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// A background computation was lost (its thread panicked or was cancelled).
    #[error("computation lost: {0}")]
    Lost(String),
}

impl From<hetal_ckks::Error> for ActorError {
    fn from(e: hetal_ckks::Error) -> Self {
        ActorError::Ckks(e.to_string())
    }
}

/// Result with [`ActorError`].
pub type Result<T, E = ActorError> = std::result::Result<T, E>;
