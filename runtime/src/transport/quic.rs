//! The QUIC transport: one quinn endpoint per node (server and client on one UDP socket), one
//! connection per peer, a bidirectional stream per tell or ask and a unidirectional stream per
//! cast. All quinn work runs on the tokio runtime the transport was bound in, whoever calls it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use futures::future::BoxFuture;
use quinn::{Connection, RecvStream, SendStream, VarInt};
use rustls::pki_types::CertificateDer;
use tokio::runtime::Handle;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use super::peers::{InFlight, Link, PeerTable};
use super::stream::{TransferCtx, read_frame, wait_delivered, write_frame};
use super::{
    Answer, Delivery, Inbound, InboundHandler, Outbound, PeerEvent, ProgressFn, SendOptions,
    Transport, TransportError, TransportSettings, codes,
};
use crate::identity::{NodeIdentity, identify_peer, tls};
use crate::name::NodeName;
use crate::wire::codec;
use crate::wire::{Envelope, FrameKind, RemoteFailure, WireError};

/// QUIC with mutual TLS. Cheap to clone.
#[derive(Clone)]
pub struct QuicTransport {
    inner: Arc<Inner>,
}

struct Inner {
    local: NodeName,
    endpoint: quinn::Endpoint,
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
}

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
        let transport_config = settings.quinn()?;
        let local = identity.name().clone();
        let allowed: Arc<[NodeName]> = peers
            .iter()
            .map(|(name, _)| name.clone())
            .filter(|name| name != &local)
            .collect();
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(tls::server_crypto(
            identity,
            allowed.clone(),
            &[tls::ALPN],
        )?));
        server.transport_config(transport_config.clone());
        let mut client =
            quinn::ClientConfig::new(Arc::new(tls::client_crypto(identity, &[tls::ALPN])?));
        client.transport_config(transport_config);
        let mut endpoint = quinn::Endpoint::server(server, listen).map_err(TransportError::Bind)?;
        endpoint.set_default_client_config(client);
        let (events, _) = broadcast::channel(256);
        Ok(Self {
            inner: Arc::new(Inner {
                local,
                endpoint,
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
}

fn joined<T>(
    result: Result<Result<T, TransportError>, tokio::task::JoinError>,
) -> Result<T, TransportError> {
    result.unwrap_or_else(|e| {
        Err(TransportError::Settings(format!(
            "transport task failed: {e}"
        )))
    })
}

impl Inner {
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

    async fn accept_loop(self: Arc<Self>) {
        loop {
            let incoming = tokio::select! {
                () = self.closing.cancelled() => break,
                incoming = self.endpoint.accept() => match incoming {
                    Some(incoming) => incoming,
                    None => break,
                },
            };
            let inner = self.clone();
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                match tokio::time::timeout(inner.settings.connect_timeout, incoming).await {
                    Ok(Ok(conn)) => match peer_of(&conn, &inner.allowed) {
                        Some(peer) => {
                            inner.install(&peer, conn, false);
                        }
                        None => conn.close(
                            VarInt::from_u32(codes::PROTOCOL_VIOLATION),
                            b"unidentified peer",
                        ),
                    },
                    Ok(Err(e)) => debug!(node = %inner.local, %remote, "refused connection: {e}"),
                    Err(_) => debug!(node = %inner.local, %remote, "handshake timed out"),
                }
            });
        }
    }

    /// Registers a connection, starts serving it, and retires a duplicate if there is one.
    fn install(self: &Arc<Self>, peer: &NodeName, conn: Connection, dialed_by_us: bool) -> Link {
        let link = Link {
            conn,
            initiator: if dialed_by_us {
                self.local.clone()
            } else {
                peer.clone()
            },
            inflight: Arc::new(InFlight::default()),
        };
        let installed = self.peers.install(&self.local, peer, link.clone());
        self.runtime
            .spawn(self.clone().serve(peer.clone(), link.clone()));
        self.runtime.spawn(self.clone().watch(peer.clone(), link));
        if let Some(retired) = installed.retired {
            let grace = self.settings.duplicate_grace;
            self.runtime.spawn(async move {
                tokio::time::sleep(grace).await;
                retired.inflight.idle().await;
                retired
                    .conn
                    .close(VarInt::from_u32(codes::DUPLICATE), b"duplicate connection");
            });
        }
        if installed.newly_connected {
            let _ = self
                .events
                .send(PeerEvent::Connected { peer: peer.clone() });
        }
        installed.current
    }

    /// Reports the loss of `peer` when its current connection closes.
    async fn watch(self: Arc<Self>, peer: NodeName, link: Link) {
        let reason = link.conn.closed().await;
        if self.peers.remove_if_current(&peer, link.conn.stable_id()) {
            debug!(node = %self.local, %peer, "connection lost: {reason}");
            let _ = self.events.send(PeerEvent::Lost {
                peer,
                reason: reason.to_string(),
            });
        }
    }

    /// The connection to `peer`, dialing it if there is none.
    async fn link(self: &Arc<Self>, peer: &NodeName) -> Result<Link, TransportError> {
        if let Some(link) = self.peers.alive(peer) {
            return Ok(link);
        }
        let dial_lock = self.peers.dial_lock(peer);
        let _dialing = dial_lock.lock().await;
        if let Some(link) = self.peers.alive(peer) {
            return Ok(link);
        }
        if self.closing.is_cancelled() {
            return Err(TransportError::ShuttingDown);
        }
        let addr = {
            let addresses = self
                .addresses
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match addresses.get(peer) {
                None => return Err(TransportError::UnknownPeer(peer.clone())),
                Some(None) => return Err(TransportError::NoAddress(peer.clone())),
                Some(Some(addr)) => *addr,
            }
        };
        // The TLS server name is the peer's node name: the handshake fails unless the peer's
        // certificate, signed by our CA, carries exactly that name.
        let connecting = self
            .endpoint
            .connect(addr, peer.as_str())
            .map_err(|error| TransportError::Connect {
                peer: peer.clone(),
                error,
            })?;
        let after = self.settings.connect_timeout;
        let conn = match tokio::time::timeout(after, connecting).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                return Err(TransportError::Connection {
                    peer: peer.clone(),
                    error,
                });
            }
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    peer: peer.clone(),
                    after,
                });
            }
        };
        Ok(self.install(peer, conn, true))
    }

    async fn send_message(
        self: Arc<Self>,
        peer: &NodeName,
        msg: Outbound,
        options: SendOptions,
    ) -> Result<Answer, TransportError> {
        let link = self.link(peer).await?;
        let _in_flight = link.inflight.enter();
        let request_id = self.next_request_id();
        let envelope = codec::encode(&Envelope {
            actor: msg.actor,
            message: msg.message,
            meta: msg.payload.meta.to_vec(),
        })
        .map_err(|e| TransportError::Settings(format!("encoding envelope: {e}")))?;
        let conn_err = |error| TransportError::Connection {
            peer: peer.clone(),
            error,
        };
        let ctx = self.ctx(peer, options.progress.as_ref(), request_id);
        let kind = match msg.delivery {
            Delivery::Tell => FrameKind::Tell,
            Delivery::Ask => FrameKind::Ask,
            Delivery::Cast => {
                let mut send = link.conn.open_uni().await.map_err(conn_err)?;
                let result = async {
                    write_frame(
                        &mut send,
                        FrameKind::Cast,
                        &envelope,
                        &msg.payload.bulk,
                        &ctx,
                    )
                    .await?;
                    wait_delivered(&mut send, &ctx).await
                }
                .await;
                if result.is_err() {
                    let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
                }
                return result.map(|()| Answer::Ack);
            }
        };
        let (mut send, mut recv) = link.conn.open_bi().await.map_err(conn_err)?;
        let result = async {
            write_frame(&mut send, kind, &envelope, &msg.payload.bulk, &ctx).await?;
            let first_byte = options
                .reply_timeout
                .unwrap_or(self.settings.first_byte_timeout);
            let mut reply_ctx = self.ctx(peer, options.progress.as_ref(), request_id);
            let frame = read_frame(&mut recv, first_byte, &mut reply_ctx).await?;
            let wire = |error| TransportError::Wire {
                peer: peer.clone(),
                error,
            };
            let limit = self.settings.limits.max_meta_bytes.into();
            match (kind, frame.header.kind) {
                (FrameKind::Tell, FrameKind::Ack) => Ok(Answer::Ack),
                (FrameKind::Ask, FrameKind::Reply) => {
                    let envelope: Envelope =
                        codec::decode(&frame.meta, limit).map_err(|e| wire(e.into()))?;
                    Ok(Answer::Reply {
                        message: envelope.message,
                        payload: crate::message::Payload {
                            meta: envelope.meta.into(),
                            bulk: frame.bulk,
                        },
                    })
                }
                (_, FrameKind::Failure) => {
                    let failure: RemoteFailure =
                        codec::decode(&frame.meta, limit).map_err(|e| wire(e.into()))?;
                    Err(TransportError::Remote {
                        peer: peer.clone(),
                        failure,
                    })
                }
                (_, got) => Err(wire(WireError::UnexpectedKind {
                    expected: if kind == FrameKind::Tell {
                        "ack"
                    } else {
                        "reply"
                    },
                    got,
                })),
            }
        }
        .await;
        if let Err(e) = &result {
            let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
            let _ = recv.stop(VarInt::from_u32(codes::CANCELLED));
            if let TransportError::Wire { error, .. } = e {
                self.violation(peer, &link.conn, error);
            }
        }
        result
    }

    /// Accepts the streams a peer opens on one connection until it closes.
    async fn serve(self: Arc<Self>, peer: NodeName, link: Link) {
        loop {
            tokio::select! {
                bi = link.conn.accept_bi() => match bi {
                    Ok((send, recv)) => {
                        let guard = link.inflight.enter();
                        let (inner, peer, conn) = (self.clone(), peer.clone(), link.conn.clone());
                        self.streams.spawn_on(async move {
                            inner.serve_request(&peer, &conn, send, recv).await;
                            drop(guard);
                        }, &self.runtime);
                    }
                    Err(_) => break,
                },
                uni = link.conn.accept_uni() => match uni {
                    Ok(recv) => {
                        let guard = link.inflight.enter();
                        let (inner, peer, conn) = (self.clone(), peer.clone(), link.conn.clone());
                        self.streams.spawn_on(async move {
                            inner.serve_cast(&peer, &conn, recv).await;
                            drop(guard);
                        }, &self.runtime);
                    }
                    Err(_) => break,
                },
            }
        }
    }

    /// Disconnects a peer that broke the protocol; the node itself carries on.
    fn violation(&self, peer: &NodeName, conn: &Connection, error: &WireError) {
        warn!(node = %self.local, %peer, "protocol violation, disconnecting: {error}");
        let _ = self.events.send(PeerEvent::ProtocolViolation {
            peer: peer.clone(),
            error: error.to_string(),
        });
        let reason = error.to_string();
        let reason = &reason.as_bytes()[..reason.len().min(200)];
        conn.close(VarInt::from_u32(codes::PROTOCOL_VIOLATION), reason);
    }

    /// Reads an inbound frame on a stream the peer opened; a broken frame disconnects the peer.
    async fn read_inbound(
        &self,
        peer: &NodeName,
        conn: &Connection,
        recv: &mut RecvStream,
        allowed: &[FrameKind],
    ) -> Option<(FrameKind, Inbound)> {
        let mut ctx = self.ctx(peer, self.receive_progress.as_ref(), 0);
        let result = async {
            let frame = read_frame(recv, self.settings.first_byte_timeout, &mut ctx).await?;
            let wire = |error| TransportError::Wire {
                peer: peer.clone(),
                error,
            };
            if !allowed.contains(&frame.header.kind) {
                return Err(wire(WireError::UnexpectedKind {
                    expected: "tell, ask or cast",
                    got: frame.header.kind,
                }));
            }
            let envelope: Envelope =
                codec::decode(&frame.meta, self.settings.limits.max_meta_bytes.into())
                    .map_err(|e| wire(e.into()))?;
            Ok((
                frame.header.kind,
                Inbound {
                    from: peer.clone(),
                    request_id: frame.header.request_id,
                    actor: envelope.actor,
                    message: envelope.message,
                    payload: crate::message::Payload {
                        meta: envelope.meta.into(),
                        bulk: frame.bulk,
                    },
                    expects_reply: frame.header.kind == FrameKind::Ask,
                },
            ))
        }
        .await;
        match result {
            Ok(inbound) => Some(inbound),
            Err(TransportError::Wire { error, .. }) => {
                self.violation(peer, conn, &error);
                None
            }
            Err(e) => {
                debug!(node = %self.local, %peer, "inbound stream abandoned: {e}");
                let _ = recv.stop(VarInt::from_u32(codes::CANCELLED));
                None
            }
        }
    }

    async fn serve_request(
        &self,
        peer: &NodeName,
        conn: &Connection,
        mut send: SendStream,
        mut recv: RecvStream,
    ) {
        if self.closing.is_cancelled() {
            let _ = send.reset(VarInt::from_u32(codes::SHUTTING_DOWN));
            let _ = recv.stop(VarInt::from_u32(codes::SHUTTING_DOWN));
            return;
        }
        let Some((kind, inbound)) = self
            .read_inbound(peer, conn, &mut recv, &[FrameKind::Tell, FrameKind::Ask])
            .await
        else {
            let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
            return;
        };
        let request_id = inbound.request_id;
        let answer = match self.handler.get() {
            Some(handler) => handler.handle(inbound).await,
            None => Err(RemoteFailure::new(
                crate::wire::FailureCode::ShuttingDown,
                "node not started",
            )),
        };
        let (reply_kind, meta, bulk) = match answer {
            Ok(Answer::Reply { message, payload }) if kind == FrameKind::Ask => {
                let envelope = Envelope {
                    actor: String::new(),
                    message,
                    meta: payload.meta.to_vec(),
                };
                match codec::encode(&envelope) {
                    Ok(meta) => (FrameKind::Reply, meta, payload.bulk),
                    Err(e) => failure_frame(RemoteFailure::new(
                        crate::wire::FailureCode::Decode,
                        format!("encoding reply: {e}"),
                    )),
                }
            }
            Ok(_) if kind == FrameKind::Tell => (FrameKind::Ack, Vec::new(), bytes::Bytes::new()),
            Ok(_) => failure_frame(RemoteFailure::new(
                crate::wire::FailureCode::UnknownMessage,
                "the handler gave no reply to an ask",
            )),
            Err(failure) => failure_frame(failure),
        };
        let ctx = self.ctx(peer, None, request_id);
        let result = async {
            write_frame(&mut send, reply_kind, &meta, &bulk, &ctx).await?;
            wait_delivered(&mut send, &ctx).await
        }
        .await;
        if let Err(e) = result {
            debug!(node = %self.local, %peer, request_id, "answer not delivered: {e}");
            let _ = send.reset(VarInt::from_u32(codes::CANCELLED));
        }
    }

    async fn serve_cast(&self, peer: &NodeName, conn: &Connection, mut recv: RecvStream) {
        if self.closing.is_cancelled() {
            let _ = recv.stop(VarInt::from_u32(codes::SHUTTING_DOWN));
            return;
        }
        let Some((_, inbound)) = self
            .read_inbound(peer, conn, &mut recv, &[FrameKind::Cast])
            .await
        else {
            return;
        };
        let Some(handler) = self.handler.get() else {
            return;
        };
        if let Err(failure) = handler.handle(inbound).await {
            debug!(node = %self.local, %peer, "cast refused: {failure}");
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

fn failure_frame(failure: RemoteFailure) -> (FrameKind, Vec<u8>, bytes::Bytes) {
    let meta = codec::encode(&failure).unwrap_or_default();
    (FrameKind::Failure, meta, bytes::Bytes::new())
}

/// The node name proven by a connection's peer certificate.
fn peer_of(conn: &Connection, allowed: &[NodeName]) -> Option<NodeName> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    identify_peer(certs.first()?, allowed).ok()
}
