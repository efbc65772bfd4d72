//! The `.npy` parser never panics on arbitrary or mutated bytes.

use hetal_data::npy::{NpyArray, NpyData, parse_npy, write_npy};
use proptest::prelude::*;

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_npy(&bytes);
    }

    #[test]
    fn random_bytes_after_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = parse_npy(&bytes);
    }

    #[test]
    fn mutated_valid_files_never_panic(
        values in proptest::collection::vec(-1e6f64..1e6, 1..40),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let array = NpyArray { shape: vec![values.len()], data: NpyData::F64(values) };
        let mut bytes = write_npy(&array).unwrap();
        prop_assert_eq!(parse_npy(&bytes).unwrap(), array);
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        let keep = cut % (bytes.len() + 1);
        let _ = parse_npy(&bytes[..keep]);
        let _ = parse_npy(&bytes);
    }
}

proptest! {
    #[test]
    fn csv_parser_never_panics(text in "[a-z0-9,.\\-\" \n]{0,200}") {
        let _ = hetal_data::csv::parse_csv(&text, "y", std::path::Path::new("fuzz.csv"));
        let with_header = format!("a,y\n{text}");
        let _ = hetal_data::csv::parse_csv(&with_header, "y", std::path::Path::new("fuzz.csv"));
    }
}
