//! Bootstrapping end to end on small INSECURE parameters (N = 2^12): round trips on random real
//! and complex inputs with full and sparse slots, the promised output level, bootstrapping twice,
//! and the linear part (CoeffToSlot ∘ SlotToCoeff) alone.

use std::sync::Arc;

use hetal_ckks::circuits::bootstrap::{BootstrapParams, CkksBootstrapper, generate_bootstrap_keys};
use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor, Plaintext};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{KeyGenerator, SecretKey};
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{ParameterSpec, SecretDistribution, SecurityLevel};
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LOG_N: u32 = 12;
const APP_LEVELS: usize = 2;

/// INSECURE test chain shaped like a bootstrappable preset: q_0 = 60 bits, application and
/// SlotToCoeff primes of 45 bits, EvalMod primes of 55, CoeffToSlot primes of 56; P covers the
/// largest key-switching digit.
fn spec(params: &BootstrapParams) -> ParameterSpec {
    let mod1 = params.depth().unwrap() - params.coeff_to_slot_levels - params.slot_to_coeff_levels;
    let mut q_bits = vec![60];
    q_bits.extend(std::iter::repeat_n(
        45,
        APP_LEVELS + params.slot_to_coeff_levels,
    ));
    q_bits.extend(std::iter::repeat_n(55, mod1));
    q_bits.extend(std::iter::repeat_n(56, params.coeff_to_slot_levels));
    let dnum = 4;
    let alpha = q_bits.len().div_ceil(dnum);
    let largest_digit: u32 = q_bits.iter().rev().take(alpha).sum();
    ParameterSpec {
        name: "insecure-bootstrap-test-n12".into(),
        log_n: LOG_N,
        q_bits,
        p_bits: vec![61; largest_digit.div_ceil(61) as usize],
        log_scale: 45,
        dnum,
        secret: SecretDistribution::SparseTernary { hamming_weight: 32 },
        security: SecurityLevel::InsecureForTests,
    }
}

struct Fixture {
    ctx: Arc<Context>,
    sk: SecretKey,
    encryptor: Encryptor,
    encoder: Encoder,
    eval: Evaluator,
}

impl Fixture {
    fn new(params: &[BootstrapParams]) -> Self {
        let ctx = Context::new(&spec(&params[0]), true).unwrap();
        let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([7; 32]));
        let pk = kg.public_key();
        let mut steps = Vec::new();
        for p in params {
            steps.extend(
                hetal_ckks::circuits::bootstrap::bootstrap_rotation_steps(&ctx, p).unwrap(),
            );
        }
        let keys = generate_bootstrap_keys(&mut kg, &ctx, &params[0], &steps).unwrap();
        let eval = Evaluator::new(&ctx, Some(Arc::new(keys))).unwrap();
        Self {
            encryptor: Encryptor::new(&ctx, &pk, Prng::from_seed([8; 32])).unwrap(),
            encoder: Encoder::new(&ctx),
            sk: kg.into_secret_key(),
            ctx,
            eval,
        }
    }

    fn encrypt(&mut self, z: &[Complex64], level: usize) -> Ciphertext {
        let poly = self
            .encoder
            .encode_poly(z, level, self.ctx.default_scale())
            .unwrap();
        let pt = Plaintext::new(poly, self.ctx.default_scale(), z.len()).unwrap();
        self.encryptor.encrypt(&pt).unwrap()
    }

    fn decrypt(&self, ct: &Ciphertext) -> Vec<Complex64> {
        let pt = Decryptor::new(&self.ctx, &self.sk)
            .unwrap()
            .decrypt(ct)
            .unwrap();
        self.encoder
            .decode_poly(pt.poly(), pt.slots(), pt.scale())
            .unwrap()
    }
}

fn random_input(n: usize, complex: bool, seed: u64) -> Vec<Complex64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let im = if complex {
                rng.gen_range(-1.0..1.0)
            } else {
                0.0
            };
            Complex64::new(rng.gen_range(-1.0..1.0), im)
        })
        .collect()
}

