//! The double-hoisted linear transform of the CKKS backend against the plain matrix product and
//! against the transform composed from single rotations, on the small INSECURE `insecure-test-n12`
//! preset: same result within the noise bound, same level and scale, typed errors.

use std::sync::Arc;

use hetal_ckks::Error;
use hetal_ckks::circuits::backend::SlotBackend;
use hetal_ckks::circuits::bootstrap::ckks_backend::CkksBackend;
use hetal_ckks::circuits::lintrans::eval::apply_with_primitives;
use hetal_ckks::circuits::lintrans::{BsgsPlan, DiagonalMatrix, EncodedTransform};
use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor, Plaintext};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::{Evaluator, GiantStep};
use hetal_ckks::keys::{KeyGenerator, SecretKey};
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::presets::insecure_test_n12;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<Complex64> {
    (0..n)
        .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
        .collect()
}

struct Setup {
    ctx: Arc<Context>,
    sk: SecretKey,
    eval: Evaluator,
    encoder: Encoder,
    ct: Ciphertext,
    input: Vec<Complex64>,
}

/// A context with rotation keys for `steps`, and a full-slot ciphertext of random values at
/// the top level.
fn setup(steps: &[i32]) -> Setup {
    let ctx = Context::new(&insecure_test_n12(), true).unwrap();
    let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([5; 32]));
    let pk = kg.public_key();
    let keys = kg.evaluation_keys(steps, false).unwrap();
    let eval = Evaluator::new(&ctx, Some(Arc::new(keys))).unwrap();
    let encoder = Encoder::new(&ctx);
    let slots = ctx.max_slots();
    let input = random_vec(&mut ChaCha8Rng::seed_from_u64(1), slots);
    let top = ctx.max_level();
    let scale = ctx.default_scale();
    let pt = Plaintext::new(
        encoder.encode_poly(&input, top, scale).unwrap(),
        scale,
        slots,
    )
    .unwrap();
    let ct = Encryptor::new(&ctx, &pk, Prng::from_seed([6; 32]))
        .unwrap()
        .encrypt(&pt)
        .unwrap();
    Setup {
        sk: kg.into_secret_key(),
        ctx,
        eval,
        encoder,
        ct,
        input,
    }
}

fn decrypt(s: &Setup, ct: &Ciphertext) -> Vec<Complex64> {
    let pt = Decryptor::new(&s.ctx, &s.sk).unwrap().decrypt(ct).unwrap();
    s.encoder
        .decode_poly(pt.poly(), pt.slots(), pt.scale())
        .unwrap()
}

fn max_err(a: &[Complex64], b: &[Complex64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}

/// A matrix with diagonals at the given offsets (a giant group holding only the baby step 0
/// and one without it included, with the BSGS split below).
fn matrix(len: usize, offsets: &[i64]) -> DiagonalMatrix {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut m = DiagonalMatrix::zero(len).unwrap();
    for &k in offsets {
        let d: Vec<Complex64> = random_vec(&mut rng, len)
            .into_iter()
            .map(|x| x * 0.25)
            .collect();
        m.add_to_diagonal(k, &d).unwrap();
    }
    m
}

#[test]
fn double_hoisted_transform_matches_plain_product_and_single_hoisting() {
    let probe = Context::new(&insecure_test_n12(), true).unwrap();
    let len = probe.max_slots();
    // n1 = 4: giant 0 holds babies {0, 1, 3}; giant 8 only baby 0; giant -16 babies {2, 3};
    // giant 4 babies {1}.
    let offsets = [0i64, 1, 3, 8, -16 + 2, -16 + 3, 4 + 1];
    let m = matrix(len, &offsets);
    let plan = BsgsPlan::with_baby_step(&m, 4).unwrap();
    let steps: Vec<i32> = plan
        .rotations()
        .iter()
        .map(|&k| k.rem_euclid(len as i64) as i32)
        .collect();
    let s = setup(&steps);
    let backend = CkksBackend::new(&s.eval, &s.encoder).unwrap();
    let level = s.ct.level();
    let t = EncodedTransform::encode(&backend, &plan, level, s.ctx.q(level) as f64).unwrap();
    let fused = t.apply(&backend, &s.ct).unwrap();
    assert_eq!(fused.level(), level - 1);
    assert!((fused.scale() / s.ct.scale() - 1.0).abs() < 1e-12);

    // The same transform composed from single hoisted rotations and separate rescale.
    let mut groups = Vec::new();
    for (&giant, group) in plan.groups() {
        let mut g = Vec::new();
        for (&b, d) in group {
            g.push((b, backend.encode(d, level, s.ctx.q(level) as f64).unwrap()));
        }
        groups.push((giant, g));
    }
    let babies: Vec<i64> = plan.baby_rotations().into_iter().collect();
    let composed = apply_with_primitives(&backend, &s.ct, &babies, &groups).unwrap();
    assert_eq!(composed.level(), fused.level());
    assert!((composed.scale() / fused.scale() - 1.0).abs() < 1e-12);

    let want = m.apply(&s.input).unwrap();
    let (got_fused, got_composed) = (decrypt(&s, &fused), decrypt(&s, &composed));
    let input_err = max_err(&decrypt(&s, &s.ct), &s.input);
    // Each output slot sums |offsets| products of entries below 1/4 with the input: the error
    // may grow by that factor plus the key-switching and rounding noise (far below 2^-20).
    let bound = offsets.len() as f64 * 0.25 * 2.0 * input_err + 2f64.powi(-20);
    let (e_fused, e_composed) = (max_err(&got_fused, &want), max_err(&got_composed, &want));
    assert!(e_fused < bound, "double hoisted: {e_fused:e} >= {bound:e}");
    assert!(e_composed < bound, "composed: {e_composed:e} >= {bound:e}");
    // One rounding for the whole transform: never much worse than the composed evaluation.
    assert!(e_fused < 4.0 * e_composed, "{e_fused:e} vs {e_composed:e}");
}

#[test]
fn double_hoisted_transform_reports_typed_errors() {
    let s = setup(&[1]);
    let level = s.ct.level();
    let values = vec![Complex64::new(0.5, 0.0); s.ctx.max_slots()];
    let scale = s.ctx.q(level) as f64;
    let extended = s
        .encoder
        .encode_poly_extended(&values, level, scale)
        .unwrap();
    let q_only = s.encoder.encode_poly(&values, level, scale).unwrap();
    // a rotation without its key
    let missing = [GiantStep {
        giant: 2,
        diagonals: vec![(1, &extended)],
    }];
    assert!(matches!(
        s.eval
            .linear_transform_double_hoisted(&s.ct, &missing, scale),
        Err(Error::MissingGaloisKey(_))
    ));
    // a diagonal without its special-prime limbs
    let short = [GiantStep {
        giant: 0,
        diagonals: vec![(1, &q_only)],
    }];
    assert!(matches!(
        s.eval.linear_transform_double_hoisted(&s.ct, &short, scale),
        Err(Error::InvalidInput(_))
    ));
    // nothing to apply
    let empty = [GiantStep {
        giant: 0,
        diagonals: vec![],
    }];
    assert!(matches!(
        s.eval.linear_transform_double_hoisted(&s.ct, &empty, scale),
        Err(Error::InvalidInput(_))
    ));
    // level 0 has nothing to rescale by
    let low = s.eval.drop_to_level(&s.ct, 0).unwrap();
    let ok = [GiantStep {
        giant: 0,
        diagonals: vec![(1, &extended)],
    }];
    assert!(matches!(
        s.eval.linear_transform_double_hoisted(&low, &ok, scale),
        Err(Error::Level(_))
    ));
}
