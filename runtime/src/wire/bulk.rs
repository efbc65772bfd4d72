//! A message's bulk bytes as the ordered pieces they arrived in.
//!
//! QUIC hands a received stream out as pieces of its decrypted packets. Keeping those pieces,
//! instead of copying them into one buffer, saves a copy of every bulk byte on the receiver; a
//! sender likewise hands several buffers (e.g. one per ciphertext) to QUIC without joining them.
//! Decoders read across piece boundaries with a [`BulkReader`], whose every read is checked
//! against what is left and fails with a typed error instead of panicking.

use std::fmt;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::CodecError;

/// Bulk bytes as an ordered list of non-empty pieces. Cloning is cheap (the pieces are shared);
/// equality compares the bytes, not where the pieces are cut.
#[derive(Clone, Default)]
pub struct Bulk {
    pieces: Vec<Bytes>,
    len: usize,
}

impl Bulk {
    /// No bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The concatenation of `pieces`, without copying them (empty ones are dropped).
    pub fn from_pieces<I: IntoIterator<Item = Bytes>>(pieces: I) -> Self {
        let mut bulk = Self::new();
        for piece in pieces {
            bulk.push(piece);
        }
        bulk
    }

    /// Appends `piece` without copying it.
    pub fn push(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.len += piece.len();
            self.pieces.push(piece);
        }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces in order (none of them empty).
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The bytes in one buffer: without copying when they are in one piece, else copied once.
    /// For decoders that need a slice; others should read the pieces with [`Self::reader`].
    pub fn contiguous(&self) -> Bytes {
        match self.pieces.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut out = BytesMut::with_capacity(self.len);
                for piece in many {
                    out.extend_from_slice(piece);
                }
                out.freeze()
            }
        }
    }

    /// Cuts the bytes into consecutive parts of `lens`, which must add up to the length, each
    /// part in one buffer: without copying when it lies in one piece, else copied once. Each
    /// piece is released as soon as it has been copied, so a payload that is one huge part (a
    /// key set) is not held twice over: once as pieces and once as their copy.
    pub fn into_contiguous_parts<I>(self, lens: I) -> Result<Vec<Bytes>, CodecError>
    where
        I: IntoIterator<Item = usize>,
    {
        let mut remaining = self.len;
        let mut pieces = self.pieces.into_iter();
        // The unread part of the piece being cut.
        let mut current = Bytes::new();
        let mut parts = Vec::new();
        for len in lens {
            if len > remaining {
                return Err(CodecError::BulkTooShort {
                    needed: len as u64,
                    left: remaining as u64,
                });
            }
            remaining -= len;
            if current.is_empty() && len > 0 {
                current = pieces.next().unwrap_or_default();
            }
            if current.len() >= len {
                parts.push(current.split_to(len));
                continue;
            }
            let mut joined = BytesMut::with_capacity(len);
            while joined.len() < len {
                if current.is_empty() {
                    match pieces.next() {
                        Some(piece) => current = piece,
                        None => break,
                    }
                }
                let n = current.len().min(len - joined.len());
                joined.extend_from_slice(&current.split_to(n));
            }
            parts.push(joined.freeze());
        }
        if remaining > 0 {
            return Err(CodecError::Shape(format!(
                "{remaining} bulk bytes left after the last part"
            )));
        }
        Ok(parts)
    }

    /// A reader from the first byte.
    pub fn reader(&self) -> BulkReader<'_> {
        BulkReader {
            rest: &self.pieces,
            offset: 0,
            remaining: self.len,
        }
    }

    /// The bytes in `range`, without copying; an error if the range is reversed or runs past the
    /// end.
    pub fn slice(&self, range: Range<usize>) -> Result<Bulk, CodecError> {
        let mut reader = self.reader();
        reader.skip(range.start)?;
        let len = range
            .end
            .checked_sub(range.start)
            .ok_or_else(|| CodecError::Shape(format!("reversed bulk range {range:?}")))?;
        reader.take(len)
    }
}

impl From<Bytes> for Bulk {
    fn from(bytes: Bytes) -> Self {
        Self::from_pieces([bytes])
    }
}

impl From<Vec<u8>> for Bulk {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl PartialEq for Bulk {
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        let (mut a, mut b) = (self.reader(), other.reader());
        while a.remaining() > 0 {
            let n = a.current().len().min(b.current().len());
            if a.current().get(..n) != b.current().get(..n) {
                return false;
            }
            a.advance(n);
            b.advance(n);
        }
        true
    }
}

impl Eq for Bulk {}

impl fmt::Debug for Bulk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulk")
            .field("len", &self.len)
            .field("pieces", &self.pieces.len())
            .finish()
    }
}

