//! An optional recorder of every byte an actor sends, so that a test can scan the traffic for
//! material that must never leave a party (the secret key).

use std::sync::{Arc, Mutex};

use hetal_runtime::Message;

/// Shared recorder of sent payloads (meta and bulk bytes, in send order).
#[derive(Debug, Clone, Default)]
pub struct Tap {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Tap {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the encoding of `msg` (the exact bytes its payload puts on the wire).
    pub fn record<M: Message + Clone>(&self, msg: &M) {
        if let Ok(payload) = msg.clone().into_payload()
            && let Ok(mut bytes) = self.bytes.lock()
        {
            bytes.extend_from_slice(&payload.meta);
            for piece in payload.bulk.pieces() {
                bytes.extend_from_slice(piece);
            }
        }
    }

    /// Everything recorded so far.
    pub fn snapshot(&self) -> Vec<u8> {
        self.bytes.lock().map(|b| b.clone()).unwrap_or_default()
    }
}

/// Records `msg` if a tap is installed.
pub(crate) fn record<M: Message + Clone>(tap: &Option<Tap>, msg: &M) {
    if let Some(tap) = tap {
        tap.record(msg);
    }
}
