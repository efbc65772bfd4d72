//! `hetal bench step`: one encrypted training step at a shape — operations, levels, bootstraps,
//! and its time (CKKS) or its cost priced at given per-operation times (simulator).
//!
//! ```text
//! hetal bench step --shape 1024,769,10                       # simulator: counts per step
//! hetal bench step --shape 512,769,3 --prices flat.json     # + cost priced at {mult, cmult, rot, bootstrap}
//! hetal bench step --shape 1024,769,10 --backend ckks --preset boot-n16 --threads 2 \
//!     --peer-prices peers-ops.json --peer-prices peers-bootstrap.json
//! hetal bench step --shape 64,16,2 --backend ckks --preset ops-n16
//! hetal bench step --shape 1024,769,10 --backend sim --preset-levels --preset boot-n16 \
//!     --peer-prices peers-L1.json --peer-prices peers-L12.json --peer-prices peers-L26.json
//! ```
//!
//! `--backend sim --preset-levels` runs the simulator in the preset's level setting (its chain, and its
//! bootstrap's levels where the steps need one): the counts, levels and bootstraps of the CKKS
//! run with the same preset, shape and seed, in seconds — to price a step, or re-price a
//! measured one, without keys.
//!
//! Pricing by level: the CKKS backend and `--preset-levels` also count every operation at the level of
//! the ciphertext it consumed (`ops_by_level`). With prices files timed at several levels (one
//! `bench/peers` run per `--q-limbs`), the step is also priced with each operation at its level's
//! peer prices — between measured levels interpolated linearly in the number of limbs, outside
//! them the nearest level's prices scaled by the limbs (the rule is printed in the notes) — and
//! the measured step is divided by that too (`priced_step_by_level_s`, `cpu_over_level_priced`).
//!
//! The simulator backend runs `--steps` Nesterov steps in HETAL's level setting (2^15 slots,
//! fresh and bootstrapped ciphertexts at level 12, bootstrap from 3) and averages: operations
//! per step, bootstraps per step (inside the softmax, of the residual, of the weight/momentum
//! state), and a breakdown: the softmax (one logits ciphertext through the approximation,
//! counted alone on the simulator), the bootstraps, and the matrix multiplications (the rest:
//! DiagABT and DiagATB with their operands' preparation, and the update's few scalar
//! multiplications; the update stage itself has no CMult, Mult or rotation). With `--prices`, each part is priced as (CMult + scalar mult)·t_cmult +
//! Mult·t_mult + (Rot + conj)·t_rot + bootstraps·t_boot (bootstraps unpriced when no bootstrap
//! price is given), in wall and, where the prices have one, CPU seconds.
//!
//! The CKKS backend times `--steps` steps (default 1) on real ciphertexts of the preset. When a
//! step fits in the modulus chain it runs without bootstrapping; otherwise the preset must hold
//! a bootstrap (`boot-n16`, `insecure-boot-n12`; see `hetal_learn::eval::ckks_boot`): the client
//! generates a bootstrappable key set (dense secret, encapsulation keys, the bootstrap's
//! rotations and those a simulated run of the same steps used), the server plans the bootstrap
//! from public material, and the trainer bootstraps where its level policy says. The wall time
//! per step is split into matmul / softmax / bootstraps / update as measured: the trainer reads
//! the clock around each stage of its step (DiagABT and DiagATB; the softmax without its
//! bootstraps; every bootstrap, inside the softmax too; residual and updates) — the "wall"
//! column — and the process CPU time of each step (steadier than wall time on a shared machine).
//! `--prices` / `--peer-prices` (e.g. the fastest peer's per-op and per-bootstrap times from
//! `bench/peers`) prices the same counted operations — the "priced" column — and the step's
//! wall and CPU time are divided by the priced ones (below 1: faster than the peer done one
//! operation at a time). Mult, CMult and Rot times measured in the same run (one of each at the
//! middle of the bootstrap range) are reported too. The decrypted weights are compared with a
//! simulator run of the same steps.
//!
//! `--prices FILE.json` (repeatable) takes `bench/peers` results files, their records merged
//! (see `hetal_learn::matmul::bench_prices::StepPrices::load`): Mult = `mul_relin_rescale`, Rot =
//! `rotate`, CMult ≈ `rescale`, each at the fastest median of a library that ran our ring degree,
//! among the records timed at the level closest to the level a bootstrap leaves (the file's
//! `q_limbs` − 1; the report says which), any thread count; the bootstrap at the fastest of the
//! files' `bootstrap` records at our ring degree. Our operations run at every level from the
//! fresh one down to the lowest (the report prints the range), so one level's prices are an
//! approximation, stated in the notes. Or one flat object `{"mult": s, "cmult": s, "rot": s,
//! "bootstrap": s}` (bootstrap optional), in seconds, taken as wall and CPU prices.
//!
//! # JSON (`--json`): one object on stdout
//! `kind` = `"hetal-bench-step"`, `format` = 3, `backend`, `preset`, `variant`, `shape`
//! [batch, features, classes], `unit` [s0, s1], `slots`, `levels` {`fresh`, `after_bootstrap`,
//! `bootstrap_min`}, `steps`, `ops_per_step` (all counters, averaged), `bootstraps_per_step`
//! {`softmax`, `residual`, `state`, `total`}, `breakdown`: list of {`part`, `cmult`, `mult`,
//! `rot`, `scalar_mult`, `conj`, `bootstraps`, `priced_s`, `priced_cpu_s`, `wall_s` (CKKS:
//! measured seconds per step)}, `prices` (null or {`ops`: {`wall`, `cpu`: {mult, cmult, rot},
//! `source`}, `ops_level`, `bootstrap`: null or {`wall`, `cpu`, `source`}}), `priced_step_s`,
//! `priced_step_cpu_s`, `step_wall_s` (CKKS: mean wall seconds per step), `step_walls_s` (CKKS:
//! each step), `step_cpu_s` / `step_cpus_s` (CKKS: process CPU seconds, mean and each step),
//! `wall_over_priced`, `cpu_over_priced` (CKKS with prices: the ratios), `bootstrap_wall_s`
//! (CKKS: mean seconds per bootstrap), `measured_op_s` (CKKS with bootstrapping: {mult, cmult,
//! rot} seconds measured in the run), `keygen_s` (CKKS: key generation), `setup_s` (CKKS with bootstrapping:
//! bootstrap planning and diagonal encoding), `max_weight_error` (CKKS: largest difference
//! between the decrypted weights and the simulator's after the same steps), `peak_rss_bytes`,
//! `notes`; format 3 adds `ops_by_level` (CKKS and `--preset-levels`: {`by_level`: {level: counts}} over
//! all the steps), `prices.levels` (null or {`measured`: list of {`level`, `prices`}}),
//! `priced_step_by_level_s`, `priced_step_by_level_cpu_s`, `wall_over_level_priced`,
//! `cpu_over_level_priced`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use hetal_ckks::circuits::bootstrap::BootstrapParams;
use hetal_ckks::encoding::Complex64;
use hetal_ckks::encoding::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{ParameterSpec, SecurityLevel, preset};
use hetal_learn::eval::counter::LevelCounts;
use hetal_learn::eval::{
    OpCounts, SecretKeyClient, ServerBootstrapper, SimConfig, Simulator, SlotCodec, SlotEvaluator,
    bootstrap_params_for,
};
use hetal_learn::matmul::bench_clock::Stopwatch;
use hetal_learn::matmul::bench_prices::{LevelPrices, OpPrices, PriceFile, StepPrices, StepTally};
use hetal_learn::pack::UnitShape;
use hetal_learn::softmax::{SoftmaxApprox, SoftmaxVariant, TiledRows};
use hetal_learn::train::server::StageTimes;
use hetal_learn::train::{
    EncryptedTrainer, Preset, StepReport as TrainerStep, TrainingClient, step_counts,
};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::bench_softmax::{parse_variant, session_for_simulated_rotations};

