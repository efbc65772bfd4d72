//! The prior methods HETAL compares against, for benchmarks only: Crockett's ColMajor / RowMajor
//! on the same block layouts, and Jin et al.'s column packing.

pub mod crockett;
pub mod jin;

pub use crockett::{col_major, row_major};
pub use jin::{ColumnPacked, Replicated, jin_abt, jin_atb};
