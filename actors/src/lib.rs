//! # hetal-actors — the parties of encrypted training
//!
//! The client (holds the secret key), the trainer, the workers and the evaluator, glued from
//! `hetal-learn` (the algorithms) and `hetal-runtime` (QUIC actors).