/// Which evaluator runs the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The exact, counting plaintext simulator in HETAL's level setting.
    Sim,
    /// Real CKKS ciphertexts of `--preset`.
    Ckks,
}

/// Arguments of `hetal bench step`.
#[derive(Debug, Args)]
pub struct BenchStepArgs {
    /// The shape `batch,features,classes` (e.g. 1024,769,10).
    #[arg(long, value_parser = parse_shape)]
    pub shape: (usize, usize, usize),
    /// Evaluator: the simulator (counts, priced cost) or real CKKS (time).
    #[arg(long, value_enum, default_value_t = Backend::Sim)]
    pub backend: Backend,
    /// Parameter preset for the CKKS backend (see `hetal params`).
    #[arg(long, default_value = "ops-n16")]
    pub preset: String,
    /// Allow an insecure test preset (parameters below 128-bit security).
    #[arg(long)]
    pub allow_insecure: bool,
    /// With the simulator: run it in `--preset`'s level setting (its chain, and its bootstrap's
    /// levels where the steps need one) instead of HETAL's: the operations, levels and
    /// bootstraps that `--backend ckks` performs with the same preset, shape and seed, in
    /// seconds and without keys.
    #[arg(long)]
    pub preset_levels: bool,
    /// Softmax approximation: hetal-shallow (the training default), hetal, hetal-precise,
    /// hetal-rs or hetal-fast.
    #[arg(long, default_value = "hetal-shallow", value_parser = parse_variant)]
    pub variant: SoftmaxVariant,
    /// Steps to average over (default 4 on the simulator, where bootstraps of the state
    /// amortise over steps; 1 on CKKS).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Per-operation and per-bootstrap prices for the "priced" column: `bench/peers` results
    /// files (repeat the flag to merge several, e.g. the operations' and the bootstrap's), or
    /// one {mult, cmult, rot, bootstrap} object; the "wall" column is measured around each
    /// stage of the step.
    #[arg(long, visible_alias = "peer-prices")]
    pub prices: Vec<PathBuf>,
    /// Size of the rayon thread pool to run in (default: rayon's global pool).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seed of the data and of the key and encryption randomness.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn parse_shape(s: &str) -> Result<(usize, usize, usize), String> {
    let parts = super::shape::parse_usize_list(s)?;
    match parts[..] {
        [a, b, c] if a > 0 && b > 0 && c >= 2 => Ok((a, b, c)),
        _ => Err(format!(
            "expected batch,features,classes (positive, classes ≥ 2), got `{s}`"
        )),
    }
}

/// One part of a step.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// `matmul`, `softmax`, `bootstraps` or `update`.
    pub part: &'static str,
    /// Constant multiplications per step.
    pub cmult: f64,
    /// Ciphertext multiplications per step.
    pub mult: f64,
    /// Rotations per step.
    pub rot: f64,
    /// Multiplications by a scalar per step.
    pub scalar_mult: f64,
    /// Conjugations per step.
    pub conj: f64,
    /// Bootstraps per step.
    pub bootstraps: f64,
    /// Cost at the given prices, wall seconds.
    pub priced_s: Option<f64>,
    /// Cost at the given prices, CPU seconds (where the prices have CPU figures).
    pub priced_cpu_s: Option<f64>,
    /// Measured (bootstraps) or apportioned (the rest) wall seconds per step (CKKS).
    pub wall_s: Option<f64>,
}

impl Part {
    fn new(part: &'static str, t: StepTally) -> Self {
        Part {
            part,
            cmult: t.cmult,
            mult: t.mult,
            rot: t.rot,
            scalar_mult: t.scalar_mult,
            conj: t.conj,
            bootstraps: t.bootstraps,
            priced_s: None,
            priced_cpu_s: None,
            wall_s: None,
        }
    }

    /// The part's counts, for pricing.
    fn tally(&self) -> StepTally {
        StepTally {
            cmult: self.cmult,
            mult: self.mult,
            rot: self.rot,
            scalar_mult: self.scalar_mult,
            conj: self.conj,
            bootstraps: self.bootstraps,
        }
    }
}

/// Levels of the setting the step ran in.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Levels {
    /// Level of fresh encryptions.
    pub fresh: usize,
    /// Level after a bootstrap.
    pub after_bootstrap: usize,
    /// Lowest level bootstrapped from.
    pub bootstrap_min: usize,
}

/// Bootstraps per step.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Bootstraps {
    /// Inside the softmax.
    pub softmax: f64,
    /// Of the residual `P − Y`.
    pub residual: f64,
    /// Of the weight/momentum state.
    pub state: f64,
    /// All of them.
    pub total: f64,
}

