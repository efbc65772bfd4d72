//! # hetal-learn — HETAL's encrypted learning algorithms
//!
//! Packed matrix layouts, the DiagABT / DiagATB encrypted matrix multiplications (and the
//! baselines they are compared with), the softmax approximation and the encrypted training loop.
//! Algorithms are written once against a slot-evaluator trait ([`eval::SlotEvaluator`]) with two
//! backends: CKKS ([`eval::CkksSlots`] over `hetal-ckks`, with [`eval::CkksSession`] for one-process
//! use) and an exact, operation-counting plaintext simulator ([`eval::Simulator`]).
//!
//! * [`pack`] — unit shapes, the row-major / row-tiled / column-tiled block layouts, encoding.
//! * [`matmul`] — DiagABT, DiagATB (standard and PRotUp), the baselines, cost formulas, sharded
//!   work units and the side-by-side comparison behind `hetal bench matmul`.

pub mod error;
pub mod eval;
pub mod matmul;
pub mod pack;
pub mod softmax;
pub mod train;

pub use error::{Error, Result};
