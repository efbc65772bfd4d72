//! An in-process transport with the same interface as QUIC, for unit tests of actor protocols:
//! deterministic, no sockets, no certificates. The sender's name is taken from the transport it
//! sends through, which plays the part of the certificate.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use tokio::sync::broadcast;

use super::{
    Answer, Delivery, Inbound, InboundHandler, Outbound, PeerEvent, SendOptions, Transport,
    TransportError, TransportSettings,
};
use crate::name::NodeName;

struct Member {
    handler: Option<Arc<dyn InboundHandler>>,
    events: broadcast::Sender<PeerEvent>,
}

/// A set of in-process transports that can reach each other. Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    members: Arc<Mutex<HashMap<NodeName, Member>>>,
    /// Partitioned pairs (both orders stored) and the sends they refused: a fault-injection
    /// hook for tests of dropped networks.
    cuts: Arc<Mutex<HashSet<(NodeName, NodeName)>>>,
    refused: Arc<AtomicU64>,
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cuts the link between `a` and `b` both ways until [`MemoryNetwork::heal`]: every send
    /// between them fails as a broken connection would (a test hook for network drops).
    pub fn partition(&self, a: &NodeName, b: &NodeName) {
        let mut cuts = self.cuts();
        cuts.insert((a.clone(), b.clone()));
        cuts.insert((b.clone(), a.clone()));
    }

    /// Restores the link [`MemoryNetwork::partition`] cut.
    pub fn heal(&self, a: &NodeName, b: &NodeName) {
        let mut cuts = self.cuts();
        cuts.remove(&(a.clone(), b.clone()));
        cuts.remove(&(b.clone(), a.clone()));
    }

    /// Sends refused by partitions so far.
    pub fn refused_sends(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    fn cuts(&self) -> MutexGuard<'_, HashSet<(NodeName, NodeName)>> {
        self.cuts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn members(&self) -> MutexGuard<'_, HashMap<NodeName, Member>> {
        self.members
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates the transport of node `name` on this network (frame limits as in
    /// `settings`).
    pub fn transport(&self, name: NodeName, settings: TransportSettings) -> MemoryTransport {
        let (events, _) = broadcast::channel(256);
        self.members().insert(
            name.clone(),
            Member {
                handler: None,
                events,
            },
        );
        MemoryTransport {
            local: name,
            network: self.clone(),
            settings,
        }
    }
}

/// One node's view of a [`MemoryNetwork`].
pub struct MemoryTransport {
    local: NodeName,
    network: MemoryNetwork,
    settings: TransportSettings,
}

impl Transport for MemoryTransport {
    fn local_name(&self) -> &NodeName {
        &self.local
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        None
    }

    fn start(&self, handler: Arc<dyn InboundHandler>) -> Result<(), TransportError> {
        let mut members = self.network.members();
        let me = members
            .get_mut(&self.local)
            .ok_or(TransportError::ShuttingDown)?;
        me.handler = Some(handler);
        let my_events = me.events.clone();
        for (name, member) in members.iter() {
            if name != &self.local && member.handler.is_some() {
                let _ = member.events.send(PeerEvent::Connected {
                    peer: self.local.clone(),
                });
                let _ = my_events.send(PeerEvent::Connected { peer: name.clone() });
            }
        }
        Ok(())
    }

    fn set_peer_addr(&self, _peer: &NodeName, _addr: SocketAddr) -> Result<(), TransportError> {
        Ok(())
    }

    fn connect(&self, peer: &NodeName) -> BoxFuture<'static, Result<(), TransportError>> {
        let known = self
            .network
            .members()
            .get(peer)
            .is_some_and(|m| m.handler.is_some());
        let peer = peer.clone();
        Box::pin(async move {
            if known {
                Ok(())
            } else {
                Err(TransportError::UnknownPeer(peer))
            }
        })
    }

    fn send(
        &self,
        peer: &NodeName,
        msg: Outbound,
        options: SendOptions,
    ) -> BoxFuture<'static, Result<Answer, TransportError>> {
        let me_alive = self
            .network
            .members()
            .get(&self.local)
            .is_some_and(|m| m.handler.is_some());
        let handler = self
            .network
            .members()
            .get(peer)
            .and_then(|m| m.handler.clone());
        let limits = self.settings.limits;
        let timeout = options
            .reply_timeout
            .unwrap_or(self.settings.first_byte_timeout);
        let from = self.local.clone();
        let peer = peer.clone();
        let cut = self.network.cuts().contains(&(from.clone(), peer.clone()));
        if cut {
            self.network.refused.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(async move {
            if !me_alive {
                return Err(TransportError::ShuttingDown);
            }
            if cut {
                return Err(TransportError::Stream {
                    peer,
                    reason: "network partitioned".into(),
                });
            }
            let handler = handler.ok_or_else(|| TransportError::UnknownPeer(peer.clone()))?;
            let len = msg.payload.bulk.len() as u64;
            if len > limits.max_bulk_bytes {
                return Err(TransportError::TooLarge {
                    len,
                    max: limits.max_bulk_bytes,
                });
            }
            let inbound = Inbound {
                from,
                request_id: 0,
                actor: msg.actor,
                message: msg.message,
                payload: msg.payload,
                expects_reply: msg.delivery == Delivery::Ask,
            };
            match tokio::time::timeout(timeout, handler.handle(inbound)).await {
                Ok(Ok(answer)) => Ok(match msg.delivery {
                    Delivery::Ask => answer,
                    Delivery::Tell | Delivery::Cast => Answer::Ack,
                }),
                Ok(Err(failure)) => Err(TransportError::Remote { peer, failure }),
                Err(_) => Err(TransportError::Stalled {
                    peer,
                    phase: "waiting for answer",
                    done: len,
                    total: len,
                    after: timeout,
                }),
            }
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<PeerEvent> {
        match self.network.members().get(&self.local) {
            Some(member) => member.events.subscribe(),
            None => broadcast::channel(1).1,
        }
    }

    fn close_now(&self) {
        drop(self.shutdown());
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let mut members = self.network.members();
        if let Some(me) = members.get_mut(&self.local) {
            me.handler = None;
        }
        for (name, member) in members.iter() {
            if name != &self.local {
                let _ = member.events.send(PeerEvent::Lost {
                    peer: self.local.clone(),
                    reason: "node shut down".into(),
                });
            }
        }
        Box::pin(async {})
    }
}
