//! Round trips, corruption, truncation and parameter mismatch for every serialized type.

use std::sync::Arc;

use proptest::prelude::*;

use super::codec::{Serial, from_bytes, to_bytes};
use super::keystore::{load_secret_key_bytes, save_secret_key_bytes};
use super::sealed::Serialized;
use crate::crypto::{Ciphertext, Decryptor, Encryptor, Plaintext, SymmetricEncryptor};
use crate::encoding::{Complex64, Encoder};
use crate::error::Error;
use crate::keys::{
    EvaluationKeys, GaloisKey, GaloisKeys, KeyGenerator, PublicKey, RelinearizationKey,
};
use crate::math::sample::Prng;
use crate::params::context::Context;
use crate::params::presets;

struct Fixture {
    ctx: Arc<Context>,
    keygen: KeyGenerator,
    encoder: Encoder,
}

fn fixture(name: &str, seed: u8) -> Fixture {
    let ctx = Context::new(&presets::preset(name).unwrap(), true).unwrap();
    let keygen = KeyGenerator::new(&ctx, Prng::from_seed([seed; 32]));
    let encoder = Encoder::new(&ctx);
    Fixture {
        ctx,
        keygen,
        encoder,
    }
}

fn values(slots: usize) -> Vec<Complex64> {
    (0..slots)
        .map(|i| Complex64::new((i as f64 * 0.7).sin(), (i as f64 * 0.3).cos() / 2.0))
        .collect()
}

fn serialization_error<T: std::fmt::Debug>(r: crate::Result<T>) -> String {
    match r {
        Err(Error::Serialization(m)) => m,
        other => panic!("expected a serialization error, got {other:?}"),
    }
}

#[test]
fn plaintext_and_ciphertexts_round_trip_with_live_limbs_only() {
    let mut f = fixture("insecure-test-n10", 1);
    let z = values(64);
    let pt = f.encoder.encode(&z, 2, f.ctx.default_scale()).unwrap();
    let bytes = to_bytes(&pt, &f.ctx).unwrap();
    assert_eq!(from_bytes::<Plaintext>(&bytes, &f.ctx).unwrap(), pt);

    let pk = f.keygen.public_key();
    let mut enc = Encryptor::new(&f.ctx, &pk, Prng::from_seed([2; 32])).unwrap();
    let ct = enc.encrypt(&pt).unwrap();
    let full = to_bytes(&ct, &f.ctx).unwrap();
    let back: Ciphertext = from_bytes(&full, &f.ctx).unwrap();
    assert_eq!(back, ct);

    // Only the 3 live limbs of the level-2 ciphertext are stored, bit-packed.
    let limb_bytes: usize = f.ctx.q_primes()[..3]
        .iter()
        .map(|q| f.ctx.n() * (64 - q.leading_zeros() as usize) / 8)
        .sum();
    assert!(full.len() < 2 * limb_bytes + 100, "{} bytes", full.len());

    // A seeded symmetric ciphertext stores the seed instead of c1: about half the size.
    let mut sym =
        SymmetricEncryptor::new(&f.ctx, f.keygen.secret_key(), Prng::from_seed([3; 32])).unwrap();
    let seeded = sym.encrypt(&pt).unwrap();
    let compact = to_bytes(&seeded, &f.ctx).unwrap();
    assert!(compact.len() < limb_bytes + 100, "{} bytes", compact.len());
    let back: Ciphertext = from_bytes(&compact, &f.ctx).unwrap();
    assert_eq!(back, seeded);
    let dec = Decryptor::new(&f.ctx, f.keygen.secret_key()).unwrap();
    let got = f.encoder.decode(&dec.decrypt(&back).unwrap()).unwrap();
    let err = got
        .iter()
        .zip(&z)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);
    assert!(err < 1e-6, "decryption error {err}");
}

#[test]
fn keys_round_trip() {
    let mut f = fixture("insecure-test-n10", 4);
    let pk = f.keygen.public_key();
    let bytes = to_bytes(&pk, &f.ctx).unwrap();
    let pk_back = from_bytes::<PublicKey>(&bytes, &f.ctx).unwrap();
    assert_eq!(pk_back, pk);
    // Equality ignores the special-prime part; check it survives too, since encryption over Q·P
    // (smaller fresh noise) depends on it.
    assert!(pk.special_b().is_some());
    assert_eq!(pk_back.special_b(), pk.special_b());

    let rlk = f.keygen.relinearization_key();
    let bytes = to_bytes(&rlk, &f.ctx).unwrap();
    assert_eq!(
        from_bytes::<RelinearizationKey>(&bytes, &f.ctx).unwrap(),
        rlk
    );
    // Seeds replace the uniform halves: well under the in-memory size.
    assert!(
        bytes.len() < rlk.key().size_bytes() / 2,
        "{} vs {}",
        bytes.len(),
        rlk.key().size_bytes()
    );

    let gks = f.keygen.galois_keys(&[1, -1, 3], true).unwrap();
    let bytes = to_bytes(&gks, &f.ctx).unwrap();
    assert_eq!(from_bytes::<GaloisKeys>(&bytes, &f.ctx).unwrap(), gks);
    let one = gks.get(gks.elements().next().unwrap()).unwrap().clone();
    let bytes = to_bytes(&one, &f.ctx).unwrap();
    assert_eq!(from_bytes::<GaloisKey>(&bytes, &f.ctx).unwrap(), one);

    let evk = f.keygen.evaluation_keys(&[2], false).unwrap();
    let sealed = Serialized::seal(&evk, &f.ctx).unwrap();
    assert_eq!(sealed.open(&f.ctx).unwrap(), evk);
}

