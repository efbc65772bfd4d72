//! `hetal bench matmul`: HETAL's DiagABT / DiagATB beside the baselines on the same inputs.
//!
//! ```text
//! hetal bench matmul --shape 1024,769,8 [--preset ops-n16] [--levels L] [--threads T] [--workers W] [--json]
//! hetal bench matmul --shape 2048,769,16 --levels 12 --threads 1 --algorithms DiagABT,DiagATB,DiagATB-PRotUp \
//!     --peer-prices bench/peers/results/<run>/peers.json
//! hetal bench matmul --shape 100,21,3 --preset insecure-test-n12 --allow-insecure
//! hetal bench matmul --shape 2048,769,16 --backend sim        # counts only, exact simulator
//! ```
//!
//! The measurement is [`hetal_learn::matmul::bench`] (also behind `cargo run --release -p
//! hetal-learn --example matmul_bench`, which takes the same flags and needs no build of this
//! package). `--shape a,b,c`: `A·Bᵀ` multiplies the data (a × b, row-major) by the weights
//! (c × b, row-tiled); `Aᵀ·B` multiplies the column-tiled a × c matrix by the data. The unit shape
//! follows HETAL's rule for a batch of `a` and `c` classes. Inputs are uniform in [−1, 1],
//! encrypted once at the top level; the algorithms chosen by `--algorithms` (default: all of
//! DiagABT, ColMajor, DiagATB, DiagATB-PRotUp, RowMajor) run one after the other on them. For each:
//! wall and process CPU time (CPU time stays steady on a loaded machine), the counted CMult / Mult
//! / Rot (and what the cost formulas predict), levels, the largest error against the plaintext
//! product, and the counts priced at our per-op times (one Mult, CMult and Rot timed at the
//! input level before the runs, median of `--op-reps`) and, with `--peer-prices FILE` (a
//! `bench/peers` results file, each op at the fastest library's median; or a flat `{mult, cmult,
//! rot}` object in seconds), at the peer's; only peers that ran our ring degree count (desilofhe
//! picks its own and takes N = 2^15 for 12 levels). An algorithm left out still gets a row, its formula
//! counts priced only. Then the speed-ups of the diagonal algorithms over the baselines (over
//! the priced baseline, marked so, where it did not run).
//!
//! `--levels L` keeps only the bottom `L + 1` primes of the preset (`--levels 12`: inputs at level
//! 12 as in HETAL's Table 7; the matmuls need at most 4 levels). `--threads T` runs everything
//! inside a rayon pool of T threads; `--workers W` runs the diagonal algorithms as W work units
//! of their sharded plan, in parallel on that pool (the baselines always run in one piece).
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-bench-matmul"`, `format` = 2, and the fields of
//! [`hetal_learn::matmul::bench::MatmulBench`]: `backend`, `preset`, `levels`, `ring_degree`,
//! `slots`, `threads`, `workers`, `shape`, `unit`, `keygen_s`, `keygen_cpu_s`, `rotation_keys`,
//! `encrypt_decrypt_s`, `ours` / `peer` {`wall`, `cpu`: {mult, cmult, rot}, `source`},
//! `algorithms`: list of {`name`, `product`, `measured`, `wall_s`, `cpu_s`, `counts`, `conj`,
//! `predicted`, `priced_ours_s`, `priced_ours_cpu_s`, `priced_peer_s`, `priced_peer_cpu_s`,
//! `input_level`, `output_level`, `max_abs_error`, `levels` (measured rows: {`by_level`: {level:
//! counts}}, each operation at the level of the ciphertext it consumed), `priced_peer_by_level_s`,
//! `priced_peer_by_level_cpu_s`}, `peer_levels` (null or {`measured`: list of {`level`,
//! `prices`}}), `speedups`: list of {`fast`, `slow`, `wall`, `cpu`, `baseline_priced`}, `notes`.
//! With `--peer-prices` repeated over `bench/peers` files timed at several levels, each measured
//! row is also priced operation by operation at the peer's prices of its level (interpolated
//! linearly in limbs between measured levels, scaled by limbs outside them; the rule is in the
//! notes), and the single-level prices are those timed closest to the inputs' level.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use hetal_ckks::params::preset;
use hetal_learn::matmul::bench::{
    BenchOptions, MatmulBench, all_algorithms, bench_ckks, bench_sim, cut_levels,
};
use hetal_learn::matmul::bench_prices::{PriceFile, load_peer_prices};
use hetal_learn::matmul::bench_table::render_table;
use serde::Serialize;

/// Which evaluator runs the algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Real CKKS ciphertexts.
    Ckks,
    /// The exact, counting plaintext simulator (2^15 slots).
    Sim,
}