/// Everything `hetal bench step` reports (the `--json` object). `Default` leaves every measured
/// and priced field empty, so that each backend's report names only what it fills in.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    kind: &'static str,
    format: u32,
    /// `sim` or `ckks`.
    pub backend: String,
    /// Preset name (`simulator` for the simulator).
    pub preset: String,
    /// Softmax variant.
    pub variant: String,
    /// `[batch, features, classes]`.
    pub shape: [usize; 3],
    /// Unit shape `[s0, s1]`.
    pub unit: [usize; 2],
    /// Slots per ciphertext.
    pub slots: usize,
    /// Level setting.
    pub levels: Levels,
    /// Steps averaged over.
    pub steps: usize,
    /// Operations per step (averaged; `min_level` over the run).
    pub ops_per_step: OpCounts,
    /// The operations of all `steps` steps split by the level of the ciphertext each consumed
    /// (CKKS, and the simulator with `--preset-levels`).
    pub ops_by_level: Option<LevelCounts>,
    /// Bootstraps per step.
    pub bootstraps_per_step: Bootstraps,
    /// Where the operations go.
    pub breakdown: Vec<Part>,
    /// Prices used.
    pub prices: Option<StepPrices>,
    /// The whole step priced, wall seconds.
    pub priced_step_s: Option<f64>,
    /// The whole step priced, CPU seconds.
    pub priced_step_cpu_s: Option<f64>,
    /// Measured wall time of one step (CKKS; the mean over the steps).
    pub step_wall_s: Option<f64>,
    /// Wall time of each step (CKKS).
    pub step_walls_s: Vec<f64>,
    /// Process CPU time of one step (CKKS; the mean over the steps, where readable).
    pub step_cpu_s: Option<f64>,
    /// Process CPU time of each step (CKKS).
    pub step_cpus_s: Vec<f64>,
    /// Measured wall time over the priced wall time (CKKS with prices).
    pub wall_over_priced: Option<f64>,
    /// Measured CPU time over the priced CPU time (CKKS with prices).
    pub cpu_over_priced: Option<f64>,
    /// One step priced with each operation at the peer's prices of its level (see
    /// `LevelPrices::RULE`) and bootstraps as in `priced_step_s`, wall seconds (with
    /// `ops_by_level` and prices).
    pub priced_step_by_level_s: Option<f64>,
    /// The same in CPU seconds.
    pub priced_step_by_level_cpu_s: Option<f64>,
    /// Measured wall time over `priced_step_by_level_s` (CKKS).
    pub wall_over_level_priced: Option<f64>,
    /// Measured CPU time over `priced_step_by_level_cpu_s` (CKKS).
    pub cpu_over_level_priced: Option<f64>,
    /// Mean wall seconds per bootstrap (CKKS with bootstrapping).
    pub bootstrap_wall_s: Option<f64>,
    /// Per-operation wall times measured in the run (CKKS with bootstrapping).
    pub measured_op_s: Option<OpPrices>,
    /// Key generation time (CKKS).
    pub keygen_s: Option<f64>,
    /// Bootstrap planning and diagonal encoding time (CKKS with bootstrapping).
    pub setup_s: Option<f64>,
    /// Largest difference between the CKKS weights and the simulator's (CKKS).
    pub max_weight_error: Option<f64>,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
    /// Remarks.
    pub notes: Vec<String>,
}

