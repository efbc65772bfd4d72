//! The loopback transport benchmark behind `hetal bench transport`: small-ask round trips and
//! large-message throughput between two nodes over QUIC with mutual TLS, measured beside a plain
//! tokio TCP copy through the same loopback in the same run, and beside that copy with every
//! record sealed and opened with QUIC's AEAD ("TCP + AEAD", a measurement lane: what an
//! encrypted copy with that AEAD costs on this CPU, measured rather than computed).
//!
//! The two ends run on two tokio runtimes of `threads` workers each, like two `hetal node`
//! processes (two workers each): the sending node and the TCP client on one, the receiving node
//! and the TCP server on the other. One runtime with a worker per core for both ends spread each
//! connection's work over idle threads, which cost about 40 % more CPU per byte on a 16-core
//! machine without moving more bytes.
//!
//! The large messages alternate between the lanes round by round in rotating order (QUIC, TCP,
//! TCP + AEAD in round 0; TCP, TCP + AEAD, QUIC in round 1; TCP + AEAD, QUIC, TCP in round 2; and
//! so on), so that on a shared machine all see the same load and the ratios stay meaningful while
//! the absolute MB/s swing.

mod aead_tcp_side;
mod ceiling;
mod quic_side;
mod tcp_side;
mod timing;

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle as RuntimeHandle;

use crate::transport::{PeerStats, TransportSettings};
use aead_tcp_side::AeadTcpSide;
use quic_side::QuicSide;
use tcp_side::TcpSide;
use timing::BulkTiming;

pub use aead_tcp_side::{AeadLaneError, RECORD_PLAINTEXT};
pub use ceiling::{CeilingError, CpuCeiling, USER_COPIES, measure_ceiling};

/// What to measure.
#[derive(Debug, Clone)]
pub struct TransportBenchOptions {
    /// Bytes per large message (a ciphertext at N=2^16 with 25 limbs is about 26 MB).
    pub size: usize,
    /// Large messages in flight at once (each on its own stream / TCP connection).
    pub streams: usize,
    /// Rounds of `streams` large messages.
    pub rounds: usize,
    /// Sequential small asks timed for the round-trip figures.
    pub asks: usize,
    /// Transport settings of both nodes (chunk size, windows, MTU bounds).
    pub settings: TransportSettings,
    /// Tokio worker threads of each end's runtime.
    pub threads: usize,
}

/// Tokio worker threads per node in `hetal node` (and the default here).
pub const NODE_WORKER_THREADS: usize = 2;

impl Default for TransportBenchOptions {
    fn default() -> Self {
        Self {
            size: 26_000_000,
            streams: 1,
            rounds: 5,
            asks: 2000,
            settings: TransportSettings::default(),
            threads: NODE_WORKER_THREADS,
        }
    }
}

