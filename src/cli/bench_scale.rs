//! `hetal bench scale --shape batch,features,classes --workers 1,2,4 [--preset NAME] [--json]`:
//! one DiagABT, one DiagATB and one training step on CKKS ciphertexts computed by 1, 2, 4
//! workers beside the single-process time (see `hetal_actors::bench`).
//!
//! ```text
//! hetal bench scale --allow-insecure                                   # 128,64,10 on insecure-boot-n12
//! hetal bench scale --shape 1024,769,10 --workers 1,2 --allow-insecure --json
//! hetal bench scale --preset boot-n16 --shape 1024,769,10 --workers 1,2,4   # ~14 GB: one at a time
//! ```
//!
//! The workers are processes on this machine: this executable again (a hidden
//! `--worker-process CONFIG` mode), each pinned to its share of the allowed CPUs with the
//! `taskset` binary when installed (with more workers than CPUs, several per CPU; each worker's
//! rayon pool has as many threads as it has CPUs), each with its own certificate of a fresh
//! cluster CA, talking QUIC with mutual TLS to the trainer in this process over 127.0.0.1.
//! `--in-process` runs the worker nodes inside this process instead. The training step needs a
//! preset that bootstraps (default `insecure-boot-n12`; `--no-step` measures the products only).
//!
//! Printed per measured thing and worker count: units per worker (min/max/mean), wall time in
//! steady state and at first use (keys and data shipped), the ratio single-process / distributed,
//! the bytes the trainer sent and received (message meta and bulk, counted by each worker), the
//! largest per-worker traffic, the operands workers took from their caches against those sent,
//! the workers' compute seconds, and the difference to the single-process result (and, for the
//! products, the error against the plaintext with its computed bound). Then the projection to
//! `--project-to` worker machines (default 8 and 32) over a `--link-gbps` link (model printed).
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-bench-scale"`, `format` = 1, and the fields of
//! `hetal_actors::bench::ScaleReport`: `shape`, `preset`, `slots`, `unit`, `mode`, `cpus`,
//! `operands` {`ct_bytes_top`, `ct_bytes_bottom`, `x_blocks`, `w_blocks`, `p_blocks`},
//! `local_s` [[op, s]], `rows` (each: `op`, `workers`, `placement`, `units`, `units_local`,
//! `units_resent`, `wall_s`, `first_wall_s`, `local_s`, `per_worker` and `first_per_worker`
//! (each worker's `units`, `abt_units`, `bytes_received`, `bytes_sent`, `key_bytes`,
//! `operands_inline`, `operands_cached`, `abt_compute_s`, `atb_compute_s`), `max_diff`,
//! `max_error`, `bound`, plus `balance` {min, max, mean}, `trainer_sent`, `trainer_received`,
//! `speedup`), `projection_bases`, `projection` (each: `op`, `machines`, `units`, `compute_s`,
//! `network_s`, `serial_s`, `total_s`), `model`, `link_gbps`, `notes`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hetal_actors::backend::ckks::CkksServer;
use hetal_actors::bench::worker::{WorkerProcessConfig, run_worker_process};
use hetal_actors::bench::{ScaleReport, ScaleSettings, WorkerLaunch, WorkerMode, bench_scale};

/// How long a worker process lives at most (it exits as soon as the trainer goes away).
const WORKER_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Arguments of `hetal bench scale`.
#[derive(Debug, Args)]
pub struct BenchScaleArgs {
    /// Batch rows, features and classes, e.g. `128,64,10`.
    #[arg(long, default_value = "128,64,10")]
    pub shape: String,
    /// Worker counts, e.g. `1,2,4`.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    pub workers: Vec<usize>,
    /// CKKS parameter preset (one that bootstraps for the training step).
    #[arg(long, default_value = "insecure-boot-n12")]
    pub preset: String,
    /// Accept a preset below 128-bit security (the insecure test presets).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Run the worker nodes inside this process instead of as pinned processes.
    #[arg(long)]
    pub in_process: bool,
    /// Do not pin the worker processes to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Measure the two products only, not a training step.
    #[arg(long)]
    pub no_step: bool,
    /// Link speed of the projection to many machines, Gbit/s.
    #[arg(long, default_value_t = 10.0)]
    pub link_gbps: f64,
    /// Worker machine counts to project to.
    #[arg(long, value_delimiter = ',', default_value = "8,32")]
    pub project_to: Vec<usize>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Run as one of the benchmark's worker processes (started by the benchmark itself).
    #[arg(long, hide = true)]
    pub worker_process: Option<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Runs `hetal bench scale`.
pub fn run(args: &BenchScaleArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.worker_process {
        let config = WorkerProcessConfig::load(path)?;
        return Ok(runtime()?.block_on(run_worker_process::<CkksServer>(&config, WORKER_LIFETIME))?);
    }
    let dims = super::shape::parse_usize_list(&args.shape)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("--shape {:?}", args.shape))?;
    let [a, b, c] = dims[..] else {
        anyhow::bail!("--shape needs three numbers: batch,features,classes");
    };
    super::train::checked_preset(&args.preset, args.allow_insecure)?;
    let mode = if args.in_process {
        WorkerMode::InProcess
    } else {
        WorkerMode::Processes(WorkerLaunch {
            program: std::env::current_exe().context("locating this executable")?,
            args: vec!["bench".into(), "scale".into(), "--worker-process".into()],
            pin: !args.no_pin,
        })
    };
    let settings = ScaleSettings {
        shape: (a, b, c),
        workers: args.workers.clone(),
        preset: args.preset.clone(),
        allow_insecure: args.allow_insecure,
        mode,
        step: !args.no_step,
        link_gbps: args.link_gbps,
        project_to: args.project_to.clone(),
    };
    let report = runtime()?.block_on(bench_scale(&settings))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json(&report)?)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The report as JSON, with the derived figures of each row.
