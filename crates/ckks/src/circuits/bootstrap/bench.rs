//! [`measure_bootstrap`]: one client/server bootstrap round with every figure the benchmark
//! reports (the CLI's `hetal bench bootstrap` prints it; peak memory is the caller's to read).

use std::sync::Arc;
use std::time::Instant;

use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::{BootstrapParams, CkksBootstrapper, SparseSecretKeys, generate_bootstrap_keys};
use crate::crypto::{Decryptor, Encryptor, Plaintext};
use crate::encoding::Encoder;
use crate::eval::Evaluator;
use crate::keys::KeyGenerator;
use crate::math::sample::Prng;
use crate::params::context::Context;
use crate::serial::serialized_len;
use crate::{Error, Result};

/// Figures of one measured bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BootstrapMeasurement {
    /// Parameter set name.
    pub preset: String,
    /// log2 of the ring degree.
    pub log_n: u32,
    /// Slot count bootstrapped.
    pub slots: usize,
    /// Wall-clock seconds of the bootstrap itself.
    pub bootstrap_seconds: f64,
    /// Wall-clock seconds of each phase (CoeffToSlot, EvalMod, SlotToCoeff).
    pub phase_seconds: Vec<(String, f64)>,
    /// Level of the output ciphertext (levels left for the application).
    pub levels_left: usize,
    /// Mean precision, −log2 of the mean absolute error over the slots.
    pub mean_bits: f64,
    /// Worst-slot precision, −log2 of the largest absolute error.
    pub worst_bits: f64,
    /// Wall-clock seconds to generate the bootstrapping key set on the client.
    pub keygen_seconds: f64,
    /// Wall-clock seconds to plan and pre-encode the DFT diagonals.
    pub setup_seconds: f64,
    /// Serialized size of the bootstrapping key set (evaluation + encapsulation keys), bytes.
    pub key_bytes_serialized: usize,
    /// In-memory size of the key set, bytes.
    pub key_bytes_in_memory: usize,
    /// Number of pre-encoded diagonals.
    pub diagonals: usize,
}

/// Generates the key set for `params` on `ctx` (dense user key + sparse-secret encapsulation),
/// bootstraps one ciphertext of random values in `[-1, 1] + i[-1, 1]` at level 0 and measures
/// it. Deterministic for a given `seed`.
pub fn measure_bootstrap(
    ctx: &Arc<Context>,
    params: BootstrapParams,
    seed: u64,
) -> Result<BootstrapMeasurement> {
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let t = Instant::now();
    let mut kg = KeyGenerator::new(ctx, Prng::from_seed(seed_bytes));
    let pk = kg.public_key();
    let eval_keys = generate_bootstrap_keys(&mut kg, ctx, &params, &[])?;
    seed_bytes[8] = 1;
    let sparse = SparseSecretKeys::generate(
        ctx,
        kg.secret_key(),
        super::DEFAULT_SPARSE_WEIGHT,
        &mut Prng::from_seed(seed_bytes),
    )?;
    let keygen_seconds = t.elapsed().as_secs_f64();
    let key_bytes_serialized = serialized_len(&eval_keys, ctx)? + sparse.to_bytes(ctx)?.len();
    let key_bytes_in_memory = eval_keys.size_bytes() + sparse.size_bytes();

    let t = Instant::now();
    let boot = CkksBootstrapper::new(ctx, params)?.with_encapsulation(Arc::new(sparse))?;
    let setup_seconds = t.elapsed().as_secs_f64();
    let eval = Evaluator::new(ctx, Some(Arc::new(eval_keys)))?;

    let encoder = Encoder::new(ctx);
    let n = params.slots();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z: Vec<Complex64> = (0..n)
        .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
        .collect();
    let scale = ctx.default_scale();
    let pt = Plaintext::new(encoder.encode_poly(&z, 0, scale)?, scale, n)?;
    seed_bytes[8] = 2;
    let ct = Encryptor::new(ctx, &pk, Prng::from_seed(seed_bytes))?.encrypt(&pt)?;

    let t = Instant::now();
    let mut last = Instant::now();
    let mut phase_seconds = Vec::new();
    let out = boot.bootstrap_with_phases(&eval, &ct, |phase| {
        phase_seconds.push((phase.to_string(), last.elapsed().as_secs_f64()));
        last = Instant::now();
    })?;
    let bootstrap_seconds = t.elapsed().as_secs_f64();

    let sk = kg.into_secret_key();
    let dec = Decryptor::new(ctx, &sk)?.decrypt(&out)?;
    let got = encoder.decode_poly(dec.poly(), dec.slots(), dec.scale())?;
    if got.len() != z.len() {
        return Err(Error::InvalidInput(
            "decrypted slot count differs from the input's".into(),
        ));
    }
    let errs: Vec<f64> = got.iter().zip(&z).map(|(a, b)| (a - b).norm()).collect();
    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
    let worst = errs.iter().copied().fold(0.0, f64::max);
    Ok(BootstrapMeasurement {
        preset: ctx.spec().name.clone(),
        log_n: ctx.spec().log_n,
        slots: n,
        bootstrap_seconds,
        phase_seconds,
        levels_left: out.level(),
        mean_bits: -mean.log2(),
        worst_bits: -worst.log2(),
        keygen_seconds,
        setup_seconds,
        key_bytes_serialized,
        key_bytes_in_memory,
        diagonals: boot.diagonal_count(),
    })
}