/// Runs `hetal bench step`.
pub fn run(args: &BenchStepArgs) -> anyhow::Result<()> {
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

/// Measures per the arguments.
pub fn measure(args: &BenchStepArgs) -> anyhow::Result<StepReport> {
    if args.steps == Some(0) {
        bail!("--steps must be at least 1");
    }
    let files = args
        .prices
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading prices from {}", path.display()))?;
            serde_json::from_str::<PriceFile>(&text).with_context(|| {
                format!(
                    "{}: neither a bench/peers results file nor {{mult, cmult, rot[, bootstrap]}}",
                    path.display()
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.preset_levels && args.backend != Backend::Sim {
        bail!("--preset-levels runs the simulator: use it with --backend sim");
    }
    let spec = match (args.backend, args.preset_levels) {
        (Backend::Sim, false) => None,
        _ => Some(preset(&args.preset).with_context(|| format!("preset `{}`", args.preset))?),
    };
    // The simulator's 2^15 slots are those of N = 2^16.
    let ring = spec.as_ref().map_or(1usize << 16, |s| 1 << s.log_n);
    if !files.is_empty() {
        // Refuse unusable prices before a long run (the level is chosen after it).
        StepPrices::load(&files, Some(ring), 0).context("--prices")?;
    }
    let mut report = match spec {
        None => simulated_step(args.shape, args.variant, args.steps.unwrap_or(4))?,
        Some(spec) if args.preset_levels => preset_simulated_step(
            &spec,
            args.shape,
            args.variant,
            args.seed,
            args.steps.unwrap_or(1),
        )?,
        Some(spec) => {
            if spec.security == SecurityLevel::InsecureForTests && !args.allow_insecure {
                bail!(
                    "preset `{}` is insecure; pass --allow-insecure to use it",
                    args.preset
                );
            }
            ckks_step(
                &spec,
                args.shape,
                args.variant,
                args.seed,
                args.steps.unwrap_or(1),
            )?
        }
    };
    if !files.is_empty() {
        let prices = StepPrices::load(&files, Some(ring), report.levels.after_bootstrap)
            .context("--prices")?;
        apply_prices(&mut report, prices);
    }
    report.peak_rss_bytes = super::bench_ops::peak_rss_bytes();
    Ok(report)
}

/// Prices every part of `report` and the whole step, divides the measured step by it, and notes
/// where the prices come from.
fn apply_prices(report: &mut StepReport, prices: StepPrices) {
    for part in &mut report.breakdown {
        let (wall, cpu) = prices.price(&part.tally());
        part.priced_s = Some(wall);
        part.priced_cpu_s = cpu;
    }
    let wall: f64 = report.breakdown.iter().filter_map(|p| p.priced_s).sum();
    let cpu: Option<f64> = report.breakdown.iter().map(|p| p.priced_cpu_s).sum();
    report.priced_step_s = Some(wall);
    report.priced_step_cpu_s = cpu;
    report.wall_over_priced = report.step_wall_s.filter(|_| wall > 0.0).map(|w| w / wall);
    report.cpu_over_priced = report
        .step_cpu_s
        .zip(cpu.filter(|&p| p > 0.0))
        .map(|(ours, p)| ours / p);
    if let Some(levels) = &report.ops_by_level {
        let steps = report.steps as f64;
        let boots = report.bootstraps_per_step.total * steps;
        let (wall, cpu) = prices.price_by_level(levels, boots);
        let (wall, cpu) = (wall / steps, cpu.map(|c| c / steps));
        report.priced_step_by_level_s = Some(wall);
        report.priced_step_by_level_cpu_s = cpu;
        report.wall_over_level_priced = report.step_wall_s.filter(|_| wall > 0.0).map(|w| w / wall);
        report.cpu_over_level_priced = report
            .step_cpu_s
            .zip(cpu.filter(|&p| p > 0.0))
            .map(|(ours, p)| ours / p);
        match &prices.levels {
            Some(lp) => {
                report
                    .notes
                    .push(format!("priced by level: {}", LevelPrices::RULE));
                for line in lp.describe() {
                    report.notes.push(format!("peer prices at {line}"));
                }
            }
            None => report.notes.push(
                "priced by level: the prices know no level, so every level is priced alike".into(),
            ),
        }
    }
    let source: Vec<String> = prices
        .ops
        .source
        .iter()
        .map(|(op, from)| format!("{op}: {from}"))
        .collect();
    let lowest = report
        .ops_per_step
        .min_level
        .map_or("-".into(), |l| l.to_string());
    match prices.ops_level {
        Some(level) => report.notes.push(format!(
            "per-op prices ({}) timed at level {level}, the closest the prices files have to \
             level {} where a bootstrap leaves the step; our operations ran at levels {lowest}..{}",
            source.join(", "),
            report.levels.after_bootstrap,
            report.levels.fresh
        )),
        None if source.is_empty() => report.notes.push("flat per-op prices given".into()),
        None => report.notes.push(format!(
            "per-op prices ({}) at levels the files do not record",
            source.join(", ")
        )),
    }
    match &prices.bootstrap {
        Some(b) => report.notes.push(format!(
            "bootstrap priced at {} ({:.2} s wall)",
            b.source, b.wall
        )),
        None => report
            .notes
            .push("no bootstrap price given: bootstraps are not priced".into()),
    }
    report.prices = Some(prices);
}

/// Splits per-step counts into softmax (one logits ciphertext through the approximation,
/// counted alone on the simulator over `slots` slots), bootstraps, and matmul: everything else,
/// i.e. DiagABT and DiagATB with the preparation of their operands — the stages the trainer
/// times as matmul — plus the update's few scalar multiplications (its stage has no CMult, Mult
/// or rotation); the update part carries its measured time only.
fn breakdown(
    unit: UnitShape,
    slots: usize,
    classes: usize,
    variant: SoftmaxVariant,
    per_step: StepTally,
    boots: Bootstraps,
) -> anyhow::Result<Vec<Part>> {
    let sim = Simulator::new(SimConfig::with_slots(slots))?;
    let approx = SoftmaxApprox::new(
        variant,
        TiledRows::new(slots, unit.s1(), classes)?,
        hetal_learn::softmax::constants::RANGE,
    )?;
    let ct = sim.encrypt(&vec![Complex64::new(0.0, 0.0); slots])?;
    sim.counter().reset();
    approx.apply_prepared(&sim, &ct, sim.config().bootstrap_min_level, 0)?;
    let s = sim.counts();
    let softmax = StepTally {
        cmult: (s.cmult as f64).min(per_step.cmult),
        mult: (s.mult as f64).min(per_step.mult),
        rot: (s.rot as f64).min(per_step.rot),
        scalar_mult: (s.scalar_mult as f64).min(per_step.scalar_mult),
        conj: (s.conj as f64).min(per_step.conj),
        bootstraps: 0.0,
    };
    let matmul = StepTally {
        cmult: per_step.cmult - softmax.cmult,
        mult: per_step.mult - softmax.mult,
        rot: per_step.rot - softmax.rot,
        scalar_mult: per_step.scalar_mult - softmax.scalar_mult,
        conj: per_step.conj - softmax.conj,
        bootstraps: 0.0,
    };
    let bootstraps = StepTally {
        bootstraps: boots.total,
        ..StepTally::default()
    };
    Ok(vec![
        Part::new("matmul", matmul),
        Part::new("softmax", softmax),
        Part::new("bootstraps", bootstraps),
        Part::new("update", StepTally::default()),
    ])
}

/// Per-step counts of `ops`, counted over `steps` steps.
fn tally_of(ops: &OpCounts, steps: usize) -> StepTally {
    let n = steps as f64;
    StepTally {
        cmult: ops.cmult as f64 / n,
        mult: ops.mult as f64 / n,
        rot: ops.rot as f64 / n,
        scalar_mult: ops.scalar_mult as f64 / n,
        conj: ops.conj as f64 / n,
        bootstraps: 0.0,
    }
}

fn averaged(ops: OpCounts, steps: usize) -> OpCounts {
    let d = |x: u64| x.div_ceil(steps as u64);
    OpCounts {
        add: d(ops.add),
        add_const: d(ops.add_const),
        cmult: d(ops.cmult),
        scalar_mult: d(ops.scalar_mult),
        mult: d(ops.mult),
        rot: d(ops.rot),
        hoisted_batches: d(ops.hoisted_batches),
        conj: d(ops.conj),
        mul_i: d(ops.mul_i),
        level_drops: d(ops.level_drops),
        bootstrap: d(ops.bootstrap),
        min_level: ops.min_level,
    }
}

/// `steps` Nesterov steps on the simulator in HETAL's level setting, averaged.
pub fn simulated_step(
    shape: (usize, usize, usize),
    variant: SoftmaxVariant,
    steps: usize,
) -> anyhow::Result<StepReport> {
    let (batch, features, classes) = shape;
    let c = step_counts(batch, features, classes, variant, steps)?;
    let slots = 1usize << 15;
    let unit = UnitShape::hetal(batch, classes, slots)?;
    let boots = Bootstraps {
        softmax: c.softmax_bootstraps_per_step,
        residual: c.residual_bootstraps_per_step,
        state: c.state_bootstraps_per_step,
        total: c.softmax_bootstraps_per_step
            + c.residual_bootstraps_per_step
            + c.state_bootstraps_per_step,
    };
    let per_step = tally_of(&c.ops, steps);
    let hetal = SimConfig::hetal();
    Ok(StepReport {
        kind: "hetal-bench-step",
        format: 3,
        backend: "sim".into(),
        preset: "simulator".into(),
        variant: variant.name().into(),
        shape: [batch, features, classes],
        unit: [c.unit.0, c.unit.1],
        slots,
        levels: Levels {
            fresh: hetal.max_level,
            after_bootstrap: hetal.bootstrap_level,
            bootstrap_min: hetal.bootstrap_min_level,
        },
        steps,
        ops_per_step: averaged(c.ops, steps),
        bootstraps_per_step: boots,
        breakdown: breakdown(unit, slots, classes, variant, per_step, boots)?,
        notes: vec![
            "exact plaintext simulator: counts and levels are those of CKKS; softmax counted \
             alone, matmul = the rest"
                .into(),
        ],
        ..Default::default()
    })
}

/// Features uniform in [−0.1, 0.1] and labels uniform over the classes.
fn random_batch(
    rows: usize,
    features: usize,
    classes: usize,
    seed: u64,
) -> (Array2<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = Array2::from_shape_fn((rows, features), |_| rng.gen_range(-0.1..0.1));
    let y = (0..rows).map(|_| rng.gen_range(0..classes)).collect();
    (x, y)
}

/// The batch of `hetal bench step` at `shape`: [`random_batch`] with every class present, so
/// that the trainer sees `classes` classes.
fn step_batch(shape: (usize, usize, usize), seed: u64) -> (Array2<f64>, Vec<usize>) {
    let (batch, features, classes) = shape;
    let (x, mut labels) = random_batch(batch, features, classes, seed);
    for (i, l) in labels.iter_mut().take(classes).enumerate() {
        *l = i;
    }
    (x, labels)
}

/// The simulator in a preset's level setting: fresh ciphertexts at the top of its `chain` of
/// `slots`-slot ciphertexts and, where the preset bootstraps, its `(output, minimum)` bootstrap
/// levels; without them a bootstrap returns to the top of the chain.
fn preset_simulator(
    slots: usize,
    chain: usize,
    boot: Option<(usize, usize)>,
) -> anyhow::Result<Simulator> {
    let plain = SimConfig {
        max_level: chain,
        bootstrap_level: chain,
        ..SimConfig::with_slots(slots)
    };
    let config = match boot {
        Some((bootstrap_level, bootstrap_min_level)) => SimConfig {
            bootstrap_level,
            bootstrap_min_level,
            ..plain
        },
        None => plain,
    };
    Ok(Simulator::new(config)?)
}

/// How `spec` bootstraps steps that do not fit its chain: its context, the bootstrap circuit's
/// parameters, and the levels a bootstrap starts from and lands at. One plan for the simulator
/// and the CKKS run, so that both bootstrap at the same levels.
struct BootPlan {
    ctx: Arc<Context>,
    params: BootstrapParams,
    /// Level a bootstrap lands at.
    level: usize,
    /// Lowest level a bootstrap starts from.
    min_level: usize,
}

impl BootPlan {
    /// The plan of `spec` for `steps` steps at `shape` (batch, features, classes); when the preset
    /// cannot bootstrap, an error naming them, followed by `advice`.
    fn of(
        spec: &ParameterSpec,
        (batch, features, classes): (usize, usize, usize),
        steps: usize,
        advice: &str,
    ) -> anyhow::Result<Self> {
        let params = bootstrap_params_for(spec).with_context(|| {
            format!(
                "{steps} step(s) at shape {batch},{features},{classes} do not fit in the {} \
                 levels of preset `{}` without bootstrapping, and the preset cannot \
                 bootstrap{advice}",
                spec.max_level(),
                spec.name
            )
        })?;
        let ctx = Context::new(spec, spec.security == SecurityLevel::InsecureForTests)?;
        let (level, min_level) = ServerBootstrapper::levels_for(&ctx, &params)?;
        Ok(BootPlan {
            ctx,
            params,
            level,
            min_level,
        })
    }

    /// The simulator in `spec`'s level setting with this plan's bootstrap.
    fn simulator(&self, spec: &ParameterSpec) -> anyhow::Result<Simulator> {
        preset_simulator(
            spec.max_slots(),
            spec.max_level(),
            Some((self.level, self.min_level)),
        )
    }
}

/// `steps` steps on the simulator in `spec`'s level setting, as [`ckks_step`] would run them on
/// CKKS (the same batch, chain and bootstrap levels): its counts, levels and bootstraps.
pub fn preset_simulated_step(
    spec: &ParameterSpec,
    shape: (usize, usize, usize),
    variant: SoftmaxVariant,
    seed: u64,
    steps: usize,
) -> anyhow::Result<StepReport> {
    let (batch, features, classes) = shape;
    let (slots, chain) = (spec.max_slots(), spec.max_level());
    let unit = UnitShape::hetal(batch, classes, slots)?;
    let (x, labels) = step_batch(shape, seed);
    let plain = preset_simulator(slots, chain, None)?;
    let fits = train_steps(&plain, unit, &x, &labels, variant, steps, None);
    let (sim, levels, trained) = match fits {
        Ok(trained) => (
            plain,
            Levels {
                fresh: chain,
                after_bootstrap: chain,
                bootstrap_min: 0,
            },
            trained,
        ),
        Err(_) => {
            let plan = BootPlan::of(spec, shape, steps, "")?;
            let sim = plan.simulator(spec)?;
            let trained = train_steps(
                &sim,
                unit,
                &x,
                &labels,
                variant,
                steps,
                Some(plan.min_level),
            )?;
            let levels = Levels {
                fresh: chain,
                after_bootstrap: plan.level,
                bootstrap_min: plan.min_level,
            };
            (sim, levels, trained)
        }
    };
    // The counter ran through the steps alone: the client's encryptions count nothing.
    let boots = bootstraps_of(&trained.reports);
    let per_step = tally_of(&sim.counts(), steps);
    Ok(StepReport {
        kind: "hetal-bench-step",
        format: 3,
        backend: "sim".into(),
        preset: spec.name.clone(),
        variant: variant.name().into(),
        shape: [batch, features, classes],
        unit: [unit.s0(), unit.s1()],
        slots,
        levels,
        steps,
        ops_per_step: averaged(sim.counts(), steps),
        ops_by_level: Some(sim.counter().by_level()),
        bootstraps_per_step: boots,
        breakdown: breakdown(unit, slots, classes, variant, per_step, boots)?,
        notes: vec![format!(
            "exact plaintext simulator in the level setting of preset `{}` (the operations and \
             levels of `--backend ckks` with the same preset, shape and seed); softmax counted \
             alone, matmul = the rest",
            spec.name
        )],
        ..Default::default()
    })
}

/// What [`train_steps`] returns.
struct TrainedSteps {
    /// The trainer's report of each step.
    reports: Vec<TrainerStep>,
    /// Wall seconds of each step.
    walls: Vec<f64>,
    /// Process CPU seconds of each step (`None` where no CPU clock could be read).
    cpus: Vec<Option<f64>>,
    /// The decrypted model weights after the steps.
    weights: Array2<f64>,
    /// The steps' time by stage, measured inside the trainer.
    times: StageTimes,
}

/// Mean of the CPU times when every step has one.
fn mean_cpu(cpus: &[Option<f64>]) -> Option<f64> {
    let all: Option<Vec<f64>> = cpus.iter().copied().collect();
    all.filter(|c| !c.is_empty())
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
}

/// `steps` Nesterov steps on one batch with `ev` (client and server in this process; the
/// server bootstraps from `bootstrap_min`, or never when `None`), each step timed.
#[allow(clippy::too_many_arguments)]
fn train_steps<E: SlotCodec>(
    ev: &E,
    unit: UnitShape,
    x: &Array2<f64>,
    labels: &[usize],
    variant: SoftmaxVariant,
    steps: usize,
    bootstrap_min: Option<usize>,
) -> anyhow::Result<TrainedSteps> {
    let (batch, features) = x.dim();
    let classes = unit_classes(labels)?;
    let hyper = Preset::FaceMask.hyper();
    let client = TrainingClient::new(ev, unit, classes, features, 3)?;
    let data = client.encrypt_training_set(x.view(), labels, batch)?;
    let mut server = EncryptedTrainer::new(
        ev,
        hyper,
        variant,
        client.initial_weights()?,
        bootstrap_min.unwrap_or(0),
    )?;
    if bootstrap_min.is_none() {
        server.disable_bootstrapping();
    }
    let (mut reports, mut walls, mut cpus) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..steps {
        let watch = Stopwatch::start();
        reports.push(server.step(&data[0])?);
        let span = watch.stop();
        walls.push(span.wall_s);
        cpus.push(span.cpu_s);
    }
    let model = client.decrypt_model(server.weights(), server.weight_scale())?;
    Ok(TrainedSteps {
        reports,
        walls,
        cpus,
        weights: model.weights().clone(),
        times: server.stage_times(),
    })
}

/// The class count of a label vector (largest label + 1, at least 2).
fn unit_classes(labels: &[usize]) -> anyhow::Result<usize> {
    let top = labels.iter().copied().max().context("no labels")?;
    Ok((top + 1).max(2))
}

/// Bootstraps per step, averaged over `reports`.
fn bootstraps_of(reports: &[TrainerStep]) -> Bootstraps {
    let n = reports.len().max(1) as f64;
    let sum = |f: fn(&TrainerStep) -> usize| reports.iter().map(f).sum::<usize>() as f64 / n;
    let softmax = sum(|r| r.softmax_bootstraps);
    let residual = sum(|r| r.residual_bootstraps);
    let state = sum(|r| r.state_bootstraps);
    Bootstraps {
        softmax,
        residual,
        state,
        total: softmax + residual + state,
    }
}

/// Largest absolute difference of two weight matrices.
fn max_abs_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    (a - b).mapv(f64::abs).fold(0.0, |m: f64, &v| m.max(v))
}

/// The key seed of a run (the data seed in its first 8 bytes, as `bench softmax` does).
fn key_seed(seed: u64) -> [u8; 32] {
    let mut key_seed = [0u8; 32];
    key_seed[..8].copy_from_slice(&seed.to_le_bytes());
    key_seed
}

/// `steps` Nesterov steps on real CKKS ciphertexts of `spec`, timed: without bootstrapping when
/// they fit in the chain, else with the preset's bootstrapping (see the module documentation).
pub fn ckks_step(
    spec: &ParameterSpec,
    shape: (usize, usize, usize),
    variant: SoftmaxVariant,
    seed: u64,
    steps: usize,
) -> anyhow::Result<StepReport> {
    let (batch, features, classes) = shape;
    let (slots, chain) = (spec.max_slots(), spec.max_level());
    let unit = UnitShape::hetal(batch, classes, slots)?;
    let (x, labels) = step_batch(shape, seed);

    // The simulator with the same chain: do the steps fit without bootstrapping?
    let sim = preset_simulator(slots, chain, None)?;
    sim.clear_rotation_steps();
    let fits = train_steps(&sim, unit, &x, &labels, variant, steps, None);
    let Ok(TrainedSteps { weights: want, .. }) = fits else {
        return ckks_step_bootstrapped(spec, unit, (&x, &labels), variant, seed, steps);
    };
    let (session, keygen_s) = session_for_simulated_rotations(spec, &sim, seed)?;
    let ev = session.slots()?;
    ev.counter().reset();
    let TrainedSteps {
        reports,
        walls,
        cpus,
        weights: got,
        times,
    } = train_steps(&ev, unit, &x, &labels, variant, steps, None)?;
    let ops = averaged(ev.counts(), steps);
    let by_level = ev.counter().by_level();
    let boots = bootstraps_of(&reports);
    let per_step = tally_of(&ev.counts(), steps);
    let mut parts = breakdown(unit, slots, classes, variant, per_step, boots)?;
    set_measured_walls(&mut parts, &times, steps);
    let mut notes = Vec::new();
    if spec.security == SecurityLevel::InsecureForTests {
        notes.push(format!("INSECURE preset `{}`: for tests only", spec.name));
    }
    if let Some(last) = reports.last() {
        notes.push(format!(
            "{steps} step(s) from fresh encryptions at level {chain}, no bootstrapping; weights \
             left at level {} / momentum {}",
            last.state_levels.0, last.state_levels.1
        ));
    }
    let wall = walls.iter().sum::<f64>() / steps as f64;
    Ok(StepReport {
        kind: "hetal-bench-step",
        format: 3,
        backend: "ckks".into(),
        preset: spec.name.clone(),
        variant: variant.name().into(),
        shape: [batch, features, classes],
        unit: [unit.s0(), unit.s1()],
        slots,
        levels: Levels {
            fresh: chain,
            after_bootstrap: chain,
            bootstrap_min: 0,
        },
        steps,
        ops_per_step: ops,
        ops_by_level: Some(by_level),
        bootstraps_per_step: boots,
        breakdown: parts,
        step_wall_s: Some(wall),
        step_walls_s: walls,
        step_cpu_s: mean_cpu(&cpus),
        step_cpus_s: cpus.into_iter().flatten().collect(),
        keygen_s: Some(keygen_s),
        max_weight_error: Some(max_abs_diff(&got, &want)),
        notes,
        ..Default::default()
    })
}

/// Sets each part's wall time per step from the trainer's stage clocks.
fn set_measured_walls(parts: &mut [Part], times: &StageTimes, steps: usize) {
    let per_step = |d: std::time::Duration| d.as_secs_f64() / steps as f64;
    for part in parts {
        part.wall_s = match part.part {
            "matmul" => Some(per_step(times.matmul)),
            "softmax" => Some(per_step(times.softmax)),
            "bootstraps" => Some(per_step(times.bootstraps)),
            "update" => Some(per_step(times.update)),
            _ => None,
        };
    }
}

/// Seconds of one Mult, one CMult and one rotation by `step` at `level` on `ev`.
fn measure_op_prices<E: SlotCodec>(ev: &E, level: usize, step: isize) -> anyhow::Result<OpPrices> {
    let mut rng = ChaCha8Rng::seed_from_u64(level as u64);
    let values: Vec<Complex64> = (0..ev.slots())
        .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), 0.0))
        .collect();
    let a = ev.encrypt_at(&values, level)?;
    let b = ev.encrypt_at(&values, level)?;
    let time = |f: &dyn Fn() -> hetal_learn::Result<E::Ct>| -> anyhow::Result<f64> {
        let start = Instant::now();
        f()?;
        Ok(start.elapsed().as_secs_f64())
    };
    Ok(OpPrices {
        mult: time(&|| ev.mul(&a, &b))?,
        cmult: time(&|| ev.mul_const(&a, &values))?,
        rot: time(&|| ev.rotate(&a, step))?,
    })
}

