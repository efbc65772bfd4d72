//! `hetal bench matmul` without building the `hetal` binary: the same library function
//! ([`hetal_learn::matmul::bench`]), built from `hetal-learn` alone so that a release build is
//! minutes, not the quarter of an hour the root package takes.
//!
//! ```text
//! cargo run --release -p hetal-learn --example matmul_bench -- \
//!     --shape 128,128,4 [--preset ops-n16] [--levels 12] [--threads 1] [--workers 1] \
//!     [--algorithms DiagABT,DiagATB,DiagATB-PRotUp,ColMajor,RowMajor] [--peer-prices peers.json]... \
//!     [--op-reps 3] [--seed 2026] [--backend ckks|sim] [--allow-insecure] [--json]
//! ```
//!
//! Prints the table of `hetal bench matmul`, or with `--json` the [`MatmulBench`] object.
//! `--peer-prices` may be repeated: `bench/peers` files timed at several levels also price each
//! measured algorithm by the level of each operation ([`MatmulBench::apply_level_prices`]).

use hetal_ckks::params::ParameterSpec;
use hetal_learn::matmul::bench::{
    BenchOptions, MatmulBench, all_algorithms, bench_ckks, bench_sim, cut_levels,
};
use hetal_learn::matmul::bench_prices::{PriceFile, load_peer_prices};
use hetal_learn::matmul::bench_table::render_table;
use std::process::ExitCode;

struct Args {
    opts: BenchOptions,
    preset: String,
    levels: Option<usize>,
    peer: Vec<String>,
    sim: bool,
    allow_insecure: bool,
    json: bool,
}

fn usize_list(s: &str) -> Result<Vec<usize>, String> {
    s.split(',')
        .map(|p| p.trim().parse().map_err(|e| format!("`{p}`: {e}")))
        .collect()
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        opts: BenchOptions {
            shape: (0, 0, 0),
            seed: 2026,
            workers: 1,
            algorithms: all_algorithms(),
            op_reps: 3,
            threads: None,
        },
        preset: "ops-n16".into(),
        levels: None,
        peer: Vec::new(),
        sim: false,
        allow_insecure: false,
        json: false,
    };
    let mut shape = None;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--shape" => match usize_list(&value()?)?[..] {
                [x, y, z] => shape = Some((x, y, z)),
                _ => return Err("--shape takes a,b,c".into()),
            },
            "--preset" => a.preset = value()?,
            "--levels" => a.levels = Some(number(value()?)?),
            "--threads" => a.opts.threads = Some(number(value()?)?),
            "--workers" => a.opts.workers = number(value()?)?,
            "--op-reps" => a.opts.op_reps = number(value()?)?,
            "--seed" => a.opts.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--algorithms" => {
                a.opts.algorithms = value()?.split(',').map(|s| s.trim().to_string()).collect()
            }
            "--peer-prices" => a.peer.push(value()?),
            "--backend" => {
                a.sim = match value()?.as_str() {
                    "sim" => true,
                    "ckks" => false,
                    other => return Err(format!("--backend {other}: ckks or sim")),
                }
            }
            "--allow-insecure" => a.allow_insecure = true,
            "--json" => a.json = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    a.opts.shape = shape.ok_or("--shape a,b,c is required")?;
    Ok(a)
}

fn run(a: &Args) -> Result<MatmulBench, String> {
    let files = a
        .peer
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            serde_json::from_str::<PriceFile>(&text)
                .map_err(|e| format!("{path}: not a prices file: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    // The simulator's 2^15 slots are those of N = 2^16; its inputs sit at level 12.
    let (ring, level) = if a.sim {
        (1 << 16, 12)
    } else {
        let spec = spec_of(a)?;
        (1usize << spec.log_n, spec.q_bits.len().saturating_sub(1))
    };
    let (peer, levels) = if files.is_empty() {
        (None, None)
    } else {
        let (p, l) = load_peer_prices(&files, a.opts.threads, Some(ring), level)
            .map_err(|e| format!("--peer-prices: {e}"))?;
        (Some(p), l)
    };
    let mut report = if a.sim {
        bench_sim(1 << 15, &a.opts, peer)
    } else {
        bench_ckks(&spec_of(a)?, a.allow_insecure, &a.opts, peer)
    }
    .map_err(|e| e.to_string())?;
    if let Some(levels) = levels {
        report.apply_level_prices(levels);
    }
    Ok(report)
}

fn spec_of(a: &Args) -> Result<ParameterSpec, String> {
    let spec = hetal_ckks::params::preset(&a.preset).map_err(|e| format!("preset: {e}"))?;
    match a.levels {
        Some(l) => cut_levels(spec, l).map_err(|e| e.to_string()),
        None => Ok(spec),
    }
}

fn main() -> ExitCode {
    let outcome = parse(std::env::args().skip(1)).and_then(|a| {
        let r = run(&a)?;
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
            );
        } else {
            print!("{}", render_table(&r));
        }
        Ok(())
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("matmul_bench: {e}");
            ExitCode::from(2)
        }
    }
}
