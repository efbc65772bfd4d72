//! `hetal bench bootstrap`: key generation, setup, time per bootstrap, levels left, precision,
//! key-set size and peak memory of CKKS bootstrapping at one preset.
//!
//! ```text
//! hetal bench bootstrap --preset boot-n16 [--slots S] [--threads T] [--reps K] [--json]
//! ```
//!
//! The run follows the client/server split of `hetal_ckks::circuits::bootstrap`: the client
//! generates a dense-secret key set (relinearization, the rotations and conjugation a bootstrap
//! needs, and the sparse-secret encapsulation keys); the server plans the bootstrap and
//! pre-encodes its DFT diagonals ("setup"); then `K` ciphertexts (default 1), each encrypting
//! fresh random values drawn uniformly from [-1, 1] (real, as the peer script `bench/peers`
//! does; `--complex` draws imaginary parts from [-1, 1] too) and encrypted at level 0, are
//! bootstrapped one after the other, each timed in wall-clock and CPU time. There is no warm-up:
//! the setup has already built everything a bootstrap reuses. `--slots S` bootstraps S-slot
//! ciphertexts (a power of two from 2^4 to N/2; default N/2, full slots). `--threads T` runs
//! everything inside a rayon pool of T threads (default: rayon's global pool).
//!
//! Only presets whose modulus chain holds a bootstrap can run; the others fail with the
//! library's error before any key is generated. `boot-n16` is the preset laid out for it:
//! `ops-n16` has the levels but equal 45-bit primes, and its bootstraps keep under 10 bits (the
//! run then adds a note). Insecure presets need `--allow-insecure`.
//!
//! # JSON (`--json`): one object on stdout; field names are stable
//!
//! * `kind`: `"hetal-bench-bootstrap"`, `format`: 1.
//! * `preset`, `threads`, `reps`, `seed`, `inputs` (`"real"` or `"complex"`), `slots`,
//!   `log_slots`.
//! * `params`: `name`, `log_n`, `ring_degree`, `max_slots`, `q_limbs`, `p_limbs`, `q_bits`,
//!   `p_bits`, `dnum`, `log_scale`, `log_qp`, `security` (`"128-bit"` or `"insecure"`),
//!   `he_standard_bound`.
//! * `bootstrap_params`: `coeff_to_slot_levels`, `eval_mod_levels`, `slot_to_coeff_levels`,
//!   `depth` (levels one bootstrap consumes), `k` (EvalMod range), `cosine_degree`,
//!   `double_angle`, `log_message_ratio`, `sparse_weight` (Hamming weight of the encapsulation
//!   secret).
//! * `keygen_s`, `keygen_cpu_s`: the whole bootstrapping key set (secret, public,
//!   relinearization, rotation and conjugation, encapsulation keys); `setup_s`, `setup_cpu_s`:
//!   planning and diagonal pre-encoding.
//! * `bootstrap`: `{ "median_s", "min_s", "samples_s": [..], "median_cpu_s", "mean_cpu_s",
//!   "cpu_samples_s": [..] }` over the `reps` bootstraps. CPU time is that of all the process's
//!   threads (/proc/self/task/*/schedstat; null where unreadable): the figure to compare with
//!   single-core results.
//! * `phases`: `[{ "name", "median_s", "median_cpu_s" }]`, one per phase of the pipeline
//!   (CoeffToSlot, EvalMod, SlotToCoeff, in order; ModRaise and the encapsulation switch count
//!   with the first).
//! * `input_level` (0), `max_level`, `levels_left`: the level of the bootstrapped ciphertext,
//!   i.e. the multiplicative depth left to the application.
//! * `precision`: `{ "mean_bits", "worst_bits", "mean_abs_err", "max_abs_err" }`: −log2 of the
//!   mean and largest absolute error (complex modulus) over every slot of every repetition.
//! * `key_set_bytes`: serialized size of the key set a client ships (evaluation keys plus
//!   encapsulation keys, as `hetal_ckks::serial` writes them, public uniform halves as seeds);
//!   `key_set_bytes_in_memory`: their residues in memory; `key_set_parts`: the same split into
//!   `evaluation_keys` / `encapsulation_keys` (`_serialized`, `_in_memory`); `rotation_keys`:
//!   the number of Galois keys (conjugation included).
//! * `diagonals`: pre-encoded DFT diagonals held by the server.
//! * `peak_rss_bytes`: peak resident memory (VmHWM) right after the bootstraps, i.e. key set +
//!   diagonals + one bootstrap (the key set's serialization, done afterwards for its size, does
//!   not count); `peak_rss_bytes_final`: VmHWM at the very end.
//! * `notes`: free-form remarks (for example the insecure-preset warning).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use clap::Args;
use hetal_ckks::circuits::bootstrap::{
    BootstrapParams, CkksBootstrapper, DEFAULT_SPARSE_WEIGHT, SparseSecretKeys,
    generate_bootstrap_keys,
};
use hetal_ckks::crypto::{Decryptor, Encryptor, Plaintext};
use hetal_ckks::encoding::{Complex64, Encoder};
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::KeyGenerator;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{ParameterSpec, SecurityLevel, preset, security};
use hetal_ckks::serial::serialized_len;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::bench_ops::{Precision, peak_rss_bytes, process_cpu_seconds};

