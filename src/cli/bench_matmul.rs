//! `hetal bench matmul`: HETAL's DiagABT / DiagATB beside the baselines on the same inputs.
//!
//! ```text
//! hetal bench matmul --shape 1024,769,8 [--preset ops-n16] [--levels L] [--threads T] [--workers W] [--json]
//! hetal bench matmul --shape 100,21,3 --preset insecure-test-n12 --allow-insecure
//! hetal bench matmul --shape 2048,769,16 --backend sim        # counts only, exact simulator
//! ```
//!
//! `--shape a,b,c`: `A·Bᵀ` multiplies the data (a × b, row-major) by the weights (c × b,
//! row-tiled); `Aᵀ·B` multiplies the column-tiled a × c matrix by the data. The unit shape follows
//! HETAL's rule for a batch of `a` and `c` classes. Inputs are uniform in [−1, 1], encrypted once
//! at the top level; DiagABT, ColMajor, DiagATB (standard), DiagATB (PRotUp) and RowMajor run one
//! after the other on them. For each: wall time, the counted CMult / Mult / Rot (and what the cost
//! formulas predict), output level, and the largest error of the decryption against the plaintext
//! product; then the speed-ups of the diagonal algorithms over the baselines. Before the runs,
//! one Mult, one CMult and one Rot are timed at the input level, and every algorithm's counts are
//! priced with them (`priced_s`): the wall time relative to that sum shows what hoisting and lazy
//! rescaling save (< 1) or what overhead costs (> 1).
//!
//! `--levels L` keeps only the bottom `L + 1` primes of the preset (the matmuls need at most 4
//! levels; a shorter chain makes keys and operations cheaper and the parameters no less secure).
//! `--threads T` runs everything inside a rayon pool of T threads; `--workers W` runs the diagonal
//! algorithms as W work units of their sharded plan, in parallel on that pool (the baselines
//! always run in one piece).
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-bench-matmul"`, `format` = 1, `backend`, `preset`, `levels`, `ring_degree`,
//! `slots`, `threads`, `workers`, `shape` [a, b, c], `unit` [s0, s1], `keygen_s`, `encrypt_s`,
//! `rotation_keys`, `op_prices_s` {`mult`, `cmult`, `rot`}, `algorithms`: list of {`name`,
//! `product`, `wall_s`, `priced_s`, `counts` (all counters), `predicted` {cmult, mult, rot},
//! `input_level`, `output_level`, `max_abs_error`}, `speedups`: {name: value}, `notes`.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use hetal_ckks::encoding::Complex64;
use hetal_ckks::params::{ParameterSpec, SecurityLevel, preset};
use hetal_learn::eval::{CkksSession, SimConfig, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::matmul::compare::{CompareReport, compare, rotation_steps};
use hetal_learn::pack::UnitShape;
use serde::Serialize;

/// Which evaluator runs the algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Real CKKS ciphertexts.
    Ckks,
    /// The exact, counting plaintext simulator (2^15 slots unless the preset says otherwise).
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
    /// Keep only the bottom `L + 1` primes of the preset's chain.
    #[arg(long)]
    pub levels: Option<usize>,
    /// Size of the rayon thread pool to run in (default: rayon's global pool).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Run DiagABT / DiagATB as this many parallel work units (the sharded plan; 1 = one piece).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
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

/// Per-operation prices measured in the same run.
#[derive(Debug, Clone, Copy, Serialize)]
struct OpPrices {
    mult: f64,
    cmult: f64,
    rot: f64,
}

#[derive(Debug, Serialize)]
struct AlgoOut {
    #[serde(flatten)]
    report: hetal_learn::matmul::compare::AlgoReport,
    priced_s: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    kind: &'static str,
    format: u32,
    backend: String,
    preset: String,
    levels: usize,
    ring_degree: usize,
    slots: usize,
    threads: Option<usize>,
    workers: usize,
    shape: [usize; 3],
    unit: [usize; 2],
    keygen_s: f64,
    encrypt_s: f64,
    rotation_keys: usize,
    op_prices_s: OpPrices,
    algorithms: Vec<AlgoOut>,
    speedups: BTreeMap<String, f64>,
    notes: Vec<String>,
}

/// Runs `hetal bench matmul`.
pub fn run(args: &BenchMatmulArgs) -> anyhow::Result<()> {
    let report = match args.threads {
        Some(t) => hetal_ckks::eval::with_threads(t, || measure(args))??,
        None => measure(args)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn spec_for(args: &BenchMatmulArgs) -> anyhow::Result<ParameterSpec> {
    let mut spec = preset(&args.preset).with_context(|| format!("preset `{}`", args.preset))?;
    if let Some(levels) = args.levels {
        if levels + 1 > spec.q_bits.len() || levels < 4 {
            bail!(
                "--levels {levels}: the preset has {} levels and the matmuls need 4",
                spec.q_bits.len() - 1
            );
        }
        spec.q_bits.truncate(levels + 1);
        spec.dnum = spec.dnum.min(spec.q_bits.len());
        spec.name = format!("{}/L{levels}", spec.name);
    }
    Ok(spec)
}

/// Times one Mult, one CMult and one Rot at the top level (median of 5).
fn op_prices<E: SlotCodec>(ev: &E, steps: &[isize]) -> anyhow::Result<OpPrices> {
    let x: Vec<Complex64> = (0..ev.slots())
        .map(|i| Complex64::new(((i % 7) as f64 - 3.0) / 4.0, 0.0))
        .collect();
    let a = ev.encrypt(&x)?;
    let step = steps.first().copied().unwrap_or(1);
    let median = |f: &dyn Fn() -> hetal_learn::Result<()>| -> anyhow::Result<f64> {
        f()?;
        let mut t = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            f()?;
            t.push(start.elapsed().as_secs_f64());
        }
        t.sort_by(f64::total_cmp);
        Ok(t[2])
    };
    Ok(OpPrices {
        mult: median(&|| ev.mul(&a, &a).map(|_| ()))?,
        cmult: median(&|| ev.mul_const(&a, &x).map(|_| ()))?,
        rot: median(&|| ev.rotate(&a, step).map(|_| ()))?,
    })
}

fn finish<E: SlotCodec + Sync>(
    ev: &E,
    args: &BenchMatmulArgs,
    unit: UnitShape,
    steps: &[isize],
    mut report: Report,
) -> anyhow::Result<Report> {
    let prices = op_prices(ev, steps)?;
    let start = Instant::now();
    let cmp: CompareReport = compare(ev, args.shape, unit, args.seed, args.workers)?;
    let total = start.elapsed().as_secs_f64();
    let per_algo: f64 = cmp.algorithms.iter().map(|a| a.wall_s).sum();
    report.encrypt_s = (total - per_algo).max(0.0);
    for (fast, slow) in [
        ("DiagABT", "ColMajor"),
        ("DiagATB", "RowMajor"),
        ("DiagATB-PRotUp", "RowMajor"),
    ] {
        if let Some(s) = cmp.speedup(fast, slow) {
            report.speedups.insert(format!("{fast} over {slow}"), s);
        }
    }
    report.op_prices_s = prices;
    report.algorithms = cmp
        .algorithms
        .into_iter()
        .map(|a| {
            let c = &a.counts;
            let priced_s = c.cmult as f64 * prices.cmult
                + c.mult as f64 * prices.mult
                + c.rot as f64 * prices.rot;
            AlgoOut {
                report: a,
                priced_s,
            }
        })
        .collect();
    Ok(report)
}

fn measure(args: &BenchMatmulArgs) -> anyhow::Result<Report> {
    let (a, b, c) = args.shape;
    let mut report = Report {
        kind: "hetal-bench-matmul",
        format: 1,
        backend: format!("{:?}", args.backend).to_lowercase(),
        preset: args.preset.clone(),
        levels: 0,
        ring_degree: 0,
        slots: 0,
        threads: args.threads,
        workers: args.workers,
        shape: [a, b, c],
        unit: [0, 0],
        keygen_s: 0.0,
        encrypt_s: 0.0,
        rotation_keys: 0,
        op_prices_s: OpPrices {
            mult: 0.0,
            cmult: 0.0,
            rot: 0.0,
        },
        algorithms: Vec::new(),
        speedups: BTreeMap::new(),
        notes: Vec::new(),
    };
    match args.backend {
        Backend::Sim => {
            let slots = 1usize << 15;
            let unit = UnitShape::hetal(a, c, slots)?;
            let sim = Simulator::new(SimConfig::with_slots(slots))?;
            report.preset = "simulator".into();
            report.levels = sim.max_level();
            report.slots = slots;
            report.unit = [unit.s0(), unit.s1()];
            report.notes.push(
                "exact plaintext simulator: counts and levels are those of CKKS, times are not"
                    .into(),
            );
            let steps = rotation_steps(args.shape, unit);
            finish(&sim, args, unit, &steps, report)
        }
        Backend::Ckks => {
            let spec = spec_for(args)?;
            if spec.security == SecurityLevel::InsecureForTests {
                if !args.allow_insecure {
                    bail!(
                        "preset `{}` is insecure; pass --allow-insecure to use it",
                        args.preset
                    );
                }
                report
                    .notes
                    .push(format!("INSECURE preset `{}`: for tests only", spec.name));
            }
            let slots = 1usize << (spec.log_n - 1);
            let unit = UnitShape::hetal(a, c, slots)?;
            let steps = rotation_steps(args.shape, unit);
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&args.seed.to_le_bytes());
            let start = Instant::now();
            let session = CkksSession::new(&spec, args.allow_insecure, &steps, Some(seed))?;
            report.keygen_s = start.elapsed().as_secs_f64();
            let ev = session.slots()?;
            report.preset = spec.name.clone();
            report.levels = ev.max_level();
            report.ring_degree = session.context().n();
            report.slots = slots;
            report.unit = [unit.s0(), unit.s1()];
            report.rotation_keys =
                hetal_learn::eval::ckks_session::galois_steps(slots, &steps)?.len();
            finish(&ev, args, unit, &steps, report)
        }
    }
}

fn print_table(r: &Report) {
    let ring = if r.ring_degree > 0 {
        format!(", N = {}", r.ring_degree)
    } else {
        String::new()
    };
    println!(
        "hetal bench matmul: shape (a,b,c) = ({}, {}, {}), unit {}×{}, {} backend, preset {} ({} levels{}), threads {}",
        r.shape[0],
        r.shape[1],
        r.shape[2],
        r.unit[0],
        r.unit[1],
        r.backend,
        r.preset,
        r.levels,
        ring,
        r.threads.map_or("default".to_string(), |t| t.to_string())
    );
    if r.backend == "ckks" {
        println!(
            "keygen {:.2} s ({} rotation keys), encryption {:.2} s; one Mult {:.1} ms, CMult {:.1} ms, Rot {:.1} ms",
            r.keygen_s,
            r.rotation_keys,
            r.encrypt_s,
            r.op_prices_s.mult * 1e3,
            r.op_prices_s.cmult * 1e3,
            r.op_prices_s.rot * 1e3
        );
    }
    println!(
        "{:<15} {:>5} {:>10} {:>10} {:>7} {:>7} {:>7} {:>5} {:>20} {:>9} {:>10}",
        "algorithm",
        "prod",
        "wall s",
        "priced s",
        "CMult",
        "Mult",
        "Rot",
        "conj",
        "formula C/M/R",
        "levels",
        "max err"
    );
    for a in &r.algorithms {
        let x = &a.report;
        println!(
            "{:<15} {:>5} {:>10.3} {:>10.3} {:>7} {:>7} {:>7} {:>5} {:>20} {:>9} {:>10.2e}",
            x.name,
            if x.product.starts_with("Aᵀ") {
                "AᵀB"
            } else {
                "ABᵀ"
            },
            x.wall_s,
            a.priced_s,
            x.counts.cmult,
            x.counts.mult,
            x.counts.rot,
            x.counts.conj,
            format!(
                "{}/{}/{}",
                x.predicted.cmult, x.predicted.mult, x.predicted.rot
            ),
            format!("{}→{}", x.input_level, x.output_level),
            x.max_abs_error
        );
    }
    for (k, v) in &r.speedups {
        println!("speed-up {k}: {v:.2}×");
    }
    for n in &r.notes {
        println!("note: {n}");
    }
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
