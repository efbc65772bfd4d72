//! HETAL's softmax approximation and its improved variant, evaluated on column-tiled logits
//! blocks through the slot-evaluator trait; plus the exact row softmax used by the plaintext
//! reference, the same approximation on plaintext matrices (through the simulator), and error
//! statistics over HETAL's sampling scheme.

pub mod abs_fit;
pub mod approx;
pub mod bench;
pub mod constants;
pub mod exact;
pub mod geometry;
mod planner;
pub mod poly;
pub mod simulated;
pub mod stats;
pub mod variant;

pub use approx::{SoftmaxApprox, SoftmaxRun};
pub use bench::{SoftmaxBench, bench_softmax};
pub use exact::{ExactSoftmax, RowSoftmax, softmax_exact};
pub use geometry::TiledRows;
pub use planner::fill_row;
pub use poly::{Basis, Poly};
pub use simulated::{SimulatedSoftmax, simulate_rows, simulate_rows_in_window};
pub use stats::{ErrorStats, error_stats, error_stats_in_window, hetal_samples, row_errors};
pub use variant::SoftmaxVariant;