/// Mean precision below which a run warns that the preset's chain is not made for bootstrapping
/// (a chain of equal primes, such as `ops-n16`, holds the levels but keeps under 10 bits).
const LOW_PRECISION_BITS: f64 = 10.0;

/// Arguments of `hetal bench bootstrap`.
#[derive(Debug, Clone, Args)]
pub struct BenchBootstrapArgs {
    /// Parameter preset (must hold a bootstrap in its modulus chain; see `hetal params`).
    #[arg(long, default_value = "boot-n16")]
    pub preset: String,
    /// Slot count of the bootstrapped ciphertexts: a power of two from 16 to N/2 (default N/2).
    #[arg(long)]
    pub slots: Option<usize>,
    /// Size of the rayon thread pool to run in (default: rayon's global pool).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Bootstraps to time, each on a fresh ciphertext (no warm-up).
    #[arg(long, default_value_t = 1)]
    pub reps: usize,
    /// Draw complex inputs (real and imaginary parts in [-1, 1]) instead of real ones.
    #[arg(long)]
    pub complex: bool,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Allow an insecure test preset (parameters below 128-bit security).
    #[arg(long)]
    pub allow_insecure: bool,
    /// Seed of the input values and of all key and encryption randomness.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

/// The parameter set a run used (see the module doc).
#[derive(Debug, Clone, Serialize)]
pub struct ParamsRecord {
    /// Preset name.
    pub name: String,
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Ring degree N.
    pub ring_degree: usize,
    /// N/2.
    pub max_slots: usize,
    /// Number of q primes.
    pub q_limbs: usize,
    /// Number of special (P) primes.
    pub p_limbs: usize,
    /// Bit sizes of the q primes, level 0 first.
    pub q_bits: Vec<u32>,
    /// Bit sizes of the P primes.
    pub p_bits: Vec<u32>,
    /// Key-switching digits.
    pub dnum: usize,
    /// log2 of the default scale.
    pub log_scale: u32,
    /// Bits of Q·P.
    pub log_qp: u32,
    /// `"128-bit"` or `"insecure"`.
    pub security: &'static str,
    /// Largest log QP the HE Standard allows at this degree for 128-bit security.
    pub he_standard_bound: Option<u32>,
}

impl ParamsRecord {
    fn of(spec: &ParameterSpec) -> Self {
        Self {
            name: spec.name.clone(),
            log_n: spec.log_n,
            ring_degree: spec.n(),
            max_slots: spec.max_slots(),
            q_limbs: spec.q_bits.len(),
            p_limbs: spec.p_bits.len(),
            q_bits: spec.q_bits.clone(),
            p_bits: spec.p_bits.clone(),
            dnum: spec.dnum,
            log_scale: spec.log_scale,
            log_qp: spec.log_qp(),
            security: match spec.security {
                SecurityLevel::Bits128 => "128-bit",
                SecurityLevel::InsecureForTests => "insecure",
            },
            he_standard_bound: security::max_log_qp_128(spec.log_n),
        }
    }
}

/// The bootstrapping circuit's shape (see the module doc).
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapShape {
    /// Levels of CoeffToSlot.
    pub coeff_to_slot_levels: usize,
    /// Levels of EvalMod.
    pub eval_mod_levels: usize,
    /// Levels of SlotToCoeff.
    pub slot_to_coeff_levels: usize,
    /// Levels one bootstrap consumes.
    pub depth: usize,
    /// EvalMod range K.
    pub k: f64,
    /// Degree of the scaled cosine.
    pub cosine_degree: usize,
    /// Double-angle steps after the cosine.
    pub double_angle: u32,
    /// log2 of q_0 / (Δ·k), the message ratio.
    pub log_message_ratio: f64,
    /// Hamming weight of the ephemeral sparse secret of the encapsulation.
    pub sparse_weight: usize,
}

/// Wall-clock and CPU-time samples of the repeated bootstrap.
#[derive(Debug, Clone, Serialize)]
pub struct BootstrapTiming {
    /// Median wall-clock seconds.
    pub median_s: f64,
    /// Fastest sample.
    pub min_s: f64,
    /// Every sample, in seconds.
    pub samples_s: Vec<f64>,
    /// Median CPU seconds of all threads (absent where /proc is unreadable).
    pub median_cpu_s: Option<f64>,
    /// Mean CPU seconds of all threads.
    pub mean_cpu_s: Option<f64>,
    /// CPU seconds of every sample.
    pub cpu_samples_s: Vec<f64>,
}

/// Median time of one pipeline phase over the repetitions.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTiming {
    /// Phase name as the pipeline reports it.
    pub name: String,
    /// Median wall-clock seconds.
    pub median_s: f64,
    /// Median CPU seconds of all threads.
    pub median_cpu_s: Option<f64>,
}