/// Reads a [`Bulk`] front to back across its pieces. Every read is checked against the bytes
/// left: asking for more fails with [`CodecError::BulkTooShort`] and consumes nothing.
#[derive(Debug, Clone)]
pub struct BulkReader<'a> {
    /// Pieces not yet fully read; the first is read from `offset`.
    rest: &'a [Bytes],
    offset: usize,
    remaining: usize,
}

impl<'a> BulkReader<'a> {
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Fails unless every byte has been read (for decoders that must consume all of a payload).
    pub fn finish(&self) -> Result<(), CodecError> {
        if self.remaining == 0 {
            Ok(())
        } else {
            Err(CodecError::Shape(format!(
                "{} bulk bytes left after decoding",
                self.remaining
            )))
        }
    }

    /// Fills `out` with the next bytes.
    pub fn read_exact(&mut self, out: &mut [u8]) -> Result<(), CodecError> {
        self.need(out.len())?;
        let mut filled = 0;
        while filled < out.len() {
            let current = self.current();
            let n = current.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&current[..n]);
            self.advance(n);
            filled += n;
        }
        Ok(())
    }

    /// The next little-endian `u64`.
    pub fn u64_le(&mut self) -> Result<u64, CodecError> {
        let mut word = [0u8; 8];
        self.read_exact(&mut word)?;
        Ok(u64::from_le_bytes(word))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), CodecError> {
        self.need(n)?;
        let mut left = n;
        while left > 0 {
            let step = self.current().len().min(left);
            self.advance(step);
            left -= step;
        }
        Ok(())
    }

    /// The next `n` bytes as a [`Bulk`] of the same pieces, without copying.
    pub fn take(&mut self, n: usize) -> Result<Bulk, CodecError> {
        self.need(n)?;
        let mut out = Bulk::new();
        let mut left = n;
        while left > 0 {
            let Some(piece) = self.rest.first() else {
                break;
            };
            let step = (piece.len() - self.offset).min(left);
            out.push(piece.slice(self.offset..self.offset + step));
            self.advance(step);
            left -= step;
        }
        Ok(out)
    }

    /// The next `n` bytes in one buffer: without copying when they lie in one piece, else
    /// copied once.
    pub fn take_contiguous(&mut self, n: usize) -> Result<Bytes, CodecError> {
        self.need(n)?;
        match self.rest.first() {
            Some(piece) if piece.len() - self.offset >= n => {
                let out = piece.slice(self.offset..self.offset + n);
                self.advance(n);
                Ok(out)
            }
            _ => Ok(self.take(n)?.contiguous()),
        }
    }

    fn need(&self, n: usize) -> Result<(), CodecError> {
        if n > self.remaining {
            return Err(CodecError::BulkTooShort {
                needed: n as u64,
                left: self.remaining as u64,
            });
        }
        Ok(())
    }

    /// The unread part of the first unread piece (empty only at the end).
    fn current(&self) -> &'a [u8] {
        match self.rest.first() {
            Some(piece) => piece.get(self.offset..).unwrap_or_default(),
            None => &[],
        }
    }

    /// Moves past `n` bytes of the current piece (`n` at most its unread length).
    fn advance(&mut self, n: usize) {
        self.offset += n;
        self.remaining -= n;
        if let Some(piece) = self.rest.first()
            && self.offset >= piece.len()
        {
            self.rest = &self.rest[1..];
            self.offset = 0;
        }
    }
}

