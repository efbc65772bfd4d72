//! Runtime frame decoding: `decode_frame` (header, envelope and bulk split) and
//! `FrameHeader::decode`, under both default and tight limits. An accepted header re-encodes to
//! the exact input bytes.
#![no_main]

use bytes::Bytes;
use hetal_runtime::wire::{FrameHeader, FrameLimits, HEADER_LEN, decode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tight = FrameLimits {
        max_meta_bytes: 64,
        max_bulk_bytes: 256,
    };
    for limits in [FrameLimits::default(), tight] {
        let frame = Bytes::copy_from_slice(data);
        if let Ok((header, meta, bulk)) = decode_frame(&frame, &limits) {
            assert_eq!(meta.len() as u64, u64::from(header.meta_len));
            assert_eq!(bulk.len() as u64, header.bulk_len);
            assert_eq!(HEADER_LEN + meta.len() + bulk.len(), data.len());
        }
        if let Some(raw) = data.get(..HEADER_LEN) {
            let raw: &[u8; HEADER_LEN] = raw.try_into().expect("slice of HEADER_LEN");
            if let Ok(header) = FrameHeader::decode(raw, &limits) {
                assert_eq!(&header.encode(), raw, "header does not round-trip");
            }
        }
    }
});