/// Serialized and in-memory sizes of the two parts of the key set.
#[derive(Debug, Clone, Serialize)]
pub struct KeySetParts {
    /// Relinearization, rotation and conjugation keys, serialized.
    pub evaluation_keys_serialized: u64,
    /// The same, residues in memory.
    pub evaluation_keys_in_memory: u64,
    /// Dense ↔ sparse switching keys, serialized.
    pub encapsulation_keys_serialized: u64,
    /// The same, residues in memory.
    pub encapsulation_keys_in_memory: u64,
}

/// Everything `hetal bench bootstrap` measured (the `--json` object).
#[derive(Debug, Clone, Serialize)]
pub struct BenchBootstrapReport {
    /// `"hetal-bench-bootstrap"`.
    pub kind: &'static str,
    /// Format version of this object.
    pub format: u32,
    /// Preset name.
    pub preset: String,
    /// Threads of the pool the run used.
    pub threads: usize,
    /// Timed bootstraps.
    pub reps: usize,
    /// Seed of all randomness.
    pub seed: u64,
    /// `"real"` or `"complex"` inputs.
    pub inputs: &'static str,
    /// Slot count bootstrapped.
    pub slots: usize,
    /// log2 of `slots`.
    pub log_slots: u32,
    /// The parameter set.
    pub params: ParamsRecord,
    /// The bootstrapping circuit.
    pub bootstrap_params: BootstrapShape,
    /// Wall-clock seconds of key generation.
    pub keygen_s: f64,
    /// CPU seconds of key generation.
    pub keygen_cpu_s: Option<f64>,
    /// Wall-clock seconds of planning and diagonal pre-encoding.
    pub setup_s: f64,
    /// CPU seconds of the setup.
    pub setup_cpu_s: Option<f64>,
    /// Time per bootstrap.
    pub bootstrap: BootstrapTiming,
    /// Time per phase.
    pub phases: Vec<PhaseTiming>,
    /// Level of the bootstrapped input (0).
    pub input_level: usize,
    /// Top level of the chain.
    pub max_level: usize,
    /// Level of the bootstrapped ciphertext.
    pub levels_left: usize,
    /// Error of the bootstrapped values against the inputs, over every repetition.
    pub precision: Precision,
    /// Serialized bytes of the whole key set.
    pub key_set_bytes: u64,
    /// In-memory bytes of the whole key set.
    pub key_set_bytes_in_memory: u64,
    /// The key set split into its parts.
    pub key_set_parts: KeySetParts,
    /// Galois keys in the set (conjugation included).
    pub rotation_keys: usize,
    /// Pre-encoded DFT diagonals.
    pub diagonals: usize,
    /// VmHWM right after the bootstraps (keys + diagonals + one bootstrap).
    pub peak_rss_bytes: Option<u64>,
    /// VmHWM at the end of the run (includes the key set's serialization).
    pub peak_rss_bytes_final: Option<u64>,
    /// Free-form remarks.
    pub notes: Vec<String>,
}