/// Round-trip statistics in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Number of round trips timed.
    pub count: usize,
    /// Median.
    pub median_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransportBenchReport {
    /// Bytes per large message.
    pub size: usize,
    /// Concurrent large messages.
    pub streams: usize,
    /// Rounds.
    pub rounds: usize,
    /// Tokio worker threads of each end's runtime.
    pub threads: usize,
    /// Bulk bytes handed to QUIC per write.
    pub chunk_size: usize,
    /// Per-stream receive window, bytes.
    pub stream_receive_window: u32,
    /// UDP payload size a connection starts at.
    pub initial_mtu: u16,
    /// Largest UDP payload path MTU discovery may reach (on loopback up to 65527 instead when
    /// `large_packets_on_loopback`).
    pub mtu_upper_bound: u16,
    /// Whether loopback connections could grow packets to the largest UDP payload.
    pub large_packets_on_loopback: bool,
    /// Whether UDP segmentation offload (GSO) was enabled.
    pub segmentation_offload: bool,
    /// UDP socket buffer requested, bytes (`None`: system default).
    pub socket_buffer: Option<usize>,
    /// The sender's connection after the large messages: MTU actually used, losses, round trip.
    pub quic_path: Option<PeerStats>,
    /// Mean number of pieces a large QUIC message reached the receiving actor in (kept as QUIC
    /// delivered them: about one per packet on loopback with large packets, one when short
    /// pieces were copied together).
    pub quic_pieces_per_message: f64,
    /// Small ask over QUIC (hetal runtime, actor to actor).
    pub quic_ask: LatencyStats,
    /// 8-byte ping-pong over one TCP connection.
    pub tcp_ping: LatencyStats,
    /// Large tells over QUIC, MB/s (10^6 bytes), acknowledged after the actor got them.
    pub quic_mb_s: f64,
    /// The same bytes copied over plain TCP into a receive buffer, MB/s.
    pub tcp_mb_s: f64,
    /// `quic_mb_s / tcp_mb_s`.
    pub quic_over_tcp: f64,
    /// CPU time the whole process spent per GB (10^9 bytes) of large QUIC messages, seconds, on
    /// both ends together (Linux only: the scheduler's nanosecond clock, or the 10 ms process
    /// clock where that is missing; `None` for runs too short for the clock).
    /// On a shared machine this is steadier than MB/s: it does not count time spent waiting for
    /// a core.
    pub quic_cpu_s_per_gb: Option<f64>,
    /// The same for the TCP copy.
    pub tcp_cpu_s_per_gb: Option<f64>,
    /// Plaintext bytes per record of the TCP + AEAD lane (a loopback QUIC packet's payload).
    pub aead_record_bytes: usize,
    /// The TCP copy with every record sealed by the sender and opened by the receiver (the
    /// ceiling's suite, through rustls' QUIC packet keys), MB/s: a measurement lane, not a
    /// transport.
    pub aead_tcp_mb_s: f64,
    /// `aead_tcp_mb_s / tcp_mb_s`: what the AEAD alone leaves of the TCP copy.
    pub aead_tcp_over_tcp: f64,
    /// `quic_mb_s / aead_tcp_mb_s`: how close QUIC comes to the least an encrypted transport
    /// costs.
    pub quic_over_aead_tcp: f64,
    /// CPU seconds per GB of the TCP + AEAD lane, measured as `quic_cpu_s_per_gb`.
    pub aead_tcp_cpu_s_per_gb: Option<f64>,
    /// What this CPU allows QUIC at best: AEAD and copy throughput of one core.
    pub ceiling: CpuCeiling,
    /// The best `quic_over_tcp` this CPU allows when both transports are bound by CPU, from
    /// `tcp_cpu_s_per_gb` and the ceiling's extra work (`None` without a TCP CPU figure).
    pub cpu_bound_ratio_ceiling: Option<f64>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Setting up nodes or sending failed.
    #[error("{0}")]
    Runtime(String),
    /// Socket I/O failed in the TCP baseline.
    #[error("tcp baseline: {0}")]
    Io(#[from] std::io::Error),
    /// The CPU ceiling could not be measured.
    #[error("cpu ceiling: {0}")]
    Ceiling(#[from] CeilingError),
    /// The TCP + AEAD lane failed (a record that did not open is an error, never counted).
    #[error("tcp + aead lane: {0}")]
    AeadLane(#[from] AeadLaneError),
}

fn err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Runtime(e.to_string())
}

fn stats(mut samples: Vec<Duration>) -> LatencyStats {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let count = samples.len();
    let at = |q: f64| {
        samples
            .get(((count as f64 * q) as usize).min(count.saturating_sub(1)))
            .map_or(0.0, |d| us(*d))
    };
    LatencyStats {
        count,
        median_us: at(0.5),
        p99_us: at(0.99),
        mean_us: samples.iter().map(|d| us(*d)).sum::<f64>() / count.max(1) as f64,
    }
}

/// The large-message lanes, in their round-0 order.
#[derive(Clone, Copy)]
enum Lane {
    Quic,
    Tcp,
    AeadTcp,
}

impl Lane {
    const ALL: [Lane; 3] = [Lane::Quic, Lane::Tcp, Lane::AeadTcp];
}

/// Runs the benchmark on two tokio runtimes of its own, one per end (call it from synchronous
/// code).
pub fn run_transport_bench(
    options: &TransportBenchOptions,
) -> Result<TransportBenchReport, BenchError> {
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads.max(1))
            .thread_name(name)
            .enable_all()
            .build()
    };
    let sender = runtime("bench-sender")?;
    let receiver = runtime("bench-receiver")?;
    let report = sender.block_on(run(options, receiver.handle()));
    receiver.shutdown_timeout(Duration::from_secs(2));
    report
}