/// (mean, worst) precision in bits.
fn precision(got: &[Complex64], want: &[Complex64]) -> (f64, f64) {
    let errs: Vec<f64> = got.iter().zip(want).map(|(a, b)| (a - b).norm()).collect();
    let mean = errs.iter().sum::<f64>() / errs.len() as f64;
    let worst = errs.iter().copied().fold(0.0, f64::max);
    (-mean.log2(), -worst.log2())
}

#[test]
fn bootstrap_round_trips_full_and_sparse() {
    let full = BootstrapParams::sparse_secret_default(LOG_N - 1);
    let sparse = BootstrapParams::sparse_secret_default(4);
    let mut fx = Fixture::new(&[full, sparse]);
    for (params, complex) in [(full, true), (full, false), (sparse, true), (sparse, false)] {
        let boot = CkksBootstrapper::new(&fx.ctx, params).unwrap();
        let n = params.slots();
        let z = random_input(n, complex, n as u64 + u64::from(complex));
        let ct = fx.encrypt(&z, 0);
        let out = boot.bootstrap(&fx.eval, &ct).unwrap();
        assert_eq!(out.level(), boot.output_level().unwrap());
        assert_eq!(out.level(), APP_LEVELS);
        assert_eq!(out.slots(), n);
        let (mean, worst) = precision(&fx.decrypt(&out), &z);
        println!(
            "N=2^{LOG_N}, {n} slots, complex {complex}: mean {mean:.1} bits, worst {worst:.1} bits"
        );
        assert!(
            mean >= 20.0 && worst >= 16.0,
            "{n} slots: {mean:.1} / {worst:.1} bits"
        );
    }
}

#[test]
fn bootstrapping_twice_still_decrypts() {
    let params = BootstrapParams::sparse_secret_default(6);
    let mut fx = Fixture::new(&[params]);
    let boot = CkksBootstrapper::new(&fx.ctx, params).unwrap();
    let z = random_input(params.slots(), true, 11);
    let ct = fx.encrypt(&z, 0);
    let once = boot.bootstrap(&fx.eval, &ct).unwrap();
    let (mean1, _) = precision(&fx.decrypt(&once), &z);
    // spend the application levels, then refresh again
    let mut spent = once.clone();
    while spent.level() > 0 {
        spent = fx.eval.drop_to_level(&spent, spent.level() - 1).unwrap();
    }
    let twice = boot.bootstrap(&fx.eval, &spent).unwrap();
    assert_eq!(twice.level(), APP_LEVELS);
    let (mean2, worst2) = precision(&fx.decrypt(&twice), &z);
    println!("bootstrapped twice: mean {mean1:.2} then {mean2:.2} bits, worst {worst2:.2}");
    // Errors add up: the second bootstrap's error is at most the first's (same circuit, same
    // message), and largely the same deterministic EvalMod error, so the mean error at most
    // doubles: one bit, plus a tenth for the fluctuation of the fresh noise.
    assert!(
        mean2 >= mean1 - 1.1 && worst2 >= 16.0,
        "{mean1:.1} -> {mean2:.1} / {worst2:.1}"
    );
}

#[test]
fn coeff_to_slot_then_slot_to_coeff_is_identity() {
    let full = BootstrapParams::sparse_secret_default(LOG_N - 1);
    let sparse = BootstrapParams::sparse_secret_default(5);
    let mut fx = Fixture::new(&[full, sparse]);
    for params in [full, sparse] {
        let boot = CkksBootstrapper::new(&fx.ctx, params).unwrap();
        let z = random_input(params.slots(), true, 21);
        let top = fx.ctx.max_level();
        let ct = fx.encrypt(&z, top);
        let out = boot.linear_round_trip(&fx.eval, &ct).unwrap();
        assert_eq!(out.level(), boot.output_level().unwrap());
        assert!((out.scale() / fx.ctx.default_scale() - 1.0).abs() < 1e-9);
        let (mean, worst) = precision(&fx.decrypt(&out), &z);
        println!(
            "linear round trip, {} slots: mean {mean:.1}, worst {worst:.1} bits",
            params.slots()
        );
        // Only the transforms' rounding and key-switching noise: far below EvalMod's error.
        assert!(mean >= 25.0 && worst >= 22.0, "{mean:.1} / {worst:.1}");
    }
}
