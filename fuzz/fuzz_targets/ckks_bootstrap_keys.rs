//! Bootstrapping keys: the sparse-secret encapsulation keys (`SparseSecretKeys::from_bytes`),
//! decoded against the INSECURE N = 2^10 context. Accepted keys must round-trip.
#![no_main]

use hetal_ckks::circuits::bootstrap::SparseSecretKeys;
use hetal_fuzz::context;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ctx = context();
    if let Ok(keys) = SparseSecretKeys::from_bytes(data, ctx) {
        let encoded = keys.to_bytes(ctx).expect("decoded keys re-encode");
        let again = SparseSecretKeys::from_bytes(&encoded, ctx).expect("re-encoded keys decode");
        assert_eq!(again, keys);
    }
});
