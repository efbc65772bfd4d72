//! # hetal — privacy-preserving transfer learning with homomorphic encryption
//!
//! A data owner has a softmax classification layer fine-tuned by a server that never sees the
//! data, the labels or the model: features and labels travel CKKS-encrypted, the server trains on
//! ciphertexts, and only the data owner can decrypt. This facade re-exports the member crates.

pub use hetal_actors as actors;
pub use hetal_ckks as ckks;
pub use hetal_data as data;
pub use hetal_learn as learn;
pub use hetal_runtime as runtime;

pub mod cli;
pub mod model;
pub mod progress;
pub mod report;
