//! The binary container around every serialized object.
//!
//! Layout (little-endian, 40 bytes of header, then the payload):
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `HCKS` |
//! | 2 | format version ([`FORMAT_VERSION`]) |
//! | 2 | object kind ([`ObjectKind`]) |
//! | 16 | parameter fingerprint ([`Fingerprint`]; zero for a bare parameter spec) |
//! | 8 | payload length in bytes (must equal the rest of the input) |
//! | 8 | payload checksum ([`checksum`]) |
//!
//! The checksum catches accidental corruption (a flipped bit in a limb would otherwise decode to
//! a different, valid-looking ciphertext); it is not authentication — the transport provides that.

use super::wire::{Reader, Writer};
use crate::error::{Error, Result};

/// The four bytes every serialized hetal-ckks object starts with.
pub const MAGIC: [u8; 4] = *b"HCKS";
/// Version of the container and payload layouts; bumped on any incompatible change.
pub const FORMAT_VERSION: u16 = 1;
/// Size of the header in bytes.
pub const HEADER_LEN: usize = 40;

/// What a container holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ObjectKind {
    /// A [`crate::params::ParameterSpec`].
    ParameterSpec = 1,
    /// A plaintext polynomial.
    Plaintext = 2,
    /// A ciphertext (live limbs only; c1 may be replaced by its seed).
    Ciphertext = 3,
    /// A public encryption key.
    PublicKey = 4,
    /// A relinearization key.
    RelinearizationKey = 5,
    /// One Galois (rotation or conjugation) key.
    GaloisKey = 6,
    /// A set of Galois keys.
    GaloisKeys = 7,
    /// Relinearization and Galois keys together.
    EvaluationKeys = 8,
    /// A secret key, written only by the client-side keystore.
    SecretKey = 9,
}

impl ObjectKind {
    const ALL: [ObjectKind; 9] = [
        Self::ParameterSpec,
        Self::Plaintext,
        Self::Ciphertext,
        Self::PublicKey,
        Self::RelinearizationKey,
        Self::GaloisKey,
        Self::GaloisKeys,
        Self::EvaluationKeys,
        Self::SecretKey,
    ];

    fn from_u16(v: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u16 == v)
    }
}

/// A 128-bit digest of the parameters an object belongs to (see `serial::fingerprint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fingerprint(pub [u8; 16]);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A fast 64-bit checksum over bytes (four multiply-xorshift lanes over 8-byte words). Detects
/// corruption; not a cryptographic hash.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: [u64; 4] = [
        0x9E37_79B9_7F4A_7C15,
        0xC2B2_AE3D_27D4_EB4F,
        0x1656_67B1_9E37_79F9,
        0xD6E8_FEB8_6659_FD93,
    ];
    let mut lanes = K;
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, (word, k)) in lanes.iter_mut().zip(block.chunks_exact(8).zip(K)) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let x = u64::from_le_bytes(w);
            *lane = (*lane ^ x).wrapping_mul(k).rotate_left(29);
        }
    }
    let mut h = (bytes.len() as u64).wrapping_mul(K[0]);
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K[1]).rotate_left(31);
    }
    for (i, &b) in blocks.remainder().iter().enumerate() {
        h = (h ^ (u64::from(b) << ((i % 8) * 8))).wrapping_mul(K[2]);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(K[3]);
    h ^ (h >> 29)
}

/// Wraps `payload` in a container of `kind` for the parameters `fingerprint`.
pub fn seal(kind: ObjectKind, fingerprint: Fingerprint, payload: &[u8]) -> Vec<u8> {
    let Ok(bytes) = seal_into::<std::convert::Infallible>(kind, fingerprint, payload.len(), |w| {
        w.bytes(payload);
        Ok(())
    });
    bytes
}

/// A container of `kind` whose payload `write` appends in place after the header (about
/// `capacity` bytes, reserved up front): one buffer, so sealing never holds the payload twice —
/// which for a key set of several GiB is the difference between fitting in memory or not. The
/// header's length and checksum are filled in once the payload is written.
pub fn seal_with(
    kind: ObjectKind,
    fingerprint: Fingerprint,
    capacity: usize,
    write: impl FnOnce(&mut Writer) -> Result<()>,
) -> Result<Vec<u8>> {
    seal_into(kind, fingerprint, capacity, write)
}

/// [`seal_with`] for any error type (none at all for [`seal`]).
fn seal_into<E>(
    kind: ObjectKind,
    fingerprint: Fingerprint,
    capacity: usize,
    write: impl FnOnce(&mut Writer) -> std::result::Result<(), E>,
) -> std::result::Result<Vec<u8>, E> {
    let mut w = Writer::with_capacity(HEADER_LEN.saturating_add(capacity));
    w.bytes(&MAGIC);
    w.u16(FORMAT_VERSION);
    w.u16(kind as u16);
    w.bytes(&fingerprint.0);
    let length_at = w.len();
    w.u64(0);
    w.u64(0);
    debug_assert_eq!(w.len(), HEADER_LEN);
    write(&mut w)?;
    let mut bytes = w.into_bytes();
    let (header, payload) = bytes.split_at_mut(HEADER_LEN);
    header[length_at..length_at + 8].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    header[length_at + 8..HEADER_LEN].copy_from_slice(&checksum(payload).to_le_bytes());
    Ok(bytes)
}