/// A wall-clock and CPU-time reading.
#[derive(Clone, Copy)]
struct Stamp {
    wall: Instant,
    cpu: Option<f64>,
}

impl Stamp {
    fn now() -> Self {
        Self {
            cpu: process_cpu_seconds(),
            wall: Instant::now(),
        }
    }

    /// (wall seconds, CPU seconds) from `self` to now.
    fn elapsed(&self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = self.cpu.zip(process_cpu_seconds()).map(|(a, b)| b - a);
        (wall, cpu)
    }
}

/// Median of samples (0 for none).
fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Median of CPU samples, when every sample has one.
fn median_opt(samples: &[Option<f64>]) -> Option<f64> {
    let all: Option<Vec<f64>> = samples.iter().copied().collect();
    all.filter(|v| !v.is_empty()).map(|v| median(&v))
}

/// A reproducible generator for the randomness of one role (`tag`) of the benchmark.
fn prng(seed: u64, tag: u64) -> Prng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&tag.to_le_bytes());
    Prng::from_seed(bytes)
}

/// The slot count to bootstrap: `requested`, or full slots; a power of two in [16, N/2].
pub fn slot_count(spec: &ParameterSpec, requested: Option<usize>) -> anyhow::Result<usize> {
    let full = spec.max_slots();
    let slots = requested.unwrap_or(full);
    ensure!(
        slots.is_power_of_two() && (16..=full).contains(&slots),
        "--slots must be a power of two from 16 to N/2 = {full} for preset `{}`, not {slots}",
        spec.name
    );
    Ok(slots)
}

/// Runs `hetal bench bootstrap`: measures, then prints the table or the JSON object.
pub fn run(args: &BenchBootstrapArgs) -> anyhow::Result<()> {
    let report = measure_report(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", render_table(&report));
    }
    Ok(())
}

/// Resolves the named preset and measures it (see [`measure_spec`]).
pub fn measure_report(args: &BenchBootstrapArgs) -> anyhow::Result<BenchBootstrapReport> {
    measure_spec(&preset(&args.preset)?, args)
}

/// Checks the arguments against `spec` (insecure opt-in, slot count, thread count), then
/// measures inside the requested pool. `args.preset` is ignored: the command resolves it in
/// [`measure_report`]; tests call this with unnamed small parameter sets.
pub fn measure_spec(
    spec: &ParameterSpec,
    args: &BenchBootstrapArgs,
) -> anyhow::Result<BenchBootstrapReport> {
    let mut notes = Vec::new();
    if spec.security == SecurityLevel::InsecureForTests {
        if !args.allow_insecure {
            bail!(
                "preset `{}` is INSECURE (for tests and quick benchmarks only); pass --allow-insecure to run it anyway",
                spec.name
            );
        }
        let warning = format!(
            "preset `{}` is INSECURE: its parameters are far below 128-bit security (figures are for smoke checks only)",
            spec.name
        );
        eprintln!("warning: {warning}");
        notes.push(warning);
    }
    let slots = slot_count(spec, args.slots)?;
    ensure!(args.reps >= 1, "--reps must be at least 1");
    let pool = {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(t) = args.threads {
            ensure!(t >= 1, "--threads must be at least 1");
            builder = builder.num_threads(t);
        }
        builder.build().context("building the rayon thread pool")?
    };
    let mut report = pool.install(|| measure(spec, slots, args))?;
    report.threads = pool.current_num_threads();
    if report.precision.mean_bits < LOW_PRECISION_BITS {
        let warning = format!(
            "mean precision {:.1} bits is below {LOW_PRECISION_BITS}: preset `{}` has the levels for a bootstrap but its chain is not laid out for one (EvalMod and CoeffToSlot need larger primes, see `boot-n16`)",
            report.precision.mean_bits, spec.name
        );
        eprintln!("warning: {warning}");
        notes.push(warning);
    }
    report.notes.splice(0..0, notes);
    Ok(report)
}

