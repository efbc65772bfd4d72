//! What this CPU allows a QUIC transfer, whatever the transport code does: the per-byte work QUIC
//! adds to a kernel TCP copy, measured on one core. Over loopback both move every byte through
//! the kernel twice (send and receive copies); QUIC also seals and opens it (AEAD, with the suite
//! our TLS offers first, through the same rustls QUIC packet-key API quinn uses) and copies it
//! [`USER_COPIES`] times in user space. Its CPU per byte can therefore never fall below TCP's plus
//! [`CpuCeiling::extra_cpu_s_per_gb`].
//!
//! Each figure is the median time per packet-sized operation, so a preemption on a busy machine
//! spoils a few samples, not the figure. The extra work counts copies at their in-cache speed (the
//! fastest a copy can be), so it is a lower bound and the ratio derived from it an upper bound;
//! copies through message-sized buffers, as quinn's packet build from the sender's message is,
//! run slower (`stream_copy_mb_s`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::identity::tls;
use crate::transport::MAX_UDP_PAYLOAD;

/// Copies of every bulk byte QUIC makes in user space on loopback: quinn builds each packet from
/// the sender's buffer, and quinn copies each received datagram out of its receive buffer. The
/// receiver keeps the stream's pieces as quinn hands them out ([`crate::wire::Bulk`]), with no
/// reassembly copy; a consumer that needs one contiguous slice pays one more.
pub const USER_COPIES: u32 = 2;

/// AEAD tag bytes of every TLS 1.3 suite.
pub(super) const TAG_LEN: usize = 16;
/// Short-header bytes authenticated with each packet (flags, connection id, packet number).
const HEADER_LEN: usize = 13;
/// Payload bytes of the largest QUIC packet on loopback (the largest UDP payload less the short
/// header and the tag): what one seal or open covers when packets have grown to their limit.
pub(super) const PACKET_PAYLOAD: usize = MAX_UDP_PAYLOAD as usize - HEADER_LEN - TAG_LEN;
/// Operations timed per figure.
const SAMPLES: usize = 600;

/// Single-core throughput of the work QUIC adds per byte, on this CPU.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuCeiling {
    /// The TLS 1.3 suite measured (offered first by our TLS, so negotiated between nodes).
    pub suite: String,
    /// Packet payload sealed, opened or copied at a time, bytes (the largest loopback packet).
    pub packet_bytes: usize,
    /// Sealing packets one after another, MB/s (10^6 bytes) of one core.
    pub seal_mb_s: f64,
    /// Opening them, MB/s of one core.
    pub open_mb_s: f64,
    /// Copying one packet into another buffer, both in cache, MB/s of one core.
    pub copy_mb_s: f64,
    /// Copying a message-sized buffer into another in packet-sized pieces (memory-bound once the
    /// message exceeds the cache), MB/s of one core.
    pub stream_copy_mb_s: f64,
    /// CPU seconds per GB QUIC needs beyond a kernel TCP copy at the least: one seal, one open
    /// and [`USER_COPIES`] in-cache copies of every byte.
    pub extra_cpu_s_per_gb: f64,
}

impl CpuCeiling {
    /// The best QUIC / TCP throughput ratio when both are bound by CPU (a loaded machine, or
    /// both ends sharing the cores), given TCP's CPU seconds per GB: TCP's cost over TCP's cost
    /// plus the unavoidable extra work.
    pub fn cpu_bound_ratio(&self, tcp_cpu_s_per_gb: f64) -> f64 {
        tcp_cpu_s_per_gb / (tcp_cpu_s_per_gb + self.extra_cpu_s_per_gb)
    }
}

/// Why the ceiling could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum CeilingError {
    /// The first suite of our TLS provider has no QUIC packet protection.
    #[error("suite {0} has no QUIC packet keys")]
    NoQuicSuite(String),
    /// Sealing or opening failed (it never should with these sizes).
    #[error("packet protection failed: {0}")]
    Crypto(#[from] rustls::Error),
}

/// Measures the ceiling with messages of `message_bytes` (the streaming copy goes through buffers
/// of that size, capped at 64 MiB).
pub fn measure_ceiling(message_bytes: usize) -> Result<CpuCeiling, CeilingError> {
    let packet = PACKET_PAYLOAD;
    let (suite, seal, open) = aead_times(packet)?;
    let copy = copy_time(packet, packet);
    let stream_copy = copy_time(packet, message_bytes.clamp(packet, 64 << 20));
    let mb_s = |d: Duration| packet as f64 / d.as_secs_f64().max(1e-12) / 1e6;
    let (seal_mb_s, open_mb_s, copy_mb_s) = (mb_s(seal), mb_s(open), mb_s(copy));
    let s_per_gb = |mb_s: f64| 1e3 / mb_s;
    Ok(CpuCeiling {
        suite,
        packet_bytes: packet,
        seal_mb_s,
        open_mb_s,
        copy_mb_s,
        stream_copy_mb_s: mb_s(stream_copy),
        extra_cpu_s_per_gb: s_per_gb(seal_mb_s)
            + s_per_gb(open_mb_s)
            + f64::from(USER_COPIES) * s_per_gb(copy_mb_s),
    })
}

