//! `.npy` loading (`hetal_data::npy::parse_npy`) and the feature/label conversions behind it.
//! The input is parsed as is and behind the `.npy` magic (libFuzzer rarely guesses six magic
//! bytes compared as a slice). An accepted array re-encodes with `write_npy` to bytes that parse to the same array.
#![no_main]

use std::path::Path;

use hetal_data::load::{features_from_npy, labels_from_npy};
use hetal_data::npy::{MAGIC, parse_npy, write_npy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let with_magic = [&MAGIC[..], data].concat();
    check(data);
    check(&with_magic);
});

fn check(data: &[u8]) {
    let Ok(array) = parse_npy(data) else {
        return;
    };
    let encoded = write_npy(&array).expect("a parsed array re-encodes");
    let again = parse_npy(&encoded).expect("a re-encoded array parses");
    // NaN payloads compare unequal; compare the canonical bytes instead.
    assert_eq!(write_npy(&again).expect("re-encodes twice"), encoded);
    assert_eq!(again.shape, array.shape);
    let path = Path::new("fuzz.npy");
    let _ = features_from_npy(array.clone(), path);
    let _ = labels_from_npy(array, path);
}