pub fn json(report: &ScaleReport) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(report)?;
    if let Some(rows) = v.get_mut("rows").and_then(|r| r.as_array_mut()) {
        for (row, r) in rows.iter_mut().zip(&report.rows) {
            if let Some(obj) = row.as_object_mut() {
                obj.insert("balance".into(), serde_json::to_value(r.balance())?);
                obj.insert("trainer_sent".into(), r.trainer_sent().into());
                obj.insert("trainer_received".into(), r.trainer_received().into());
                obj.insert("speedup".into(), r.speedup().into());
            }
        }
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert("kind".into(), "hetal-bench-scale".into());
        obj.insert("format".into(), 1.into());
    }
    Ok(v)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn print_report(r: &ScaleReport) {
    println!(
        "shape {}x{}x{} on {} ({} slots, blocks {}x{}); workers: {} on {} CPU(s)",
        r.shape[0], r.shape[1], r.shape[2], r.preset, r.slots, r.unit[0], r.unit[1], r.mode, r.cpus
    );
    if let Some(row) = r.rows.iter().max_by_key(|row| row.workers) {
        for (i, p) in row.placement.iter().enumerate() {
            println!("  with {} workers, worker {}: {p}", row.workers, i + 1);
        }
    }
    println!(
        "ciphertext: {:.3} MB at the top level, {:.3} MB at level 0; X {} / W {} / P {} blocks",
        mb(r.operands.ct_bytes_top),
        mb(r.operands.ct_bytes_bottom),
        r.operands.x_blocks,
        r.operands.w_blocks,
        r.operands.p_blocks
    );
    for (op, s) in &r.local_s {
        println!("single process: {op} {s:.3} s");
    }
    println!(
        "\n{:<8} {:>3} {:>5} {:>11} {:>8} {:>8} {:>7} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "op",
        "k",
        "units",
        "min/max/avg",
        "wall s",
        "first s",
        "ratio",
        "MB sent",
        "MB recv",
        "MB 1st",
        "max/wkr",
        "cache/net",
        "work s",
        "diff"
    );
    for row in &r.rows {
        let bal = row.balance();
        let busiest = row
            .per_worker
            .iter()
            .map(|s| s.bytes_received + s.bytes_sent)
            .max()
            .unwrap_or(0);
        println!(
            "{:<8} {:>3} {:>5} {:>11} {:>8.3} {:>8.3} {:>7.2} {:>9.2} {:>9.2} {:>10.2} {:>9.2} {:>9} {:>9.3} {:>9.1e}",
            row.op,
            row.workers,
            row.units,
            format!("{}/{}/{:.1}", bal.min, bal.max, bal.mean),
            row.wall_s,
            row.first_wall_s,
            row.speedup(),
            mb(row.trainer_sent()),
            mb(row.trainer_received()),
            mb(row.first_trainer_sent()),
            mb(busiest),
            format!("{}/{}", row.operands_cached(), row.operands_inline()),
            row.per_worker.iter().map(|s| s.compute_s()).sum::<f64>(),
            row.max_diff
        );
        if let (Some(err), Some(bound)) = (row.max_error, row.bound) {
            println!("         error vs plaintext {err:.1e} (computed bound {bound:.1e})");
        }
    }
    println!(
        "\nratio = single-process / distributed (steady state); MB sent/recv: the trainer's \
         traffic per run in steady state (all workers); MB 1st: sent at first use (keys and \
         data); max/wkr: busiest worker's traffic; cache/net: operand uses served from the \
         workers' caches / operands sent; work s: workers' compute seconds; diff: largest \
         difference to the single-process result"
    );
    if !r.projection.is_empty() {
        println!("\nprojection to worker machines ({}):", r.model);
        for b in &r.projection_bases {
            println!(
                "  {}: base {} worker(s), serial {:.3} s, {:.3} MB per unit, compute {}",
                b.op,
                b.base_workers,
                b.serial_s,
                b.bytes_per_unit / 1e6,
                b.parts
                    .iter()
                    .map(|p| format!("{} {:.3} s", p.op, p.compute_s))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!(
            "  {:<8} {:>8} {:>6} {:>10} {:>10} {:>10} {:>10}",
            "op", "machines", "units", "compute s", "network s", "serial s", "total s"
        );
        for p in &r.projection {
            println!(
                "  {:<8} {:>8} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3}",
                p.op, p.machines, p.units, p.compute_s, p.network_s, p.serial_s, p.total_s
            );
        }
    }
    for note in &r.notes {
        println!("note: {note}");
    }
}
