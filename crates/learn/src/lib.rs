//! # hetal-learn — HETAL's encrypted learning algorithms
//!
//! Packed matrix layouts, the DiagABT / DiagATB encrypted matrix multiplications (and the
//! baselines they are compared with), the softmax approximation and the encrypted training loop.
//! Algorithms are written once against a slot-evaluator trait ([`eval::SlotEvaluator`]) with two
//! backends: CKKS (`hetal-ckks`) and an exact, operation-counting plaintext simulator
//! ([`eval::Simulator`]).

pub mod error;
pub mod eval;
pub mod matmul;
pub mod pack;
pub mod softmax;
pub mod train;

pub use error::{Error, Result};
