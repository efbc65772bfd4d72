//! CKKS serialized objects exactly as a peer sends them (container header, checksum, payload),
//! decoded against the INSECURE N = 2^10 context as every object type and as a secret-key
//! keystore file. Random bytes rarely pass the checksum; `ckks_payload` covers the payloads.
#![no_main]

use hetal_ckks::crypto::{Ciphertext, Plaintext};
use hetal_ckks::keys::{EvaluationKeys, GaloisKey, GaloisKeys, PublicKey, RelinearizationKey};
use hetal_ckks::serial::{from_bytes, load_secret_key_bytes};
use hetal_fuzz::{context, round_trip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    round_trip::<Plaintext>(data, ctx);
    round_trip::<Ciphertext>(data, ctx);
    round_trip::<PublicKey>(data, ctx);
    round_trip::<RelinearizationKey>(data, ctx);
    round_trip::<GaloisKey>(data, ctx);
    round_trip::<GaloisKeys>(data, ctx);
    round_trip::<EvaluationKeys>(data, ctx);
    let _ = from_bytes::<Plaintext>(data, ctx);
    let _ = load_secret_key_bytes(data, ctx);
});
