//! Transport errors. Each variant says what failed and what usually causes it.

use std::time::Duration;

use crate::identity::IdentityError;
use crate::name::NodeName;
use crate::wire::{RemoteFailure, WireError};

/// A message could not be moved, or its answer did not arrive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer is not in this node's configuration, so it can neither be dialed nor accepted.
    #[error("unknown peer {0}: add it to the node's peer list")]
    UnknownPeer(NodeName),
    /// The peer has no address configured; it can only reach us, not be reached.
    #[error("no address known for peer {0}")]
    NoAddress(NodeName),
    /// The node is shutting down and sends nothing new.
    #[error("node is shutting down")]
    ShuttingDown,
    /// Binding the UDP socket or creating the endpoint failed.
    #[error("binding endpoint: {0}")]
    Bind(std::io::Error),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The connection attempt could not start (bad address or server name).
    #[error("connecting to {peer}: {error}")]
    Connect {
        /// The peer.
        peer: NodeName,
        /// quinn's reason.
        error: quinn::ConnectError,
    },
    /// The connection failed or was lost: handshake refused (wrong CA, name, ALPN or expired
    /// certificate), idle timeout (peer gone), or closed by either side.
    #[error("connection to {peer}: {error}")]
    Connection {
        /// The peer.
        peer: NodeName,
        /// quinn's reason.
        error: quinn::ConnectionError,
    },
    /// The handshake did not finish in time.
    #[error("connecting to {peer} timed out after {after:?}")]
    ConnectTimeout {
        /// The peer.
        peer: NodeName,
        /// The configured connect timeout.
        after: Duration,
    },
    /// A stream was reset, stopped or closed underneath a transfer.
    #[error("stream to {peer}: {reason}")]
    Stream {
        /// The peer.
        peer: NodeName,
        /// What happened.
        reason: String,
    },
    /// No byte moved for too long: the peer stopped reading or writing, or vanished without
    /// closing. Timeouts are per step, so large transfers get proportionally more time.
    #[error(
        "transfer with {peer} stalled in {phase} after {done}/{total} bytes ({after:?} without progress)"
    )]
    Stalled {
        /// The peer.
        peer: NodeName,
        /// Which step stalled.
        phase: &'static str,
        /// Bytes moved before the stall.
        done: u64,
        /// Bytes expected.
        total: u64,
        /// The timeout that expired.
        after: Duration,
    },
    /// No frame started arriving in time: for an answer, the remote handler took longer than
    /// the ask's timeout; for a request, the peer opened a stream and sent nothing.
    #[error("no answer from {peer} within {after:?}")]
    Timeout {
        /// The peer.
        peer: NodeName,
        /// The timeout that expired.
        after: Duration,
    },
    /// The peer sent a frame that breaks the protocol.
    #[error("protocol violation by {peer}: {error}")]
    Wire {
        /// The peer.
        peer: NodeName,
        /// The broken rule.
        error: WireError,
    },
    /// The receiving node refused or failed the message.
    #[error("{peer} refused the message: {failure}")]
    Remote {
        /// The peer.
        peer: NodeName,
        /// Its reason.
        failure: RemoteFailure,
    },
    /// The message is too large for this node's own limits.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Message size.
        len: u64,
        /// Configured limit.
        max: u64,
    },
    /// A message could not be encoded into a frame.
    #[error("encoding frame: {0}")]
    Encode(crate::wire::CodecError),
    /// A transport task failed unexpectedly (a bug, or a panic in a progress callback).
    #[error("internal transport failure: {0}")]
    Internal(String),
    /// Settings are inconsistent (e.g. keep-alive not shorter than the idle timeout).
    #[error("invalid transport settings: {0}")]
    Settings(String),
}
