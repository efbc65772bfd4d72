//! Criterion benchmarks of the CKKS primitives.
//!
//! ```text
//! cargo bench -p hetal-ckks --bench ops                      # insecure-test-n12 only
//! HETAL_BENCH_FULL=1 cargo bench -p hetal-ckks --bench ops   # plus ops-n16 (N=2^16, 25 limbs)
//! ```
//!
//! The N=2^16 group is opt-in because one key-switching key there takes seconds to generate and
//! about 100 MB of memory; `hetal bench ops` reports the same operations with precision and sizes.

// `criterion_group!` expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hetal_ckks::crypto::{Decryptor, Encryptor, SymmetricEncryptor};
use hetal_ckks::encoding::{Complex64, Encoder};
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{EvaluationKeys, KeyGenerator};
use hetal_ckks::math::poly::RnsPoly;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::presets;

fn inputs(slots: usize, phase: f64) -> Vec<Complex64> {
    (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.37 + phase).sin(), 0.0))
        .collect()
}

fn bench_preset(c: &mut Criterion, name: &str) {
    let ctx: Arc<Context> = match presets::preset(name).and_then(|spec| Context::new(&spec, true)) {
        Ok(ctx) => ctx,
        Err(err) => {
            eprintln!("skipping {name}: {err}");
            return;
        }
    };
    let level = ctx.max_level();
    let scale = ctx.default_scale();
    let slots = ctx.max_slots();
    let steps: Vec<i32> = (1..=8).collect();
    let mut keygen = KeyGenerator::new(&ctx, Prng::from_seed([1; 32]));
    let pk = keygen.public_key();
    let evk = EvaluationKeys {
        relin: Some(keygen.relinearization_key()),
        galois: keygen
            .galois_keys(&steps, false)
            .expect("rotation keys for steps 1..=8"),
        context_id: ctx.id(),
    };
    let evaluator = Evaluator::new(&ctx, Some(Arc::new(evk))).expect("evaluator");
    let encoder = Encoder::new(&ctx);
    let mut encryptor = Encryptor::new(&ctx, &pk, Prng::from_seed([2; 32])).expect("encryptor");
    let decryptor = Decryptor::new(&ctx, keygen.secret_key()).expect("decryptor");
    let x = inputs(slots, 0.0);
    let y = inputs(slots, 1.0);
    let pt_x = encoder.encode(&x, level, scale).expect("encode");
    let ct_x = encryptor.encrypt(&pt_x).expect("encrypt");
    let ct_y = encryptor
        .encrypt(&encoder.encode(&y, level, scale).expect("encode"))
        .expect("encrypt");
    let product = evaluator.mul(&ct_x, &ct_y).expect("mul");
    let ring = ctx.ring();
    let coeffs: Vec<i64> = (0..ctx.n() as i64).map(|i| i % 1001 - 500).collect();
    let poly = RnsPoly::from_signed(ring, &coeffs, level + 1, 0);

    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("ntt_all_q_limbs", |b| {
        b.iter_batched_ref(|| poly.clone(), |p| p.ntt(ring), BatchSize::LargeInput)
    });
    group.bench_function("encode", |b| {
        b.iter(|| encoder.encode(black_box(&x), level, scale))
    });
    group.bench_function("encrypt_pk", |b| {
        b.iter(|| encryptor.encrypt(black_box(&pt_x)))
    });
    let mut symmetric =
        SymmetricEncryptor::new(&ctx, keygen.secret_key(), Prng::from_seed([4; 32]))
            .expect("symmetric encryptor");
    group.bench_function("encrypt_sk", |b| {
        b.iter(|| symmetric.encrypt(black_box(&pt_x)))
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| decryptor.decrypt(black_box(&ct_x)))
    });
    group.bench_function("mul_relin", |b| {
        b.iter(|| evaluator.mul(black_box(&ct_x), black_box(&ct_y)))
    });
    group.bench_function("rescale", |b| {
        b.iter(|| evaluator.rescale(black_box(&product)))
    });
    group.bench_function("rotate_1", |b| {
        b.iter(|| evaluator.rotate(black_box(&ct_x), 1))
    });
    group.bench_function("rotate_8_hoisted", |b| {
        b.iter(|| evaluator.rotate_hoisted(black_box(&ct_x), &steps))
    });
    group.bench_function("keygen_sk_pk_relin", |b| {
        b.iter(|| {
            let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([3; 32]));
            (kg.public_key(), kg.relinearization_key())
        })
    });
    group.finish();
}

fn ops(c: &mut Criterion) {
    bench_preset(c, "insecure-test-n12");
    if std::env::var("HETAL_BENCH_FULL").is_ok_and(|v| v == "1") {
        bench_preset(c, presets::OPS_N16);
    }
}

criterion_group!(benches, ops);
criterion_main!(benches);
