//! A compact little-endian writer and a bounds-checked reader.
//!
//! Residues are bit-packed at the width of their modulus (a 45-bit prime costs 45 bits per
//! coefficient, not 64), which makes ciphertexts and keys about 30 % smaller than raw words.
//! The reader never allocates more than the bytes it has been given can justify: every length is
//! checked against the remaining input before a buffer is reserved.

use crate::error::{Error, Result};

/// Appends little-endian values to a byte vector, or only counts them ([`Writer::counting`]).
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    /// `Some(n)` for a counting writer: `n` bytes would have been written, none were.
    counted: Option<usize>,
}

impl Writer {
    /// A writer with `capacity` bytes reserved.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            counted: None,
        }
    }

    /// A writer that keeps no bytes and only counts them: the exact size of a payload (a key set
    /// of several GiB, say) at the cost of one pass over its fields, without the memory.
    pub fn counting() -> Self {
        Self {
            buf: Vec::new(),
            counted: Some(0),
        }
    }

    /// Appends `bytes` (or counts them).
    fn put(&mut self, bytes: &[u8]) {
        match &mut self.counted {
            Some(n) => *n = n.saturating_add(bytes.len()),
            None => self.buf.extend_from_slice(bytes),
        }
    }

    /// One byte.
    pub fn u8(&mut self, v: u8) {
        self.put(&[v]);
    }

    /// A little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }

    /// A little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }

    /// A little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }

    /// An f64 by its IEEE-754 bits.
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }

    /// Raw bytes, no length prefix.
    pub fn bytes(&mut self, v: &[u8]) {
        self.put(v);
    }

    /// A u32 length prefix, then the bytes.
    pub fn string(&mut self, v: &str) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.bytes(&v.as_bytes()[..v.len().min(u32::MAX as usize)]);
    }

    /// Values below 2^bits, packed `bits` bits each (low bits first), padded to a whole byte.
    /// `bits` must be in 1..=64; values are masked to `bits` bits.
    pub fn packed(&mut self, values: &[u64], bits: u32) {
        let bits = bits.clamp(1, 64);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let len = packed_len(values.len(), bits);
        if let Some(n) = &mut self.counted {
            *n = n.saturating_add(len);
            return;
        }
        self.buf.reserve(len);
        let mut acc: u128 = 0;
        let mut filled = 0u32;
        for &v in values {
            acc |= u128::from(v & mask) << filled;
            filled += bits;
            if filled >= 64 {
                self.buf.extend_from_slice(&(acc as u64).to_le_bytes());
                acc >>= 64;
                filled -= 64;
            }
        }
        let tail = filled.div_ceil(8) as usize;
        self.buf
            .extend_from_slice(&(acc as u64).to_le_bytes()[..tail]);
    }

    /// The bytes written so far (none for a counting writer).
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Number of bytes written (or counted) so far.
    pub fn len(&self) -> usize {
        self.counted.unwrap_or(self.buf.len())
    }

    /// Whether nothing was written (or counted).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes taken by `count` values packed at `bits` bits each.
pub fn packed_len(count: usize, bits: u32) -> usize {
    (count as u128 * u128::from(bits))
        .div_ceil(8)
        .min(usize::MAX as u128) as usize
}