/// Checks the header of `bytes` (magic, version, kind, fingerprint, length, checksum) and
/// returns a reader over the payload. `fingerprint` is the receiver's; `None` skips that check
/// (only for objects that carry their own parameters, such as a parameter spec).
pub fn open(
    bytes: &[u8],
    kind: ObjectKind,
    fingerprint: Option<Fingerprint>,
) -> Result<Reader<'_>> {
    let mut r = Reader::new(bytes);
    let magic = r.take(4, "magic")?;
    if magic != MAGIC {
        return Err(Error::Serialization(format!(
            "bad magic {magic:02x?}: not a hetal-ckks object"
        )));
    }
    let version = r.u16("format version")?;
    if version != FORMAT_VERSION {
        return Err(Error::Serialization(format!(
            "format version {version} is not supported (this build reads version {FORMAT_VERSION})"
        )));
    }
    let found = r.u16("object kind")?;
    match ObjectKind::from_u16(found) {
        Some(k) if k == kind => {}
        Some(other) => {
            return Err(Error::Serialization(format!(
                "expected a {kind:?}, found a {other:?}"
            )));
        }
        None => {
            return Err(Error::Serialization(format!(
                "unknown object kind {found} (expected a {kind:?})"
            )));
        }
    }
    let mut theirs = [0u8; 16];
    theirs.copy_from_slice(r.take(16, "parameter fingerprint")?);
    let theirs = Fingerprint(theirs);
    if let Some(ours) = fingerprint
        && ours != theirs
    {
        return Err(Error::Serialization(format!(
            "parameter fingerprint {theirs} differs from the receiver's {ours}: the object was \
             made with other parameters"
        )));
    }
    let len = r.u64("payload length")?;
    let sum = r.u64("payload checksum")?;
    if len != r.remaining() as u64 {
        return Err(Error::Serialization(format!(
            "payload length {len} but {} bytes follow the header",
            r.remaining()
        )));
    }
    let payload = r.take(r.remaining(), "payload")?;
    if checksum(payload) != sum {
        return Err(Error::Serialization(
            "payload checksum mismatch: the bytes are corrupted".into(),
        ));
    }
    Ok(Reader::new(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: Fingerprint = Fingerprint([7; 16]);

    #[test]
    fn sealed_payload_opens_with_matching_kind_and_fingerprint() {
        let bytes = seal(ObjectKind::Ciphertext, FP, b"payload!");
        let mut r = open(&bytes, ObjectKind::Ciphertext, Some(FP)).unwrap();
        assert_eq!(r.take(8, "p").unwrap(), b"payload!");
        r.finish("payload").unwrap();
        assert!(open(&bytes, ObjectKind::Ciphertext, None).is_ok());
    }

    #[test]
    fn sealing_in_place_gives_the_same_container() {
        for payload in [&b""[..], b"x", b"payload!", &[0xAB; 1000]] {
            let in_place = seal_with(ObjectKind::Plaintext, FP, 0, |w| {
                w.bytes(payload);
                Ok(())
            })
            .unwrap();
            assert_eq!(in_place.len(), HEADER_LEN + payload.len());
            let mut r = open(&in_place, ObjectKind::Plaintext, Some(FP)).unwrap();
            assert_eq!(r.take(payload.len(), "p").unwrap(), payload);
            r.finish("payload").unwrap();
            assert_eq!(in_place, seal(ObjectKind::Plaintext, FP, payload));
        }
        let failed = seal_with(ObjectKind::Plaintext, FP, 8, |_| {
            Err(Error::Serialization("refused".into()))
        });
        assert!(matches!(failed, Err(Error::Serialization(m)) if m == "refused"));
    }

    #[test]
    fn every_header_field_is_checked_with_a_message_naming_it() {
        let bytes = seal(ObjectKind::Ciphertext, FP, b"payload!");
        let msg = |b: &[u8], kind, fp| match open(b, kind, fp) {
            Err(Error::Serialization(m)) => m,
            other => panic!("expected a serialization error, got {other:?}"),
        };
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(msg(&bad, ObjectKind::Ciphertext, Some(FP)).contains("magic"));
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert!(msg(&bad, ObjectKind::Ciphertext, Some(FP)).contains("version"));
        assert!(msg(&bytes, ObjectKind::PublicKey, Some(FP)).contains("Ciphertext"));
        let mut bad = bytes.clone();
        bad[6] = 200;
        assert!(msg(&bad, ObjectKind::Ciphertext, Some(FP)).contains("unknown object kind"));
        let other = Fingerprint([8; 16]);
        assert!(msg(&bytes, ObjectKind::Ciphertext, Some(other)).contains("fingerprint"));
        assert!(
            msg(&bytes[..bytes.len() - 1], ObjectKind::Ciphertext, Some(FP)).contains("length")
        );
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(msg(&bad, ObjectKind::Ciphertext, Some(FP)).contains("checksum"));
        for cut in 0..HEADER_LEN {
            assert!(open(&bytes[..cut], ObjectKind::Ciphertext, Some(FP)).is_err());
        }
    }

    #[test]
    fn checksum_changes_with_any_single_bit() {
        let data: Vec<u8> = (0..100u8).collect();
        let base = checksum(&data);
        for i in 0..data.len() {
            for bit in 0..8 {
                let mut d = data.clone();
                d[i] ^= 1 << bit;
                assert_ne!(checksum(&d), base, "byte {i} bit {bit}");
            }
        }
        assert_ne!(checksum(&data[..99]), base);
    }
}
