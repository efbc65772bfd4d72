//! Sending through a dropped connection or a restarting peer: the client's verdicts and the
//! trainer's validation outputs and final model are re-sent, with growing pauses, until they
//! arrive or a deadline passes. A refusal is final (the peer is there and said no); a lost
//! connection, a timeout or an actor not registered yet (a node that just restarted) is
//! retried. The messages are idempotent on the receiving side: the trainer ignores a verdict it
//! already applied and the client answers a repeated validation with the verdict it recorded.

use std::time::{Duration, Instant};

use hetal_runtime::transport::TransportError;
use hetal_runtime::{Message, RemoteRef, SendError};

/// First pause before a re-send; doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between re-sends.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Whether a failed send may succeed later (the peer is away, not refusing).
pub fn is_transient(e: &SendError) -> bool {
    match e {
        SendError::Timeout { .. } | SendError::Undeliverable { .. } => true,
        SendError::Transport(t) => !matches!(
            t,
            TransportError::TooLarge { .. }
                | TransportError::Encode(_)
                | TransportError::Settings(_)
                | TransportError::Identity(_)
        ),
        _ => false,
    }
}

/// Tells `msg` to `target`, re-sending after transient failures until `patience` has passed
/// since the first try; returns the last error then, or the first permanent one.
pub async fn tell_patiently<M: Message + Clone>(
    target: &RemoteRef<M>,
    msg: M,
    patience: Duration,
) -> Result<(), SendError> {
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match target.tell(msg.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if is_transient(&e) && start.elapsed() + pause < patience => {
                tracing::warn!("sending {} to {}: {e}; retrying", M::NAME, target.target());
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            Err(e) => return Err(e),
        }
    }
}
