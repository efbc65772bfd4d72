//! The table of live connections: at most one in use per peer. When both nodes dial each other at
//! once, both keep the connection dialed by the node with the smaller name, so they agree without
//! talking; the other connection is retired once it has nothing in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::name::NodeName;

/// Counts the streams in flight on one connection.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

impl InFlight {
    /// Marks one stream as in flight until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    /// Whether no stream is in flight now.
    pub(crate) fn is_idle(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }

    /// Waits until no stream is in flight.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Keeps a stream counted in [`InFlight`].
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// One connection to a peer.
#[derive(Clone)]
pub(crate) struct Link {
    pub(crate) conn: quinn::Connection,
    /// The node that dialed this connection.
    pub(crate) initiator: NodeName,
    pub(crate) inflight: Arc<InFlight>,
}

impl Link {
    pub(crate) fn is_alive(&self) -> bool {
        self.conn.close_reason().is_none()
    }
}

/// What happened when a connection was added.
pub(crate) struct Installed {
    /// The connection to use from now on.
    pub(crate) current: Link,
    /// A connection that lost the duplicate rule and must be retired.
    pub(crate) retired: Option<Link>,
    /// Whether the peer had no live connection before.
    pub(crate) newly_connected: bool,
}

/// Live connections by peer, plus one dial lock per peer so that a node never dials the same peer
/// twice at once.
#[derive(Default)]
pub(crate) struct PeerTable {
    links: Mutex<HashMap<NodeName, Link>>,
    dial_locks: Mutex<HashMap<NodeName, Arc<tokio::sync::Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the map inconsistent (single inserts/removes).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PeerTable {
    /// The live connection to `peer`, if any.
    pub(crate) fn alive(&self, peer: &NodeName) -> Option<Link> {
        lock(&self.links)
            .get(peer)
            .filter(|l| l.is_alive())
            .cloned()
    }

    /// Every connection currently in use.
    pub(crate) fn all(&self) -> Vec<Link> {
        lock(&self.links).values().cloned().collect()
    }

    /// The lock serialising dials to `peer`.
    pub(crate) fn dial_lock(&self, peer: &NodeName) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.dial_locks)
            .entry(peer.clone())
            .or_default()
            .clone()
    }

    /// Adds a new connection and applies the duplicate rule against the existing one.
    pub(crate) fn install(&self, local: &NodeName, peer: &NodeName, link: Link) -> Installed {
        let preferred = local.min(peer);
        let mut links = lock(&self.links);
        match links.get(peer).filter(|l| l.is_alive()).cloned() {
            Some(existing) => {
                let new_preferred = &link.initiator == preferred;
                let old_preferred = &existing.initiator == preferred;
                // Same initiator on both: the peer redialed (e.g. restarted), the newer wins.
                if new_preferred || !old_preferred {
                    links.insert(peer.clone(), link.clone());
                    Installed {
                        current: link,
                        retired: Some(existing),
                        newly_connected: false,
                    }
                } else {
                    Installed {
                        current: existing,
                        retired: Some(link),
                        newly_connected: false,
                    }
                }
            }
            None => {
                links.insert(peer.clone(), link.clone());
                Installed {
                    current: link,
                    retired: None,
                    newly_connected: true,
                }
            }
        }
    }

    /// Removes `peer`'s entry if it is this connection; returns whether it was.
    pub(crate) fn remove_if_current(&self, peer: &NodeName, stable_id: usize) -> bool {
        let mut links = lock(&self.links);
        if links.get(peer).map(|l| l.conn.stable_id()) == Some(stable_id) {
            links.remove(peer);
            true
        } else {
            false
        }
    }
}
