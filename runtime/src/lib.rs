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
//! - [`bench`](mod@bench): the loopback transport benchmark behind `hetal bench transport`.
//!
//! ## Using it
//!
//! A message type implements [`Message`] (a stable wire name plus conversion to a [`Payload`]:
//! small fields through the codec, bulk bytes raw) and, if it expects an answer, [`Request`].
//! An actor implements [`Actor`] to list the messages it accepts, and [`Handle`] / [`Respond`]
//! for each; every handler gets a [`MessageContext`] whose `sender()` is the peer's
//! certificate-proven name. A [`Node`] is started from a [`NodeConfig`] (built in code, or read
//! from TOML with [`NodeConfig::from_file`]; see [`node::NODE_CONFIG_EXAMPLE`]); `register` makes an
//! actor reachable by name and `remote_ref::<M>(node, name)` returns a [`RemoteRef`] with `tell`,
//! `cast` and `ask`. `examples/embed_in_tokio_app.rs` in the workspace root shows the whole flow
//! inside a host's tokio runtime; [`Node::in_memory`] gives the same API without sockets for unit
//! tests. A lost peer is redialled with backoff ([`ReconnectSettings`]); [`Node::events`] reports
//! connections, losses and peers given up on.

pub mod actor;
pub mod bench;

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
pub use node::{
    ConfigError, Node, NodeConfig, NodeError, PeerConfig, RemoteRef, SendError, StandaloneNode,
};
pub use transport::{
    MtuSettings, PeerEvent, PeerStats, Progress, ProgressFn, ReconnectSettings, SendOptions,
    TransferDirection, TransportError, TransportSettings,
};
pub use wire::{Bulk, BulkReader, CodecError, WireError};
