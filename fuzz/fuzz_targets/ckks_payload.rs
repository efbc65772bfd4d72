//! CKKS object payloads behind a VALID container: the first input byte picks the object type,
//! the rest is sealed with the receiver's fingerprint and a correct checksum, so the fuzzer
//! reaches the payload readers (levels, slot counts, scales, Galois elements, digit counts,
//! packed residues, seeds). Accepted objects must round-trip.
#![no_main]

use hetal_ckks::crypto::{Ciphertext, Plaintext};
use hetal_ckks::keys::{EvaluationKeys, GaloisKey, GaloisKeys, PublicKey, RelinearizationKey};
use hetal_ckks::serial::container::seal;
use hetal_ckks::serial::{Serial, context_fingerprint};
use hetal_fuzz::{context, round_trip};
use libfuzzer_sys::fuzz_target;

fn sealed<T: Serial>(payload: &[u8]) -> Vec<u8> {
    seal(T::KIND, context_fingerprint(context()), payload)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let ctx = context();
    match selector % 7 {
        0 => round_trip::<Plaintext>(&sealed::<Plaintext>(payload), ctx),
        1 => round_trip::<Ciphertext>(&sealed::<Ciphertext>(payload), ctx),
        2 => round_trip::<PublicKey>(&sealed::<PublicKey>(payload), ctx),
        3 => round_trip::<RelinearizationKey>(&sealed::<RelinearizationKey>(payload), ctx),
        4 => round_trip::<GaloisKey>(&sealed::<GaloisKey>(payload), ctx),
        5 => round_trip::<GaloisKeys>(&sealed::<GaloisKeys>(payload), ctx),
        _ => round_trip::<EvaluationKeys>(&sealed::<EvaluationKeys>(payload), ctx),
    }
});