/// [`ckks_step`] on a preset that bootstraps.
fn ckks_step_bootstrapped(
    spec: &ParameterSpec,
    unit: UnitShape,
    (x, labels): (&Array2<f64>, &[usize]),
    variant: SoftmaxVariant,
    seed: u64,
    steps: usize,
) -> anyhow::Result<StepReport> {
    let (batch, features) = x.dim();
    let classes = unit_classes(labels)?;
    let plan = BootPlan::of(
        spec,
        (batch, features, classes),
        steps,
        "; use boot-n16 (or --backend sim for the counts)",
    )?;
    let (slots, chain) = (spec.max_slots(), spec.max_level());

    // The same steps on the simulator in the same level setting: the rotations to generate
    // keys for, the plan to expect and the weights to compare with.
    let sim = plan.simulator(spec)?;
    sim.clear_rotation_steps();
    let BootPlan {
        ctx,
        params,
        level: boot_level,
        min_level: boot_min,
    } = plan;
    let TrainedSteps {
        reports: sim_reports,
        weights: want,
        ..
    } = train_steps(&sim, unit, x, labels, variant, steps, Some(boot_min))?;
    let rotations: Vec<isize> = sim
        .rotation_steps_used()
        .into_iter()
        .map(|s| s as isize)
        .collect();

    let start = Instant::now();
    let (client, keys, sparse) =
        SecretKeyClient::generate_bootstrappable(&ctx, Some(key_seed(seed)), &rotations, &params)?;
    let keygen_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let boot = ServerBootstrapper::new(&ctx, params, Some(Arc::new(sparse)))?;
    let setup_s = start.elapsed().as_secs_f64();
    let eval = Evaluator::new(&ctx, Some(Arc::new(keys)))?;
    let encoder = Encoder::new(&ctx);
    let ev = boot.client_slots(&eval, &encoder, &client)?;

    ev.counter().reset();
    boot.stats().reset();
    let TrainedSteps {
        reports,
        walls,
        cpus,
        weights: got,
        times,
    } = train_steps(&ev, unit, x, labels, variant, steps, Some(boot_min))?;
    let ops = averaged(ev.counts(), steps);
    let by_level = ev.counter().by_level();
    let boot_seconds = boot.stats().seconds();
    let boot_count = boot.stats().count();
    let boots = bootstraps_of(&reports);
    let per_step = tally_of(&ev.counts(), steps);
    let mut parts = breakdown(unit, slots, classes, variant, per_step, boots)?;

    // Each part's wall time as measured around its stages inside the step; the per-op times
    // measured here are reported beside them.
    set_measured_walls(&mut parts, &times, steps);
    let rot_step = rotations.first().copied().unwrap_or(1);
    let prices = measure_op_prices(&ev, boot_min.midpoint(boot_level), rot_step)?;
    let total: f64 = walls.iter().sum();

    let mut notes = Vec::new();
    if spec.security == SecurityLevel::InsecureForTests {
        notes.push(format!("INSECURE preset `{}`: for tests only", spec.name));
    }
    notes.push(format!(
        "{steps} step(s) from fresh encryptions at level {chain}, bootstrapping from level \
         {boot_min} to {boot_level} ({boot_count} bootstraps, {boot_seconds:.1} s); part times \
         measured around each stage of the step ({:.1} s of {total:.1} s); own per-op times Mult \
         {:.3} s, CMult {:.3} s, Rot {:.3} s measured at level {}",
        times.total().as_secs_f64(),
        prices.mult,
        prices.cmult,
        prices.rot,
        boot_min.midpoint(boot_level)
    ));
    if reports != sim_reports {
        notes.push("the CKKS run bootstrapped differently from the simulator's plan".into());
    }
    Ok(StepReport {
        kind: "hetal-bench-step",
        format: 3,
        backend: "ckks".into(),
        preset: spec.name.clone(),
        variant: variant.name().into(),
        shape: [batch, features, classes],
        unit: [unit.s0(), unit.s1()],
        slots,
        levels: Levels {
            fresh: chain,
            after_bootstrap: boot_level,
            bootstrap_min: boot_min,
        },
        steps,
        ops_per_step: ops,
        ops_by_level: Some(by_level),
        bootstraps_per_step: boots,
        breakdown: parts,
        step_wall_s: Some(total / steps as f64),
        step_walls_s: walls,
        step_cpu_s: mean_cpu(&cpus),
        step_cpus_s: cpus.into_iter().flatten().collect(),
        bootstrap_wall_s: (boot_count > 0).then(|| boot_seconds / boot_count as f64),
        measured_op_s: Some(prices),
        keygen_s: Some(keygen_s),
        setup_s: Some(setup_s),
        max_weight_error: Some(max_abs_diff(&got, &want)),
        notes,
        ..Default::default()
    })
}

