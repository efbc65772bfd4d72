//! `hetal bench softmax`: error, depth and cost of the softmax approximations.
//!
//! ```text
//! hetal bench softmax --classes 10 --range 128 [--variant hetal|hetal-precise|hetal-rs|hetal-fast|hetal-shallow] [--samples N] [--json]
//! hetal bench softmax --classes 2 --range 8 --preset ops-n16           # + CKKS time and spot check
//! hetal bench softmax --classes 2 --range 8 --preset insecure-test-n12 --allow-insecure
//! ```
//!
//! The error statistics come from the exact simulator over HETAL's sampling scheme (equal numbers
//! of rows uniform in [-4, 4], [-8, 8], …, [-R, R]; the error of a row is its largest absolute
//! difference to the exact softmax): maximum and mean, levels consumed, bootstraps in HETAL's
//! level setting (fresh at 12, bootstrap from 3).
//!
//! With `--preset`, one ciphertext of sampled rows also goes through the approximation on real
//! CKKS ciphertexts of that preset: time per ciphertext, and a spot check that the decrypted
//! probabilities match the simulator's on the same rows within a noise bound computed from the
//! parameters and the operations performed. The CKKS run needs the whole approximation to fit in
//! the preset's levels: the learn crate's CKKS slot evaluator can take a bootstrapper
//! (`CkksSlots::with_bootstrapping`) but nothing builds one from a preset's keys yet, so when the
//! depth exceeds the chain the report keeps the simulator figures and says so.
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-bench-softmax"`, `format` = 1, `variant`, `classes`, `range`, `rows`,
//! `max_error`, `mean_error`, `levels`, `bootstraps`, `inverse_r`, `inverse_iterations`,
//! `simulator_seconds_per_ciphertext`, `stages` (list of [name, levels]), `threads`, `ckks`
//! (null, or {`preset`, `ring_degree`, `slots`, `chain_levels`, `keygen_s`,
//! `seconds_per_ciphertext`, `rows_checked`, `max_error_ckks`, `max_error_simulator`,
//! `max_ckks_minus_simulator`, `noise_bound`, `matches`}), `notes`.

use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use hetal_ckks::encoding::Complex64;
use hetal_ckks::params::{ParameterSpec, SecurityLevel, preset};
use hetal_learn::eval::{CkksSession, SimConfig, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::softmax::{
    SoftmaxApprox, SoftmaxBench, SoftmaxVariant, TiledRows, bench_softmax, hetal_samples,
    softmax_exact,
};
use serde::Serialize;

/// Arguments of `hetal bench softmax`.
#[derive(Debug, Args)]
pub struct BenchSoftmaxArgs {
    /// Number of classes `c` (≥ 2).
    #[arg(long)]
    pub classes: usize,
    /// Logit range `R`: inputs in [-R, R] (a power of two ≥ 8; HETAL: 128).
    #[arg(long, default_value_t = 128.0)]
    pub range: f64,
    /// Approximation: hetal, hetal-precise, hetal-rs, hetal-fast or hetal-shallow.
    #[arg(long, default_value = "hetal-rs", value_parser = parse_variant)]
    pub variant: SoftmaxVariant,
    /// Rows sampled in total for the error statistics (split evenly over the sub-ranges).
    #[arg(long, default_value_t = 12_000)]
    pub samples: usize,
    /// Also time one ciphertext on real CKKS with this preset (see `hetal params`).
    #[arg(long)]
    pub preset: Option<String>,
    /// Allow an insecure test preset (parameters below 128-bit security).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Size of the rayon thread pool to run in (default: rayon's global pool).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the samples and of the key and encryption randomness.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn parse_variant(s: &str) -> Result<SoftmaxVariant, String> {
    SoftmaxVariant::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = SoftmaxVariant::ALL.iter().map(|v| v.name()).collect();
        format!("unknown variant `{s}`; known: {}", names.join(", "))
    })
}

