//! # hetal-runtime — the layer that makes a local actor reachable from another node
//!
//! Identities and certificates, the QUIC transport with mutual TLS, the wire format, a registry of
//! named actors and typed remote references. Payloads are opaque bytes: this crate knows nothing
//! of CKKS.
//!
//! Layout, from the bottom up:
//! - [`name`]: validated node names (they are also the certificate subject names).
//! - [`identity`]: the cluster CA, per-node certificates, PEM files and the TLS configurations.
//! - [`wire`]: our own versioned frame header and the one serde codec.
//! - [`transport`]: the [`transport::Transport`] trait, its QUIC implementation and an in-process
//!   one for tests.
//! - [`message`] and [`actor`]: the traits a message type and an actor implement.
//! - [`node`]: [`Node`], registration, [`RemoteRef`], peer events and shutdown.
//! - `glue` (private): the only place that names actix.

pub mod actor;

mod glue;
pub mod identity;
pub mod message;
pub mod name;
pub mod node;
pub mod transport;
pub mod wire;

pub use actor::{Actor, Handle, Handlers, MessageContext, Rejection, Respond, Response};
pub use identity::{ClusterCa, IdentityError, NodeIdentity, Validity};
pub use message::{Message, Payload, Request};
pub use name::{NodeName, NodeNameError};
pub use node::{Node, NodeConfig, NodeError, PeerConfig, RemoteRef, SendError, StandaloneNode};
pub use transport::{
    PeerEvent, Progress, ProgressFn, SendOptions, TransferDirection, TransportError,
    TransportSettings,
};
pub use wire::{CodecError, WireError};
