//! HETAL's softmax approximation and its improved variant, evaluated on column-tiled logits
//! blocks through the slot-evaluator trait; plus the exact row softmax used by the plaintext
//! reference.

pub mod exact;

pub use exact::{ExactSoftmax, RowSoftmax, softmax_exact};
