//! Connections: accepting, dialing, the duplicate rule, loss events and protocol violations.

use std::sync::Arc;

use quinn::{Connection, VarInt};
use rustls::pki_types::CertificateDer;
use tracing::{debug, warn};

use super::Inner;
use crate::identity::identify_peer;
use crate::name::NodeName;
use crate::transport::peers::{InFlight, Link};
use crate::transport::reconnect::random_unit;
use crate::transport::{PeerEvent, TransportError, codes};
use crate::wire::WireError;

impl Inner {
    pub(super) async fn accept_loop(self: Arc<Self>) {
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
                if inner.closing.is_cancelled() {
                    incoming.refuse();
                    return;
                }
                let connecting = match inner.accept(incoming) {
                    Ok(connecting) => connecting,
                    Err(e) => {
                        debug!(node = %inner.local, %remote, "refused connection: {e}");
                        return;
                    }
                };
                match tokio::time::timeout(inner.settings.connect_timeout, connecting).await {
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
    pub(super) fn install(
        self: &Arc<Self>,
        peer: &NodeName,
        conn: Connection,
        dialed_by_us: bool,
    ) -> Link {
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
            // Both nodes stop opening streams on the loser once they see the winner. Close it
            // only after it has been quiet for a whole grace period, so that an answer we just
            // delivered on it has time to be read by the peer before the close discards it.
            self.runtime.spawn(async move {
                loop {
                    tokio::time::sleep(grace).await;
                    if retired.inflight.is_idle() {
                        break;
                    }
                    retired.inflight.idle().await;
                }
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

    /// Reports the loss of `peer` when its current connection closes, then redials it unless
    /// this node closed the connection on purpose (shutdown, protocol violation). A peer that
    /// closed cleanly is redialled too: it may be restarting, and the redial is bounded.
    pub(super) async fn watch(self: Arc<Self>, peer: NodeName, link: Link) {
        let reason = link.conn.closed().await;
        if self.peers.remove_if_current(&peer, link.conn.stable_id()) {
            debug!(node = %self.local, %peer, "connection lost: {reason}");
            let _ = self.events.send(PeerEvent::Lost {
                peer: peer.clone(),
                reason: reason.to_string(),
            });
            let on_purpose = matches!(reason, quinn::ConnectionError::LocallyClosed);
            if !on_purpose && !self.closing.is_cancelled() && self.dialable(&peer) {
                self.redial(peer).await;
            }
        }
    }

    /// Whether this node knows an address for `peer`.
    fn dialable(&self, peer: &NodeName) -> bool {
        self.addresses
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(peer)
            .is_some_and(Option::is_some)
    }

    /// Dials `peer` with exponential backoff and jitter until a connection is up (ours, one a
    /// send dialled meanwhile, or one the peer dialled), the node shuts down, or the attempts run
    /// out, which is reported as [`PeerEvent::Unreachable`].
    async fn redial(self: Arc<Self>, peer: NodeName) {
        let policy = self.settings.reconnect;
        let mut last_error = String::new();
        for attempt in 1..=policy.max_attempts {
            let pause = policy.delay(attempt, random_unit());
            tokio::select! {
                () = self.closing.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
            if self.peers.alive(&peer).is_some() {
                return;
            }
            let dialled = tokio::select! {
                () = self.closing.cancelled() => return,
                dialled = self.link(&peer) => dialled,
            };
            match dialled {
                Ok(_) => {
                    debug!(node = %self.local, %peer, attempt, "reconnected");
                    return;
                }
                Err(TransportError::ShuttingDown) => return,
                Err(e) => {
                    debug!(node = %self.local, %peer, attempt, "redial failed: {e}");
                    last_error = e.to_string();
                }
            }
        }
        if policy.max_attempts > 0 {
            warn!(node = %self.local, %peer, "giving up after {} redials: {last_error}", policy.max_attempts);
            let _ = self.events.send(PeerEvent::Unreachable {
                peer,
                attempts: policy.max_attempts,
                error: last_error,
            });
        }
    }

    /// The connection to `peer`, dialing it if there is none.
    pub(super) async fn link(self: &Arc<Self>, peer: &NodeName) -> Result<Link, TransportError> {
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
            .connect_with(self.client_config(addr), addr, peer.as_str())
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

    /// Disconnects a peer that broke the protocol; the node itself carries on.
    pub(super) fn violation(&self, peer: &NodeName, conn: &Connection, error: &WireError) {
        warn!(node = %self.local, %peer, "protocol violation, disconnecting: {error}");
        let _ = self.events.send(PeerEvent::ProtocolViolation {
            peer: peer.clone(),
            error: error.to_string(),
        });
        let reason = error.to_string();
        let reason = &reason.as_bytes()[..reason.len().min(200)];
        conn.close(VarInt::from_u32(codes::PROTOCOL_VIOLATION), reason);
    }
}

/// The node name proven by a connection's peer certificate.
fn peer_of(conn: &Connection, allowed: &[NodeName]) -> Option<NodeName> {
    let identity = conn.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    identify_peer(certs.first()?, allowed).ok()
}
