//! Versioned, parameter-checked serialization of everything that may leave the client.
//!
//! * [`wire`] — a compact little-endian writer and a bounds-checked reader (bit-packed limbs).
//! * [`container`] — the header every object carries: magic, format version, object kind,
//!   parameter fingerprint, payload length and checksum.
//! * [`spec`] — parameter specs and the parameter fingerprint.
//! * [`codec`] — the [`Serial`] trait and the payloads of plaintexts, ciphertexts (live limbs
//!   only, seeded `c1` as its seed), public, relinearization and Galois keys.
//! * [`sealed`] — [`Serialized<T>`], the serde face: messages carry bytes, and opening them
//!   needs the receiver's context.
//! * [`keystore`] — the secret key's explicit, client-side byte format (no serde, no `Serial`).
//!
//! ```text
//! let bytes = hetal_ckks::serial::to_bytes(&ciphertext, &ctx)?;
//! let back: Ciphertext = hetal_ckks::serial::from_bytes(&bytes, &ctx)?;
//! ```
pub mod codec;
pub mod container;
pub mod keystore;
pub mod sealed;
pub mod spec;
pub mod wire;

#[cfg(test)]
mod tests;

pub use codec::{Serial, context_fingerprint, from_bytes, serialized_len, to_bytes};
pub use keystore::{load_secret_key_bytes, save_secret_key_bytes};
pub use sealed::Serialized;
pub use spec::{fingerprint, spec_from_bytes, spec_to_bytes};
