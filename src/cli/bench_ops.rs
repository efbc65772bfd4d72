//! `hetal bench ops`: time and precision of the CKKS primitives at one preset.
//!
//! ```text
//! hetal bench ops --preset ops-n16 [--threads T] [--reps R] [--quick] [--json]
//! hetal bench ops --preset insecure-test-n12 --allow-insecure --quick
//! ```
//!
//! Every operation runs once as a warm-up and then `reps` times (default 5, 2 with `--quick`);
//! the median wall-clock time is reported with all samples. Inputs are real values drawn
//! uniformly from [-1, 1] in every slot (as the peer script `bench/peers` does); precision is
//! −log2 of the maximum and mean absolute error of the real part of each decrypted slot against
//! the same computation on the plaintext values — what the peers measure, whose decoders return
//! real parts only (`fresh_complex` keeps the stricter modulus of the complex slot error, about
//! 0.65 bits lower on average for noise that is as large in the imaginary part). `--threads T` runs everything inside a rayon pool of T
//! threads (default: rayon's global pool).
//!
//! # JSON (`--json`): one object on stdout; field names are stable
//!
//! * `kind`: `"hetal-bench-ops"`, `format`: 1.
//! * `preset`, `threads`, `reps`, `quick`, `rot_steps` (the steps of `rotate_8_hoisted`).
//! * `params`: `name`, `log_n`, `ring_degree`, `slots`, `q_limbs`, `p_limbs`, `q_bits`, `p_bits`,
//!   `dnum`, `log_scale`, `log_qp`, `security` (`"128-bit"` or `"insecure"`), `he_standard_bound`.
//! * `ops`: name → `{ "median_s", "min_s", "samples_s": [..], "mean_cpu_s", "cpu_samples_s":
//!   [..] }`. CPU time is that of all the process's threads per sample, from
//!   /proc/self/task/*/schedstat (`mean_cpu_s` is null where unreadable); the kernel updates it
//!   at scheduler ticks (1–4 ms), so it is meaningful for operations of tens of milliseconds and
//!   more, where it is steadier than wall time on a shared machine. Names: `context` (context
//!   precomputation), `ntt` (forward NTT of one polynomial over all q limbs), `intt`, `encode`
//!   (full slots, top level), `decode`, `keygen_sk_pk_relin` (secret + public + relinearization
//!   key), `rotkey_1_step`, `rotkeys_8_steps` (one cold sample: too slow to repeat at
//!   N=2^16), `encrypt_pk`, `encrypt_sk` (seeded symmetric), `decrypt` (to a plaintext
//!   polynomial, without decoding), `mul` (tensor product), `relin`, `rescale`,
//!   `mul_relin_rescale`, `rotate` (one step), `rotate_8_hoisted` (steps 1..=8 sharing one
//!   decomposition), `serialize_ciphertext` / `deserialize_ciphertext` (top level, with every
//!   check of `serial::from_bytes`).
//! * `precision`: name → `{ "max_abs_err", "mean_abs_err", "worst_bits", "mean_bits" }` for
//!   `encode` (encode/decode round trip), `fresh` (encrypt/decrypt; `fresh_complex` the same
//!   with the complex modulus of the error), `mul_relin_rescale`,
//!   `rotate`, `rotate_8_hoisted` (worst over the 8 results).
//! * `sizes_bytes`: `ciphertext_top_level` (serialized), `ciphertext_top_level_compact` (seeded
//!   symmetric ciphertext), `public_key`, `relin_key`, `galois_key_1_step`,
//!   `rotation_keys_8_steps`.
//! * `peak_rss_bytes`: the process's peak resident memory (VmHWM) at the end of the run.
//! * `notes`: free-form remarks (for example the insecure-preset warning).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor, SymmetricEncryptor};
use hetal_ckks::encoding::{Complex64, Encoder};
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{EvaluationKeys, KeyGenerator};
use hetal_ckks::math::poly::RnsPoly;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{ParameterSpec, SecurityLevel, preset, security};
use hetal_ckks::serial::{from_bytes, serialized_len, to_bytes};
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// Arguments of `hetal bench ops`.
#[derive(Debug, Args)]
pub struct BenchOpsArgs {
    /// Parameter preset (see `hetal params`).
    #[arg(long, default_value = "ops-n16")]
    pub preset: String,
    /// Size of the rayon thread pool to run in (default: rayon's global pool).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed repetitions per operation after one warm-up (default 5; 2 with --quick).
    #[arg(long)]
    pub reps: Option<usize>,
    /// Fewer repetitions, for a smoke run.
    #[arg(long)]
    pub quick: bool,
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

/// Timing of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct OpTiming {
    /// Median wall-clock seconds.
    pub median_s: f64,
    /// Fastest sample.
    pub min_s: f64,
    /// Every timed sample, in seconds.
    pub samples_s: Vec<f64>,
    /// Mean CPU seconds of all the process's threads per sample (steadier than wall time on a
    /// shared machine, tick-granular); absent where /proc is not readable.
    pub mean_cpu_s: Option<f64>,
    /// CPU seconds of every sample.
    pub cpu_samples_s: Vec<f64>,
}

