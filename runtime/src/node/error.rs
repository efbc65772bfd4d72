//! Node and send errors.

use std::time::Duration;

use crate::name::NodeName;
use crate::transport::TransportError;
use crate::wire::{CodecError, FailureCode, RemoteFailure};

/// A node could not start or a node operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The actor system thread or the node's own runtime could not be started.
    #[error("actor system: {0}")]
    ActorSystem(std::io::Error),
    /// An actor is already registered under this name.
    #[error("an actor named {0:?} is already registered")]
    DuplicateActor(String),
    /// The node has been shut down.
    #[error("node is shut down")]
    ShutDown,
    /// `start_standalone` was called inside a tokio runtime.
    #[error("start_standalone called inside a tokio runtime: use Node::start instead")]
    InsideRuntime,
}

/// A `tell` or `ask` failed. Remoteness is visible here on purpose: peers can be slow, gone, or
/// refuse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message could not be encoded.
    #[error("encoding {message}")]
    Encode {
        /// Message type name.
        message: &'static str,
        /// The codec error.
        #[source]
        source: CodecError,
    },
    /// The reply could not be decoded.
    #[error("decoding reply {message}")]
    Decode {
        /// Reply type name.
        message: &'static str,
        /// The codec error.
        #[source]
        source: CodecError,
    },
    /// The peer answered with a different reply type than the request declares.
    #[error("expected reply {expected}, got {got}")]
    UnexpectedReply {
        /// Declared reply type.
        expected: &'static str,
        /// Received type name.
        got: String,
    },
    /// The target actor refused the message.
    #[error("{node}/{actor} rejected the message: {reason}")]
    Rejected {
        /// Target node.
        node: NodeName,
        /// Target actor.
        actor: String,
        /// The actor's reason.
        reason: String,
    },
    /// The target node could not deliver the message (unknown actor, wrong message, shutting
    /// down, decode failure).
    #[error("{node}/{actor}: {failure}")]
    Undeliverable {
        /// Target node.
        node: NodeName,
        /// Target actor.
        actor: String,
        /// What the node reported.
        failure: RemoteFailure,
    },
    /// No answer within the timeout.
    #[error("no answer from {node}/{actor} within {after:?}")]
    Timeout {
        /// Target node.
        node: NodeName,
        /// Target actor.
        actor: String,
        /// The timeout.
        after: Duration,
    },
    /// The transport failed (connection refused or lost, stalled transfer, protocol violation).
    #[error(transparent)]
    Transport(TransportError),
}

impl SendError {
    pub(crate) fn from_transport(node: &NodeName, actor: &str, e: TransportError) -> Self {
        match e {
            TransportError::Remote { failure, .. } if failure.code == FailureCode::Rejected => {
                Self::Rejected {
                    node: node.clone(),
                    actor: actor.to_owned(),
                    reason: failure.reason,
                }
            }
            TransportError::Remote { failure, .. } => Self::Undeliverable {
                node: node.clone(),
                actor: actor.to_owned(),
                failure,
            },
            TransportError::Timeout { after, .. } => Self::Timeout {
                node: node.clone(),
                actor: actor.to_owned(),
                after,
            },
            other => Self::Transport(other),
        }
    }
}
