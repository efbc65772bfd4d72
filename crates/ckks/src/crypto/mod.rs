//! Encryption (public key, seeded symmetric) and decryption, and the plaintext and ciphertext
//! types.
//!
//! * [`plaintext`] — [`Plaintext`], [`Ciphertext`], [`Ciphertext3`].
//! * [`encryptor`] — [`Encryptor`], [`SymmetricEncryptor`], [`Decryptor`].

pub mod encryptor;
pub mod plaintext;
mod special_prime;

pub use encryptor::{Decryptor, Encryptor, SymmetricEncryptor, expand_seeded_c1};
pub use plaintext::{Ciphertext, Ciphertext3, Plaintext};
