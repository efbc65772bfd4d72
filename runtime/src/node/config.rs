//! Node configuration.

use std::fmt;
use std::net::SocketAddr;

use crate::identity::NodeIdentity;
use crate::name::NodeName;
use crate::transport::{ProgressFn, TransportSettings};

/// Default number of messages an actor's mailbox holds before senders wait (actix's default).
pub const DEFAULT_MAILBOX_CAPACITY: usize = 16;

/// A node this node may talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Its name (what its certificate must prove).
    pub name: NodeName,
    /// Where to dial it; `None` for a peer that only dials us.
    pub addr: Option<SocketAddr>,
}

/// Everything needed to start a [`super::Node`].
#[derive(Clone)]
pub struct NodeConfig {
    /// Certificate, key and cluster CA; the certificate's name is the node's name.
    pub identity: NodeIdentity,
    /// UDP address to listen on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The nodes this one talks to. Connections from any other certificate are refused.
    pub peers: Vec<PeerConfig>,
    /// Timeouts, windows and limits.
    pub transport: TransportSettings,
    /// Messages an actor's mailbox holds before senders wait.
    pub mailbox_capacity: usize,
    /// Called as bulk bytes of inbound messages arrive.
    pub receive_progress: Option<ProgressFn>,
}

impl NodeConfig {
    /// A configuration with default settings and no peers yet.
    pub fn new(identity: NodeIdentity, listen: SocketAddr) -> Self {
        Self {
            identity,
            listen,
            peers: Vec::new(),
            transport: TransportSettings::default(),
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            receive_progress: None,
        }
    }

    /// Adds a peer.
    pub fn with_peer(mut self, name: NodeName, addr: Option<SocketAddr>) -> Self {
        self.peers.push(PeerConfig { name, addr });
        self
    }
}

impl fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeConfig")
            .field("identity", &self.identity)
            .field("listen", &self.listen)
            .field("peers", &self.peers)
            .field("transport", &self.transport)
            .field("mailbox_capacity", &self.mailbox_capacity)
            .finish_non_exhaustive()
    }
}
