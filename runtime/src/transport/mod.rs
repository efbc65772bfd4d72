//! Moving messages between nodes. [`Transport`] is the interface the node uses; [`QuicTransport`]
//! implements it over QUIC with mutual TLS and [`MemoryNetwork`] in-process for unit tests.

pub(crate) mod collect;
mod error;
mod memory;
mod peers;
mod quic;
mod reconnect;
mod settings;
mod stream;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::broadcast;

pub use error::TransportError;
pub use memory::{MemoryNetwork, MemoryTransport};
pub use quic::QuicTransport;
pub use reconnect::ReconnectSettings;
pub use settings::{ETHERNET_MTU, MAX_UDP_PAYLOAD, MtuSettings, QUIC_MIN_MTU, TransportSettings};

use crate::message::Payload;
use crate::name::NodeName;
use crate::wire::RemoteFailure;

/// Application error codes used when closing QUIC connections and streams.
pub mod codes {
    /// Normal shutdown of a node.
    pub const SHUTDOWN: u32 = 0;
    /// A duplicate connection to the same peer was retired.
    pub const DUPLICATE: u32 = 1;
    /// The peer broke the wire protocol.
    pub const PROTOCOL_VIOLATION: u32 = 2;
    /// A stream was abandoned (timeout or cancellation).
    pub const CANCELLED: u32 = 3;
    /// A stream was refused because the node is shutting down.
    pub const SHUTTING_DOWN: u32 = 4;
}

/// Which way bytes move in a [`Progress`] report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferDirection {
    /// This node is sending.
    Send,
    /// This node is receiving.
    Receive,
}

/// A progress report for one message transfer.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The other node.
    pub peer: NodeName,
    /// The frame's request id.
    pub request_id: u64,
    /// Sending or receiving.
    pub direction: TransferDirection,
    /// Bulk bytes moved so far (on send: handed to QUIC, which holds at most its send window).
    pub done: u64,
    /// Bulk bytes in the message.
    pub total: u64,
}

/// A progress callback; a progress bar can be attached to it. Called from transport tasks: keep
/// it cheap.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How to send one message.
#[derive(Clone, Default)]
pub struct SendOptions {
    /// Called as bulk bytes are sent.
    pub progress: Option<ProgressFn>,
    /// Longest wait for the answer's first byte after the message has been sent (for an ask this
    /// covers the handler's run time). `None`: the transport's `first_byte_timeout`.
    pub reply_timeout: Option<std::time::Duration>,
}

impl fmt::Debug for SendOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendOptions")
            .field("progress", &self.progress.is_some())
            .field("reply_timeout", &self.reply_timeout)
            .finish()
    }
}

/// Delivery mode of an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// One-way; acknowledged once the target actor has handled it.
    Tell,
    /// Request; answered with a reply.
    Ask,
    /// One-way on a unidirectional stream; "delivered" means the peer's transport received
    /// every byte, not that an actor handled it. For bulk data where the reply comes later by
    /// other means.
    Cast,
}

/// A message leaving this node.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Target actor on the peer.
    pub actor: String,
    /// Message type name.
    pub message: String,
    /// The message bytes.
    pub payload: Payload,
    /// Tell, ask or cast.
    pub delivery: Delivery,
}

/// The answer to an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A tell was handled, or a cast was received.
    Ack,
    /// An ask was answered.
    Reply {
        /// Reply message type name.
        message: String,
        /// Reply bytes.
        payload: Payload,
    },
}

/// A message that arrived from a peer, with the peer's authenticated name.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// Sender, as proven by its certificate.
    pub from: NodeName,
    /// The frame's request id.
    pub request_id: u64,
    /// Target actor.
    pub actor: String,
    /// Message type name.
    pub message: String,
    /// The message bytes.
    pub payload: Payload,
    /// Whether the sender waits for a reply (ask) or only an acknowledgement.
    pub expects_reply: bool,
}

/// Where a transport hands inbound messages: the node's dispatcher. The returned future resolves
/// once the message is handled (tell) or answered (ask).
pub trait InboundHandler: Send + Sync + 'static {
    /// Handles one inbound message.
    fn handle(&self, msg: Inbound) -> BoxFuture<'static, Result<Answer, RemoteFailure>>;
}

/// Changes in the set of connected peers, and misbehaving peers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A connection to `peer` is up.
    Connected {
        /// The peer.
        peer: NodeName,
    },
    /// The connection to `peer` is gone.
    Lost {
        /// The peer.
        peer: NodeName,
        /// Why, as reported by the transport.
        reason: String,
    },
    /// Every redial after a loss failed; the node stops trying (a later send dials again).
    Unreachable {
        /// The peer.
        peer: NodeName,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        error: String,
    },
    /// `peer` broke the wire protocol and was disconnected.
    ProtocolViolation {
        /// The peer.
        peer: NodeName,
        /// The error it caused.
        error: String,
    },
}

/// Health figures of the connection to one peer (from QUIC's own accounting), for logs, metrics
/// and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerStats {
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u64,
    /// UDP payload size in use now (after path MTU discovery).
    pub current_mtu: u16,
    /// Congestion window, in bytes.
    pub cwnd: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Times the path MTU fell back because large packets were being lost.
    pub black_holes_detected: u64,
    /// Congestion events (each one shrinks the window).
    pub congestion_events: u64,
}

/// Moves messages between this node and its peers.
pub trait Transport: Send + Sync + 'static {
    /// This node's name.
    fn local_name(&self) -> &NodeName;
    /// The socket address peers reach this node at, if it has one.
    fn local_addr(&self) -> Option<SocketAddr>;
    /// Starts delivering inbound messages to `handler`. Called once.
    fn start(&self, handler: Arc<dyn InboundHandler>) -> Result<(), TransportError>;
    /// Records (or changes) the address a known peer is dialed at.
    fn set_peer_addr(&self, peer: &NodeName, addr: SocketAddr) -> Result<(), TransportError>;
    /// Makes sure a connection to `peer` is up.
    fn connect(&self, peer: &NodeName) -> BoxFuture<'static, Result<(), TransportError>>;
    /// Sends a message and waits for its answer.
    fn send(
        &self,
        peer: &NodeName,
        msg: Outbound,
        options: SendOptions,
    ) -> BoxFuture<'static, Result<Answer, TransportError>>;
    /// Subscribes to peer events.
    fn subscribe(&self) -> broadcast::Receiver<PeerEvent>;
    /// Stops taking new messages, waits (bounded) for those in flight, and closes connections.
    fn shutdown(&self) -> BoxFuture<'static, ()>;
    /// Closes everything at once without waiting (used when a node is dropped without
    /// `shutdown`): messages in flight fail.
    fn close_now(&self);
    /// Figures of the live connection to `peer`; `None` when there is none (or the transport
    /// has no connections, like the in-process one).
    fn peer_stats(&self, _peer: &NodeName) -> Option<PeerStats> {
        None
    }
}
