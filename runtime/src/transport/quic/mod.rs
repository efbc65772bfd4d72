//! The QUIC transport: one quinn endpoint per node (server and client on one UDP socket), one
//! connection per peer, a bidirectional stream per tell or ask and a unidirectional stream per
//! cast. All quinn work runs on the tokio runtime the transport was bound in, whoever calls it.

mod connections;
mod inbound;
mod outbound;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use futures::future::BoxFuture;
use quinn::VarInt;
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, broadcast};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::peers::PeerTable;
use super::stream::TransferCtx;
use super::{
    Answer, InboundHandler, Outbound, PeerEvent, PeerStats, ProgressFn, SendOptions, Transport,
    TransportError, TransportSettings, codes,
};
use crate::identity::{NodeIdentity, tls};
use crate::name::NodeName;

/// QUIC with mutual TLS. Cheap to clone.
#[derive(Clone)]
pub struct QuicTransport {
    inner: Arc<Inner>,
}

struct Inner {
    local: NodeName,
    endpoint: quinn::Endpoint,
    /// Client configuration for peers on other machines.
    client: quinn::ClientConfig,
    /// Configurations for connections over loopback, if large packets are enabled there.
    loopback: Option<LoopbackConfigs>,
    settings: TransportSettings,
    allowed: Arc<[NodeName]>,
    addresses: RwLock<HashMap<NodeName, Option<SocketAddr>>>,
    peers: PeerTable,
    events: broadcast::Sender<PeerEvent>,
    handler: OnceLock<Arc<dyn InboundHandler>>,
    runtime: Handle,
    /// Every stream task (inbound and outbound), so that shutdown can wait for them.
    streams: TaskTracker,
    closing: CancellationToken,
    next_request_id: AtomicU64,
    receive_progress: Option<ProgressFn>,
    /// Bulk bytes of inbound messages held at once, in units of [`BUDGET_UNIT`].
    inbound_budget: Arc<Semaphore>,
    budget_units: u32,
}

/// Client and server configurations for connections whose other end is on this machine.
struct LoopbackConfigs {
    server: Arc<quinn::ServerConfig>,
    client: quinn::ClientConfig,
}

/// Granularity of the inbound memory budget.
const BUDGET_UNIT: u64 = 1 << 20;

impl QuicTransport {
    /// Binds a UDP socket at `listen` and creates the endpoint. Must be called inside a tokio
    /// runtime; that runtime then drives every connection of this node. `peers` lists the nodes
    /// this one may talk to (with the address to dial, if known); connections from any other
    /// certificate are refused during the handshake.
    pub fn bind(
        identity: &NodeIdentity,
        listen: SocketAddr,
        peers: &[(NodeName, Option<SocketAddr>)],
        settings: TransportSettings,
        receive_progress: Option<ProgressFn>,
    ) -> Result<Self, TransportError> {
        let runtime = Handle::try_current().map_err(|e| {
            TransportError::Settings(format!("QuicTransport::bind needs a tokio runtime: {e}"))
        })?;
        let local = identity.name().clone();
        let allowed: Arc<[NodeName]> = peers
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| name != &local)
            .collect();
        let server_crypto = Arc::new(tls::server_crypto(identity, allowed.clone(), &[tls::ALPN])?);
        let client_crypto = Arc::new(tls::client_crypto(identity, &[tls::ALPN])?);
        let configs = |loopback: bool| -> Result<_, TransportError> {
            let transport = settings.quinn(loopback)?;
            let mut server = quinn::ServerConfig::with_crypto(server_crypto.clone());
            server.transport_config(transport.clone());
            let mut client = quinn::ClientConfig::new(client_crypto.clone());
            client.transport_config(transport);
            Ok((Arc::new(server), client))
        };
        let (server, client) = configs(false)?;
        let loopback = if settings.large_packets_on_loopback {
            let (server, client) = configs(true)?;
            Some(LoopbackConfigs { server, client })
        } else {
            None
        };
        let socket = bind_socket(listen, settings.socket_buffer).map_err(TransportError::Bind)?;
        let endpoint = quinn::Endpoint::new(
            settings.endpoint()?,
            Some(Arc::unwrap_or_clone(server)),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(TransportError::Bind)?;
        let (events, _) = broadcast::channel(256);
        let budget_units = u32::try_from(settings.max_inbound_bulk_bytes.div_ceil(BUDGET_UNIT))
            .unwrap_or(u32::MAX)
            .clamp(1, Semaphore::MAX_PERMITS as u32);
        Ok(Self {
            inner: Arc::new(Inner {
                local,
                endpoint,
                client,
                loopback,
                settings,
                allowed,
                addresses: RwLock::new(peers.iter().cloned().collect()),
                peers: PeerTable::default(),
                events,
                handler: OnceLock::new(),
                runtime,
                streams: TaskTracker::new(),
                closing: CancellationToken::new(),
                next_request_id: AtomicU64::new(1),
                receive_progress,
                inbound_budget: Arc::new(Semaphore::new(budget_units as usize)),
                budget_units,
            }),
        })
    }
}

impl Transport for QuicTransport {
    fn local_name(&self) -> &NodeName {
        &self.inner.local
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.endpoint.local_addr().ok()
    }