async fn run(
    options: &TransportBenchOptions,
    receiver: &RuntimeHandle,
) -> Result<TransportBenchReport, BenchError> {
    let streams = options.streams.max(1);
    let rounds = options.rounds.max(1);
    let data = Bytes::from(
        (0..options.size)
            .map(|i| (i as u8).wrapping_mul(31))
            .collect::<Vec<_>>(),
    );
    let ceiling = measure_ceiling(options.size)?;
    let (quic, quic_ask) = QuicSide::start(options, &data, receiver).await?;
    let (mut tcp, tcp_ping) = TcpSide::start(options, streams, &data, receiver).await?;
    let mut aead_tcp = AeadTcpSide::start(streams, &data, receiver).await?;
    // Round by round, in rotating order, so that all lanes see the same machine load.
    let round_bytes = (data.len() * streams) as u64;
    let (mut quic_bulk, mut tcp_bulk, mut aead_tcp_bulk) =
        (BulkTiming::new(), BulkTiming::new(), BulkTiming::new());
    for round in 0..rounds {
        for turn in 0..Lane::ALL.len() {
            match Lane::ALL[(round + turn) % Lane::ALL.len()] {
                Lane::Quic => {
                    quic_bulk
                        .time(round_bytes, quic.send_round(streams, &data))
                        .await?
                }
                Lane::Tcp => tcp_bulk.time(round_bytes, tcp.send_round(&data)).await?,
                Lane::AeadTcp => {
                    aead_tcp_bulk
                        .time(round_bytes, aead_tcp.send_round(&data))
                        .await?
                }
            }
        }
    }
    tcp.finish();
    aead_tcp.finish()?;
    let (quic_path, quic_pieces_per_message) = quic.finish().await;
    let (quic_mb_s, tcp_mb_s) = (quic_bulk.mb_s(), tcp_bulk.mb_s());
    let aead_tcp_mb_s = aead_tcp_bulk.mb_s();
    Ok(TransportBenchReport {
        size: options.size,
        streams,
        rounds,
        threads: options.threads.max(1),
        chunk_size: options.settings.chunk_size,
        stream_receive_window: options.settings.stream_receive_window,
        initial_mtu: options.settings.mtu.initial,
        mtu_upper_bound: options.settings.mtu.upper_bound,
        large_packets_on_loopback: options.settings.large_packets_on_loopback,
        segmentation_offload: options.settings.segmentation_offload,
        socket_buffer: options.settings.socket_buffer,
        quic_path,
        quic_pieces_per_message,
        quic_ask,
        tcp_ping,
        quic_mb_s,
        tcp_mb_s,
        quic_over_tcp: quic_mb_s / tcp_mb_s,
        quic_cpu_s_per_gb: quic_bulk.cpu_s_per_gb(),
        tcp_cpu_s_per_gb: tcp_bulk.cpu_s_per_gb(),
        aead_record_bytes: RECORD_PLAINTEXT,
        aead_tcp_mb_s,
        aead_tcp_over_tcp: aead_tcp_mb_s / tcp_mb_s,
        quic_over_aead_tcp: quic_mb_s / aead_tcp_mb_s,
        aead_tcp_cpu_s_per_gb: aead_tcp_bulk.cpu_s_per_gb(),
        cpu_bound_ratio_ceiling: tcp_bulk
            .cpu_s_per_gb()
            .map(|tcp| ceiling.cpu_bound_ratio(tcp)),
        ceiling,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs_and_reports_positive_figures() {
        let report = run_transport_bench(&TransportBenchOptions {
            size: 1 << 20,
            streams: 2,
            rounds: 2,
            asks: 20,
            settings: TransportSettings::default(),
            threads: 1,
        })
        .unwrap();
        assert_eq!(report.threads, 1);
        assert_eq!(report.quic_ask.count, 20);
        assert!(
            report.quic_ask.median_us > 0.0 && report.quic_ask.p99_us >= report.quic_ask.median_us
        );
        assert!(report.quic_mb_s > 0.0 && report.tcp_mb_s > 0.0 && report.aead_tcp_mb_s > 0.0);
        assert!((report.quic_over_tcp - report.quic_mb_s / report.tcp_mb_s).abs() < 1e-9);
        assert!((report.aead_tcp_over_tcp - report.aead_tcp_mb_s / report.tcp_mb_s).abs() < 1e-9);
        assert!((report.quic_over_aead_tcp - report.quic_mb_s / report.aead_tcp_mb_s).abs() < 1e-9);
        assert_eq!(report.aead_record_bytes, report.ceiling.packet_bytes);
        let settings = TransportSettings::default();
        assert_eq!(report.chunk_size, settings.chunk_size);
        assert_eq!(report.mtu_upper_bound, settings.mtu.upper_bound);
        assert!(report.large_packets_on_loopback);
        let path = report
            .quic_path
            .expect("the sender's connection is still up");
        assert!(
            (settings.mtu.min..=crate::transport::MAX_UDP_PAYLOAD).contains(&path.current_mtu),
            "MTU {} outside the configured range",
            path.current_mtu
        );
        assert!(path.sent_packets > 0);
        // Pieces are never shorter than the collector's threshold, short ones being joined
        // (one joined run at most between two kept pieces, and one at the end).
        let most = 2.0 * (1 << 20) as f64 / crate::transport::collect::KEEP_PIECE_MIN as f64 + 1.0;
        assert!(
            (1.0..=most).contains(&report.quic_pieces_per_message),
            "{} pieces per message",
            report.quic_pieces_per_message
        );
        assert!(report.ceiling.extra_cpu_s_per_gb > 0.0);
        assert!(
            report
                .cpu_bound_ratio_ceiling
                .is_none_or(|r| r > 0.0 && r < 1.0),
            "{:?}",
            report.cpu_bound_ratio_ceiling
        );
        #[cfg(target_os = "linux")]
        {
            let cpu = timing::process_cpu_time().expect("procfs on Linux");
            assert!(cpu > Duration::ZERO, "this test has burnt CPU already");
            let threads = timing::threads_cpu_time().expect("schedstat on Linux");
            assert!(threads > Duration::ZERO, "{threads:?}");
            // Too short to measure, or a positive cost.
            for per_gb in [
                report.quic_cpu_s_per_gb,
                report.tcp_cpu_s_per_gb,
                report.aead_tcp_cpu_s_per_gb,
            ] {
                assert!(per_gb.is_none_or(|c| c > 0.0), "{per_gb:?}");
            }
        }
    }
}
