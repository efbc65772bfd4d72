//! Criterion benchmarks of the CKKS primitives.
//!
//! ```text
//! cargo bench -p hetal-ckks --bench ops                      # insecure-test-n12 only
//! HETAL_BENCH_FULL=1 cargo bench -p hetal-ckks --bench ops   # plus ops-n16 (N=2^16, 25 limbs)
//! HETAL_BENCH_PRESETS=demo-n15 cargo bench -p hetal-ckks --bench ops   # plus named presets
//! ```
//!
//! The N=2^16 group is opt-in because one key-switching key there takes seconds to generate and
//! about 100 MB of memory; `hetal bench ops` reports the same operations with precision and sizes.
//!
//! `HETAL_BENCH_CPU=1` measures the CPU time of the whole process (all threads) instead of wall
//! time: on a shared, loaded machine it is the steadier figure for before/after comparisons of
//! single-threaded code (`RAYON_NUM_THREADS=1`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion};
use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor, SymmetricEncryptor};
use hetal_ckks::encoding::{Complex64, Encoder};
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::switching::{decompose, inner_products, mod_down};
use hetal_ckks::keys::{EvaluationKeys, KeyGenerator, RelinearizationKey};
use hetal_ckks::math::poly::RnsPoly;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::presets;

fn inputs(slots: usize, phase: f64) -> Vec<Complex64> {
    (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.37 + phase).sin(), 0.0))
        .collect()
}

fn bench_preset<M: Measurement + 'static>(c: &mut Criterion<M>, name: &str) {
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
    // The tensor product alone: three outputs of fresh limbs, bound by the reductions (it
    // ran 3.7x slower with branchy corrections, which mispredict on random residues).
    group.bench_function("mul_tensor", |b| {
        b.iter(|| evaluator.mul_no_relin(black_box(&ct_x), black_box(&ct_y)))
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
    bench_key_switch_parts(c, name, &ctx, &keygen.relinearization_key(), &ct_x);
}

/// The three phases of one key switch (ModUp, inner products, ModDown) at the top level, so
/// that a change to one kernel is measured on its own.
fn bench_key_switch_parts<M: Measurement + 'static>(
    c: &mut Criterion<M>,
    name: &str,
    ctx: &Context,
    relin: &RelinearizationKey,
    ct: &Ciphertext,
) {
    let key = relin.key();
    let dec = decompose(ctx, ct.c1());
    let (acc0, _) = inner_products(ctx, &dec, key, None);
    let mut group = c.benchmark_group(format!("{name}/key_switch"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    group.warm_up_time(Duration::from_millis(500));
    group.bench_function("mod_up", |b| b.iter(|| decompose(ctx, black_box(ct.c1()))));
    group.bench_function("inner_products", |b| {
        b.iter(|| inner_products(ctx, black_box(&dec), key, None))
    });
    group.bench_function("mod_down", |b| {
        b.iter_batched(|| acc0.clone(), |a| mod_down(ctx, a), BatchSize::LargeInput)
    });
    group.finish();
}

fn ops<M: Measurement + 'static>(c: &mut Criterion<M>) {
    bench_preset(c, "insecure-test-n12");
    if std::env::var("HETAL_BENCH_FULL").is_ok_and(|v| v == "1") {
        bench_preset(c, presets::OPS_N16);
    }
    // Further presets by name, comma separated (e.g. `demo-n15`: half the memory of ops-n16).
    if let Ok(names) = std::env::var("HETAL_BENCH_PRESETS") {
        for name in names.split(',').filter(|s| !s.is_empty()) {
            bench_preset(c, name);
        }
    }
}

/// CPU time consumed so far by all threads of this process, in nanoseconds (the first field of
/// `/proc/self/task/*/schedstat`); 0 where that is unavailable.
fn process_cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Criterion measurement of process CPU time (see the module documentation).
struct ProcessCpuTime;

/// Wall time's formatter, which formats nanoseconds (the unit of [`ProcessCpuTime`] too).
static WALL_TIME: WallTime = WallTime;

impl Measurement for ProcessCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        process_cpu_ns()
    }

    fn end(&self, start: u64) -> u64 {
        process_cpu_ns().saturating_sub(start)
    }

    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }

    fn zero(&self) -> u64 {
        0
    }

    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        WALL_TIME.formatter()
    }
}

fn main() {
    if std::env::var("HETAL_BENCH_CPU").is_ok_and(|v| v == "1") {
        let mut c = Criterion::default()
            .with_measurement(ProcessCpuTime)
            .configure_from_args();
        ops(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::default().configure_from_args();
        ops(&mut c);
        c.final_summary();
    }
}
