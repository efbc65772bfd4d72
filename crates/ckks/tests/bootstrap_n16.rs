//! Full-size bootstrapping on the secure `boot-n16` preset (N = 2^16, dense ternary key,
//! sparse-secret encapsulation): levels left, precision, timings, key and diagonal memory.
//! Heavy (minutes of CPU, ~10 GiB of memory), so ignored by default. Run with
//! `cargo test --release -p hetal-ckks --test bootstrap_n16 -- --ignored --nocapture`
//! (`BOOT_LOG_SLOTS=12` for sparse slots, `RAYON_NUM_THREADS=1` for single-thread CPU time,
//! `BOOT_PRESET=boot-n16-deep` for the 17-level preset).

use std::sync::Arc;
use std::time::Instant;

use hetal_ckks::circuits::bootstrap::{
    BootstrapParams, CkksBootstrapper, DEFAULT_SPARSE_WEIGHT, SparseSecretKeys,
    generate_bootstrap_keys,
};
use hetal_ckks::crypto::{Decryptor, Encryptor, Plaintext};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::KeyGenerator;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::preset;
use hetal_ckks::params::presets::BOOT_N16;
use num_complex::Complex64;

#[test]
#[ignore = "N = 2^16: minutes of CPU and ~10 GiB; run explicitly (see the module docs)"]
fn bootstrap_boot_n16() {
    let log_slots: u32 = std::env::var("BOOT_LOG_SLOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let preset_name = std::env::var("BOOT_PRESET").unwrap_or_else(|_| BOOT_N16.to_string());
    let mut spec = preset(&preset_name).unwrap();
    assert!(
        spec.log_n == 16,
        "BOOT_PRESET names an N = 2^16 preset, not {preset_name}"
    );
    let insecure = chain_experiment(&mut spec);
    let params = BootstrapParams::sparse_secret_default(log_slots);
    let ctx = Context::new(&spec, insecure).unwrap();
    let t = Instant::now();
    let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([1; 32]));
    let pk = kg.public_key();
    let keys = generate_bootstrap_keys(&mut kg, &ctx, &params, &[]).unwrap();
    let sparse = SparseSecretKeys::generate(
        &ctx,
        kg.secret_key(),
        DEFAULT_SPARSE_WEIGHT,
        &mut Prng::from_seed([2; 32]),
    )
    .unwrap();
    let keygen_s = t.elapsed().as_secs_f64();
    let rss_keys = memory_gib("VmRSS");
    let key_bytes = keys.size_bytes() + sparse.size_bytes();
    let keys_count = keys.galois.len();
    let t = Instant::now();
    let boot = CkksBootstrapper::new(&ctx, params)
        .unwrap()
        .with_encapsulation(Arc::new(sparse))
        .unwrap();
    let setup_s = t.elapsed().as_secs_f64();
    let rss_setup = memory_gib("VmRSS");
    let eval = Evaluator::new(&ctx, Some(Arc::new(keys))).unwrap();
    let encoder = Encoder::new(&ctx);
    let n = params.slots();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    };
    let z: Vec<Complex64> = (0..n)
        .map(|_| Complex64::new(uniform(), uniform()))
        .collect();
    let scale = ctx.default_scale();
    let pt = Plaintext::new(encoder.encode_poly(&z, 0, scale).unwrap(), scale, n).unwrap();
    let ct = Encryptor::new(&ctx, &pk, Prng::from_seed([3; 32]))
        .unwrap()
        .encrypt(&pt)
        .unwrap();
    // A marker for profilers that attach to the bootstrap only (e.g. `perf record -p PID`).
    eprintln!("bootstrap_n16: bootstrapping (pid {})", std::process::id());
    let t = Instant::now();
    let cpu = process_cpu_seconds();
    let mut last = cpu;
    let mut phases = Vec::new();
    let out = boot
        .bootstrap_with_phases(&eval, &ct, |phase| {
            let now = process_cpu_seconds();
            if let (Some(a), Some(b)) = (last, now) {
                phases.push(format!("{phase} {:.2} s CPU", b - a));
            }
            last = now;
        })
        .unwrap();
    let boot_s = t.elapsed().as_secs_f64();
    let boot_cpu = process_cpu_seconds().zip(cpu).map(|(b, a)| b - a);
    let sk = kg.into_secret_key();
    let dec = Decryptor::new(&ctx, &sk).unwrap().decrypt(&out).unwrap();
    let got = encoder
        .decode_poly(dec.poly(), dec.slots(), dec.scale())
        .unwrap();
    let errs: Vec<f64> = got.iter().zip(&z).map(|(a, b)| (a - b).norm()).collect();
    let mean = -(errs.iter().sum::<f64>() / errs.len() as f64).log2();
    let worst = -errs.iter().copied().fold(0.0, f64::max).log2();
    println!("phases: {}", phases.join(", "));
    println!(
        "memory: {rss_keys:.2} GiB resident after keygen, {rss_setup:.2} GiB after setup, peak \
         {:.2} GiB",
        memory_gib("VmHWM")
    );
    println!(
        "layout {:?}, {} Galois keys (rotations and conjugation)",
        boot.params().memory,
        keys_count
    );
    println!(
        "{preset_name}, 2^{log_slots} slots: bootstrap {boot_s:.2} s wall, {:.2} s CPU, levels left {}, precision mean \
         {mean:.1} / worst {worst:.1} bits, keygen {keygen_s:.1} s, setup {setup_s:.1} s, keys \
         {:.2} GiB in memory, {} pre-encoded diagonals",
        boot_cpu.unwrap_or(f64::NAN),
        out.level(),
        key_bytes as f64 / (1u64 << 30) as f64,
        boot.diagonal_count()
    );
    assert_eq!(out.level(), boot.output_level().unwrap());
    assert!(out.level() >= 9, "{} levels left", out.level());
    assert!(mean >= 20.0 && worst >= 16.0, "{mean:.1} / {worst:.1}");
}

