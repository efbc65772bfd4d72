//! Scheme-level tests: every operation decrypts to the plaintext result within a bound computed
//! from the parameters. Small INSECURE parameters (N = 2^11) keep them fast.

use hetal_ckks::crypto::{Ciphertext, Decryptor, Encryptor, Plaintext, SymmetricEncryptor};
use hetal_ckks::encoding::encoder::Encoder;
use hetal_ckks::eval::Evaluator;
use hetal_ckks::keys::{EvaluationKeys, KeyGenerator, SecretKey};
use hetal_ckks::math::poly::RnsPoly;
use hetal_ckks::math::sample::{ERROR_SIGMA, Prng};
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{ParameterSpec, SecretDistribution, SecurityLevel};
use hetal_ckks::{Error, crypto};
use num_complex::Complex64;
use std::sync::Arc;

const ROTATIONS: [i32; 6] = [1, -1, 2, 5, -7, 64];

/// INSECURE test parameters: q = [60, 4 × 40], enough 60-bit special primes to cover the
/// largest key-switching digit.
fn spec(log_n: u32, dnum: usize) -> ParameterSpec {
    let q_bits = vec![60, 40, 40, 40, 40];
    let alpha = q_bits.len().div_ceil(dnum);
    let digit_bits: u32 = 60 + 40 * (alpha as u32 - 1);
    ParameterSpec {
        name: "scheme-ops-insecure".into(),
        log_n,
        q_bits,
        p_bits: vec![60; digit_bits.div_ceil(60) as usize],
        log_scale: 40,
        dnum,
        secret: SecretDistribution::Ternary,
        security: SecurityLevel::InsecureForTests,
    }
}

fn n_f(f: &Fixture) -> f64 {
    f.ctx.n() as f64
}

struct Fixture {
    ctx: Arc<Context>,
    public_key: hetal_ckks::keys::PublicKey,
    sk: SecretKey,
    encryptor: Encryptor,
    encoder: Encoder,
    eval: Evaluator,
    keys: Arc<EvaluationKeys>,
}

impl Fixture {
    fn new(log_n: u32, dnum: usize) -> Self {
        let ctx = Context::new(&spec(log_n, dnum), true).unwrap();
        let mut kg = KeyGenerator::new(&ctx, Prng::from_seed([42; 32]));
        let pk = kg.public_key();
        let keys = Arc::new(kg.evaluation_keys(&ROTATIONS, true).unwrap());
        let encryptor = Encryptor::new(&ctx, &pk, Prng::from_seed([43; 32])).unwrap();
        let eval = Evaluator::new(&ctx, Some(keys.clone())).unwrap();
        Self {
            public_key: pk,
            encoder: Encoder::new(&ctx),
            sk: kg.into_secret_key(),
            ctx,
            encryptor,
            eval,
            keys,
        }
    }

    fn encode(&self, v: &[Complex64], level: usize, scale: f64) -> Plaintext {
        let poly = self.encoder.encode_poly(v, level, scale).unwrap();
        Plaintext::new(poly, scale, v.len()).unwrap()
    }