fn print_table(r: &StepReport) {
    println!(
        "hetal bench step: shape (batch, features, classes) = ({}, {}, {}), unit {}×{}, {} backend, preset {}, softmax {}",
        r.shape[0], r.shape[1], r.shape[2], r.unit[0], r.unit[1], r.backend, r.preset, r.variant
    );
    println!(
        "levels: fresh {}, after bootstrap {}, bootstrap from {}; averaged over {} step(s)",
        r.levels.fresh, r.levels.after_bootstrap, r.levels.bootstrap_min, r.steps
    );
    let o = &r.ops_per_step;
    println!(
        "per step: CMult {}, Mult {}, Rot {} ({} hoisted batches), scalar mult {}, add {}, conj {}; lowest level {}",
        o.cmult,
        o.mult,
        o.rot,
        o.hoisted_batches,
        o.scalar_mult,
        o.add,
        o.conj,
        o.min_level.map_or("-".into(), |l| l.to_string())
    );
    let b = &r.bootstraps_per_step;
    println!(
        "bootstraps per step: {:.2} (softmax {:.2}, residual {:.2}, state {:.2})",
        b.total, b.softmax, b.residual, b.state
    );
    let secs = |s: Option<f64>, digits: usize| s.map_or("-".into(), |s| format!("{s:.digits$}"));
    println!(
        "{:<11} {:>9} {:>9} {:>9} {:>7} {:>5} {:>7} {:>11} {:>11} {:>10}",
        "part",
        "CMult",
        "Mult",
        "Rot",
        "scalar",
        "conj",
        "boots",
        "priced s",
        "priced CPU",
        "wall s"
    );
    for p in &r.breakdown {
        println!(
            "{:<11} {:>9.0} {:>9.0} {:>9.0} {:>7.0} {:>5.0} {:>7.2} {:>11} {:>11} {:>10}",
            p.part,
            p.cmult,
            p.mult,
            p.rot,
            p.scalar_mult,
            p.conj,
            p.bootstraps,
            secs(p.priced_s, 3),
            secs(p.priced_cpu_s, 3),
            secs(p.wall_s, 2)
        );
    }
    if let Some(s) = r.priced_step_s {
        println!(
            "priced step: {s:.3} s wall, {} s CPU",
            secs(r.priced_step_cpu_s, 3)
        );
    }
    if let Some(w) = r.step_wall_s {
        println!(
            "measured step: {w:.3} s wall, {} s CPU (keygen {:.2} s, bootstrap setup {})",
            secs(r.step_cpu_s, 3),
            r.keygen_s.unwrap_or(0.0),
            r.setup_s.map_or("-".into(), |s| format!("{s:.2} s"))
        );
    }
    if let Some(levels) = &r.ops_by_level {
        println!(
            "per step by level (CMult/Mult/Rot): {}",
            levels.summary(r.steps)
        );
    }
    if let Some(s) = r.priced_step_by_level_s {
        println!(
            "priced step by level: {s:.3} s wall, {} s CPU; measured / priced by level: {} wall, {} CPU",
            secs(r.priced_step_by_level_cpu_s, 3),
            secs(r.wall_over_level_priced, 3),
            secs(r.cpu_over_level_priced, 3)
        );
    }
    if r.wall_over_priced.is_some() {
        println!(
            "measured / priced: {} wall, {} CPU",
            secs(r.wall_over_priced, 3),
            secs(r.cpu_over_priced, 3)
        );
    }
    if let Some(b) = r.bootstrap_wall_s {
        println!("per bootstrap: {b:.2} s");
    }
    if let Some(e) = r.max_weight_error {
        println!("largest weight difference from the simulator: {e:.2e}");
    }
    if let Some(rss) = r.peak_rss_bytes {
        println!("peak RSS: {:.1} MiB", rss as f64 / (1 << 20) as f64);
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
        assert_eq!(parse_shape("1024,769,10"), Ok((1024, 769, 10)));
        assert!(parse_shape("1024,769,1").is_err());
        assert!(parse_shape("1024,769").is_err());
    }

    #[test]
    fn priced_parts_sum_to_the_step_and_the_ratios_divide_by_it() {
        let mut report = simulated_step((32, 20, 3), SoftmaxVariant::HetalShallow, 2).unwrap();
        report.step_wall_s = Some(10.0);
        report.step_cpu_s = Some(4.0);
        let file: PriceFile =
            serde_json::from_str(r#"{"mult":0.002,"cmult":0.0005,"rot":0.0015,"bootstrap":0.5}"#)
                .unwrap();
        let prices = StepPrices::load(&[file], Some(1 << 16), 12).unwrap();
        apply_prices(&mut report, prices);
        let o = &report.ops_per_step;
        // Every counted operation is in exactly one part (`ops_per_step` rounds the mean over
        // 2 steps up, the parts keep it exact).
        let sum = |f: fn(&Part) -> f64| report.breakdown.iter().map(f).sum::<f64>();
        for (parts, counted) in [
            (sum(|p| p.cmult), o.cmult),
            (sum(|p| p.mult), o.mult),
            (sum(|p| p.rot), o.rot),
            (sum(|p| p.conj), o.conj),
        ] {
            assert!(parts <= counted as f64 && parts + 1.0 > counted as f64);
        }
        let by_hand = (sum(|p| p.cmult) + sum(|p| p.scalar_mult)) * 0.0005
            + sum(|p| p.mult) * 0.002
            + (sum(|p| p.rot) + sum(|p| p.conj)) * 0.0015
            + report.bootstraps_per_step.total * 0.5;
        let priced = report.priced_step_s.unwrap();
        assert!(
            (priced - by_hand).abs() < 1e-9 * by_hand,
            "{priced} vs {by_hand}"
        );
        assert_eq!(report.priced_step_cpu_s, Some(priced));
        assert!((report.wall_over_priced.unwrap() - 10.0 / priced).abs() < 1e-12);
        assert!((report.cpu_over_priced.unwrap() - 4.0 / priced).abs() < 1e-12);
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("bootstrap priced at given"))
        );
    }

    /// INSECURE small preset (N = 2^12, bootstrapping chain) on the simulator only: no keys.
    #[test]
    fn preset_simulation_counts_by_level_and_prices_each_level() {
        let spec = preset("insecure-boot-n12").unwrap();
        let steps = 2;
        let mut report =
            preset_simulated_step(&spec, (32, 20, 3), SoftmaxVariant::HetalShallow, 7, steps)
                .unwrap();
        let levels = report.ops_by_level.clone().unwrap();
        let total = levels.total();
        let o = &report.ops_per_step;
        // The level split adds up to the flat counts of the same steps.
        for (split, per_step) in [
            (total.cmult, o.cmult),
            (total.mult, o.mult),
            (total.rot, o.rot),
            (total.scalar_mult, o.scalar_mult),
            (total.conj, o.conj),
            (total.bootstrap, o.bootstrap),
        ] {
            assert_eq!(split.div_ceil(steps as u64), per_step);
        }
        let (lo, hi) = levels.range().unwrap();
        assert!(hi <= report.levels.fresh && lo < report.levels.after_bootstrap);
        assert!(
            report.bootstraps_per_step.total > 0.0,
            "the steps need bootstraps"
        );
        // Peer prices at two levels, linear in limbs: at level ℓ, (ℓ + 1)·k seconds per op with
        // k = (1, 0.25, 0.75) for Mult, CMult and Rot, so the step prices at Σ (ℓ + 1)·k·count.
        let record = |limbs: usize| {
            let l = limbs as f64;
            format!(
                r#"{{"library":"SEAL","threads_requested":1,
                "params_used":{{"ring_degree":4096,"q_limbs":{limbs}}},
                "ops":{{"mul_relin_rescale":{{"median_s":{m},"median_cpu_s":{m}}},
                        "rescale":{{"median_s":{c},"median_cpu_s":{c}}},
                        "rotate":{{"median_s":{r},"median_cpu_s":{r}}}}}}}"#,
                m = l,
                c = 0.25 * l,
                r = 0.75 * l
            )
        };
        let text = format!(
            r#"{{"kind":"hetal-bench-peers","ops":[{},{}],
            "bootstrap":[{{"library":"x","ring_degree":4096,
            "bootstrap":{{"median_s":3.0,"median_cpu_s":2.0}}}}]}}"#,
            record(3),
            record(20)
        );
        let file: PriceFile = serde_json::from_str(&text).unwrap();
        let prices = StepPrices::load(&[file], Some(1 << 12), 12).unwrap();
        apply_prices(&mut report, prices);
        let want: f64 = levels
            .by_level
            .iter()
            .map(|(&l, c)| {
                (l + 1) as f64
                    * (c.mult as f64
                        + 0.25 * (c.cmult + c.scalar_mult) as f64
                        + 0.75 * (c.rot + c.conj) as f64)
            })
            .sum::<f64>()
            / steps as f64
            + 2.0 * report.bootstraps_per_step.total;
        let got = report.priced_step_by_level_cpu_s.unwrap();
        assert!((got - want).abs() < 1e-9 * want, "{got} vs {want}");
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("interpolated linearly"))
        );
    }
}