/// The bootstrap parameters for `slots` and their shape record.
fn bootstrap_shape(slots: usize) -> anyhow::Result<(BootstrapParams, BootstrapShape)> {
    let params = BootstrapParams::sparse_secret_default(slots.trailing_zeros());
    let depth = params.depth()?;
    let shape = BootstrapShape {
        coeff_to_slot_levels: params.coeff_to_slot_levels,
        eval_mod_levels: depth - params.coeff_to_slot_levels - params.slot_to_coeff_levels,
        slot_to_coeff_levels: params.slot_to_coeff_levels,
        depth,
        k: params.mod1.k,
        cosine_degree: params.mod1.degree,
        double_angle: params.mod1.double_angle,
        log_message_ratio: params.mod1.log_message_ratio,
        sparse_weight: DEFAULT_SPARSE_WEIGHT,
    };
    Ok((params, shape))
}

/// Inputs in [-1, 1] (imaginary parts too when `complex`), reproducible from `seed` and `rep`.
fn random_inputs(slots: usize, complex: bool, seed: u64, rep: u64) -> Vec<Complex64> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed ^ rep.wrapping_mul(0x9E37_79B9));
    (0..slots)
        .map(|_| {
            let re = rng.gen_range(-1.0..=1.0);
            let im = if complex {
                rng.gen_range(-1.0..=1.0)
            } else {
                0.0
            };
            Complex64::new(re, im)
        })
        .collect()
}

