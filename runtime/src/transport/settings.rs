//! Transport knobs, with defaults chosen for a LAN or loopback and explained where they matter.

use std::sync::Arc;
use std::time::Duration;

use quinn::{IdleTimeout, VarInt};

use super::TransportError;
use super::reconnect::ReconnectSettings;
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
    /// Memory reserved for a payload before its bytes arrive, when they arrive in short pieces
    /// (Ethernet-sized packets: the pieces are copied into one buffer; large loopback packets are
    /// kept as they arrive and need no reservation). Beyond it the buffer grows only as data
    /// actually arrives, so a header announcing a huge length costs no more than this.
    pub preallocate_limit: usize,
    /// Longest wait for messages in flight at shutdown.
    pub drain_timeout: Duration,
    /// How long a retired duplicate connection keeps serving before it is closed.
    pub duplicate_grace: Duration,
    /// UDP payload sizes: where a connection starts and how far path MTU discovery may go.
    pub mtu: MtuSettings,
    /// Send many packets per system call (UDP GSO) where the kernel supports it; quinn falls back
    /// by itself where it does not.
    pub segmentation_offload: bool,
    /// Kernel receive and send buffer of the UDP socket, in bytes (`None`: the system default,
    /// often ~208 KB, which a burst of large datagrams overflows). The kernel caps it at
    /// `net.core.rmem_max` / `wmem_max`.
    pub socket_buffer: Option<usize>,
    /// Redialling a peer whose connection was lost.
    pub reconnect: ReconnectSettings,
    /// Connections whose other end is a loopback address (nodes on one machine) may grow packets
    /// to the largest UDP payload, without segmentation offload, whatever `mtu` and
    /// `segmentation_offload` say: loopback carries 64 KB datagrams, and bulk transfers then
    /// cost about half the CPU per byte.
    pub large_packets_on_loopback: bool,
}

/// UDP payload sizes (the QUIC "MTU", without IP and UDP headers).
///
/// Every packet costs a fixed amount of work (headers, AEAD setup, acknowledgement tracking), so
/// larger packets move bulk data with less CPU. A connection starts at `initial` and path MTU
/// discovery (RFC 8899) probes up to `upper_bound`; a lost probe costs only the probe. Every node
/// of a cluster should use the same values: a node accepts datagrams only up to its own
/// `upper_bound`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtuSettings {
    /// Payload size at the start of a connection (at least 1200, the QUIC minimum). Keep it
    /// small and let discovery grow it: on loopback an initial size of 16 KB or more stalled the
    /// handshake in our measurements, while discovery from 1200 reached 65 KB within the first
    /// megabytes.
    pub initial: u16,
    /// Payload size the path is known to carry; loss never pushes the MTU below it.
    pub min: u16,
    /// Largest payload probed for and accepted (at most 65527).
    pub upper_bound: u16,
}

/// The smallest UDP payload every QUIC path must carry (RFC 9000 §14).
pub const QUIC_MIN_MTU: u16 = 1200;
/// The largest UDP payload over IPv6 (65535 minus the 8-byte UDP header).
pub const MAX_UDP_PAYLOAD: u16 = 65527;
/// The largest UDP payload that fits an Ethernet frame over IPv6 or IPv4 (quinn's default bound).
pub const ETHERNET_MTU: u16 = 1452;

impl Default for MtuSettings {
    /// Ethernet-sized: starts at the QUIC minimum and discovers up to 1452 bytes.
    fn default() -> Self {
        Self {
            initial: QUIC_MIN_MTU,
            min: QUIC_MIN_MTU,
            upper_bound: ETHERNET_MTU,
        }
    }
}

impl MtuSettings {
    fn validate(&self) -> Result<(), String> {
        if self.min < QUIC_MIN_MTU {
            return Err(format!("mtu.min must be at least {QUIC_MIN_MTU}"));
        }
        if self.upper_bound > MAX_UDP_PAYLOAD {
            return Err(format!("mtu.upper_bound must be at most {MAX_UDP_PAYLOAD}"));
        }
        if !(self.min <= self.initial && self.initial <= self.upper_bound) {
            return Err("mtu must satisfy min <= initial <= upper_bound".into());
        }
        Ok(())
    }
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
            mtu: MtuSettings::default(),
            segmentation_offload: true,
            socket_buffer: Some(4 << 20),
            reconnect: ReconnectSettings::default(),
            large_packets_on_loopback: true,
        }
    }
}

impl TransportSettings {
    /// Large packets on every connection, whatever the peer's address: for nodes on one machine
    /// that reach each other through non-loopback addresses (e.g. a bridge between containers).
    /// Path MTU discovery may grow packets to the largest UDP payload, which cuts per-packet
    /// work ~40-fold for bulk transfers. Segmentation offload is off because it batches only up
    /// to 64 KB per system call (one such packet) and, with large segments, made quinn lose
    /// packets and fall back to 1200 bytes on loopback.
    pub fn loopback() -> Self {
        Self {
            mtu: MtuSettings {
                upper_bound: MAX_UDP_PAYLOAD,
                ..MtuSettings::default()
            },
            segmentation_offload: false,
            ..Self::default()
        }
    }

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
        self.mtu.validate().map_err(TransportError::Settings)?;
        self.reconnect
            .validate()
            .map_err(TransportError::Settings)?;
        Ok(())
    }

    /// The quinn transport configuration these settings describe, for a connection over
    /// loopback or not (see [`Self::large_packets_on_loopback`]).
    pub(crate) fn quinn(
        &self,
        loopback: bool,
    ) -> Result<Arc<quinn::TransportConfig>, TransportError> {
        self.validate()?;
        let (mtu, segmentation_offload) = if loopback && self.large_packets_on_loopback {
            let mtu = MtuSettings {
                upper_bound: MAX_UDP_PAYLOAD,
                ..self.mtu
            };
            (mtu, false)
        } else {
            (self.mtu, self.segmentation_offload)
        };
        let mut config = quinn::TransportConfig::default();
        config
            .max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok())
            .keep_alive_interval(Some(self.keep_alive))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.receive_window))
            .send_window(self.send_window)
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(self.max_concurrent_streams))
            .initial_mtu(mtu.initial)
            .min_mtu(mtu.min)
            .enable_segmentation_offload(segmentation_offload);
        let mut discovery = quinn::MtuDiscoveryConfig::default();
        discovery.upper_bound(mtu.upper_bound);
        config.mtu_discovery_config(Some(discovery));
        Ok(Arc::new(config))
    }

    /// The quinn endpoint configuration: datagrams up to the MTU bound (the largest UDP payload
    /// with large packets on loopback) are accepted.
    pub(crate) fn endpoint(&self) -> Result<quinn::EndpointConfig, TransportError> {
        let mut config = quinn::EndpointConfig::default();
        let accepted = if self.large_packets_on_loopback {
            MAX_UDP_PAYLOAD
        } else {
            self.mtu.upper_bound
        };
        config
            .max_udp_payload_size(accepted)
            .map_err(|e| TransportError::Settings(format!("mtu.upper_bound: {e}")))?;
        Ok(config)
    }
}
