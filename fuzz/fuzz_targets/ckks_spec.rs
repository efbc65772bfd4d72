//! CKKS parameter-spec files (`serial::spec_from_bytes`), both as raw bytes and as a payload
//! behind a valid container (random bytes rarely pass the checksum): never panics; an accepted
//! spec re-encodes to bytes that decode to the same spec.
#![no_main]

use hetal_ckks::serial::container::{Fingerprint, ObjectKind, seal};
use hetal_ckks::serial::{spec_from_bytes, spec_to_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sealed = seal(ObjectKind::ParameterSpec, Fingerprint([0; 16]), data);
    for bytes in [data, &sealed[..]] {
        check(bytes);
    }
});

fn check(data: &[u8]) {
    if let Ok(spec) = spec_from_bytes(data) {
        let encoded = spec_to_bytes(&spec);
        let again = spec_from_bytes(&encoded).expect("a re-encoded spec decodes");
        assert_eq!(again, spec);
        assert_eq!(spec_to_bytes(&again), encoded);
    }
}
