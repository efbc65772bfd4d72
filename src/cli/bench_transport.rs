//! `hetal bench transport [--size BYTES] [--streams K] [--rounds R] [--asks N] [--chunk-size B]
//! [--mtu-max B] [--lan] [--threads T] [--json]`: loopback throughput and latency of the hetal runtime (QUIC +
//! mutual TLS, actor to actor) beside a plain tokio TCP copy through the same loopback, in the same
//! run, and beside that copy with every record sealed and opened with QUIC's AEAD.
//!
//! * Small asks: `N` sequential asks of a tiny message after 200 warm-up asks; median, p99 and
//!   mean round trip. The TCP row is an 8-byte ping-pong on one connection with `TCP_NODELAY`.
//! * Large messages: `R` rounds of `K` concurrent tells of `BYTES` each (default 26 MB, a
//!   ciphertext at N=2^16 with 25 limbs), after one warm-up message. A tell returns once the
//!   receiving actor has the whole message; the TCP baseline receives each message into a fresh
//!   buffer and acknowledges it with one byte. MB = 10^6 bytes. QUIC, TCP and TCP + AEAD rounds
//!   take turns in rotating order, so that on a shared machine all see the same load.
//! * TCP + AEAD, a measurement lane (not a transport): the TCP copy with the sender sealing every
//!   record of a loopback QUIC packet's payload (65 498 bytes) with AES-128-GCM through rustls'
//!   QUIC packet keys (ring), and the receiver opening each in place in its message buffer and
//!   acknowledging once every record has opened. It measures what an encrypted copy with QUIC's
//!   AEAD costs on this CPU (the ceiling computes it); `hetal / TCP+AEAD` says how close QUIC
//!   comes.
//! * Transport settings: the defaults, under which loopback connections grow packets up to 64 KB
//!   without GSO; `--lan` keeps them Ethernet-sized as between machines. `--chunk-size` and
//!   `--mtu-max` override single knobs. The report names the chunk size, the MTU bounds, the MTU
//!   the connection actually reached, and the process CPU time per GB for both transports
//!   (steadier than MB/s on a shared machine).
//! * CPU ceiling: one core's AES-GCM seal and open rates (the suite nodes negotiate) and copy
//!   rate, the CPU per GB QUIC needs beyond TCP at the least, and from it the best hetal / TCP
//!   ratio this CPU allows when both are CPU-bound (`hetal_runtime::bench::CpuCeiling`).
//! * Each end (node and TCP peer) runs on a tokio runtime of its own with `T` workers (default 2,
//!   like `hetal node`), as two node processes would.
//!
//! `--json` prints one object with the fields of `hetal_runtime::bench::TransportBenchReport`.

use clap::Args;
use hetal_runtime::TransportSettings;
use hetal_runtime::bench::{TransportBenchOptions, run_transport_bench};

