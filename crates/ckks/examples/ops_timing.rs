//! Times the core CKKS operations at a preset (default `ops-n16`: N = 2^16, 25 q primes).
//!
//! Run: `cargo run --release -p hetal-ckks --example ops_timing -- [PRESET] [THREADS...]`
//! e.g. `... -- ops-n16 1 2`. Prints one line per operation and thread count (median of a few
//! runs, `OPS_RUNS` to change, default 5; wall and CPU seconds) and the precision of a product in bits.

use hetal_ckks::crypto::{Decryptor, Encryptor, SymmetricEncryptor};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::KeyGenerator;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::{context::Context, presets};
use num_complex::Complex64;
use std::sync::Arc;
use std::time::Instant;

/// CPU time consumed so far by all live threads of this process (nanoseconds), from
/// `/proc/self/task/*/schedstat`; `None` where that is unavailable (non-Linux).
fn process_cpu_ns() -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Median wall time and median CPU time (all threads) of `runs` calls, in seconds. On a
/// shared machine the CPU time is the steadier figure: it does not count time spent waiting
/// for a core.
fn median_secs(runs: usize, mut f: impl FnMut()) -> Timing {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let c = process_cpu_ns();
        let s = Instant::now();
        f();
        wall.push(s.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (c, process_cpu_ns()) {
            cpu.push(b.saturating_sub(a) as f64 * 1e-9);
        }
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    Timing {
        wall: wall[wall.len() / 2],
        cpu: cpu.get(cpu.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

/// Median wall-clock and CPU seconds of one operation.
#[derive(Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3} s (cpu {:.3} s)", self.wall, self.cpu)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| presets::OPS_N16.to_string());
    let threads: Vec<usize> = {
        let t: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
        if t.is_empty() { vec![1, 2] } else { t }
    };
    let spec = presets::preset(&name)?;
    let ctx = Context::new(&spec, true)?;
    println!(
        "preset {name}: N = 2^{}, {} q primes, {} p primes, dnum {}",
        spec.log_n,
        ctx.max_level() + 1,
        ctx.num_p(),
        ctx.dnum()
    );
    let rotations: Vec<i32> = (1..=8).collect();
    let t = Instant::now();
    let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([1; 32]));
    let pk = kg.public_key();
    let keys = Arc::new(kg.evaluation_keys(&rotations, false)?);
    println!(
        "keygen (pk + relin + {} rotation keys): {:.2} s, evaluation keys {:.1} MiB",
        rotations.len(),
        t.elapsed().as_secs_f64(),
        keys.size_bytes() as f64 / (1 << 20) as f64
    );
    let encoder = Encoder::new(&ctx);
    let slots = ctx.max_slots();
    let values: Vec<Complex64> = (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.001).sin(), (i as f64 * 0.002).cos()))
        .collect();
    let pt = encoder.encode(&values, ctx.max_level(), ctx.default_scale())?;
    let mut enc = Encryptor::new(&ctx, &pk, Prng::from_seed([2; 32]))?;
    let ct = enc.encrypt(&pt)?;
    let ev = Evaluator::new(&ctx, Some(keys))?;
    let sk = kg.into_secret_key();
    let dec = Decryptor::new(&ctx, &sk)?;
    let mut sym = SymmetricEncryptor::new(&ctx, &sk, Prng::from_seed([3; 32]))?;
    println!(
        "ciphertext size at top level: {:.1} MiB",
        ct.size_bytes() as f64 / (1 << 20) as f64
    );

    for &th in &threads {
        hetal_ckks::with_threads(th, || -> hetal_ckks::Result<()> {
            let runs: usize = std::env::var("OPS_RUNS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(5);
            let mut a = ct.c0().limb(1).to_vec();
            let ring = ctx.ring();
            let ntt = median_secs(runs * 3, || ring.q_tables()[1].forward(&mut a)).wall;
            let enc_t = median_secs(runs, || {
                let _ = enc.encrypt(&pt);
            });
            let sym_t = median_secs(runs, || {
                let _ = sym.encrypt(&pt);
            });
            let mut prod = None;
            let mul = median_secs(runs, || prod = ev.mul(&ct, &ct).ok());
            let prod = prod.ok_or(hetal_ckks::Error::MissingRelinKey)?;
            let rescale = median_secs(runs, || {
                let _ = ev.rescale(&prod);
            });
            let mrr = median_secs(runs, || {
                let _ = ev.mul_and_rescale(&ct, &ct);
            });
            let rot = median_secs(runs, || {
                let _ = ev.rotate(&ct, 1);
            });
            let hoisted = median_secs(runs, || {
                let _ = ev.rotate_hoisted(&ct, &rotations);
            });
            let hoisted_sum = median_secs(runs, || {
                let _ = ev.rotate_hoisted_sum(&ct, &rotations);
            });
            let dec_t = median_secs(runs, || {
                let _ = dec.decrypt(&ct);
            });
            println!("threads {th}: ntt(1 limb) {:.3} ms", ntt * 1e3);
            for (what, t) in [
                ("encrypt (public key)", enc_t),
                ("encrypt (symmetric)", sym_t),
                ("decrypt", dec_t),
                ("mul+relin", mul),
                ("rescale", rescale),
                ("mul+relin+rescale", mrr),
                ("rotate", rot),
                ("8 hoisted rotations", hoisted),
                ("sum of 8 hoisted rot.", hoisted_sum),
            ] {
                println!("threads {th}: {what:<22} {t}");
            }
            Ok(())
        })??;
    }
    let sq = ev.mul_and_rescale(&ct, &ct)?;
    let got = encoder.decode(&dec.decrypt(&sq)?)?;
    let err = got
        .iter()
        .zip(&values)
        .map(|(g, v)| (g - v * v).norm())
        .fold(0.0, f64::max);
    println!(
        "precision of x² after mul+relin+rescale: {:.1} bits (max error {err:.2e})",
        -err.log2()
    );
    Ok(())
}
