//! Shared pieces of the fuzz targets: the small INSECURE CKKS context every CKKS target decodes
//! against, built once per process, and the decode → encode → decode round-trip check.

use std::sync::{Arc, OnceLock};

use hetal_ckks::params::context::Context;
use hetal_ckks::params::preset;
use hetal_ckks::serial::{Serial, from_bytes, to_bytes};

/// The INSECURE N = 2^10 test context (`insecure-test-n10`), built on first use.
pub fn context() -> &'static Arc<Context> {
    static CTX: OnceLock<Arc<Context>> = OnceLock::new();
    CTX.get_or_init(|| {
        let spec = preset("insecure-test-n10").expect("the insecure-test-n10 preset exists");
        Context::new(&spec, true).expect("the insecure-test-n10 preset builds")
    })
}

/// Decodes `bytes` as a `T`; when that succeeds, re-encodes it and checks that the re-encoding
/// decodes to an equal object whose own encoding is byte-identical (the canonical form is a
/// fixed point), so accepted input never turns into something the encoder cannot reproduce.
pub fn round_trip<T: Serial + PartialEq + std::fmt::Debug>(bytes: &[u8], ctx: &Arc<Context>) {
    let Ok(decoded) = from_bytes::<T>(bytes, ctx) else {
        return;
    };
    let encoded = to_bytes(&decoded, ctx).expect("a decoded object re-encodes");
    let again = from_bytes::<T>(&encoded, ctx).expect("a re-encoded object decodes");
    assert_eq!(again, decoded, "decode(encode(x)) != x");
    let twice = to_bytes(&again, ctx).expect("re-encodes twice");
    assert_eq!(twice, encoded, "encoding is not a fixed point");
}
