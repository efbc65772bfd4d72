//! The codec-encoded part of a frame: where a message goes and the message's own small fields.

use serde::{Deserialize, Serialize};

/// Routing plus the message's serde-encoded fields. Sent with tell, ask, cast and reply frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Target actor name (empty in a reply).
    pub actor: String,
    /// The message type's wire name ([`crate::Message::NAME`]).
    pub message: String,
    /// The message's own codec-encoded fields ([`crate::Payload::meta`]).
    pub meta: Vec<u8>,
}

/// Why a receiver refused or failed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureCode {
    /// No actor is registered under the target name.
    UnknownActor,
    /// The actor does not handle this message type (or not in this mode, tell vs ask).
    UnknownMessage,
    /// The message could not be decoded into its type, or the reply could not be encoded.
    Decode,
    /// The actor refused the message ([`crate::Rejection`]).
    Rejected,
    /// The receiving node is shutting down and takes no new messages.
    ShuttingDown,
    /// The target actor stopped before handling the message.
    ActorStopped,
}

/// A failure reported by the receiving node, sent in a [`super::FrameKind::Failure`] frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {reason}")]
pub struct RemoteFailure {
    /// The class of failure.
    pub code: FailureCode,
    /// Human-readable detail.
    pub reason: String,
}

impl RemoteFailure {
    /// Builds a failure.
    pub fn new(code: FailureCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}
