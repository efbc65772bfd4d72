//! `hetal bench transport` without the `hetal` CLI: the same benchmark
//! (`hetal_runtime::bench::run_transport_bench`), built from this crate alone, so that a release
//! build for profiling does not compile the CKKS and embedding crates.
//!
//! ```text
//! cargo run --release -p hetal-runtime --example transport_bench -- \
//!     [--size BYTES] [--streams K] [--rounds R] [--asks N] [--threads T] [--chunk-size B] \
//!     [--stream-window B] [--receive-window B] [--send-window B] [--socket-buffer B]
//! ```
//!
//! The window and socket-buffer flags set the [`hetal_runtime::TransportSettings`] field of the
//! same name on both nodes, to measure those knobs without rebuilding.
//!
//! Prints the report as JSON (the fields of `TransportBenchReport`): QUIC, plain TCP and the
//! "TCP + AEAD" measurement lane (`aead_tcp_mb_s`, `aead_tcp_cpu_s_per_gb`, `aead_tcp_over_tcp`,
//! `quic_over_aead_tcp`), measured in the same run in rotating order.

use hetal_runtime::bench::{TransportBenchOptions, run_transport_bench};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut options = TransportBenchOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}"))?;
        ensure_positive(&flag, value)?;
        match flag.as_str() {
            "--size" => options.size = value,
            "--streams" => options.streams = value,
            "--rounds" => options.rounds = value,
            "--asks" => options.asks = value,
            "--threads" => options.threads = value,
            "--chunk-size" => options.settings.chunk_size = value,
            "--stream-window" => options.settings.stream_receive_window = to_u32(&flag, value)?,
            "--receive-window" => options.settings.receive_window = to_u32(&flag, value)?,
            "--send-window" => options.settings.send_window = value as u64,
            "--socket-buffer" => options.settings.socket_buffer = Some(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    options.settings.validate()?;
    let report = run_transport_bench(&options)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn to_u32(flag: &str, value: usize) -> Result<u32, String> {
    u32::try_from(value).map_err(|_| format!("{flag} must be below 2^32"))
}

fn ensure_positive(flag: &str, value: usize) -> Result<(), String> {
    if value == 0 {
        return Err(format!("{flag} must be positive"));
    }
    Ok(())
}