/// The measurement proper (inside the pool); `threads` is filled in by the caller.
fn measure(
    spec: &ParameterSpec,
    slots: usize,
    args: &BenchBootstrapArgs,
) -> anyhow::Result<BenchBootstrapReport> {
    let ctx = Context::new(spec, args.allow_insecure)?;
    let (params, shape) = bootstrap_shape(slots)?;

    // Server: plan and pre-encode first, so that an unsuitable chain fails before the (slow)
    // key generation.
    let start = Stamp::now();
    let planned = CkksBootstrapper::new(&ctx, params)
        .with_context(|| format!("preset `{}` cannot bootstrap {slots} slots", spec.name))?;
    let (mut setup_s, mut setup_cpu_s) = start.elapsed();

    // Client: the whole key set from a dense secret.
    let start = Stamp::now();
    let mut keygen = KeyGenerator::new(&ctx, prng(args.seed, 1));
    let public_key = keygen.public_key();
    let eval_keys = generate_bootstrap_keys(&mut keygen, &ctx, &params, &[])?;
    let sparse = SparseSecretKeys::generate(
        &ctx,
        keygen.secret_key(),
        DEFAULT_SPARSE_WEIGHT,
        &mut prng(args.seed, 2),
    )?;
    let (keygen_s, keygen_cpu_s) = start.elapsed();
    let evaluation_keys_in_memory = eval_keys.size_bytes() as u64;
    let encapsulation_keys_in_memory = sparse.size_bytes() as u64;
    let rotation_keys = eval_keys.galois.len();

    let start = Stamp::now();
    let sparse = Arc::new(sparse);
    let boot = planned.with_encapsulation(sparse.clone())?;
    let (wall, cpu) = start.elapsed();
    setup_s += wall;
    setup_cpu_s = setup_cpu_s.zip(cpu).map(|(a, b)| a + b);
    let eval_keys = Arc::new(eval_keys);
    let eval = Evaluator::new(&ctx, Some(eval_keys.clone()))?;

    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, &public_key, prng(args.seed, 3))?;
    let decryptor = Decryptor::new(&ctx, keygen.secret_key())?;
    let scale = ctx.default_scale();
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut phase_samples: Vec<(String, Vec<f64>, Vec<Option<f64>>)> = Vec::new();
    let (mut got_all, mut want_all) = (Vec::new(), Vec::new());
    let mut levels_left = None;
    for rep in 0..args.reps {
        let z = random_inputs(slots, args.complex, args.seed, rep as u64);
        let pt = Plaintext::new(encoder.encode_poly(&z, 0, scale)?, scale, slots)?;
        let ct = encryptor.encrypt(&pt)?;
        let mut phases = Vec::new();
        let start = Stamp::now();
        let mut last = start;
        let out = boot.bootstrap_with_phases(&eval, &ct, |name| {
            let (w, c) = last.elapsed();
            phases.push((name.to_string(), w, c));
            last = Stamp::now();
        })?;
        let (w, c) = start.elapsed();
        wall.push(w);
        cpu.push(c);
        for (i, (name, w, c)) in phases.into_iter().enumerate() {
            if phase_samples.len() <= i {
                phase_samples.push((name, Vec::new(), Vec::new()));
            }
            phase_samples[i].1.push(w);
            phase_samples[i].2.push(c);
        }
        ensure!(
            levels_left.is_none_or(|l| l == out.level()),
            "bootstraps ended at different levels"
        );
        levels_left = Some(out.level());
        let dec = decryptor.decrypt(&out)?;
        let got = encoder.decode_poly(dec.poly(), dec.slots(), dec.scale())?;
        ensure!(
            got.len() == z.len(),
            "bootstrapped slot count {} differs from the input's {}",
            got.len(),
            z.len()
        );
        got_all.extend(got);
        want_all.extend(z);
    }
    let peak_rss = peak_rss_bytes();

    // Sizes on disk last: the serialized key set is as large as the keys themselves and must
    // not count in the peak memory of a bootstrap.
    let evaluation_keys_serialized = serialized_len(eval_keys.as_ref(), &ctx)? as u64;
    let encapsulation_keys_serialized = sparse.to_bytes(&ctx)?.len() as u64;

    let cpu_all: Option<Vec<f64>> = cpu.iter().copied().collect();
    let bootstrap = BootstrapTiming {
        median_s: median(&wall),
        min_s: wall.iter().copied().fold(f64::INFINITY, f64::min),
        median_cpu_s: median_opt(&cpu),
        mean_cpu_s: cpu_all
            .as_ref()
            .map(|c| c.iter().sum::<f64>() / c.len().max(1) as f64),
        cpu_samples_s: cpu_all.unwrap_or_default(),
        samples_s: wall,
    };
    Ok(BenchBootstrapReport {
        kind: "hetal-bench-bootstrap",
        format: 1,
        preset: spec.name.clone(),
        threads: 0,
        reps: args.reps,
        seed: args.seed,
        inputs: if args.complex { "complex" } else { "real" },
        slots,
        log_slots: slots.trailing_zeros(),
        params: ParamsRecord::of(spec),
        bootstrap_params: shape,
        keygen_s,
        keygen_cpu_s,
        setup_s,
        setup_cpu_s,
        bootstrap,
        phases: phase_samples
            .into_iter()
            .map(|(name, w, c)| PhaseTiming {
                name,
                median_s: median(&w),
                median_cpu_s: median_opt(&c),
            })
            .collect(),
        input_level: 0,
        max_level: ctx.max_level(),
        levels_left: levels_left.context("no bootstrap ran")?,
        precision: Precision::of(&got_all, &want_all),
        key_set_bytes: evaluation_keys_serialized + encapsulation_keys_serialized,
        key_set_bytes_in_memory: evaluation_keys_in_memory + encapsulation_keys_in_memory,
        key_set_parts: KeySetParts {
            evaluation_keys_serialized,
            evaluation_keys_in_memory,
            encapsulation_keys_serialized,
            encapsulation_keys_in_memory,
        },
        rotation_keys,
        diagonals: boot.diagonal_count(),
        peak_rss_bytes: peak_rss,
        peak_rss_bytes_final: peak_rss_bytes(),
        notes: Vec::new(),
    })
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

