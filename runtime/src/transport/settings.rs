//! Transport knobs, with defaults chosen for a LAN or loopback and explained where they matter.

use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, VarInt};

use super::TransportError;
use crate::wire::FrameLimits;

/// Timeouts, windows and limits of the QUIC transport.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// A connection with no traffic for this long is dead (RFC 9000 §10.1). Detects peers that
    /// vanish without closing.
    pub idle_timeout: Duration,
    /// Keep-alive interval; must be shorter than `idle_timeout` so that a quiet but healthy
    /// connection (a long HE computation) is not declared dead.
    pub keep_alive: Duration,
    /// Longest wait for a handshake.
    pub connect_timeout: Duration,
    /// Longest wait for the first byte of a frame on a stream the peer opened, and the default
    /// wait for an answer's first byte (see [`super::SendOptions::reply_timeout`]).
    pub first_byte_timeout: Duration,
    /// Longest time without any progress inside a frame, on either side. Transfers of any size
    /// succeed as long as bytes keep moving.
    pub progress_timeout: Duration,
    /// Bulk bytes handed to QUIC per write (and reported per progress callback).
    pub chunk_size: usize,
    /// Per-stream receive window: how far a sender may run ahead of our reads on one stream.
    pub stream_receive_window: u32,
    /// Connection-wide receive window.
    pub receive_window: u32,
    /// Unacknowledged bytes we may have in flight per connection (bounds the sender's buffer).
    pub send_window: u64,
    /// Streams a peer may have open at once in each direction; further opens wait.
    pub max_concurrent_streams: u32,
    /// Limits on announced frame lengths.
    pub limits: FrameLimits,
    /// Bulk bytes of inbound messages this node holds at once, across all peers and streams.
    /// A message is read only once its size fits in what is left (a message larger than the whole
    /// budget waits for all of it), so many concurrent large messages queue instead of
    /// exhausting memory, and QUIC flow control holds their senders back meanwhile.
    pub max_inbound_bulk_bytes: u64,
    /// Memory reserved for a payload before its bytes arrive. Beyond it the buffer grows only as
    /// data actually arrives, so a header announcing a huge length costs no more than this.
    pub preallocate_limit: usize,
    /// Longest wait for messages in flight at shutdown.
    pub drain_timeout: Duration,
    /// How long a retired duplicate connection keeps serving before it is closed.
    pub duplicate_grace: Duration,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            progress_timeout: Duration::from_secs(30),
            chunk_size: 1 << 20,
            stream_receive_window: 8 << 20,
            receive_window: 32 << 20,
            send_window: 32 << 20,
            max_concurrent_streams: 100,
            limits: FrameLimits::default(),
            max_inbound_bulk_bytes: 1 << 30,
            preallocate_limit: 64 << 20,
            drain_timeout: Duration::from_secs(10),
            duplicate_grace: Duration::from_secs(1),
        }
    }
}

impl TransportSettings {
    /// Checks the settings for contradictions.
    pub fn validate(&self) -> Result<(), TransportError> {
        let bad = |msg: &str| Err(TransportError::Settings(msg.to_owned()));
        if self.keep_alive >= self.idle_timeout {
            return bad("keep_alive must be shorter than idle_timeout");
        }
        if self.chunk_size == 0 {
            return bad("chunk_size must be positive");
        }
        if self.stream_receive_window == 0 || self.receive_window < self.stream_receive_window {
            return bad(
                "receive_window must be at least stream_receive_window, which must be positive",
            );
        }
        if IdleTimeout::try_from(self.idle_timeout).is_err() {
            return bad("idle_timeout is too large for QUIC");
        }
        Ok(())
    }

    /// The quinn transport configuration these settings describe.
    pub(crate) fn quinn(&self) -> Result<Arc<quinn::TransportConfig>, TransportError> {
        self.validate()?;
        let mut config = quinn::TransportConfig::default();
        config
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok())
            .keep_alive_interval(Some(self.keep_alive))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.receive_window))
            .send_window(self.send_window)
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(self.max_concurrent_streams));
        Ok(Arc::new(config))
    }
}