impl std::io::Read for BulkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let current = self.current();
        let n = current.len().min(buf.len());
        buf[..n].copy_from_slice(&current[..n]);
        self.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 3) as u8).collect()
    }

    /// `bytes` cut at `cuts` (sorted positions), including empty pieces where cuts repeat.
    fn cut(bytes: &[u8], cuts: &[usize]) -> Bulk {
        let mut pieces = Vec::new();
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
            pieces.push(Bytes::copy_from_slice(&bytes[at..c]));
            at = c;
        }
        Bulk::from_pieces(pieces)
    }

    /// Every way to cut 19 bytes into three pieces (empty ones included).
    fn every_split() -> impl Iterator<Item = (Vec<u8>, Bulk)> {
        let bytes = data(19);
        (0..=19).flat_map(move |i| {
            let bytes = bytes.clone();
            (i..=19).map(move |j| (bytes.clone(), cut(&bytes, &[i, j])))
        })
    }

    #[test]
    fn reads_match_the_contiguous_bytes_at_every_split() {
        for (bytes, bulk) in every_split() {
            assert_eq!(bulk.len(), bytes.len());
            assert!(bulk.pieces().iter().all(|p| !p.is_empty()));
            assert_eq!(bulk.contiguous().as_ref(), bytes.as_slice());
            assert_eq!(bulk, Bulk::from(bytes.clone()));
            for start in 0..=bytes.len() {
                for end in start..=bytes.len() {
                    let mut r = bulk.reader();
                    r.skip(start).unwrap();
                    let mut out = vec![0u8; end - start];
                    r.read_exact(&mut out).unwrap();
                    assert_eq!(out, bytes[start..end]);
                    assert_eq!(r.remaining(), bytes.len() - end);
                    let sliced = bulk.slice(start..end).unwrap();
                    assert_eq!(sliced.contiguous().as_ref(), &bytes[start..end]);
                    let mut r = bulk.reader();
                    r.skip(start).unwrap();
                    assert_eq!(
                        r.take_contiguous(end - start).unwrap().as_ref(),
                        &bytes[start..end]
                    );
                }
            }
            let mut r = bulk.reader();
            let mut words = Vec::new();
            while r.remaining() >= 8 {
                words.push(r.u64_le().unwrap());
            }
            let expected: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(words, expected);
            let mut via_io = Vec::new();
            std::io::Read::read_to_end(&mut bulk.reader(), &mut via_io).unwrap();
            assert_eq!(via_io, bytes);
        }
    }

    #[test]
    fn truncation_is_a_typed_error_that_consumes_nothing() {
        for (bytes, bulk) in every_split() {
            for start in 0..=bytes.len() {
                let left = bytes.len() - start;
                let mut r = bulk.reader();
                r.skip(start).unwrap();
                let mut out = vec![0u8; left + 1];
                let short = |e| matches!(e, CodecError::BulkTooShort { needed, left: l } if needed == left as u64 + 1 && l == left as u64);
                assert!(short(r.read_exact(&mut out).unwrap_err()));
                assert!(short(r.take(left + 1).unwrap_err()));
                assert!(short(r.take_contiguous(left + 1).unwrap_err()));
                assert!(short(r.skip(left + 1).unwrap_err()));
                assert_eq!(r.remaining(), left, "a failed read consumed bytes");
                assert_eq!(r.finish().is_ok(), left == 0);
                if left < 8 {
                    assert!(r.u64_le().is_err());
                }
            }
            #[allow(clippy::reversed_empty_ranges)] // the reversed range is the input under test
            let reversed = 3..2;
            assert!(bulk.slice(reversed).is_err());
            assert!(bulk.slice(0..bytes.len() + 1).is_err());
        }
    }

    #[test]
    fn parts_are_cut_at_every_split_and_lengths_are_checked() {
        for (bytes, bulk) in every_split() {
            for a in 0..=bytes.len() {
                for b in a..=bytes.len() {
                    let parts = bulk
                        .clone()
                        .into_contiguous_parts([a, b - a, bytes.len() - b])
                        .unwrap();
                    assert_eq!(parts[0].as_ref(), &bytes[..a]);
                    assert_eq!(parts[1].as_ref(), &bytes[a..b]);
                    assert_eq!(parts[2].as_ref(), &bytes[b..]);
                }
                let short = bulk.clone().into_contiguous_parts([a]);
                assert_eq!(short.is_ok(), a == bytes.len());
                assert!(matches!(
                    bulk.clone().into_contiguous_parts([a, bytes.len() - a + 1]),
                    Err(CodecError::BulkTooShort { needed, left })
                        if needed == (bytes.len() - a + 1) as u64 && left == (bytes.len() - a) as u64
                ));
            }
        }
        let piece = Bytes::from(data(32));
        let parts = Bulk::from(piece.clone())
            .into_contiguous_parts([8, 24])
            .unwrap();
        assert_eq!(
            parts[1].as_ptr(),
            piece[8..].as_ptr(),
            "a part within a piece is shared"
        );
    }

    #[test]
    fn pieces_are_shared_not_copied() {
        let first = Bytes::from(data(40));
        let second = Bytes::from(data(24));
        let bulk = Bulk::from_pieces([first.clone(), Bytes::new(), second.clone()]);
        assert_eq!(bulk.pieces().len(), 2);
        assert_eq!(bulk.pieces()[0].as_ptr(), first.as_ptr());
        let mut r = bulk.reader();
        r.skip(8).unwrap();
        let within = r.take_contiguous(32).unwrap();
        assert_eq!(within.as_ptr(), first[8..].as_ptr());
        let across = r.take(10).unwrap();
        assert_eq!(across.pieces().len(), 1);
        assert_eq!(across.pieces()[0].as_ptr(), second.as_ptr());
        assert_eq!(
            Bulk::from(first.clone()).contiguous().as_ptr(),
            first.as_ptr()
        );
    }

    #[test]
    fn equality_ignores_where_pieces_are_cut() {
        let bytes = data(30);
        assert_eq!(cut(&bytes, &[5, 17]), cut(&bytes, &[1, 29]));
        let mut other = bytes.clone();
        other[20] ^= 1;
        assert_ne!(cut(&bytes, &[5, 17]), cut(&other, &[1, 29]));
        assert_ne!(cut(&bytes, &[5]), Bulk::from(bytes[..29].to_vec()));
        assert_eq!(Bulk::new(), Bulk::from(Vec::new()));
    }
}
