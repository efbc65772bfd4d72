//! # hetal-actors — the parties of encrypted training
//!
//! The client (holds the secret key), the trainer, the workers and the evaluator, glued from
//! `hetal-learn` (the algorithms) and `hetal-runtime` (QUIC actors).
//!
//! * [`roster`]: which authenticated node plays which party; every actor refuses messages from
//!   a party that may not send them.
//! * [`messages`]: every message type; ciphertexts travel as serialized bytes in the bulk part.
//! * [`backend`]: the key-less [`backend::ServerBackend`] (trainer, workers, evaluator) and the
//!   [`backend::ClientBackend`] (data owner), for the simulator and for CKKS.
//! * [`worker`], [`trainer`], [`evaluator`], [`client`]: the actors.
//! * [`progress`]: events a host can draw progress bars from.
//! * [`deploy`]: a whole deployment in one process (in memory or QUIC over loopback), as
//!   `hetal simulate` runs it.
//!
//! Nothing a server-side actor holds can decrypt: the trainer, the workers and the evaluator
//! are generic over [`backend::ServerBackend`], whose evaluator type is a `SlotEvaluator` and
//! not a `SlotCodec`; and message bodies carry only public material. Both are checked by the
//! compiler:
//!
//! ```compile_fail
//! // The client's backend (which holds the secret key) is not a server backend: a trainer
//! // cannot be built on it.
//! fn trainer_with_key(node: hetal_runtime::Node, config: hetal_actors::trainer::TrainerConfig) {
//!     let _ = hetal_actors::trainer::Trainer::<hetal_actors::backend::ckks::CkksClient>::new(
//!         node, config,
//!     );
//! }
//! ```
//!
//! ```compile_fail
//! // A secret key has no wire serialization, so no blob of any message can hold one.
//! fn secret_bytes(sk: &hetal_ckks::keys::SecretKey, ctx: &hetal_ckks::params::context::Context) {
//!     let _ = hetal_ckks::serial::to_bytes(sk, ctx);
//! }
//! ```
//!
//! ```
//! // Whereas the public objects do (the same call compiles for a ciphertext).
//! fn ciphertext_bytes(ct: &hetal_ckks::crypto::Ciphertext, ctx: &hetal_ckks::params::context::Context) {
//!     let _ = hetal_ckks::serial::to_bytes(ct, ctx);
//! }
//! ```

pub mod backend;
pub mod bench;
pub mod client;
pub mod config;
pub mod deploy;
pub mod error;
pub mod evaluator;
pub mod messages;
pub mod party;
pub mod progress;
pub mod roster;
pub mod store;
pub mod tap;
pub mod toml_key;
pub mod trainer;
pub mod worker;

pub use error::{ActorError, Result};