impl OpTiming {
    /// Summarizes wall-clock samples and, when every sample has one, CPU-time samples.
    fn from_samples(wall: Vec<f64>, cpu: Vec<Option<f64>>) -> Self {
        let cpu: Option<Vec<f64>> = cpu.into_iter().collect();
        let mut sorted = wall.clone();
        sorted.sort_by(f64::total_cmp);
        Self {
            median_s: median(&wall),
            min_s: sorted.first().copied().unwrap_or(0.0),
            samples_s: wall,
            mean_cpu_s: cpu
                .as_deref()
                .map(|c| c.iter().sum::<f64>() / c.len().max(1) as f64),
            cpu_samples_s: cpu.unwrap_or_default(),
        }
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

/// CPU time consumed so far by all live threads of this process, in seconds (the sum of the
/// first field of /proc/self/task/*/schedstat, which counts nanoseconds on a CPU).
pub(crate) fn process_cpu_seconds() -> Option<f64> {
    let mut total_ns: u64 = 0;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may exit between listing and reading: skip it.
        if let Ok(text) = std::fs::read_to_string(path) {
            total_ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(total_ns as f64 * 1e-9)
}

/// Starts a wall-clock and CPU-time measurement; the returned closure ends it.
fn stopwatch() -> impl FnOnce() -> (f64, Option<f64>) {
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    move || {
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_start.zip(process_cpu_seconds()).map(|(a, b)| b - a);
        (wall, cpu)
    }
}

/// Error of a decrypted (or decoded) result against the exact plaintext result.
#[derive(Debug, Clone, Serialize)]
pub struct Precision {
    /// Largest absolute error over the slots.
    pub max_abs_err: f64,
    /// Mean absolute error over the slots.
    pub mean_abs_err: f64,
    /// −log2(max_abs_err).
    pub worst_bits: f64,
    /// −log2(mean_abs_err).
    pub mean_bits: f64,
}

impl Precision {
    /// Compares whole complex slots (modulus of the difference).
    pub fn of(got: &[Complex64], want: &[Complex64]) -> Self {
        Self::of_errors(got.iter().zip(want).map(|(g, w)| (g - w).norm()).collect())
    }

    /// Compares the real parts of `got` and `want` slot by slot (`bench ops`: the inputs are
    /// real and the peers' decoders return real parts).
    pub fn of_real(got: &[Complex64], want: &[Complex64]) -> Self {
        Self::of_errors(
            got.iter()
                .zip(want)
                .map(|(g, w)| (g.re - w.re).abs())
                .collect(),
        )
    }

    fn of_errors(errs: Vec<f64>) -> Self {
        let max = errs.iter().copied().fold(0.0, f64::max);
        let mean = errs.iter().sum::<f64>() / errs.len().max(1) as f64;
        Self {
            max_abs_err: max,
            mean_abs_err: mean,
            worst_bits: -max.log2(),
            mean_bits: -mean.log2(),
        }
    }

    /// The worse of two measurements.
    fn worst(self, other: Self) -> Self {
        if other.max_abs_err > self.max_abs_err {
            other
        } else {
            self
        }
    }
}

/// The parameters a run used (see the module doc).
#[derive(Debug, Clone, Serialize)]
pub struct ParamsRecord {
    name: String,
    log_n: u32,
    ring_degree: usize,
    slots: usize,
    q_limbs: usize,
    p_limbs: usize,
    q_bits: Vec<u32>,
    p_bits: Vec<u32>,
    dnum: usize,
    log_scale: u32,
    log_qp: u32,
    security: &'static str,
    he_standard_bound: Option<u32>,
}

impl ParamsRecord {
    fn of(spec: &ParameterSpec) -> Self {
        Self {
            name: spec.name.clone(),
            log_n: spec.log_n,
            ring_degree: spec.n(),
            slots: spec.max_slots(),
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

/// Everything `hetal bench ops` measured (the `--json` object).
#[derive(Debug, Clone, Serialize)]
pub struct BenchOpsReport {
    kind: &'static str,
    format: u32,
    preset: String,
    threads: usize,
    reps: usize,
    quick: bool,
    rot_steps: Vec<i32>,
    params: ParamsRecord,
    ops: BTreeMap<String, OpTiming>,
    precision: BTreeMap<String, Precision>,
    sizes_bytes: BTreeMap<String, u64>,
    peak_rss_bytes: Option<u64>,
    notes: Vec<String>,
}

/// Runs `f` once to warm up, then `reps` times; returns the timing and the last result. Each
/// previous result is dropped before the next call, so that the peak memory reported is that
/// of one result (keys at N=2^16 are about 100 MB each), not of two.
fn timed<T>(
    reps: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(OpTiming, T)> {
    let mut last = f()?;
    let (mut wall, mut cpu) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    for _ in 0..reps {
        drop(last);
        let stop = stopwatch();
        last = f()?;
        let (w, c) = stop();
        wall.push(w);
        cpu.push(c);
    }
    Ok((OpTiming::from_samples(wall, cpu), last))
}

/// Peak resident set size of this process (VmHWM from /proc/self/status), if readable.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Real inputs in [-1, 1], one per slot, reproducible from `seed`.
fn random_inputs(slots: usize, seed: u64) -> Vec<Complex64> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    (0..slots)
        .map(|_| Complex64::new(rng.gen_range(-1.0..=1.0), 0.0))
        .collect()
}

struct Bench {
    reps: usize,
    ops: BTreeMap<String, OpTiming>,
    precision: BTreeMap<String, Precision>,
    sizes: BTreeMap<String, u64>,
}

impl Bench {
    /// Times `f` (one warm-up, then `reps` samples) and records it as `name`.
    fn time<T>(&mut self, name: &str, f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
        let (timing, out) =
            timed(self.reps, f).with_context(|| format!("while measuring {name}"))?;
        self.ops.insert(name.to_string(), timing);
        Ok(out)
    }

    /// Times a single cold call of `f` (for work too slow to repeat).
    fn time_once<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let stop = stopwatch();
        let out = f().with_context(|| format!("while measuring {name}"))?;
        let (wall, cpu) = stop();
        self.ops.insert(
            name.to_string(),
            OpTiming::from_samples(vec![wall], vec![cpu]),
        );
        Ok(out)
    }
}

fn measure(spec: &ParameterSpec, args: &BenchOpsArgs, bench: &mut Bench) -> anyhow::Result<()> {
    let ctx = bench.time("context", || Ok(Context::new(spec, args.allow_insecure)?))?;
    let slots = ctx.max_slots();
    let level = ctx.max_level();
    let scale = ctx.default_scale();
    let ring = ctx.ring();
    let x = random_inputs(slots, args.seed);

    // NTT of one polynomial over all q limbs (coefficient → evaluation form and back).
    let coeffs: Vec<i64> = x.iter().chain(&x).map(|v| (v.re * 1e6) as i64).collect();
    let poly = RnsPoly::from_signed(ring, &coeffs, level + 1, 0);
    let ntt_poly = bench.time("ntt", || {
        let mut p = poly.clone();
        p.ntt(ring);
        Ok(p)
    })?;
    bench.time("intt", || {
        let mut p = ntt_poly.clone();
        p.intt(ring);
        Ok(p)
    })?;

    let encoder = Encoder::new(&ctx);
    let pt_x = bench.time("encode", || Ok(encoder.encode(&x, level, scale)?))?;
    let decoded = bench.time("decode", || Ok(encoder.decode(&pt_x)?))?;
    bench
        .precision
        .insert("encode".into(), Precision::of_real(&decoded, &x));
    measure_scheme(&ctx, &encoder, &x, args, bench)
}

/// A reproducible generator for the randomness of one role (`tag`) of the benchmark.
fn prng(seed: u64, tag: u64) -> Prng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&tag.to_le_bytes());
    Prng::from_seed(bytes)
}

/// Slot `i` of the result receives slot `i + step` of the input (a left rotation).
fn rotated_left(values: &[Complex64], step: usize) -> Vec<Complex64> {
    let mut out = values.to_vec();
    out.rotate_left(step % values.len().max(1));
    out
}

/// The encrypted part of the benchmark: keys, encryption, evaluation, sizes.
fn measure_scheme(
    ctx: &Arc<Context>,
    encoder: &Encoder,
    x: &[Complex64],
    args: &BenchOpsArgs,
    bench: &mut Bench,
) -> anyhow::Result<()> {
    let slots = x.len();
    let level = ctx.max_level();
    let scale = ctx.default_scale();
    let steps: Vec<i32> = (1..=8).collect();

    let (mut keygen, pk, rlk) = bench.time("keygen_sk_pk_relin", || {
        let mut keygen = KeyGenerator::new(ctx, prng(args.seed, 1));
        let pk = keygen.public_key();
        let rlk = keygen.relinearization_key();
        Ok((keygen, pk, rlk))
    })?;
    let rot1 = bench.time("rotkey_1_step", || {
        Ok(keygen.galois_keys(&steps[..1], false)?)
    })?;
    // Eight keys are slow at N=2^16: one cold sample, as the peer script does.
    let galois = bench.time_once("rotkeys_8_steps", || Ok(keygen.galois_keys(&steps, false)?))?;
    bench
        .sizes
        .insert("public_key".into(), serialized_len(&pk, ctx)? as u64);
    bench
        .sizes
        .insert("relin_key".into(), serialized_len(&rlk, ctx)? as u64);
    bench
        .sizes
        .insert("relin_key_in_memory".into(), rlk.key().size_bytes() as u64);
    bench.sizes.insert(
        "galois_key_1_step".into(),
        serialized_len(&rot1, ctx)? as u64,
    );
    bench.sizes.insert(
        "rotation_keys_8_steps".into(),
        serialized_len(&galois, ctx)? as u64,
    );
    drop(rot1);
    let evaluator = Evaluator::new(
        ctx,
        Some(Arc::new(EvaluationKeys {
            relin: Some(rlk),
            galois,
            context_id: ctx.id(),
        })),
    )?;

    let pt_x = encoder.encode(x, level, scale)?;
    let y = random_inputs(slots, args.seed.wrapping_add(1));
    let pt_y = encoder.encode(&y, level, scale)?;
    let mut encryptor = Encryptor::new(ctx, &pk, prng(args.seed, 2))?;
    let ct_x = bench.time("encrypt_pk", || Ok(encryptor.encrypt(&pt_x)?))?;
    let ct_y = encryptor.encrypt(&pt_y)?;
    let mut symmetric = SymmetricEncryptor::new(ctx, keygen.secret_key(), prng(args.seed, 3))?;
    let seeded = bench.time("encrypt_sk", || Ok(symmetric.encrypt(&pt_x)?))?;
    bench.sizes.insert(
        "ciphertext_top_level".into(),
        serialized_len(&ct_x, ctx)? as u64,
    );
    bench.sizes.insert(
        "ciphertext_top_level_compact".into(),
        serialized_len(&seeded, ctx)? as u64,
    );
    let ct_bytes = bench.time("serialize_ciphertext", || Ok(to_bytes(&ct_x, ctx)?))?;
    let back: Ciphertext =
        bench.time("deserialize_ciphertext", || Ok(from_bytes(&ct_bytes, ctx)?))?;
    anyhow::ensure!(
        back == ct_x,
        "ciphertext changed in a serialization round trip"
    );
    bench.sizes.insert(
        "ciphertext_top_level_in_memory".into(),
        ct_x.size_bytes() as u64,
    );

    let decryptor = Decryptor::new(ctx, keygen.secret_key())?;
    let decrypted = bench.time("decrypt", || Ok(decryptor.decrypt(&ct_x)?))?;
    let check = |ct: &Ciphertext, want: &[Complex64]| -> anyhow::Result<Precision> {
        Ok(Precision::of_real(
            &encoder.decode(&decryptor.decrypt(ct)?)?,
            want,
        ))
    };
    let fresh = encoder.decode(&decrypted)?;
    bench
        .precision
        .insert("fresh".into(), Precision::of_real(&fresh, x));
    bench
        .precision
        .insert("fresh_complex".into(), Precision::of(&fresh, x));

    let product = bench.time("mul", || Ok(evaluator.mul_no_relin(&ct_x, &ct_y)?))?;
    let relinearized = bench.time("relin", || Ok(evaluator.relinearize(&product)?))?;
    bench.time("rescale", || Ok(evaluator.rescale(&relinearized)?))?;
    let mrr = bench.time("mul_relin_rescale", || {
        Ok(evaluator.mul_and_rescale(&ct_x, &ct_y)?)
    })?;
    let xy: Vec<Complex64> = x.iter().zip(&y).map(|(a, b)| a * b).collect();
    bench
        .precision
        .insert("mul_relin_rescale".into(), check(&mrr, &xy)?);

    let rotated = bench.time("rotate", || Ok(evaluator.rotate(&ct_x, 1)?))?;
    bench
        .precision
        .insert("rotate".into(), check(&rotated, &rotated_left(x, 1))?);
    let hoisted = bench.time("rotate_8_hoisted", || {
        Ok(evaluator.rotate_hoisted(&ct_x, &steps)?)
    })?;
    let mut worst: Option<Precision> = None;
    for (ct, &step) in hoisted.iter().zip(&steps) {
        let p = check(ct, &rotated_left(x, step as usize))?;
        worst = Some(match worst {
            Some(w) => w.worst(p),
            None => p,
        });
    }
    if let Some(w) = worst {
        bench.precision.insert("rotate_8_hoisted".into(), w);
    }
    Ok(())
}

fn print_table(report: &BenchOpsReport) {
    let p = &report.params;
    println!(
        "hetal bench ops: preset {} (N=2^{}, {} q limbs of {:?} bits, P {:?}, dnum {}, scale 2^{}, {}), threads {}, reps {}",
        report.preset,
        p.log_n,
        p.q_limbs,
        p.q_bits,
        p.p_bits,
        p.dnum,
        p.log_scale,
        p.security,
        report.threads,
        report.reps
    );
    println!(
        "{:<32} {:>12} {:>12} {:>12}",
        "operation", "median", "min", "mean CPU"
    );
    for (name, t) in &report.ops {
        println!(
            "{:<32} {:>12} {:>12} {:>12}",
            name,
            format_seconds(t.median_s),
            format_seconds(t.min_s),
            t.mean_cpu_s.map_or_else(|| "-".to_string(), format_seconds)
        );
    }
    println!("{:<32} {:>12} {:>12}", "precision (bits)", "worst", "mean");
    for (name, prec) in &report.precision {
        println!(
            "{:<32} {:>12.2} {:>12.2}",
            name, prec.worst_bits, prec.mean_bits
        );
    }
    for (name, bytes) in &report.sizes_bytes {
        println!(
            "{:<32} {:>12} bytes ({:.2} MiB)",
            name,
            bytes,
            *bytes as f64 / (1 << 20) as f64
        );
    }
    if let Some(rss) = report.peak_rss_bytes {
        println!(
            "{:<32} {:>12} bytes ({:.1} MiB)",
            "peak RSS",
            rss,
            rss as f64 / (1 << 20) as f64
        );
    }
    for note in &report.notes {
        println!("note: {note}");
    }
}

fn format_seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

/// Runs `hetal bench ops`: measures, then prints the table or the JSON object.
pub fn run(args: &BenchOpsArgs) -> anyhow::Result<()> {
    let report = measure_report(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Checks the preset and its opt-in, then measures everything inside the requested pool.
pub fn measure_report(args: &BenchOpsArgs) -> anyhow::Result<BenchOpsReport> {
    let spec = preset(&args.preset)?;
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
    let reps = args.reps.unwrap_or(if args.quick { 2 } else { 5 }).max(1);
    let pool = {
        let mut builder = rayon::ThreadPoolBuilder::new();
        if let Some(t) = args.threads {
            if t == 0 {
                bail!("--threads must be at least 1");
            }
            builder = builder.num_threads(t);
        }
        builder.build().context("building the rayon thread pool")?
    };
    let mut bench = Bench {
        reps,
        ops: BTreeMap::new(),
        precision: BTreeMap::new(),
        sizes: BTreeMap::new(),
    };
    pool.install(|| measure(&spec, args, &mut bench))?;
    let report = BenchOpsReport {
        kind: "hetal-bench-ops",
        format: 1,
        preset: spec.name.clone(),
        threads: pool.current_num_threads(),
        reps,
        quick: args.quick,
        rot_steps: (1..=8).collect(),
        params: ParamsRecord::of(&spec),
        ops: bench.ops,
        precision: bench.precision,
        sizes_bytes: bench.sizes,
        peak_rss_bytes: peak_rss_bytes(),
        notes,
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(preset: &str, allow_insecure: bool) -> BenchOpsArgs {
        BenchOpsArgs {
            preset: preset.into(),
            threads: Some(1),
            reps: Some(1),
            quick: true,
            json: true,
            allow_insecure,
            seed: 7,
        }
    }

    #[test]
    fn insecure_preset_needs_the_flag() {
        let err = measure_report(&args("insecure-test-n10", false)).unwrap_err();
        assert!(err.to_string().contains("--allow-insecure"));
        assert!(measure_report(&args("no-such-preset", true)).is_err());
    }

    #[test]
    fn json_has_every_documented_field() {
        let report = measure_report(&args("insecure-test-n10", true)).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        for op in [
            "context",
            "ntt",
            "intt",
            "encode",
            "decode",
            "keygen_sk_pk_relin",
            "rotkey_1_step",
            "rotkeys_8_steps",
            "encrypt_pk",
            "encrypt_sk",
            "decrypt",
            "mul",
            "relin",
            "rescale",
            "mul_relin_rescale",
            "rotate",
            "rotate_8_hoisted",
            "serialize_ciphertext",
            "deserialize_ciphertext",
        ] {
            let t = &json["ops"][op];
            assert!(t["median_s"].as_f64().is_some_and(|s| s > 0.0), "{op}: {t}");
            assert_eq!(t["samples_s"].as_array().map(Vec::len), Some(1), "{op}");
            // Linux exposes per-thread CPU time: every op gets a CPU figure. Its sign is not
            // checked here: the test harness runs other tests on threads of this process, and
            // one that exits mid-measurement takes its CPU time out of the sum.
            assert!(
                t["mean_cpu_s"].as_f64().is_some_and(f64::is_finite),
                "{op}: {t}"
            );
        }
        // Fresh encryption at scale 2^40 with N = 2^10 keeps well over 20 bits.
        for name in [
            "encode",
            "fresh",
            "mul_relin_rescale",
            "rotate",
            "rotate_8_hoisted",
        ] {
            let bits = json["precision"][name]["worst_bits"].as_f64().unwrap();
            assert!(bits > 20.0, "{name}: {bits}");
        }
        let sizes = &json["sizes_bytes"];
        let full = sizes["ciphertext_top_level"].as_u64().unwrap();
        let compact = sizes["ciphertext_top_level_compact"].as_u64().unwrap();
        assert!(
            compact < full / 2 + 100 && compact > full / 3,
            "{compact} vs {full}"
        );
        for key in [
            "public_key",
            "relin_key",
            "galois_key_1_step",
            "rotation_keys_8_steps",
        ] {
            assert!(sizes[key].as_u64().is_some_and(|b| b > 0), "{key}");
        }
        assert_eq!(json["params"]["q_limbs"], 4);
        assert_eq!(json["threads"], 1);
        assert_eq!(json["kind"], "hetal-bench-ops");
    }

    #[test]
    fn precision_and_rotation_helpers() {
        let want = [Complex64::new(1.0, 0.0), Complex64::new(2.0, 0.0)];
        let got = [Complex64::new(1.0, 0.0), Complex64::new(2.25, 0.0)];
        let p = Precision::of(&got, &want);
        assert_eq!((p.max_abs_err, p.worst_bits, p.mean_bits), (0.25, 2.0, 3.0));
        // Real parts only with `of_real`; `of` takes the complex modulus.
        let tilted = [Complex64::new(1.0, 0.5), Complex64::new(2.0, 0.0)];
        assert_eq!(Precision::of_real(&tilted, &want).max_abs_err, 0.0);
        assert_eq!(Precision::of(&tilted, &want).max_abs_err, 0.5);
        let r = rotated_left(&[want[0], want[1], got[1]], 1);
        assert_eq!(r, vec![want[1], got[1], want[0]]);
        let (t, out) = timed(3, || Ok(5)).unwrap();
        assert_eq!((out, t.samples_s.len()), (5, 3));
        assert!(t.min_s <= t.median_s);
    }
}