    fn start(&self, handler: Arc<dyn InboundHandler>) -> Result<(), TransportError> {
        self.inner
            .handler
            .set(handler)
            .map_err(|_| TransportError::Settings("transport already started".into()))?;
        let inner = self.inner.clone();
        self.inner.runtime.spawn(inner.accept_loop());
        Ok(())
    }

    fn set_peer_addr(&self, peer: &NodeName, addr: SocketAddr) -> Result<(), TransportError> {
        let mut addresses = self
            .inner
            .addresses
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match addresses.get_mut(peer) {
            Some(slot) => {
                *slot = Some(addr);
                Ok(())
            }
            None => Err(TransportError::UnknownPeer(peer.clone())),
        }
    }

    fn connect(&self, peer: &NodeName) -> BoxFuture<'static, Result<(), TransportError>> {
        let inner = self.inner.clone();
        let peer = peer.clone();
        let task = self
            .inner
            .runtime
            .spawn(async move { inner.link(&peer).await.map(|_| ()) });
        Box::pin(async move { joined(task.await) })
    }

    fn send(
        &self,
        peer: &NodeName,
        msg: Outbound,
        options: SendOptions,
    ) -> BoxFuture<'static, Result<Answer, TransportError>> {
        if self.inner.closing.is_cancelled() {
            return Box::pin(async { Err(TransportError::ShuttingDown) });
        }
        let inner = self.inner.clone();
        let peer = peer.clone();
        let task = self.inner.streams.spawn_on(
            async move { inner.send_message(&peer, msg, options).await },
            &self.inner.runtime,
        );
        Box::pin(async move { joined(task.await) })
    }

    fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        self.inner.events.subscribe()
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.shutdown().await })
    }

    fn peer_stats(&self, peer: &NodeName) -> Option<PeerStats> {
        let stats = self.inner.peers.alive(peer)?.conn.stats();
        let path = stats.path;
        Some(PeerStats {
            rtt_us: u64::try_from(path.rtt.as_micros()).unwrap_or(u64::MAX),
            current_mtu: path.current_mtu,
            cwnd: path.cwnd,
            sent_packets: path.sent_packets,
            lost_packets: path.lost_packets,
            black_holes_detected: path.black_holes_detected,
            congestion_events: path.congestion_events,
        })
    }

    fn close_now(&self) {
        self.inner.closing.cancel();
        self.inner
            .endpoint
            .close(VarInt::from_u32(codes::SHUTDOWN), b"node dropped");
    }
}

/// Binds the node's UDP socket, with larger kernel buffers if asked (bursts of large packets
/// otherwise overflow the default receive buffer and get dropped).
fn bind_socket(listen: SocketAddr, buffer: Option<usize>) -> std::io::Result<std::net::UdpSocket> {
    let socket = std::net::UdpSocket::bind(listen)?;
    if let Some(bytes) = buffer {
        let state = quinn::udp::UdpSocketState::new((&socket).into())?;
        state.set_recv_buffer_size((&socket).into(), bytes)?;
        state.set_send_buffer_size((&socket).into(), bytes)?;
    }
    Ok(socket)
}

fn joined<T>(
    result: Result<Result<T, TransportError>, tokio::task::JoinError>,
) -> Result<T, TransportError> {
    result.unwrap_or_else(|e| {
        Err(TransportError::Internal(format!(
            "transport task failed: {e}"
        )))
    })
}

impl Inner {
    /// The client configuration for dialling `addr`.
    fn client_config(&self, addr: SocketAddr) -> quinn::ClientConfig {
        match &self.loopback {
            Some(loopback) if addr.ip().is_loopback() => loopback.client.clone(),
            _ => self.client.clone(),
        }
    }

    /// Accepts a connection attempt, with the loopback configuration if it comes from this
    /// machine.
    fn accept(
        &self,
        incoming: quinn::Incoming,
    ) -> Result<quinn::Connecting, quinn::ConnectionError> {
        match &self.loopback {
            Some(loopback) if incoming.remote_address().ip().is_loopback() => {
                incoming.accept_with(loopback.server.clone())
            }
            _ => incoming.accept(),
        }
    }

    fn next_request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    fn ctx<'a>(
        &'a self,
        peer: &'a NodeName,
        progress: Option<&'a ProgressFn>,
        request_id: u64,
    ) -> TransferCtx<'a> {
        TransferCtx {
            peer,
            settings: &self.settings,
            progress,
            request_id,
        }
    }

    async fn shutdown(self: Arc<Self>) {
        self.closing.cancel();
        // Refuse new connections; streams on existing ones are refused by `serve_request`.
        self.endpoint.set_server_config(None);
        self.streams.close();
        if tokio::time::timeout(self.settings.drain_timeout, self.streams.wait())
            .await
            .is_err()
        {
            warn!(node = %self.local, "shutdown: messages still in flight after {:?}", self.settings.drain_timeout);
        }
        for link in self.peers.all() {
            link.conn
                .close(VarInt::from_u32(codes::SHUTDOWN), b"node shutting down");
        }
        self.endpoint
            .close(VarInt::from_u32(codes::SHUTDOWN), b"node shutting down");
        // wait_idle can take a few seconds with half-open connections (quinn#2147): bound it.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.endpoint.wait_idle())
            .await;
    }
}
