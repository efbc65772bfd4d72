//! Encrypted matrix multiplication: HETAL's DiagABT (`A·Bᵀ`) and DiagATB (`Aᵀ·B`), and the
//! baselines they are compared with. Everything is written once against
//! [`SlotEvaluator`](crate::eval::SlotEvaluator), and the diagonal algorithms can be cut into
//! independent, serializable work units ([`shard`]) whose partial results add up.

pub mod abt;
pub mod atb;
pub mod baseline;
pub mod bench;
pub mod bench_clock;
pub mod bench_prices;
pub mod bench_table;
pub mod blocks;
pub mod compare;
pub mod cost;
pub mod masks;
mod operands;
pub mod partial;
pub mod runner;
pub mod shard;

pub use abt::{AbtPlan, AbtUnit, diag_abt, diag_abt_scaled, run_sharded_abt};
pub use atb::{AtbForm, AtbPlan, AtbUnit, diag_atb, diag_atb_with, run_sharded_atb};
pub use cost::Cost;
pub use partial::Partial;
pub use runner::{WorkUnit, run_units};
pub use shard::{ShardSpec, Sharding};
