//! `hetal bench scale --shape batch,features,classes --workers 1,2,4 [--preset NAME]`: DiagABT and
//! DiagATB on CKKS ciphertexts computed by 1, 2, 4 workers (QUIC nodes on loopback in this
//! process) beside the single-process time: wall time (first use and with operands cached),
//! units per worker, bytes to and from the workers. See `hetal_actors::bench`.

use anyhow::Context;
use clap::Args;
use hetal_actors::bench::{ScaleSettings, bench_scale};

/// Arguments of `hetal bench scale`.
#[derive(Debug, Args)]
pub struct BenchScaleArgs {
    /// Batch rows, features and classes, e.g. `128,64,10`.
    #[arg(long, default_value = "128,64,10")]
    pub shape: String,
    /// Worker counts, e.g. `1,2,4`.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,
    /// CKKS parameter preset.
    #[arg(long, default_value = "insecure-test-n13")]
    pub preset: String,
    /// Accept a preset below 128-bit security (the insecure test presets).
    #[arg(long)]
    pub allow_insecure: bool,
}

/// Runs `hetal bench scale`.
pub fn run(args: &BenchScaleArgs) -> anyhow::Result<()> {
    let dims = super::shape::parse_usize_list(&args.shape)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--shape {:?}", args.shape))?;
    let [a, b, c] = dims[..] else {
        anyhow::bail!("--shape needs three numbers: batch,features,classes");
    };
    let settings = ScaleSettings {
        shape: (a, b, c),
        workers: args.workers.clone(),
        preset: args.preset.clone(),
        allow_insecure: args.allow_insecure,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let rows = runtime.block_on(bench_scale(&settings))?;
    println!(
        "{:<8} {:>7} {:>6} {:>14} {:>10} {:>10} {:>9} {:>7} {:>12} {:>12} {:>12} {:>9}",
        "op",
        "workers",
        "units",
        "balance",
        "local s",
        "dist s",
        "first s",
        "ratio",
        "MB out",
        "MB back",
        "MB first",
        "max diff"
    );
    for r in rows {
        println!(
            "{:<8} {:>7} {:>6} {:>14} {:>10.3} {:>10.3} {:>9.3} {:>7.2} {:>12.2} {:>12.2} {:>12.2} {:>9.1e}",
            r.op,
            r.workers,
            r.units,
            format!("{:?}", r.balance),
            r.local_s,
            r.wall_s,
            r.first_wall_s,
            r.local_s / r.wall_s,
            r.bytes_sent as f64 / 1e6,
            r.bytes_received as f64 / 1e6,
            r.first_bytes_sent as f64 / 1e6,
            r.max_diff
        );
    }
    Ok(())
}