    fn encrypt(&mut self, v: &[Complex64]) -> Ciphertext {
        let pt = self.encode(v, self.ctx.max_level(), self.ctx.default_scale());
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

    /// Slot error bound of a fresh public-key encryption without the special primes: the error
    /// polynomial `v·e + e0 + e1·s` has coefficient variance σ²(4N/3 + 1); a slot sums N
    /// coefficients, so its error has standard deviation σ·sqrt(N(4N/3 + 1)). Six standard
    /// deviations, plus encoding rounding, over Δ. (Encryption over Q·P stays far below this.)
    fn fresh_bound(&self, scale: f64) -> f64 {
        let n = self.ctx.n() as f64;
        let noise = ERROR_SIGMA * (n * (4.0 * n / 3.0 + 1.0)).sqrt();
        let rounding = (n / 12.0).sqrt();
        6.0 * (noise + rounding) / scale
    }

    /// Rescale rounding error in slots: the rounding term `r0 + r1·s` with |r| ≤ 1/2 has
    /// coefficient variance (1 + 2N/3)/12; over N coefficients, six standard deviations.
    fn rescale_bound(&self, scale: f64) -> f64 {
        let n = self.ctx.n() as f64;
        6.0 * (n * (1.0 + 2.0 * n / 3.0) / 12.0).sqrt() / scale
    }
}

fn values(slots: usize, seed: u64) -> Vec<Complex64> {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    (0..slots).map(|_| Complex64::new(next(), next())).collect()
}

fn max_err(a: &[Complex64], b: &[Complex64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}

fn assert_close(got: &[Complex64], want: &[Complex64], bound: f64, what: &str) {
    let e = max_err(got, want);
    assert!(
        e <= bound,
        "{what}: error {e:.3e} exceeds bound {bound:.3e}"
    );
}

#[test]
fn public_and_symmetric_encryption_round_trip() {
    let mut f = Fixture::new(11, 3);
    let slots = f.ctx.max_slots();
    let v = values(slots, 1);
    let ct = f.encrypt(&v);
    assert_eq!(ct.level(), f.ctx.max_level());
    assert!(ct.seed().is_none());
    let bound = f.fresh_bound(ct.scale());
    // Encryption over Q·P: only the division's rounding `r0 + r1·s` (|r| ≤ 1/2) is left,
    // plus the encoding rounding.
    let qp_bound = f.rescale_bound(ct.scale()) + 6.0 * (n_f(&f) / 12.0).sqrt() / ct.scale();
    assert_close(
        &f.decrypt(&ct),
        &v,
        qp_bound,
        "public-key encryption over QP",
    );
    // A key without its special-prime part (as after Q-only serialization) still works.
    let pk = f.public_key.clone();
    let q_only =
        hetal_ckks::keys::PublicKey::from_parts(&f.ctx, pk.b().clone(), *pk.seed()).unwrap();
    assert!(q_only.special_b().is_none());
    let mut enc = Encryptor::new(&f.ctx, &q_only, Prng::from_seed([9; 32])).unwrap();
    let pt = f.encode(&v, f.ctx.max_level(), f.ctx.default_scale());
    let ct_q = enc.encrypt(&pt).unwrap();
    assert_close(&f.decrypt(&ct_q), &v, bound, "public-key encryption over Q");
    let rebuilt = hetal_ckks::keys::PublicKey::from_parts_with_special(
        &f.ctx,
        pk.b().clone(),
        pk.special_b().unwrap().clone(),
        *pk.seed(),
    )
    .unwrap();
    assert_eq!(rebuilt.special_b(), pk.special_b());
    assert_eq!(rebuilt, pk);

    let pt = f.encode(&v, 2, f.ctx.default_scale());
    let mut sym = SymmetricEncryptor::new(&f.ctx, &f.sk, Prng::from_seed([5; 32])).unwrap();
    let ct = sym.encrypt(&pt).unwrap();
    assert_eq!(ct.level(), 2);
    let seed = *ct
        .seed()
        .expect("fresh symmetric ciphertexts keep their seed");
    assert_eq!(&crypto::expand_seeded_c1(&f.ctx, &seed, 2), ct.c1());
    assert_close(&f.decrypt(&ct), &v, bound, "symmetric encryption");
    // Any operation clears the seed.
    assert!(f.eval.add(&ct, &ct).unwrap().seed().is_none());
}

#[test]
fn integer_coefficients_round_trip_exactly_up_to_noise() {
    let mut f = Fixture::new(10, 2);
    let n = f.ctx.n();
    let coeffs: Vec<i64> = (0..n as i64)
        .map(|i| (i * 7919 % 2001 - 1000) << 20)
        .collect();
    let mut poly = RnsPoly::from_signed(f.ctx.ring(), &coeffs, 3, 0);
    poly.ntt(f.ctx.ring());
    let pt = Plaintext::new(poly, 1.0, 1).unwrap();
    let ct = f.encryptor.encrypt(&pt).unwrap();
    let back = Decryptor::new(&f.ctx, &f.sk)
        .unwrap()
        .decrypt(&ct)
        .unwrap()
        .poly()
        .to_centered_f64(f.ctx.ring());
    // Coefficient noise: σ·sqrt(4N/3 + 1), six standard deviations.
    let bound = 6.0 * ERROR_SIGMA * (4.0 * n as f64 / 3.0 + 1.0).sqrt();
    for (b, &c) in back.iter().zip(&coeffs) {
        assert!((b - c as f64).abs() <= bound, "{b} vs {c}");
    }
}

#[test]
fn additive_operations() {
    let mut f = Fixture::new(11, 3);
    let slots = f.ctx.max_slots();
    let (a, b) = (values(slots, 2), values(slots, 3));
    let (ca, cb) = (f.encrypt(&a), f.encrypt(&b));
    let bound = 2.0 * f.fresh_bound(ca.scale());
    let sum: Vec<_> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
    let diff: Vec<_> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
    assert_close(
        &f.decrypt(&f.eval.add(&ca, &cb).unwrap()),
        &sum,
        bound,
        "add",
    );
    assert_close(
        &f.decrypt(&f.eval.sub(&ca, &cb).unwrap()),
        &diff,
        bound,
        "sub",
    );
    let neg: Vec<_> = a.iter().map(|x| -x).collect();
    assert_close(&f.decrypt(&f.eval.neg(&ca).unwrap()), &neg, bound, "neg");

    let pb = f.encode(&b, f.ctx.max_level(), ca.scale());
    assert_close(
        &f.decrypt(&f.eval.add_plain(&ca, &pb).unwrap()),
        &sum,
        bound,
        "add_plain",
    );
    assert_close(
        &f.decrypt(&f.eval.sub_plain(&ca, &pb).unwrap()),
        &diff,
        bound,
        "sub_plain",
    );

    let c = Complex64::new(0.75, -1.5);
    let shifted: Vec<_> = a.iter().map(|x| x + c).collect();
    assert_close(
        &f.decrypt(&f.eval.add_const(&ca, c).unwrap()),
        &shifted,
        bound,
        "add_const",
    );

    let tripled: Vec<_> = a.iter().map(|x| x * 3.0).collect();
    let ct = f.eval.mul_const_int(&ca, 3).unwrap();
    assert_eq!(ct.level(), ca.level());
    assert_close(&f.decrypt(&ct), &tripled, 3.0 * bound, "mul_const_int");

    // Different levels: the higher operand is dropped.
    let low = f.eval.drop_to_level(&cb, 1).unwrap();
    let s = f.eval.add(&ca, &low).unwrap();
    assert_eq!(s.level(), 1);
    assert_close(&f.decrypt(&s), &sum, bound, "add across levels");
}

#[test]
fn multiplicative_operations() {
    let mut f = Fixture::new(11, 3);
    let slots = f.ctx.max_slots();
    let (a, b) = (values(slots, 4), values(slots, 5));
    let (ca, cb) = (f.encrypt(&a), f.encrypt(&b));
    let delta = ca.scale();
    // |a|, |b| ≤ sqrt(2): product error ≈ |a|·e_b + |b|·e_a + rescale rounding.
    let bound = 2.0 * 2f64.sqrt() * f.fresh_bound(delta) + f.rescale_bound(delta);
    let prod: Vec<_> = a.iter().zip(&b).map(|(x, y)| x * y).collect();

    let ct = f.eval.mul_and_rescale(&ca, &cb).unwrap();
    assert_eq!(ct.level(), ca.level() - 1);
    let q = f.ctx.q(ca.level()) as f64;
    assert!((ct.scale() - delta * delta / q).abs() <= 1e-9 * ct.scale());
    assert_close(&f.decrypt(&ct), &prod, bound, "mul + relin + rescale");

    let sq: Vec<_> = a.iter().map(|x| x * x).collect();
    let ct = f.eval.rescale(&f.eval.square(&ca).unwrap()).unwrap();
    assert_close(&f.decrypt(&ct), &sq, bound, "square");

    // Lazy relinearization: a·b + a·a, relinearized once; and the 3-component decryption.
    let t1 = f.eval.mul_no_relin(&ca, &cb).unwrap();
    let t2 = f.eval.mul_no_relin(&ca, &ca).unwrap();
    let dec3 = Decryptor::new(&f.ctx, &f.sk)
        .unwrap()
        .decrypt3(&t1)
        .unwrap();
    let v3 = f
        .encoder
        .decode_poly(dec3.poly(), slots, dec3.scale())
        .unwrap();
    assert_close(&v3, &prod, bound, "decrypt3");
    let lazy = f
        .eval
        .rescale(&f.eval.relinearize(&f.eval.add3(&t1, &t2).unwrap()).unwrap())
        .unwrap();
    let want: Vec<_> = prod.iter().zip(&sq).map(|(x, y)| x + y).collect();
    assert_close(
        &f.decrypt(&lazy),
        &want,
        2.0 * bound,
        "lazy relinearization",
    );

    let pb = f.encode(&b, f.ctx.max_level(), delta);
    let ct = f
        .eval
        .rescale(&f.eval.mul_plain(&ca, &pb).unwrap())
        .unwrap();
    assert_close(&f.decrypt(&ct), &prod, bound, "mul_plain");

    let c = Complex64::new(-0.5, 2.0);
    let ct = f.eval.mul_const(&ca, c).unwrap();
    assert_eq!(ct.level(), ca.level() - 1);
    assert_eq!(ct.scale(), ca.scale(), "mul_const keeps the scale exactly");
    let want: Vec<_> = a.iter().map(|x| x * c).collect();
    assert_close(&f.decrypt(&ct), &want, c.norm() * bound, "mul_const");

    // A chain of products down to level 0.
    let mut acc = ca.clone();
    let mut expect = a.clone();
    while acc.level() > 0 {
        acc = f
            .eval
            .mul_and_rescale(&acc, &f.eval.drop_to_level(&cb, acc.level()).unwrap())
            .unwrap();
        expect = expect.iter().zip(&b).map(|(x, y)| x * y).collect();
    }
    let levels = f.ctx.max_level() as f64;
    assert_close(
        &f.decrypt(&acc),
        &expect,
        4.0 * levels * bound,
        "product chain",
    );
}

#[test]
fn rotations_conjugation_and_monomials() {
    let mut f = Fixture::new(11, 3);
    for slots in [f.ctx.max_slots(), 16] {
        let a = values(slots, 6);
        let ca = f.encrypt(&a);
        let bound = 2.0 * f.fresh_bound(ca.scale()) + f.rescale_bound(ca.scale());
        for &k in &ROTATIONS {
            let want: Vec<_> = (0..slots)
                .map(|j| a[(j as i64 + k as i64).rem_euclid(slots as i64) as usize])
                .collect();
            let got = f.decrypt(&f.eval.rotate(&ca, k).unwrap());
            assert_close(&got, &want, bound, &format!("rotate {k} ({slots} slots)"));
        }
        let hoisted = f.eval.rotate_hoisted(&ca, &ROTATIONS).unwrap();
        for (h, &k) in hoisted.iter().zip(&ROTATIONS) {
            let plain = f.decrypt(&f.eval.rotate(&ca, k).unwrap());
            assert_close(&f.decrypt(h), &plain, 2.0 * bound, &format!("hoisted {k}"));
        }
        // The hoisted sum (with a step 0 and a repeated step) decrypts to the sum of the
        // rotated vectors; it carries one ModDown rounding for the whole sum.
        let steps = [1, 0, 5, -7, 5];
        let sum = f.eval.rotate_hoisted_sum(&ca, &steps).unwrap();
        let want: Vec<_> = (0..slots)
            .map(|j| {
                steps
                    .iter()
                    .map(|&k| a[(j as i64 + k as i64).rem_euclid(slots as i64) as usize])
                    .sum::<Complex64>()
            })
            .collect();
        assert_close(
            &f.decrypt(&sum),
            &want,
            steps.len() as f64 * bound,
            &format!("hoisted sum ({slots} slots)"),
        );
        assert!(matches!(
            f.eval.rotate_hoisted_sum(&ca, &[]),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            f.eval.rotate_hoisted_sum(&ca, &[1, 3]),
            Err(Error::MissingGaloisKey(_))
        ));
        let dec = f.eval.decompose(&ca).unwrap();
        let r = f.eval.rotate_decomposed(&ca, &dec, -7).unwrap();
        assert_eq!(r, hoisted[4], "rotate_decomposed is the hoisted rotation");
        let low = f.eval.drop_to_level(&ca, 1).unwrap();
        assert!(matches!(
            f.eval.rotate_decomposed(&low, &dec, 1),
            Err(Error::Level(_))
        ));
        let conj: Vec<_> = a.iter().map(|x| x.conj()).collect();
        assert_close(
            &f.decrypt(&f.eval.conjugate(&ca).unwrap()),
            &conj,
            bound,
            "conjugate",
        );

        let times_i: Vec<_> = a.iter().map(|x| x * Complex64::i()).collect();
        let ct = f.eval.mul_i(&ca).unwrap();
        assert_eq!(ct.level(), ca.level());
        assert_close(
            &f.decrypt(&ct),
            &times_i,
            f.fresh_bound(ca.scale()),
            "mul_i",
        );
        let via_monomial = f.eval.mul_by_monomial(&ca, f.ctx.n() / 2).unwrap();
        assert_eq!(via_monomial, ct, "X^(N/2) is exactly i");
        let neg = f.eval.mul_by_monomial(&ca, f.ctx.n()).unwrap();
        assert_eq!(neg, f.eval.neg(&ca).unwrap(), "X^N = -1");
    }
}

#[test]
fn key_switching_works_for_every_digit_count() {
    for dnum in [1, 2, 5] {
        let mut f = Fixture::new(10, dnum);
        let slots = f.ctx.max_slots();
        let (a, b) = (values(slots, 7), values(slots, 8));
        let (ca, cb) = (f.encrypt(&a), f.encrypt(&b));
        let bound = 2.0 * 2f64.sqrt() * f.fresh_bound(ca.scale()) + f.rescale_bound(ca.scale());
        let prod: Vec<_> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
        let ct = f.eval.mul_and_rescale(&ca, &cb).unwrap();
        assert_close(&f.decrypt(&ct), &prod, bound, &format!("mul, dnum {dnum}"));
        // At a lower level too (partial digits).
        let low = f.eval.drop_to_level(&ca, 2).unwrap();
        let r = f.eval.rotate(&low, 1).unwrap();
        let want: Vec<_> = (0..slots).map(|j| a[(j + 1) % slots]).collect();
        assert_close(
            &f.decrypt(&r),
            &want,
            bound,
            &format!("rotate at level 2, dnum {dnum}"),
        );
    }
}

#[test]
fn typed_errors() {
    let mut f = Fixture::new(10, 2);
    let slots = f.ctx.max_slots();
    let a = values(slots, 9);
    let ca = f.encrypt(&a);
    let bottom = f.eval.drop_to_level(&ca, 0).unwrap();
    assert!(matches!(f.eval.rescale(&bottom), Err(Error::Level(_))));
    assert!(matches!(
        f.eval.mul_const(&bottom, Complex64::new(2.0, 0.0)),
        Err(Error::Level(_))
    ));
    assert!(matches!(
        f.eval.drop_to_level(&bottom, 2),
        Err(Error::Level(_))
    ));
    match f.eval.rotate(&ca, 3) {
        Err(Error::MissingGaloisKey(what)) => assert_eq!(what, "rotation by 3"),
        other => panic!("expected a missing-key error, got {other:?}"),
    }
    assert!(matches!(
        f.eval.rotate_hoisted(&ca, &[1, 3]),
        Err(Error::MissingGaloisKey(_))
    ));
    let no_keys = Evaluator::new(&f.ctx, None).unwrap();
    assert!(matches!(no_keys.mul(&ca, &ca), Err(Error::MissingRelinKey)));
    assert!(
        matches!(no_keys.conjugate(&ca), Err(Error::MissingGaloisKey(w)) if w == "conjugation")
    );

    // Another context (different dnum gives different primes' grouping and id).
    let other = Context::new(&spec(10, 1), true).unwrap();
    assert_ne!(other.id(), f.ctx.id());
    let other_eval = Evaluator::new(&other, None).unwrap();
    assert!(matches!(
        other_eval.add(&ca, &ca),
        Err(Error::ParameterMismatch(_))
    ));
    assert!(matches!(
        Evaluator::new(&other, Some(f.keys.clone())),
        Err(Error::ParameterMismatch(_))
    ));
    assert!(matches!(
        Decryptor::new(&other, &f.sk),
        Err(Error::ParameterMismatch(_))
    ));

    // Same level, different scales: refused.
    let pt = f.encode(&a, f.ctx.max_level(), f.ctx.default_scale() * 2.0);
    let cb = f.encryptor.encrypt(&pt).unwrap();
    assert!(matches!(
        f.eval.add(&ca, &cb),
        Err(Error::ScaleMismatch { .. })
    ));
    assert!(matches!(
        f.eval.add_plain(&ca, &pt),
        Err(Error::ScaleMismatch { .. })
    ));
    // Different levels and scales: the higher one is brought to the lower one's scale.
    let prod = f.eval.mul_and_rescale(&ca, &ca).unwrap();
    assert!((prod.scale() - cb.scale()).abs() > 0.1 * cb.scale());
    let sum = f.eval.add(&cb, &prod).unwrap();
    assert_eq!(sum.level(), prod.level());
    assert_eq!(sum.scale(), prod.scale());
    let want: Vec<_> = a.iter().map(|x| x + x * x).collect();
    let bound = 4.0 * f.fresh_bound(ca.scale()) + 2.0 * f.rescale_bound(ca.scale());
    assert_close(&f.decrypt(&sum), &want, bound, "flexible scale alignment");

    // Slot counts must match.
    let few = f.encrypt(&values(8, 1));
    assert!(matches!(f.eval.add(&ca, &few), Err(Error::InvalidInput(_))));
}

#[test]
fn mod_raise_preserves_the_plaintext_modulo_q0() {
    let mut f = Fixture::new(10, 2);
    let a = values(f.ctx.max_slots(), 10);
    let ca = f.encrypt(&a);
    let bottom = f.eval.drop_to_level(&ca, 0).unwrap();
    let raised = f.eval.mod_raise(&bottom).unwrap();
    assert_eq!(raised.level(), f.ctx.max_level());
    let dec = Decryptor::new(&f.ctx, &f.sk).unwrap();
    let mut low = dec.decrypt(&bottom).unwrap().into_poly();
    let mut high = dec.decrypt(&raised).unwrap().into_poly();
    low.intt(f.ctx.ring());
    high.intt(f.ctx.ring());
    assert_eq!(low.limb(0), high.limb(0));
    assert!(matches!(f.eval.mod_raise(&ca), Err(Error::Level(_))));
}