/// Arguments of `hetal bench matmul`.
#[derive(Debug, Args)]
pub struct BenchMatmulArgs {
    /// The shape `a,b,c` (e.g. 1024,769,8).
    #[arg(long, value_parser = parse_shape)]
    pub shape: (usize, usize, usize),
    /// Parameter preset (see `hetal params`).
    #[arg(long, default_value = "ops-n16")]
    pub preset: String,
    /// Keep only the bottom `L + 1` primes of the preset's chain (inputs at level L).
    #[arg(long)]
    pub levels: Option<usize>,
    /// Size of the rayon thread pool to run in (default: rayon's global pool).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run DiagABT / DiagATB as this many parallel work units (the sharded plan; 1 = one piece).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Algorithms to run, comma-separated (DiagABT, ColMajor, DiagATB, DiagATB-PRotUp,
    /// RowMajor); the others are priced from their formula counts only.
    #[arg(long, value_delimiter = ',')]
    pub algorithms: Option<Vec<String>>,
    /// Per-op prices of a peer: a `bench/peers` results file (fastest library per op) or
    /// `{mult, cmult, rot}` in seconds. Repeatable: `bench/peers` files timed at several levels
    /// also price each measured algorithm by the level of each operation.
    #[arg(long)]
    pub peer_prices: Vec<PathBuf>,
    /// Timed repetitions of each of our per-op prices (after one warm-up).
    #[arg(long, default_value_t = 3)]
    pub op_reps: usize,
    /// Evaluator: real CKKS or the exact simulator.
    #[arg(long, value_enum, default_value_t = Backend::Ckks)]
    pub backend: Backend,
    /// Allow an insecure test preset (parameters below 128-bit security).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Seed of the inputs and of the key and encryption randomness.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_shape(s: &str) -> Result<(usize, usize, usize), String> {
    let parts = super::shape::parse_usize_list(s)?;
    match parts[..] {
        [a, b, c] if a > 0 && b > 0 && c > 0 => Ok((a, b, c)),
        _ => Err(format!("expected three positive integers a,b,c, got `{s}`")),
    }
}

/// The `--json` object: the report with its kind and format.
#[derive(Serialize)]
struct JsonReport<'a> {
    kind: &'static str,
    format: u32,
    #[serde(flatten)]
    bench: &'a MatmulBench,
}

/// Runs `hetal bench matmul`.
pub fn run(args: &BenchMatmulArgs) -> anyhow::Result<()> {
    let opts = BenchOptions {
        shape: args.shape,
        seed: args.seed,
        workers: args.workers,
        algorithms: args.algorithms.clone().unwrap_or_else(all_algorithms),
        op_reps: args.op_reps,
        threads: args.threads,
    };
    let spec = match args.backend {
        Backend::Sim => None,
        Backend::Ckks => {
            let spec = preset(&args.preset).with_context(|| format!("preset `{}`", args.preset))?;
            Some(match args.levels {
                Some(levels) => {
                    cut_levels(spec, levels).with_context(|| format!("--levels {levels}"))?
                }
                None => spec,
            })
        }
    };
    let files = args
        .peer_prices
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading peer prices from {}", path.display()))?;
            serde_json::from_str::<PriceFile>(&text).with_context(|| {
                format!(
                    "{}: neither a bench/peers results file nor {{mult, cmult, rot}}",
                    path.display()
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The simulator's 2^15 slots are those of N = 2^16; its inputs sit at level 12.
    let ring = spec.as_ref().map_or(1 << 16, |s| 1usize << s.log_n);
    let level = spec
        .as_ref()
        .map_or(12, |s| s.q_bits.len().saturating_sub(1));
    let (peer, levels) = if files.is_empty() {
        (None, None)
    } else {
        let (p, l) =
            load_peer_prices(&files, args.threads, Some(ring), level).context("--peer-prices")?;
        (Some(p), l)
    };
    let mut report = match &spec {
        None => bench_sim(1 << 15, &opts, peer)?,
        Some(spec) => bench_ckks(spec, args.allow_insecure, &opts, peer)?,
    };
    if let Some(levels) = levels {
        report.apply_level_prices(levels);
    }
    if args.json {
        let out = JsonReport {
            kind: "hetal-bench-matmul",
            format: 2,
            bench: &report,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", render_table(&report));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_strictly() {
        assert_eq!(parse_shape("128,128,4"), Ok((128, 128, 4)));
        assert_eq!(parse_shape(" 3, 4 ,5"), Ok((3, 4, 5)));
        assert!(parse_shape("1,2").is_err());
        assert!(parse_shape("0,2,3").is_err());
        assert!(parse_shape("a,2,3").is_err());
    }
}
