//! A worker's membership of its trainer's pool across the trainer's restarts: when the
//! connection to the trainer is lost without the trainer shutting down (it was killed, crashed
//! or cut off), the worker keeps announcing itself ([`JoinPool`]) until the trainer — the same
//! process back on the network, or a restarted one resuming its job — accepts it, and the
//! trainer's pool sends it keys and units again. A trainer that shut down on purpose (its node
//! closed the connection with the runtime's shutdown code) has finished: the worker leaves.

use std::fmt;
use std::time::Duration;

use hetal_runtime::transport::codes;
use hetal_runtime::{Node, NodeName, PeerEvent};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use crate::messages::JoinPool;
use crate::roster::TRAINER_ACTOR;

/// Pause between two announcements to a trainer that is not back yet (each also waits for the
/// dial to fail, the transport's connect timeout).
const REJOIN_INTERVAL: Duration = Duration::from_millis(250);

/// Why a worker left its trainer's pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolExit {
    /// The trainer shut its node down: its job is over.
    TrainerDone,
    /// The trainer went away and did not come back within the patience.
    TrainerGone {
        /// How long the worker kept trying.
        waited: Duration,
        /// The last announcement's error.
        last_error: String,
    },
    /// This node stopped delivering peer events (it is shutting down).
    NodeClosed,
}

impl fmt::Display for PoolExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolExit::TrainerDone => f.write_str("the trainer shut down"),
            PoolExit::TrainerGone { waited, last_error } => write!(
                f,
                "the trainer did not come back within {waited:?} (last error: {last_error})"
            ),
            PoolExit::NodeClosed => f.write_str("this node is closing"),
        }
    }
}

/// Whether a loss `reason` (the transport's text for the closed connection) is the peer's node
/// shutting down on purpose: QUIC's application close with the runtime's shutdown code.
pub fn closed_on_purpose(reason: &str) -> bool {
    reason.starts_with("closed by peer") && reason.ends_with(&format!("(code {})", codes::SHUTDOWN))
}

/// Keeps this worker in `trainer`'s pool until the trainer shuts down, re-joining after every
/// loss that was not a shutdown for up to `patience` each time; `rejoined(n)` is called after
/// the `n`-th re-join. `events` must have been subscribed before the first join, so that no
/// loss is missed.
pub async fn stay_in_pool(
    node: &Node,
    trainer: &NodeName,
    mut events: Receiver<PeerEvent>,
    patience: Duration,
    mut rejoined: impl FnMut(usize),
) -> PoolExit {
    let mut rejoins = 0;
    loop {
        match events.recv().await {
            Ok(PeerEvent::Lost { peer, reason }) if &peer == trainer => {
                if closed_on_purpose(&reason) {
                    return PoolExit::TrainerDone;
                }
                tracing::info!("lost the trainer ({reason}); re-joining its pool");
                if let Err(exit) = rejoin(node, trainer, patience).await {
                    return exit;
                }
                rejoins += 1;
                rejoined(rejoins);
            }
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return PoolExit::NodeClosed,
        }
    }
}

/// Announces this worker to `trainer` until it accepts, for up to `patience`.
async fn rejoin(node: &Node, trainer: &NodeName, patience: Duration) -> Result<(), PoolExit> {
    let join = node.remote_ref::<JoinPool>(trainer, TRAINER_ACTOR);
    let start = tokio::time::Instant::now();
    loop {
        let error = match tokio::time::timeout(patience, join.tell(JoinPool)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {patience:?}"),
        };
        if start.elapsed() >= patience {
            return Err(PoolExit::TrainerGone {
                waited: start.elapsed(),
                last_error: error,
            });
        }
        tracing::debug!("the trainer is not back yet: {error}");
        tokio::time::sleep(REJOIN_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_runtimes_shutdown_close_counts_as_on_purpose() {
        assert!(closed_on_purpose(
            "closed by peer: node shutting down (code 0)"
        ));
        assert!(closed_on_purpose("closed by peer: node dropped (code 0)"));
        assert!(!closed_on_purpose("timed out"));
        assert!(!closed_on_purpose(
            "closed by peer: duplicate connection (code 1)"
        ));
        assert!(!closed_on_purpose("connection reset"));
    }
}