#[test]
fn serialized_len_is_the_length_to_bytes_writes() {
    fn same<T: Serial>(obj: &T, ctx: &Context) {
        let bytes = to_bytes(obj, ctx).unwrap();
        assert_eq!(super::serialized_len(obj, ctx).unwrap(), bytes.len());
        assert_eq!(
            bytes.len() - super::container::HEADER_LEN,
            u64::from_le_bytes(bytes[24..32].try_into().unwrap()) as usize,
            "the header records the payload length"
        );
    }
    let mut f = fixture("insecure-test-n10", 9);
    let pt = f
        .encoder
        .encode(&values(64), 2, f.ctx.default_scale())
        .unwrap();
    same(&pt, &f.ctx);
    let pk = f.keygen.public_key();
    same(&pk, &f.ctx);
    let ct = Encryptor::new(&f.ctx, &pk, Prng::from_seed([3; 32]))
        .unwrap()
        .encrypt(&pt)
        .unwrap();
    same(&ct, &f.ctx);
    let evk = f.keygen.evaluation_keys(&[1, -2, 5], true).unwrap();
    same(&evk, &f.ctx);
    // A key set of another context is refused by the counting pass too.
    let other = fixture("insecure-test-n11", 9);
    assert!(super::serialized_len(&evk, &other.ctx).is_err());
}

#[test]
fn serde_wrapper_carries_bytes_and_checks_on_open() {
    let f = fixture("insecure-test-n10", 5);
    let pt = f
        .encoder
        .encode(&values(8), 1, f.ctx.default_scale())
        .unwrap();
    let sealed = Serialized::seal(&pt, &f.ctx).unwrap();
    let json = serde_json::to_vec(&sealed).unwrap();
    let back: Serialized<Plaintext> = serde_json::from_slice(&json).unwrap();
    assert_eq!(back, sealed);
    assert_eq!(back.open(&f.ctx).unwrap(), pt);
    let wrong: Serialized<Ciphertext> = Serialized::from_vec(sealed.into_vec());
    assert!(serialization_error(wrong.open(&f.ctx)).contains("expected a Ciphertext"));
}

#[test]
fn mismatched_parameters_are_refused_naming_the_fingerprint() {
    let mut a = fixture("insecure-test-n10", 6);
    let b = fixture("insecure-test-n11", 6);
    let pk = a.keygen.public_key();
    let bytes = to_bytes(&pk, &a.ctx).unwrap();
    assert!(serialization_error(from_bytes::<PublicKey>(&bytes, &b.ctx)).contains("fingerprint"));
    // Writing an object with a context it does not belong to is refused too.
    assert!(matches!(
        to_bytes(&pk, &b.ctx),
        Err(Error::ParameterMismatch(_))
    ));
}

#[test]
fn a_plaintext_with_more_limbs_than_the_context_is_refused_not_a_panic() {
    let big = fixture("insecure-test-n10", 13);
    let mut spec = presets::insecure_test_n10();
    spec.q_bits.truncate(2);
    spec.dnum = 1;
    let small = Context::new(&spec, true).unwrap();
    let pt = big
        .encoder
        .encode(&values(8), 3, big.ctx.default_scale())
        .unwrap();
    assert!(matches!(to_bytes(&pt, &small), Err(Error::InvalidInput(_))));
}

