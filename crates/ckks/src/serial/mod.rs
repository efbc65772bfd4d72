//! Versioned, parameter-checked serialization of everything that may leave the client.
//!
//! * [`wire`] — a compact little-endian writer and a bounds-checked reader (bit-packed limbs).
//! * [`container`] — the header every object carries: magic, format version, object kind,
//!   parameter fingerprint, payload length and checksum.
//! * [`spec`] — parameter specs and the parameter fingerprint.
pub mod container;
pub mod spec;
pub mod wire;

pub use spec::{fingerprint, spec_from_bytes, spec_to_bytes};