/// Chain experiments (INSECURE, for choosing prime sizes quickly): `BOOT_LOG_N=14` runs the
/// preset's chain on a smaller ring, `BOOT_Q_BITS=60,40x20,58x8,56x3` (`BxR`: R primes of B
/// bits), `BOOT_P_BITS=58x5` and `BOOT_DNUM=7` replace its primes. Returns whether the spec
/// was changed (it then claims no security).
fn chain_experiment(spec: &mut hetal_ckks::params::ParameterSpec) -> bool {
    let bits = |var: &str| -> Option<Vec<u32>> {
        let text = std::env::var(var).ok()?;
        let mut out = Vec::new();
        for part in text.split(',') {
            let (b, r) = part.split_once('x').unwrap_or((part, "1"));
            let (b, r): (u32, usize) = (b.trim().parse().unwrap(), r.trim().parse().unwrap());
            out.extend(std::iter::repeat_n(b, r));
        }
        Some(out)
    };
    let mut changed = false;
    if let Some(q) = bits("BOOT_Q_BITS") {
        spec.q_bits = q;
        changed = true;
    }
    if let Some(p) = bits("BOOT_P_BITS") {
        spec.p_bits = p;
        changed = true;
    }
    if let Some(d) = std::env::var("BOOT_DNUM").ok().and_then(|v| v.parse().ok()) {
        spec.dnum = d;
        changed = true;
    }
    if let Some(log_n) = std::env::var("BOOT_LOG_N")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        spec.log_n = log_n;
        changed = true;
    }
    if changed {
        spec.name = format!("{} (experiment, INSECURE)", spec.name);
        spec.security = hetal_ckks::params::SecurityLevel::InsecureForTests;
        println!(
            "chain experiment: N = 2^{}, q {:?}, p {:?}, dnum {}",
            spec.log_n, spec.q_bits, spec.p_bits, spec.dnum
        );
    }
    changed
}

/// User + system CPU time of this process (all threads), from `/proc/self/stat` (Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the parenthesised command name; utime and stime are the 12th and 13th
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // clock ticks: 100 per second on Linux unless configured otherwise
    Some((utime + stime) / 100.0)
}

/// A memory figure of this process in GiB (`VmRSS`, `VmHWM`, … from `/proc/self/status`; NaN
/// where unavailable).
fn memory_gib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / (1u64 << 20) as f64)
}
