//! CSV feature tables (`hetal_data::csv::parse_csv`) on any UTF-8 text: never panics, and an
//! accepted table is consistent (one label per row, one feature name per column).
#![no_main]

use std::path::Path;

use hetal_data::csv::parse_csv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for label in ["label", "y"] {
        if let Ok(table) = parse_csv(text, label, Path::new("fuzz.csv")) {
            assert_eq!(table.features.nrows(), table.labels.len());
            assert_eq!(table.features.ncols(), table.feature_names.len());
        }
    }
});