/// Reads little-endian values from a byte slice; every read is bounds-checked and names what it
/// was reading when the input ends early.
#[derive(Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The next `len` bytes, or a truncation error naming `what`.
    pub fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8]> {
        if len > self.remaining() {
            return Err(Error::Serialization(format!(
                "truncated input: {what} needs {len} bytes at offset {}, only {} left",
                self.pos,
                self.remaining()
            )));
        }
        let out = &self.data[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    fn array<const K: usize>(&mut self, what: &str) -> Result<[u8; K]> {
        let mut out = [0u8; K];
        out.copy_from_slice(self.take(K, what)?);
        Ok(out)
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    /// A little-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// A little-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A little-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// An f64 from its IEEE-754 bits.
    pub fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_bits(self.u64(what)?))
    }

    /// A length-prefixed UTF-8 string of at most `max_len` bytes.
    pub fn string(&mut self, max_len: usize, what: &str) -> Result<String> {
        let len = self.u32(what)? as usize;
        if len > max_len {
            return Err(Error::Serialization(format!(
                "{what} has length {len}, more than the allowed {max_len}"
            )));
        }
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| Error::Serialization(format!("{what} is not valid UTF-8")))
    }

    /// A length count that must lie in `range` (checked before anything is allocated).
    pub fn count(&mut self, range: std::ops::RangeInclusive<usize>, what: &str) -> Result<usize> {
        let v = self.u32(what)? as usize;
        if !range.contains(&v) {
            return Err(Error::Serialization(format!(
                "{what} is {v}, expected {}..={}",
                range.start(),
                range.end()
            )));
        }
        Ok(v)
    }

    /// `count` values packed at `bits` bits each, every one checked to be below `bound`
    /// (a modulus). Appends to `out`; fails before reserving if the input is too short.
    pub fn packed_below(
        &mut self,
        count: usize,
        bits: u32,
        bound: u64,
        out: &mut Vec<u64>,
        what: &str,
    ) -> Result<()> {
        let bits = bits.clamp(1, 64);
        let bytes = self.take(packed_len(count, bits), what)?;
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        out.reserve(count);
        let mut words = bytes.chunks(8).map(|chunk| {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(w)
        });
        let mut acc: u128 = 0;
        let mut filled = 0u32;
        for index in 0..count {
            if filled < bits {
                let word = words.next().unwrap_or(0);
                acc |= u128::from(word) << filled;
                filled += 64;
            }
            let v = (acc as u64) & mask;
            acc >>= bits;
            filled -= bits;
            if v >= bound {
                return Err(Error::Serialization(format!(
                    "{what}: value {v} at index {index} is not below its modulus {bound}"
                )));
            }
            out.push(v);
        }
        if acc != 0 {
            return Err(Error::Serialization(format!(
                "{what}: non-zero padding bits after the last value"
            )));
        }
        Ok(())
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self, what: &str) -> Result<()> {
        if self.remaining() != 0 {
            return Err(Error::Serialization(format!(
                "{} trailing bytes after {what}",
                self.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scalars_round_trip_and_truncation_is_named() {
        let mut w = Writer::default();
        w.u8(7);
        w.u16(0xBEEF);
        w.u32(0xDEAD_BEEF);
        w.u64(u64::MAX - 3);
        w.f64(-1.25);
        w.string("boot-n16");
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8("a").unwrap(), 7);
        assert_eq!(r.u16("b").unwrap(), 0xBEEF);
        assert_eq!(r.u32("c").unwrap(), 0xDEAD_BEEF);
        assert_eq!(r.u64("d").unwrap(), u64::MAX - 3);
        assert_eq!(r.f64("e").unwrap(), -1.25);
        assert_eq!(r.string(64, "f").unwrap(), "boot-n16");
        r.finish("test").unwrap();
        let err = Reader::new(&bytes[..5]).u64("the header").unwrap_err();
        assert!(matches!(err, Error::Serialization(ref m) if m.contains("the header")));
    }

    #[test]
    fn oversized_string_is_refused_before_reading() {
        let mut w = Writer::default();
        w.u32(1 << 30);
        let bytes = w.into_bytes();
        assert!(Reader::new(&bytes).string(1024, "name").is_err());
    }

    #[test]
    fn packed_values_at_or_above_the_bound_are_refused() {
        let mut w = Writer::default();
        w.packed(&[1, 2, 13], 4);
        let bytes = w.into_bytes();
        let mut out = Vec::new();
        let err = Reader::new(&bytes)
            .packed_below(3, 4, 13, &mut out, "limb")
            .unwrap_err();
        assert!(matches!(err, Error::Serialization(ref m) if m.contains("index 2")));
    }

    proptest! {
        #[test]
        fn packed_round_trip(bits in 1u32..=64, seed in any::<u64>(), count in 0usize..200) {
            let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let mut s = seed | 1;
            let values: Vec<u64> = (0..count).map(|_| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                s & mask
            }).collect();
            let mut w = Writer::default();
            let mut counter = Writer::counting();
            for w in [&mut w, &mut counter] {
                w.packed(&values, bits);
                w.u8(0xAA);
                w.string("limbs");
                w.f64(0.5);
            }
            let bytes = w.into_bytes();
            prop_assert_eq!(counter.len(), bytes.len());
            prop_assert!(counter.into_bytes().is_empty(), "a counting writer keeps nothing");
            prop_assert_eq!(bytes.len(), packed_len(count, bits) + 1 + 4 + 5 + 8);
            let mut r = Reader::new(&bytes);
            let mut out = Vec::new();
            r.packed_below(count, bits, u64::MAX, &mut out, "values").unwrap();
            prop_assert_eq!(r.u8("tail").unwrap(), 0xAA);
            prop_assert_eq!(r.string(16, "name").unwrap(), "limbs");
            prop_assert_eq!(r.f64("x").unwrap(), 0.5);
            prop_assert_eq!(out, values);
        }
    }
}
