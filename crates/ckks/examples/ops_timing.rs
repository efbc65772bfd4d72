//! Times the core CKKS operations at a preset (default `ops-n16`: N = 2^16, 25 q primes).
//!
//! Run: `cargo run --release -p hetal-ckks --example ops_timing -- [PRESET] [THREADS...]`
//! e.g. `... -- ops-n16 1 2`. Prints one line per operation and thread count (median of a few
//! runs) and the precision of a product in bits.

use hetal_ckks::crypto::{Decryptor, Encryptor};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::KeyGenerator;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::{context::Context, presets};
use num_complex::Complex64;
use std::sync::Arc;
use std::time::Instant;

fn median_secs(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
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
    println!(
        "ciphertext size at top level: {:.1} MiB",
        ct.size_bytes() as f64 / (1 << 20) as f64
    );

    for &th in &threads {
        hetal_ckks::with_threads(th, || -> hetal_ckks::Result<()> {
            let runs = 3;
            let mut a = ct.c0().limb(1).to_vec();
            let ring = ctx.ring();
            let ntt = median_secs(runs * 3, || ring.q_tables()[1].forward(&mut a));
            let enc_t = median_secs(runs, || {
                let _ = enc.encrypt(&pt);
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
            let dec_t = median_secs(runs, || {
                let _ = dec.decrypt(&ct);
            });
            println!(
                "threads {th}: ntt(1 limb) {:.3} ms | encrypt {:.3} s | decrypt {:.3} s | mul+relin {:.3} s | rescale {:.3} s | mul+relin+rescale {:.3} s | rotate {:.3} s | 8 hoisted rotations {:.3} s",
                ntt * 1e3,
                enc_t,
                dec_t,
                mul,
                rescale,
                mrr,
                rot,
                hoisted
            );
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
