//! The fixed frame header. Little-endian, 28 bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `HTAL` |
//! | 4 | 2 | protocol version |
//! | 6 | 1 | frame kind |
//! | 7 | 1 | flags (none defined in version 1; any set bit is an error) |
//! | 8 | 8 | request id |
//! | 16 | 4 | envelope (`meta`) length |
//! | 20 | 8 | bulk payload length |
//!
//! Both lengths are checked against [`FrameLimits`] before a single byte is allocated for them.

use bytes::Bytes;

use super::WireError;

/// First four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"HTAL";
/// The wire protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;
/// Size of the encoded header.
pub const HEADER_LEN: usize = 28;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// A one-way message; answered by [`FrameKind::Ack`] once the target actor handled it.
    Tell = 1,
    /// A request; answered by [`FrameKind::Reply`] or [`FrameKind::Failure`].
    Ask = 2,
    /// The reply to an ask.
    Reply = 3,
    /// Acknowledges a tell: the target actor has handled it.
    Ack = 4,
    /// The receiver refused or failed the request; the envelope holds a
    /// [`super::RemoteFailure`].
    Failure = 5,
    /// A one-way message on a unidirectional stream, with no acknowledgement at all.
    Cast = 6,
}

impl FrameKind {
    fn from_u8(value: u8) -> Result<Self, WireError> {
        Ok(match value {
            1 => Self::Tell,
            2 => Self::Ask,
            3 => Self::Reply,
            4 => Self::Ack,
            5 => Self::Failure,
            6 => Self::Cast,
            other => return Err(WireError::UnknownKind(other)),
        })
    }
}

/// Upper bounds on the lengths a peer may announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Longest envelope (routing + serde part of a message).
    pub max_meta_bytes: u32,
    /// Longest bulk payload (e.g. ciphertext limbs).
    pub max_bulk_bytes: u64,
}

impl Default for FrameLimits {
    /// 1 MiB of envelope; 4 GiB of bulk (a full key set is sent as many messages, one key each).
    fn default() -> Self {
        Self {
            max_meta_bytes: 1 << 20,
            max_bulk_bytes: 4 << 30,
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// What the frame is.
    pub kind: FrameKind,
    /// Flag bits; must be 0 in protocol version 1.
    pub flags: u8,
    /// Correlates log lines and progress reports on both sides (the stream itself pairs a
    /// request with its reply).
    pub request_id: u64,
    /// Length of the envelope that follows the header.
    pub meta_len: u32,
    /// Length of the bulk payload that follows the envelope.
    pub bulk_len: u64,
}

impl FrameHeader {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        out[6] = self.kind as u8;
        out[7] = self.flags;
        out[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        out[16..20].copy_from_slice(&self.meta_len.to_le_bytes());
        out[20..28].copy_from_slice(&self.bulk_len.to_le_bytes());
        out
    }

    /// Decodes and validates a header: magic, version, kind, flags and both length limits.
    pub fn decode(bytes: &[u8; HEADER_LEN], limits: &FrameLimits) -> Result<Self, WireError> {
        let [
            m0,
            m1,
            m2,
            m3,
            v0,
            v1,
            kind,
            flags,
            r0,
            r1,
            r2,
            r3,
            r4,
            r5,
            r6,
            r7,
            l0,
            l1,
            l2,
            l3,
            b0,
            b1,
            b2,
            b3,
            b4,
            b5,
            b6,
            b7,
        ] = *bytes;
        let magic = [m0, m1, m2, m3];
        if magic != MAGIC {
            return Err(WireError::BadMagic(magic));
        }
        let version = u16::from_le_bytes([v0, v1]);
        if version != PROTOCOL_VERSION {
            return Err(WireError::UnsupportedVersion(version));
        }
        let kind = FrameKind::from_u8(kind)?;
        if flags != 0 {
            return Err(WireError::UnknownFlags(flags));
        }
        let meta_len = u32::from_le_bytes([l0, l1, l2, l3]);
        if meta_len > limits.max_meta_bytes {
            return Err(WireError::MetaTooLarge {
                len: meta_len,
                max: limits.max_meta_bytes,
            });
        }
        let bulk_len = u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]);
        if bulk_len > limits.max_bulk_bytes {
            return Err(WireError::BulkTooLarge {
                len: bulk_len,
                max: limits.max_bulk_bytes,
            });
        }
        Ok(Self {
            kind,
            flags,
            request_id: u64::from_le_bytes([r0, r1, r2, r3, r4, r5, r6, r7]),
            meta_len,
            bulk_len,
        })
    }
}

