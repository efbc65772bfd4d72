//! HETAL's packed matrix layouts.
//!
//! A matrix is cut into `s0 × s1` blocks (one ciphertext each, zero-padded). Three layouts close
//! the training loop with no re-packing: row-major for the data `X`, row-tiled for the weights
//! `W` (period `c_pad`), column-tiled for logits, probabilities and labels (period `c_pad`).

pub mod encode;
pub mod layout;
pub mod unit;

pub use encode::{
    SlotVec, append_bias_column, check_unit, decrypt_blocks, decrypt_matrix, encrypt_blocks,
    encrypt_matrix, pack, unpack,
};
pub use layout::{BlockMatrix, Layout};
pub use unit::UnitShape;
