//! A node: one transport, one actor system, a registry of named actors, and typed references to
//! actors on this or other nodes.

mod config;
mod config_file;
mod dispatch;
mod error;
mod remote_ref;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, broadcast};

pub use config::{DEFAULT_MAILBOX_CAPACITY, NodeConfig, PeerConfig};
pub use config_file::{
    ConfigError, MAX_CONFIG_FILE_BYTES, NODE_CONFIG_EXAMPLE, NodeConfigFile, ReconnectSection,
    TransportProfile, TransportSection,
};
pub use error::{NodeError, SendError};
pub use remote_ref::RemoteRef;

use crate::actor::Actor;
use crate::glue::ActorSystem;
use crate::message::Message;
use crate::name::NodeName;
use crate::transport::{MemoryNetwork, PeerEvent, PeerStats, QuicTransport, Transport};
use dispatch::Registry;

/// A running node. Cheap to clone; every clone is a handle to the same node.
///
/// Start it inside the host application's tokio runtime with [`Node::start`] (the QUIC
/// connections are then driven by that runtime), or with [`Node::start_standalone`] from plain
/// synchronous code (the node brings its own two-thread runtime). Either way the actors run on a
/// dedicated actor-system thread.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    name: NodeName,
    transport: Arc<dyn Transport>,
    registry: Arc<Registry>,
    system: ActorSystem,
    mailbox_capacity: usize,
    local_timeout: Duration,
    drain_timeout: Duration,
    shutdown: OnceCell<()>,
}

impl Node {
    /// Binds the QUIC endpoint and starts the node in the current tokio runtime.
    pub async fn start(config: NodeConfig) -> Result<Self, NodeError> {
        let peers: Vec<_> = config
            .peers
            .iter()
            .map(|p| (p.name.clone(), p.addr))
            .collect();
        let transport = QuicTransport::bind(
            &config.identity,
            config.listen,
            &peers,
            config.transport.clone(),
            config.receive_progress.clone(),
        )?;
        Self::assemble(
            Arc::new(transport),
            config.mailbox_capacity,
            config.transport.first_byte_timeout,
            config.transport.drain_timeout,
        )
        .await
    }

    /// Starts a node on any [`Transport`] with default mailbox capacity and timeouts.
    pub async fn with_transport(
        transport: Arc<dyn Transport>,
        mailbox_capacity: usize,
    ) -> Result<Self, NodeError> {
        let defaults = crate::transport::TransportSettings::default();
        Self::assemble(
            transport,
            mailbox_capacity,
            defaults.first_byte_timeout,
            defaults.drain_timeout,
        )
        .await
    }

    /// Starts node `name` on an in-process [`MemoryNetwork`]: the same API without sockets or
    /// certificates, for unit tests of actor protocols.
    pub async fn in_memory(network: &MemoryNetwork, name: NodeName) -> Result<Self, NodeError> {
        let transport = network.transport(name, crate::transport::TransportSettings::default());
        Self::with_transport(Arc::new(transport), DEFAULT_MAILBOX_CAPACITY).await
    }

    async fn assemble(
        transport: Arc<dyn Transport>,
        mailbox_capacity: usize,
        local_timeout: Duration,
        drain_timeout: Duration,
    ) -> Result<Self, NodeError> {
        let name = transport.local_name().clone();
        let system = ActorSystem::start(&name)
            .await
            .map_err(NodeError::ActorSystem)?;
        let registry = Arc::new(Registry::default());
        transport.start(registry.clone())?;
        Ok(Self {
            inner: Arc::new(NodeInner {
                name,
                transport,
                registry,
                system,
                mailbox_capacity,
                local_timeout,
                drain_timeout,
                shutdown: OnceCell::new(),
            }),
        })
    }