/// Decodes one complete frame held in memory (header, envelope, bulk) with the same checks as
/// the streaming reader. Returns the header, the envelope bytes and the bulk bytes.
pub fn decode_frame(
    frame: &Bytes,
    limits: &FrameLimits,
) -> Result<(FrameHeader, Bytes, Bytes), WireError> {
    let truncated = |section, expected: u64, got: usize| WireError::Truncated {
        section,
        expected,
        got: got as u64,
    };
    let header_bytes: &[u8; HEADER_LEN] =
        frame
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| truncated("header", HEADER_LEN as u64, frame.len()))?;
    let header = FrameHeader::decode(header_bytes, limits)?;
    let rest = frame.slice(HEADER_LEN..);
    let meta_len = header.meta_len as usize;
    if rest.len() < meta_len {
        return Err(truncated("envelope", header.meta_len.into(), rest.len()));
    }
    let meta = rest.slice(..meta_len);
    let bulk = rest.slice(meta_len..);
    let got = bulk.len() as u64;
    if got < header.bulk_len {
        return Err(truncated("payload", header.bulk_len, bulk.len()));
    }
    if got > header.bulk_len {
        return Err(WireError::TrailingBytes);
    }
    Ok((header, meta, bulk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FrameHeader {
        FrameHeader {
            kind: FrameKind::Ask,
            flags: 0,
            request_id: 0x0102_0304_0506_0708,
            meta_len: 5,
            bulk_len: 3,
        }
    }

    fn frame(header: &FrameHeader, body: &[u8]) -> Bytes {
        let mut v = header.encode().to_vec();
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    #[test]
    fn header_round_trips() {
        let limits = FrameLimits::default();
        let h = sample();
        assert_eq!(FrameHeader::decode(&h.encode(), &limits).unwrap(), h);
        let (dh, meta, bulk) =
            decode_frame(&frame(&h, b"metaabulk"[..8].as_ref()), &limits).unwrap();
        assert_eq!(dh, h);
        assert_eq!(&meta[..], b"metaa");
        assert_eq!(&bulk[..], b"bul");
    }

    #[test]
    fn rejects_every_bad_field() {
        let limits = FrameLimits {
            max_meta_bytes: 16,
            max_bulk_bytes: 100,
        };
        let good = sample().encode();
        let mut bad = good;
        bad[0] = b'X';
        assert!(matches!(
            FrameHeader::decode(&bad, &limits),
            Err(WireError::BadMagic(_))
        ));
        let mut bad = good;
        bad[4] = 2;
        assert!(matches!(
            FrameHeader::decode(&bad, &limits),
            Err(WireError::UnsupportedVersion(2))
        ));
        let mut bad = good;
        bad[6] = 99;
        assert!(matches!(
            FrameHeader::decode(&bad, &limits),
            Err(WireError::UnknownKind(99))
        ));
        let mut bad = good;
        bad[7] = 0x80;
        assert!(matches!(
            FrameHeader::decode(&bad, &limits),
            Err(WireError::UnknownFlags(0x80))
        ));
        let mut h = sample();
        h.meta_len = 17;
        assert!(matches!(
            FrameHeader::decode(&h.encode(), &limits),
            Err(WireError::MetaTooLarge { len: 17, max: 16 })
        ));
        let mut h = sample();
        h.bulk_len = u64::MAX;
        assert!(matches!(
            FrameHeader::decode(&h.encode(), &limits),
            Err(WireError::BulkTooLarge { .. })
        ));
    }

    #[test]
    fn rejects_truncated_and_trailing_frames() {
        let limits = FrameLimits::default();
        let h = sample();
        let full = frame(&h, b"12345678");
        for cut in [0, 10, HEADER_LEN, HEADER_LEN + 4, full.len() - 1] {
            assert!(
                matches!(
                    decode_frame(&full.slice(..cut), &limits),
                    Err(WireError::Truncated { .. })
                ),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            decode_frame(&frame(&h, b"123456789"), &limits),
            Err(WireError::TrailingBytes)
        ));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        // A deterministic sweep of pseudo-random buffers of every short length.
        let limits = FrameLimits::default();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = decode_frame(&Bytes::from(bytes), &limits);
            let _ = decode_frame(&Bytes::from(with_magic), &limits);
        }
    }
}
