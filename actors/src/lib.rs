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
//! * [`deploy`]: a whole deployment in one process (in memory or QUIC over loopback), as
//!   `hetal simulate` runs it.
//!
//! Nothing a server-side actor holds can decrypt: the trainer, the workers and the evaluator
//! are generic over [`backend::ServerBackend`], whose evaluator type is a `SlotEvaluator` and
//! not a `SlotCodec`; and message bodies carry only public material.

pub mod backend;
pub mod client;
pub mod config;
pub mod deploy;
pub mod error;
pub mod evaluator;
pub mod messages;
pub mod party;
pub mod roster;
pub mod tap;
pub mod trainer;
pub mod worker;

pub use error::{ActorError, Result};