    /// Starts a node with its own tokio runtime, for hosts without one. Fails if called from
    /// inside a tokio runtime (use [`Node::start`] there).
    pub fn start_standalone(config: NodeConfig) -> Result<StandaloneNode, NodeError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(NodeError::InsideRuntime);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hetal-net")
            .enable_all()
            .build()
            .map_err(NodeError::ActorSystem)?;
        let node = runtime.block_on(Node::start(config))?;
        Ok(StandaloneNode {
            node,
            runtime: Some(runtime),
        })
    }

    /// This node's name.
    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// The UDP address the node listens on (useful after binding port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.transport.local_addr()
    }

    /// Registers `actor` under `name`; messages addressed to `name` on this node reach it.
    pub fn register<A: Actor>(&self, name: &str, actor: A) -> Result<(), NodeError> {
        if self.inner.shutdown.initialized() {
            return Err(NodeError::ShutDown);
        }
        self.inner.registry.insert(name, || {
            self.inner
                .system
                .spawn(actor, self.inner.name.clone(), self.inner.mailbox_capacity)
        })
    }

    /// A typed reference to actor `actor` on node `node` (which may be this node). Creating it
    /// does no I/O; the first send connects.
    pub fn remote_ref<M: Message>(&self, node: &NodeName, actor: &str) -> RemoteRef<M> {
        RemoteRef::new(self.clone(), node.clone(), actor)
    }

    /// Peer events from now on: connected, lost (a redial follows if the peer has an address),
    /// unreachable (the redials ran out) and protocol violations.
    pub fn events(&self) -> broadcast::Receiver<PeerEvent> {
        self.inner.transport.subscribe()
    }

    /// Sets the address of a configured peer (e.g. once it has bound an ephemeral port).
    pub fn set_peer_addr(&self, peer: &NodeName, addr: SocketAddr) -> Result<(), NodeError> {
        Ok(self.inner.transport.set_peer_addr(peer, addr)?)
    }

    /// Figures of the live connection to `peer` (round trip, MTU in use, losses); `None` if
    /// there is no connection.
    pub fn peer_stats(&self, peer: &NodeName) -> Option<PeerStats> {
        self.inner.transport.peer_stats(peer)
    }

    /// Connects to `peer` now instead of at the first send.
    pub async fn connect(&self, peer: &NodeName) -> Result<(), NodeError> {
        Ok(self.inner.transport.connect(peer).await?)
    }

    /// Shuts down cleanly: refuses new messages, waits (bounded by the drain timeout) for those
    /// in flight, lets every actor finish its queued messages, closes the connections and stops
    /// the actor thread. Every message whose `tell`/`ask` succeeded has been handled. Idempotent.
    pub async fn shutdown(&self) {
        let inner = self.inner.clone();
        self.inner
            .shutdown
            .get_or_init(|| async move {
                inner.registry.close();
                inner.transport.shutdown().await;
                for mailbox in inner.registry.all() {
                    let _ = tokio::time::timeout(inner.drain_timeout, mailbox.drain()).await;
                }
                let joiner = inner.clone();
                let _ = tokio::task::spawn_blocking(move || joiner.system.stop_and_join()).await;
            })
            .await;
    }
}

impl Drop for NodeInner {
    /// A node dropped without [`Node::shutdown`] still releases its socket and actor thread
    /// (without draining messages in flight).
    fn drop(&mut self) {
        if !self.shutdown.initialized() {
            self.transport.close_now();
            self.system.stop();
        }
    }
}

/// A node that owns its tokio runtime (see [`Node::start_standalone`]).
pub struct StandaloneNode {
    node: Node,
    runtime: Option<tokio::runtime::Runtime>,
}

impl StandaloneNode {
    /// The node handle.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Runs a future (e.g. an ask) to completion on the node's runtime.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => futures::executor::block_on(future),
        }
    }

    /// Shuts the node down and then its runtime.
    pub fn shutdown(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.block_on(self.node.shutdown());
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
        }
    }
}

impl Drop for StandaloneNode {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
