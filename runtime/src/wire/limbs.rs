//! Bulk numeric data as raw little-endian bytes: how ciphertext limbs travel, without serde and
//! with the same bytes on every platform.

use bytes::Bytes;

use super::{Bulk, CodecError};

/// Encodes `u64` words as little-endian bytes (8 bytes per word).
pub fn u64s_to_le_bytes(words: &[u64]) -> Bytes {
    let mut out = Vec::with_capacity(words.len() * 8);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    Bytes::from(out)
}

/// Decodes little-endian bytes into `u64` words; the length must be a multiple of 8.
pub fn u64s_from_le_bytes(bytes: &[u8]) -> Result<Vec<u64>, CodecError> {
    if !bytes.len().is_multiple_of(8) {
        return Err(CodecError::Shape(format!(
            "{} bytes is not a whole number of 64-bit words",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// Decodes little-endian `u64` words from received pieces, words spanning piece boundaries
/// included; the length must be a multiple of 8.
pub fn u64s_from_bulk(bulk: &Bulk) -> Result<Vec<u64>, CodecError> {
    if !bulk.len().is_multiple_of(8) {
        return Err(CodecError::Shape(format!(
            "{} bytes is not a whole number of 64-bit words",
            bulk.len()
        )));
    }
    let mut words = Vec::with_capacity(bulk.len() / 8);
    let mut reader = bulk.reader();
    while reader.remaining() > 0 {
        words.push(reader.u64_le()?);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_little_endian() {
        let words = [0u64, 1, u64::MAX, 0x0102_0304_0506_0708];
        let bytes = u64s_to_le_bytes(&words);
        assert_eq!(bytes.len(), 32);
        assert_eq!(&bytes[24..], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(u64s_from_le_bytes(&bytes).unwrap(), words);
        assert!(u64s_from_le_bytes(&bytes[..31]).is_err());
        assert!(u64s_from_le_bytes(&[]).unwrap().is_empty());
    }

    #[test]
    fn words_decode_across_every_piece_boundary() {
        let words: Vec<u64> = (0..5u64)
            .map(|i| i.wrapping_mul(0x0123_4567_89ab_cdef))
            .collect();
        let bytes = u64s_to_le_bytes(&words);
        for cut in 0..=bytes.len() {
            let bulk = Bulk::from_pieces([bytes.slice(..cut), bytes.slice(cut..)]);
            assert_eq!(u64s_from_bulk(&bulk).unwrap(), words);
            if cut % 8 != 0 {
                assert!(u64s_from_bulk(&bulk.slice(0..cut).unwrap()).is_err());
            }
        }
    }
}
