//! The one serde codec of the runtime: bincode 1.3.3 (pinned; see the workspace Cargo.toml for the
//! advisory), fixed-width little-endian integers, a size limit on every decode, no trailing bytes.
//!
//! Everything that goes through serde goes through these two functions, so the codec can be
//! swapped (e.g. for wincode) in this file alone. Bulk data never passes through here.

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// bincode failed (malformed input, size limit exceeded, unsupported serde feature).
    #[error("bincode: {0}")]
    Bincode(#[from] bincode::Error),
    /// The encoded value is longer than the caller's limit.
    #[error("{len} bytes exceed the decode limit of {limit}")]
    TooLarge {
        /// Input length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// A message type got a payload shape it does not accept.
    #[error("{0}")]
    Shape(String),
    /// A decoder asked a [`super::BulkReader`] for more bytes than the bulk part has left (a
    /// truncated payload, or lengths in the meta part that do not match it).
    #[error("bulk part too short: {needed} bytes needed, {left} left")]
    BulkTooShort {
        /// Bytes the decoder asked for.
        needed: u64,
        /// Bytes that were left.
        left: u64,
    },
}

fn options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(limit)
        .reject_trailing_bytes()
}

/// Encodes `value`; fails if the encoding would exceed `limit` bytes.
pub fn encode_limited<T: Serialize + ?Sized>(value: &T, limit: u64) -> Result<Vec<u8>, CodecError> {
    Ok(options(limit).serialize(value)?)
}

/// Encodes `value` with no size limit (our own small structures only).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode_limited(value, u64::MAX)
}

/// Decodes a `T` from exactly `bytes`, which may be at most `limit` long.
///
/// bincode 1.3 ignores its own limit when reading from a slice (the slice bounds every read, and
/// serde caps up-front allocations for announced sequence lengths), so the limit is enforced on
/// the slice length here.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, CodecError> {
    let len = bytes.len() as u64;
    if len > limit {
        return Err(CodecError::TooLarge { len, limit });
    }
    Ok(options(limit).deserialize(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_enforces_limits() {
        let value = (7u32, "seven".to_owned(), vec![1u64, 2, 3]);
        let bytes = encode(&value).unwrap();
        assert_eq!(
            decode::<(u32, String, Vec<u64>)>(&bytes, 1024).unwrap(),
            value
        );
        assert!(decode::<(u32, String, Vec<u64>)>(&bytes, 8).is_err());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode::<(u32, String, Vec<u64>)>(&trailing, 1024).is_err());
        // A huge announced length is refused by the limit, not allocated.
        let huge = [0xff_u8; 8];
        assert!(decode::<Vec<u8>>(&huge, 1 << 20).is_err());
    }
}
