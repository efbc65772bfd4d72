//! `Evaluator::linear_combination` on the small INSECURE `insecure-test-n10` preset: the lazy
//! one-pass sum decrypts to `Σ value_k · z_k` within the bound the test computes, at the
//! requested scale and level, and bad inputs are typed errors.

use hetal_ckks::Error;
use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor, Plaintext};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::KeyGenerator;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::presets::insecure_test_n10;
use num_complex::Complex64;

#[test]
fn lazy_linear_combination_matches_the_plain_sum() {
    let ctx = Context::new(&insecure_test_n10(), true).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([3; 32]));
    let pk = kg.public_key();
    let sk = kg.into_secret_key();
    let encoder = Encoder::new(&ctx);
    let mut enc = Encryptor::new(&ctx, &pk, Prng::from_seed([4; 32])).unwrap();
    let eval = Evaluator::new(&ctx, None).unwrap();
    let slots = ctx.max_slots();
    let level = ctx.max_level();
    let base = ctx.default_scale();
    // 20 terms (more than one lazy chunk of 15), each at its own scale.
    let inputs: Vec<Vec<Complex64>> = (0..20)
        .map(|k| {
            (0..slots)
                .map(|j| {
                    Complex64::new(((j * (k + 1)) as f64 * 0.01).sin(), (k as f64 * 0.1).cos())
                })
                .collect()
        })
        .collect();
    let values: Vec<f64> = (0..20).map(|k| 0.9 - 0.1 * k as f64).collect();
    let cts: Vec<Ciphertext> = inputs
        .iter()
        .enumerate()
        .map(|(k, z)| {
            let scale = base * (1.0 + k as f64 / 64.0);
            let pt = Plaintext::new(encoder.encode_poly(z, level, scale).unwrap(), scale, slots);
            enc.encrypt(&pt.unwrap()).unwrap()
        })
        .collect();
    let terms: Vec<(&Ciphertext, f64)> = cts.iter().zip(values.iter().copied()).collect();
    // Constants of about 2^30 (as EvalMod's, which are near a prime): their rounding costs
    // at most 2^-31 per unit of input.
    let result_scale = base * 2f64.powi(30);
    let out = eval.linear_combination(&terms, result_scale).unwrap();
    assert_eq!(out.level(), level);
    assert_eq!(out.scale(), result_scale);
    let dec = Decryptor::new(&ctx, &sk).unwrap().decrypt(&out).unwrap();
    let got = encoder
        .decode_poly(dec.poly(), dec.slots(), dec.scale())
        .unwrap();
    // Each fresh term carries its encryption noise (well below 2^-20 at these scales) times
    // |value| ≤ 1, plus the constant's rounding (1 / result_scale per unit of the input).
    let bound = 20.0 * 2f64.powi(-20);
    for (j, g) in got.iter().enumerate() {
        let want: Complex64 = inputs.iter().zip(&values).map(|(z, v)| z[j] * v).sum();
        assert!((g - want).norm() < bound, "slot {j}: {g} vs {want}");
    }
}

#[test]
fn linear_combination_errors_are_typed() {
    let ctx = Context::new(&insecure_test_n10(), true).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([5; 32]));
    let pk = kg.public_key();
    let mut enc = Encryptor::new(&ctx, &pk, Prng::from_seed([6; 32])).unwrap();
    let eval = Evaluator::new(&ctx, None).unwrap();
    let ct = enc
        .encrypt_zero(ctx.max_level(), ctx.default_scale(), ctx.max_slots())
        .unwrap();
    let low = eval.drop_to_level(&ct, 0).unwrap();
    let scale = ctx.default_scale();
    assert!(matches!(
        eval.linear_combination(&[], scale),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        eval.linear_combination(&[(&ct, 1.0), (&low, 1.0)], scale),
        Err(Error::Level(_))
    ));
    assert!(matches!(
        eval.linear_combination(&[(&ct, f64::NAN)], scale),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        eval.linear_combination(&[(&ct, 1.0)], -1.0),
        Err(Error::InvalidInput(_))
    ));
}
