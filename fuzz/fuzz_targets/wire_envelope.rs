//! Runtime envelope decoding through the one serde codec (`runtime::wire::codec`): `Envelope`,
//! `RemoteFailure` and a limb vector. Accepted input re-encodes to the same bytes (the codec
//! rejects trailing bytes and uses fixed-width integers, so the encoding is canonical).
#![no_main]

use hetal_runtime::wire::codec::{decode, encode};
use hetal_runtime::wire::limbs::u64s_from_le_bytes;
use hetal_runtime::wire::{Envelope, RemoteFailure};
use libfuzzer_sys::fuzz_target;

const LIMIT: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = decode::<Envelope>(data, LIMIT) {
        assert_eq!(encode(&envelope).expect("re-encodes"), data);
    }
    if let Ok(failure) = decode::<RemoteFailure>(data, LIMIT) {
        assert_eq!(encode(&failure).expect("re-encodes"), data);
    }
    if let Ok(words) = u64s_from_le_bytes(data) {
        assert_eq!(words.len() * 8, data.len());
    }
});
