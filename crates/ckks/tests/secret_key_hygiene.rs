//! Secret-key hygiene, checked on the public API: the secret key cannot be serialized, cloned
//! or printed, its keystore bytes are wiped on drop, and parameter sets below 128-bit security
//! are refused unless the caller opts in, with a reason. Small INSECURE parameters (N = 2^10).

use hetal_ckks::Error;
use hetal_ckks::keys::{KeyGenerator, SecretKey};
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::{SecurityLevel, preset};
use hetal_ckks::serial::save_secret_key_bytes;

/// Compile-time "does NOT implement" assertion (the ambiguity trick): if `$ty` implemented
/// `$trait`, both blanket impls would apply and `some_item` would be ambiguous, a compile error.
macro_rules! assert_not_impl {
    ($ty:ty, $trait:path, $marker:ident) => {
        const _: () = {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            struct $marker;
            impl<T: ?Sized + $trait> AmbiguousIfImpl<$marker> for T {}
            let _ = <$ty as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

assert_not_impl!(SecretKey, serde::Serialize, ImplsSerialize);
assert_not_impl!(SecretKey, serde::de::DeserializeOwned, ImplsDeserialize);
assert_not_impl!(SecretKey, Clone, ImplsClone);
assert_not_impl!(SecretKey, hetal_ckks::serial::Serial, ImplsSerial);

fn keygen() -> KeyGenerator {
    let ctx = Context::new(&preset("insecure-test-n10").unwrap(), true).unwrap();
    KeyGenerator::new(&ctx, Prng::from_seed([7; 32]))
}

#[test]
fn debug_prints_no_coefficient() {
    let keygen = keygen();
    let sk = keygen.secret_key();
    let printed = format!("{sk:?} {sk:#?}");
    let residues = sk.poly().data();
    // NTT-form residues are uniform below primes of 40-50 bits: every one has many digits.
    let long: Vec<String> = residues
        .iter()
        .filter(|&&r| r >= 1_000_000)
        .map(u64::to_string)
        .collect();
    assert!(
        long.len() > residues.len() / 2,
        "the test needs long residues to look for"
    );
    for r in &long {
        assert!(!printed.contains(r.as_str()), "Debug leaks residue {r}");
    }
    assert!(
        printed.len() < 200,
        "Debug output is {} bytes",
        printed.len()
    );
}

#[test]
fn keystore_bytes_are_wiped_on_drop() {
    // The only byte form of the key is returned as `Zeroizing`, whose Drop overwrites it.
    let ctx = Context::new(&preset("insecure-test-n10").unwrap(), true).unwrap();
    let keygen = KeyGenerator::new(&ctx, Prng::from_seed([7; 32]));
    let bytes: zeroize::Zeroizing<Vec<u8>> =
        save_secret_key_bytes(keygen.secret_key(), &ctx).unwrap();
    assert!(bytes.iter().any(|&b| b != 0));
    // `SecretKey` owns heap data that its Drop must wipe: it has drop glue.
    assert!(std::mem::needs_drop::<SecretKey>());
}

#[test]
fn insecure_presets_are_refused_without_the_opt_in_and_say_why() {
    let spec = preset("insecure-test-n10").unwrap();
    assert_eq!(spec.security, SecurityLevel::InsecureForTests);
    match Context::new(&spec, false) {
        Err(Error::InsecureParameters { name, reason }) => {
            assert_eq!(name, "insecure-test-n10");
            assert!(reason.contains("N = 2^10"), "{reason}");
            assert!(reason.contains("no security"), "{reason}");
        }
        other => panic!("expected InsecureParameters, got {:?}", other.map(|_| ())),
    }
    assert!(Context::new(&spec, true).is_ok());
}

#[test]
fn a_small_ring_claiming_128_bits_is_refused_with_the_bound() {
    let mut spec = preset("insecure-test-n10").unwrap();
    spec.security = SecurityLevel::Bits128;
    spec.name = "claims-128-at-n10".into();
    // Refused even WITH the opt-in: the opt-in is for specs that admit being insecure.
    let err = Context::new(&spec, true).map(|_| ()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("claims-128-at-n10"), "{text}");
    assert!(text.contains("exceeds the HE Standard bound"), "{text}");
}