/// The human-readable table `hetal bench bootstrap` prints without `--json`.
pub fn render_table(r: &BenchBootstrapReport) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_table(r, &mut out);
    out
}

fn write_table(r: &BenchBootstrapReport, out: &mut String) -> std::fmt::Result {
    let p = &r.params;
    let s = &r.bootstrap_params;
    let cpu = |c: Option<f64>| c.map_or_else(|| "-".to_string(), |c| format!("{c:.2} s"));
    writeln!(
        out,
        "hetal bench bootstrap: preset {} (N=2^{}, {} q limbs, log QP {}, {}), {} slots ({} inputs), threads {}, reps {}",
        r.preset, p.log_n, p.q_limbs, p.log_qp, p.security, r.slots, r.inputs, r.threads, r.reps
    )?;
    writeln!(
        out,
        "circuit: CoeffToSlot {} + EvalMod {} + SlotToCoeff {} levels (K = {}, cosine degree {}, {} double angles), sparse weight {}",
        s.coeff_to_slot_levels,
        s.eval_mod_levels,
        s.slot_to_coeff_levels,
        s.k,
        s.cosine_degree,
        s.double_angle,
        s.sparse_weight
    )?;
    let rows = [
        ("key generation", r.keygen_s, r.keygen_cpu_s),
        ("setup (diagonals)", r.setup_s, r.setup_cpu_s),
    ];
    for (name, wall, c) in rows {
        writeln!(
            out,
            "{name:<28} {:>10} wall {:>10} CPU",
            format!("{wall:.2} s"),
            cpu(c)
        )?;
    }
    writeln!(
        out,
        "{:<28} {:>10} wall {:>10} CPU (median of {}; min {:.2} s)",
        "bootstrap",
        format!("{:.2} s", r.bootstrap.median_s),
        cpu(r.bootstrap.median_cpu_s),
        r.reps,
        r.bootstrap.min_s
    )?;
    for phase in &r.phases {
        writeln!(
            out,
            "  {:<26} {:>10} wall {:>10} CPU",
            phase.name,
            format!("{:.2} s", phase.median_s),
            cpu(phase.median_cpu_s)
        )?;
    }
    writeln!(
        out,
        "levels left {} (of {}); precision mean {:.2} / worst {:.2} bits",
        r.levels_left, r.max_level, r.precision.mean_bits, r.precision.worst_bits
    )?;
    writeln!(
        out,
        "key set: {} bytes serialized ({:.2} GiB), {} bytes in memory ({:.2} GiB), {} rotation keys; {} diagonals",
        r.key_set_bytes,
        gib(r.key_set_bytes),
        r.key_set_bytes_in_memory,
        gib(r.key_set_bytes_in_memory),
        r.rotation_keys,
        r.diagonals
    )?;
    if let Some(rss) = r.peak_rss_bytes {
        writeln!(
            out,
            "peak RSS after the bootstraps {rss} bytes ({:.2} GiB)",
            gib(rss)
        )?;
    }
    for note in &r.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_count_accepts_powers_of_two_up_to_half_the_degree() {
        let spec = hetal_ckks::params::presets::insecure_test_n12();
        assert_eq!(slot_count(&spec, None).unwrap(), 2048);
        assert_eq!(slot_count(&spec, Some(16)).unwrap(), 16);
        for bad in [0, 8, 100, 4096] {
            let err = slot_count(&spec, Some(bad)).unwrap_err().to_string();
            assert!(err.contains("power of two from 16 to N/2 = 2048"), "{err}");
        }
    }

    #[test]
    fn medians_and_inputs() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
        assert_eq!(median_opt(&[Some(1.0), None]), None);
        let real = random_inputs(64, false, 1, 0);
        assert!(real.iter().all(|z| z.im == 0.0 && z.re.abs() <= 1.0));
        let complex = random_inputs(64, true, 1, 0);
        assert!(complex.iter().any(|z| z.im != 0.0));
        assert_ne!(random_inputs(4, false, 1, 1), real[..4].to_vec());
    }
}