#[test]
fn every_truncation_is_an_error() {
    let mut f = fixture("insecure-test-n10", 7);
    let pk = f.keygen.public_key();
    let mut enc = Encryptor::new(&f.ctx, &pk, Prng::from_seed([8; 32])).unwrap();
    let pt = f
        .encoder
        .encode(&values(16), 1, f.ctx.default_scale())
        .unwrap();
    let ct = enc.encrypt(&pt).unwrap();
    let bytes = to_bytes(&ct, &f.ctx).unwrap();
    for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
        assert!(
            from_bytes::<Ciphertext>(&bytes[..cut], &f.ctx).is_err(),
            "cut {cut}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(from_bytes::<Ciphertext>(&longer, &f.ctx).is_err());
}

/// Re-seals a payload after editing it, so that the checksum passes and the payload checks
/// themselves are exercised.
fn reseal<T: Serial>(bytes: &[u8], ctx: &Context, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = bytes[super::container::HEADER_LEN..].to_vec();
    edit(&mut payload);
    super::container::seal(T::KIND, super::codec::context_fingerprint(ctx), &payload)
}

#[test]
fn payload_checks_catch_bad_fields_behind_a_valid_checksum() {
    let f = fixture("insecure-test-n10", 9);
    let pt = f
        .encoder
        .encode(&values(16), 1, f.ctx.default_scale())
        .unwrap();
    let bytes = to_bytes(&pt, &f.ctx).unwrap();
    let level_too_high = reseal::<Plaintext>(&bytes, &f.ctx, |p| p[0] = 200);
    assert!(
        serialization_error(from_bytes::<Plaintext>(&level_too_high, &f.ctx)).contains("level")
    );
    let bad_slots = reseal::<Plaintext>(&bytes, &f.ctx, |p| p[4] = 3);
    assert!(serialization_error(from_bytes::<Plaintext>(&bad_slots, &f.ctx)).contains("slot"));
    let bad_scale = reseal::<Plaintext>(&bytes, &f.ctx, |p| {
        p[8..16].copy_from_slice(&f64::NAN.to_le_bytes())
    });
    assert!(serialization_error(from_bytes::<Plaintext>(&bad_scale, &f.ctx)).contains("scale"));
    // Residue bits all set: above the modulus.
    let above = reseal::<Plaintext>(&bytes, &f.ctx, |p| {
        for b in &mut p[16..24] {
            *b = 0xff;
        }
    });
    assert!(serialization_error(from_bytes::<Plaintext>(&above, &f.ctx)).contains("modulus"));
}

#[test]
fn secret_key_keystore_round_trip_and_checks() {
    let f = fixture("insecure-test-n10", 10);
    let sk = f.keygen.secret_key();
    let bytes = save_secret_key_bytes(sk, &f.ctx).unwrap();
    assert_eq!(bytes.len(), super::container::HEADER_LEN + f.ctx.n());
    let back = load_secret_key_bytes(&bytes, &f.ctx).unwrap();
    assert_eq!(back.poly(), sk.poly());
    let other = fixture("insecure-test-n11", 10);
    assert!(load_secret_key_bytes(&bytes, &other.ctx).is_err());
    let mut bad = bytes.to_vec();
    let n = bad.len();
    bad.truncate(n - 1);
    assert!(load_secret_key_bytes(&bad, &f.ctx).is_err());
    let not_ternary = reseal::<Plaintext>(&bytes, &f.ctx, |p| p[0] = 2);
    // Wrong kind first (sealed as a plaintext), then a proper secret-key container with a bad value.
    assert!(load_secret_key_bytes(&not_ternary, &f.ctx).is_err());
    let mut payload = bytes[super::container::HEADER_LEN..].to_vec();
    payload[0] = 2;
    let sealed = super::container::seal(
        super::container::ObjectKind::SecretKey,
        super::codec::context_fingerprint(&f.ctx),
        &payload,
    );
    assert!(load_secret_key_bytes(&sealed, &f.ctx).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_byte_mutations_never_panic_and_are_detected(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        keep_checksum in any::<bool>(),
    ) {
        thread_local! {
            static CASE: (Arc<Context>, Vec<u8>, Vec<u8>) = {
                let mut f = fixture("insecure-test-n10", 11);
                let pk = f.keygen.public_key();
                let mut enc = Encryptor::new(&f.ctx, &pk, Prng::from_seed([12; 32])).unwrap();
                let pt = f.encoder.encode(&values(32), 2, f.ctx.default_scale()).unwrap();
                let ct = to_bytes(&enc.encrypt(&pt).unwrap(), &f.ctx).unwrap();
                let evk = to_bytes(&f.keygen.evaluation_keys(&[1], true).unwrap(), &f.ctx).unwrap();
                (f.ctx, ct, evk)
            };
        }
        CASE.with(|(ctx, ct, evk)| {
            for (original, is_ct) in [(ct, true), (evk, false)] {
                let mut bytes = original.clone();
                for (index, xor) in &edits {
                    let i = index.index(bytes.len());
                    bytes[i] ^= xor;
                }
                if keep_checksum && bytes.len() > super::container::HEADER_LEN {
                    // Recompute the checksum so the payload validation itself is exercised.
                    let sum = super::container::checksum(&bytes[super::container::HEADER_LEN..]);
                    bytes[32..40].copy_from_slice(&sum.to_le_bytes());
                }
                let decoded_ok = if is_ct {
                    from_bytes::<Ciphertext>(&bytes, ctx).is_ok()
                } else {
                    from_bytes::<EvaluationKeys>(&bytes, ctx).is_ok()
                };
                if !keep_checksum {
                    // Without a recomputed checksum every mutation must be rejected.
                    prop_assert!(!decoded_ok);
                }
            }
            Ok(())
        })?;
    }
}