/// Median seal and open times of one `packet`-byte payload, with 1-RTT-style keys of the suite
/// our TLS offers first (derived here as QUIC Initial keys: same AEAD, same code path).
fn aead_times(packet: usize) -> Result<(String, Duration, Duration), CeilingError> {
    let (name, suite) = first_quic_suite()?;
    let cid = [0x5au8; 8];
    let version = rustls::quic::Version::V1;
    let client = suite.keys(&cid, rustls::Side::Client, version);
    let server = suite.keys(&cid, rustls::Side::Server, version);
    let header = [0x40u8; HEADER_LEN];
    let mut buf: Vec<u8> = (0..packet + TAG_LEN).map(|i| i as u8).collect();
    let mut seals = Vec::with_capacity(SAMPLES);
    let mut opens = Vec::with_capacity(SAMPLES);
    for pn in 0..SAMPLES as u64 {
        let started = Instant::now();
        let tag = client
            .local
            .packet
            .encrypt_in_place(pn, &header, &mut buf[..packet])?;
        seals.push(started.elapsed());
        buf[packet..].copy_from_slice(tag.as_ref());
        let started = Instant::now();
        let opened = server
            .remote
            .packet
            .decrypt_in_place(pn, &header, &mut buf)?
            .len();
        opens.push(started.elapsed());
        debug_assert_eq!(opened, packet);
    }
    Ok((name, median(seals), median(opens)))
}

/// The suite our TLS offers first (so the one nodes negotiate), by name, with its QUIC packet
/// protection.
pub(super) fn first_quic_suite() -> Result<(String, rustls::quic::Suite), CeilingError> {
    let provider = tls::provider();
    let first = provider
        .cipher_suites
        .first()
        .ok_or_else(|| CeilingError::NoQuicSuite("(none)".into()))?;
    let name = format!("{:?}", first.suite());
    let suite = first
        .tls13()
        .and_then(|s| s.quic_suite())
        .ok_or_else(|| CeilingError::NoQuicSuite(name.clone()))?;
    Ok((name, suite))
}

/// Median time to copy one `packet`-byte piece from a `span`-byte buffer into another, walking
/// both buffers from end to end as a receiver fills a message (`span == packet`: the same packet
/// again and again, in cache).
fn copy_time(packet: usize, span: usize) -> Duration {
    let source: Vec<u8> = (0..span).map(|i| (i as u8).wrapping_mul(7)).collect();
    let mut target = vec![1u8; span];
    let pieces = span / packet;
    let mut times = Vec::with_capacity(SAMPLES);
    while times.len() < SAMPLES {
        for k in 0..pieces {
            let range = k * packet..(k + 1) * packet;
            let started = Instant::now();
            target[range.clone()].copy_from_slice(&source[range]);
            times.push(started.elapsed());
        }
        std::hint::black_box(&mut target);
    }
    median(times)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_figures_are_positive_and_consistent() {
        let ceiling = measure_ceiling(1 << 20).unwrap();
        assert!(ceiling.suite.contains("AES_128_GCM"), "{}", ceiling.suite);
        assert_eq!(
            ceiling.packet_bytes,
            usize::from(MAX_UDP_PAYLOAD) - HEADER_LEN - TAG_LEN
        );
        assert_eq!(ceiling.packet_bytes, PACKET_PAYLOAD);
        for mb_s in [
            ceiling.seal_mb_s,
            ceiling.open_mb_s,
            ceiling.copy_mb_s,
            ceiling.stream_copy_mb_s,
        ] {
            assert!(mb_s.is_finite() && mb_s > 0.0, "{ceiling:?}");
        }
        let expected = 1e3 / ceiling.seal_mb_s
            + 1e3 / ceiling.open_mb_s
            + f64::from(USER_COPIES) * 1e3 / ceiling.copy_mb_s;
        assert!((ceiling.extra_cpu_s_per_gb - expected).abs() <= 1e-9 * expected);
        // TCP's own cost dominates the ratio when it is large, the extra work when it is small.
        let tcp = 0.3;
        let ratio = ceiling.cpu_bound_ratio(tcp);
        assert!(ratio > 0.0 && ratio < 1.0);
        assert!(ceiling.cpu_bound_ratio(10.0 * tcp) > ratio);
    }

    #[test]
    fn sealed_packets_open_to_the_plaintext() {
        // The timed loop relies on seal-then-open restoring the buffer; check that it does.
        let provider = tls::provider();
        let suite = provider.cipher_suites[0]
            .tls13()
            .and_then(|s| s.quic_suite())
            .unwrap();
        let client = suite.keys(&[1; 8], rustls::Side::Client, rustls::quic::Version::V1);
        let server = suite.keys(&[1; 8], rustls::Side::Server, rustls::quic::Version::V1);
        let plain: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut buf = plain.clone();
        buf.extend_from_slice(&[0; TAG_LEN]);
        let tag = client
            .local
            .packet
            .encrypt_in_place(7, b"hdr", &mut buf[..1000])
            .unwrap();
        assert_ne!(&buf[..1000], &plain[..]);
        buf[1000..].copy_from_slice(tag.as_ref());
        let opened = server
            .remote
            .packet
            .decrypt_in_place(7, b"hdr", &mut buf)
            .unwrap();
        assert_eq!(opened, &plain[..]);
        // A wrong packet number fails authentication.
        let tag = client
            .local
            .packet
            .encrypt_in_place(8, b"hdr", &mut buf[..1000])
            .unwrap();
        buf[1000..].copy_from_slice(tag.as_ref());
        assert!(
            server
                .remote
                .packet
                .decrypt_in_place(9, b"hdr", &mut buf)
                .is_err()
        );
    }
}