/// Arguments of `hetal bench transport`.
#[derive(Debug, Args)]
pub struct BenchTransportArgs {
    /// Bytes per large message.
    #[arg(long, default_value_t = 26_000_000)]
    pub size: usize,
    /// Large messages in flight at once.
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Rounds of large messages.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Timed small asks.
    #[arg(long, default_value_t = 2000)]
    pub asks: usize,
    /// Bulk bytes handed to QUIC per write (default: the settings' value, 1 MiB).
    #[arg(long)]
    pub chunk_size: Option<usize>,
    /// Largest UDP payload path MTU discovery may reach (1200..=65527).
    #[arg(long)]
    pub mtu_max: Option<u16>,
    /// Keep packets Ethernet-sized (MTU up to 1452, GSO on) as between machines, instead of
    /// growing them to 64 KB on loopback.
    #[arg(long)]
    pub lan: bool,
    /// Tokio worker threads of each end's runtime.
    #[arg(long, default_value_t = hetal_runtime::bench::NODE_WORKER_THREADS)]
    pub threads: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs `hetal bench transport`.
pub fn run(args: &BenchTransportArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.size > 0, "--size must be positive");
    anyhow::ensure!(args.streams > 0, "--streams must be positive");
    anyhow::ensure!(args.rounds > 0, "--rounds must be positive");
    anyhow::ensure!(args.asks > 0, "--asks must be positive");
    anyhow::ensure!(
        (1..=256).contains(&args.threads),
        "--threads must be between 1 and 256"
    );
    let mut settings = TransportSettings {
        large_packets_on_loopback: !args.lan,
        ..TransportSettings::default()
    };
    if let Some(chunk) = args.chunk_size {
        settings.chunk_size = chunk;
    }
    if let Some(mtu) = args.mtu_max {
        settings.mtu.upper_bound = mtu;
    }
    settings.validate()?;
    let report = run_transport_bench(&TransportBenchOptions {
        size: args.size,
        streams: args.streams,
        rounds: args.rounds,
        asks: args.asks,
        settings,
        threads: args.threads,
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "loopback, {} x {} bytes x {} rounds; {} small asks; {} tokio workers per end",
        report.streams, report.size, report.rounds, report.quic_ask.count, report.threads
    );
    let reached = report
        .quic_path
        .map_or_else(|| "?".to_owned(), |p| p.current_mtu.to_string());
    let mtu = if report.large_packets_on_loopback {
        format!(
            "MTU {}..65527 over loopback, GSO off (..{} elsewhere)",
            report.initial_mtu, report.mtu_upper_bound
        )
    } else {
        format!(
            "MTU {}..{}, GSO {}",
            report.initial_mtu,
            report.mtu_upper_bound,
            if report.segmentation_offload {
                "on"
            } else {
                "off"
            }
        )
    };
    let socket_buffer = report
        .socket_buffer
        .map_or_else(|| "default".to_owned(), |b| format!("{b} bytes"));
    println!(
        "chunk {} bytes, {mtu}, reached {reached}; socket buffer {socket_buffer}",
        report.chunk_size
    );
    println!(
        "{:<34} {:>12} {:>12} {:>12}",
        "round trip", "median µs", "p99 µs", "mean µs"
    );
    for (label, s) in [
        ("hetal ask (QUIC + mTLS, actor)", &report.quic_ask),
        ("TCP ping-pong (8 bytes)", &report.tcp_ping),
    ] {
        println!(
            "{label:<34} {:>12.1} {:>12.1} {:>12.1}",
            s.median_us, s.p99_us, s.mean_us
        );
    }
    println!("{:<34} {:>12}", "large messages", "MB/s");
    println!(
        "{:<34} {:>12.0}",
        "hetal tell (QUIC + mTLS, actor)", report.quic_mb_s
    );
    println!(
        "{:<34} {:>12.0}",
        "TCP copy (tokio, no TLS)", report.tcp_mb_s
    );
    println!(
        "{:<34} {:>12.0}",
        "TCP + AEAD (AES-GCM records)", report.aead_tcp_mb_s
    );
    println!(
        "{:<34} {:>11.0}%",
        "hetal / TCP",
        report.quic_over_tcp * 100.0
    );
    println!(
        "{:<34} {:>11.0}%",
        "TCP+AEAD / TCP",
        report.aead_tcp_over_tcp * 100.0
    );
    println!(
        "{:<34} {:>11.0}%",
        "hetal / TCP+AEAD",
        report.quic_over_aead_tcp * 100.0
    );
    if let (Some(quic), Some(tcp)) = (report.quic_cpu_s_per_gb, report.tcp_cpu_s_per_gb) {
        println!(
            "{:<34} {:>12.2} (TCP {tcp:.2}; TCP / hetal {:.0}%)",
            "CPU seconds per GB, hetal",
            quic,
            tcp / quic * 100.0
        );
        if let Some(aead) = report.aead_tcp_cpu_s_per_gb {
            println!(
                "{:<34} {:>12.2} (TCP / TCP+AEAD {:.0}%; TCP+AEAD / hetal {:.0}%)",
                "CPU seconds per GB, TCP + AEAD",
                aead,
                tcp / aead * 100.0,
                aead / quic * 100.0
            );
        }
    }
    let c = &report.ceiling;
    println!(
        "CPU ceiling (one core): {} seal {:.0} MB/s, open {:.0} MB/s, copy {:.0} MB/s; \
         QUIC needs >= {:.2} s per GB more than TCP",
        c.suite, c.seal_mb_s, c.open_mb_s, c.copy_mb_s, c.extra_cpu_s_per_gb
    );
    if let Some(ratio) = report.cpu_bound_ratio_ceiling {
        println!(
            "{:<34} {:>11.0}%",
            "best hetal / TCP when CPU-bound",
            ratio * 100.0
        );
    }
    Ok(())
}