/// The CKKS run of one ciphertext and its comparison with the simulator.
#[derive(Debug, Clone, Serialize)]
pub struct CkksSpotCheck {
    /// Preset name.
    pub preset: String,
    /// Ring degree `N`.
    pub ring_degree: usize,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Levels of the preset's chain.
    pub chain_levels: usize,
    /// Key generation time (secret, public, relinearization, the rotations the softmax uses).
    pub keygen_s: f64,
    /// Wall time of the approximation on one ciphertext.
    pub seconds_per_ciphertext: f64,
    /// Rows in the ciphertext (all checked).
    pub rows_checked: usize,
    /// Largest row error of the decrypted CKKS result against the exact softmax.
    pub max_error_ckks: f64,
    /// Largest row error of the simulator on the same rows.
    pub max_error_simulator: f64,
    /// Largest slot difference between the CKKS and simulator outputs.
    pub max_ckks_minus_simulator: f64,
    /// Bound on that difference: 16·N/Δ per operation, summed, doubled by each squaring of the
    /// exponential.
    pub noise_bound: f64,
    /// Whether the difference is within the bound.
    pub matches: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    kind: &'static str,
    format: u32,
    #[serde(flatten)]
    bench: SoftmaxBench,
    stages: Vec<(&'static str, usize)>,
    threads: Option<usize>,
    ckks: Option<CkksSpotCheck>,
    notes: Vec<String>,
}

/// Runs `hetal bench softmax`.
pub fn run(args: &BenchSoftmaxArgs) -> anyhow::Result<()> {
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

fn checked_spec(args: &BenchSoftmaxArgs, name: &str) -> anyhow::Result<ParameterSpec> {
    let spec = preset(name).with_context(|| format!("preset `{name}`"))?;
    if spec.security == SecurityLevel::InsecureForTests && !args.allow_insecure {
        bail!("preset `{name}` is insecure; pass --allow-insecure to use it");
    }
    Ok(spec)
}

fn measure(args: &BenchSoftmaxArgs) -> anyhow::Result<Report> {
    if args.samples == 0 {
        bail!("--samples must be positive");
    }
    // Check the preset before the (long) statistics run.
    let spec = match &args.preset {
        Some(name) => Some(checked_spec(args, name)?),
        None => None,
    };
    let bench = bench_softmax(
        args.variant,
        args.classes,
        args.range,
        args.samples,
        args.seed,
    )?;
    let rows = TiledRows::new(1 << 15, args.classes.next_power_of_two(), args.classes)?;
    let stages = SoftmaxApprox::new(args.variant, rows, args.range)?.stage_depths();
    let mut notes = vec![
        "errors, levels and bootstraps from the exact simulator (HETAL's level setting: fresh at \
         12, bootstrap from 3)"
            .to_string(),
    ];
    let mut ckks = None;
    if let Some(spec) = spec {
        if spec.security == SecurityLevel::InsecureForTests {
            notes.push(format!("INSECURE preset `{}`: for tests only", spec.name));
        }
        let chain = spec.q_bits.len().saturating_sub(1);
        if chain >= bench.levels {
            ckks = Some(ckks_spot_check(
                &spec,
                args.variant,
                args.classes,
                args.range,
                args.seed,
            )?);
        } else {
            notes.push(format!(
                "no CKKS timing: the approximation needs {} levels and preset `{}` has {chain}; \
                 a run with bootstraps needs a bootstrappable CKKS slot evaluator, which the \
                 learn crate does not build from a preset yet (simulator figures only)",
                bench.levels, spec.name
            ));
        }
    }
    Ok(Report {
        kind: "hetal-bench-softmax",
        format: 1,
        bench,
        stages,
        threads: args.threads,
        ckks,
        notes,
    })
}

/// One ciphertext of HETAL-sampled rows through the approximation on real CKKS ciphertexts of
/// `spec` (whose chain must hold the whole depth: no bootstrapping), timed and compared with the
/// simulator on the same rows.
pub fn ckks_spot_check(
    spec: &ParameterSpec,
    variant: SoftmaxVariant,
    classes: usize,
    range: f64,
    seed: u64,
) -> anyhow::Result<CkksSpotCheck> {
    let slots = 1usize << (spec.log_n - 1);
    let cols = classes.next_power_of_two();
    let rows = TiledRows::new(slots, cols, classes)?;
    let approx = SoftmaxApprox::new(variant, rows, range)?;
    let depth = approx.depth();
    let chain = spec.q_bits.len().saturating_sub(1);
    if chain < depth {
        bail!(
            "the {} approximation needs {depth} levels; preset `{}` has {chain}",
            variant.name(),
            spec.name
        );
    }
    let sub_ranges = (range.log2() - 1.0).max(1.0) as usize;
    let sample = hetal_samples(classes, range, rows.rows().div_ceil(sub_ranges), seed)?;
    let n_rows = rows.rows().min(sample.nrows());
    let mut values = vec![Complex64::new(0.0, 0.0); slots];
    for r in 0..n_rows {
        for j in 0..classes {
            values[rows.slot(r, j)] = Complex64::new(sample[[r, j]], 0.0);
        }
    }

    // The simulator first: it also tells which rotations the keys must cover.
    let sim = Simulator::new(SimConfig {
        max_level: chain,
        bootstrap_level: chain,
        ..SimConfig::with_slots(slots)
    })?;
    let want = sim.decrypt(&approx.apply(&sim, &sim.encrypt(&values)?, 0, 0)?.output)?;
    let (session, keygen_s) = session_for_simulated_rotations(spec, &sim, seed)?;
    let ev = session.slots()?;
    let ct = ev.encrypt(&values)?;
    ev.counter().reset();
    let start = Instant::now();
    let run = approx.apply(&ev, &ct, 0, 0)?;
    let seconds = start.elapsed().as_secs_f64();
    let ops = ev.counts();
    let got = ev.decrypt(&run.output)?;

    let (mut diff, mut err_ckks, mut err_sim) = (0.0f64, 0.0f64, 0.0f64);
    for r in 0..n_rows {
        let logits: Vec<f64> = (0..classes).map(|j| sample[[r, j]]).collect();
        let exact = softmax_exact(&logits);
        for (j, e) in exact.iter().enumerate() {
            let s = rows.slot(r, j);
            diff = diff.max((got[s] - want[s]).norm());
            err_ckks = err_ckks.max((got[s].re - e).abs());
            err_sim = err_sim.max((want[s].re - e).abs());
        }
    }
    let squarings = approx
        .stage_depths()
        .iter()
        .filter(|s| s.0 == "exp squaring")
        .count() as i32;
    let ctx = session.context();
    let total_ops = ops.mult + ops.cmult + ops.scalar_mult + ops.rot + ops.add + ops.add_const;
    let noise_bound =
        16.0 * ctx.n() as f64 / ctx.default_scale() * total_ops as f64 * 2f64.powi(squarings);
    Ok(CkksSpotCheck {
        preset: spec.name.clone(),
        ring_degree: ctx.n(),
        slots,
        chain_levels: chain,
        keygen_s,
        seconds_per_ciphertext: seconds,
        rows_checked: n_rows,
        max_error_ckks: err_ckks,
        max_error_simulator: err_sim,
        max_ckks_minus_simulator: diff,
        noise_bound,
        matches: diff <= noise_bound,
    })
}

/// Generates CKKS keys whose Galois keys cover exactly the rotations `sim` performed (a dry run
/// on the simulator tells which keys a computation needs); returns the session and the key
/// generation time in seconds.
pub(crate) fn session_for_simulated_rotations(
    spec: &ParameterSpec,
    sim: &Simulator,
    seed: u64,
) -> anyhow::Result<(CkksSession, f64)> {
    let steps: Vec<isize> = sim
        .rotation_steps_used()
        .into_iter()
        .map(|s| s as isize)
        .collect();
    let mut key_seed = [0u8; 32];
    key_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let start = Instant::now();
    let session = CkksSession::new(
        spec,
        spec.security == SecurityLevel::InsecureForTests,
        &steps,
        Some(key_seed),
    )?;
    Ok((session, start.elapsed().as_secs_f64()))
}

fn print_table(r: &Report) {
    let b = &r.bench;
    println!(
        "hetal bench softmax: variant {}, {} classes, range ±{}, {} rows sampled",
        b.variant, b.classes, b.range, b.rows
    );
    println!(
        "error (simulator): max {:.3e}, mean {:.3e}",
        b.max_error, b.mean_error
    );
    println!(
        "levels consumed {}, bootstraps per ciphertext {} (HETAL setting), inverse R = {} with {} iterations",
        b.levels, b.bootstraps, b.inverse_r, b.inverse_iterations
    );
    let stages: Vec<String> = r.stages.iter().map(|(n, d)| format!("{n} {d}")).collect();
    println!("stages: {}", stages.join(", "));
    println!(
        "simulator: {:.3} s per 2^15-slot ciphertext (bootstraps free)",
        b.simulator_seconds_per_ciphertext
    );
    if let Some(c) = &r.ckks {
        println!(
            "CKKS {} (N = {}, {} levels): keygen {:.2} s, {:.3} s per ciphertext ({} rows)",
            c.preset,
            c.ring_degree,
            c.chain_levels,
            c.keygen_s,
            c.seconds_per_ciphertext,
            c.rows_checked
        );
        println!(
            "spot check: max error CKKS {:.3e}, simulator {:.3e}; |CKKS − simulator| {:.2e} (bound {:.1e}): {}",
            c.max_error_ckks,
            c.max_error_simulator,
            c.max_ckks_minus_simulator,
            c.noise_bound,
            if c.matches { "match" } else { "MISMATCH" }
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_parse_by_name() {
        assert_eq!(parse_variant("hetal-rs"), Ok(SoftmaxVariant::HetalRs));
        assert_eq!(
            parse_variant("hetal-precise"),
            Ok(SoftmaxVariant::HetalPrecise)
        );
        assert!(parse_variant("fast").unwrap_err().contains("hetal-rs"));
    }
}
