//! Operation counting shared by every backend.
//!
//! The counts are what HETAL's cost tables (Tables 6/7 of the paper) are stated in: constant
//! multiplications (CMult), ciphertext multiplications (Mult) and rotations (Rot). The counter is
//! lock-free so that sharded work running on several threads can share one backend.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of the operations a backend has performed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// Ciphertext additions, subtractions and negations (free of levels).
    pub add: u64,
    /// Additions of constants (plaintext vectors or scalars; free of levels).
    pub add_const: u64,
    /// Multiplications by a constant slot vector (one level each).
    pub cmult: u64,
    /// Multiplications by a constant scalar (one level each).
    pub scalar_mult: u64,
    /// Ciphertext × ciphertext multiplications with relinearization and rescale (one level each).
    pub mult: u64,
    /// Slot rotations (each step of a hoisted batch counts as one).
    pub rot: u64,
    /// Hoisted rotation batches (each also counted step by step in `rot`).
    pub hoisted_batches: u64,
    /// Complex conjugations.
    pub conj: u64,
    /// Exact multiplications by the imaginary unit.
    pub mul_i: u64,
    /// Explicit level drops.
    pub level_drops: u64,
    /// Bootstraps.
    pub bootstrap: u64,
    /// The lowest level of any ciphertext produced since the last reset (`None` if none).
    pub min_level: Option<usize>,
}

impl OpCounts {
    /// The three numbers of HETAL's cost tables, in the table's order: (CMult, Mult, Rot).
    pub fn table_triple(&self) -> (u64, u64, u64) {
        (self.cmult, self.mult, self.rot)
    }

    /// Operation-wise difference `self − earlier` (for counting one phase of a longer run).
    /// `min_level` is taken from `self`.
    pub fn since(&self, earlier: &OpCounts) -> OpCounts {
        OpCounts {
            add: self.add.saturating_sub(earlier.add),
            add_const: self.add_const.saturating_sub(earlier.add_const),
            cmult: self.cmult.saturating_sub(earlier.cmult),
            scalar_mult: self.scalar_mult.saturating_sub(earlier.scalar_mult),
            mult: self.mult.saturating_sub(earlier.mult),
            rot: self.rot.saturating_sub(earlier.rot),
            hoisted_batches: self.hoisted_batches.saturating_sub(earlier.hoisted_batches),
            conj: self.conj.saturating_sub(earlier.conj),
            mul_i: self.mul_i.saturating_sub(earlier.mul_i),
            level_drops: self.level_drops.saturating_sub(earlier.level_drops),
            bootstrap: self.bootstrap.saturating_sub(earlier.bootstrap),
            min_level: self.min_level,
        }
    }
}

/// Which operation to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Addition, subtraction or negation.
    Add,
    /// Addition of a constant.
    AddConst,
    /// Multiplication by a constant vector.
    CMult,
    /// Multiplication by a constant scalar.
    ScalarMult,
    /// Ciphertext multiplication.
    Mult,
    /// One rotation step.
    Rot,
    /// One hoisted batch.
    HoistedBatch,
    /// Conjugation.
    Conj,
    /// Multiplication by i.
    MulI,
    /// Level drop.
    LevelDrop,
    /// Bootstrap.
    Bootstrap,
}

const N_OPS: usize = 11;
const NO_LEVEL: usize = usize::MAX;

/// Thread-safe operation counter; backends call [`OpCounter::record`] for every operation.
#[derive(Debug)]
pub struct OpCounter {
    counts: [AtomicU64; N_OPS],
    min_level: AtomicUsize,
}

impl Default for OpCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl OpCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        OpCounter {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            min_level: AtomicUsize::new(NO_LEVEL),
        }
    }

    fn index(op: Op) -> usize {
        match op {
            Op::Add => 0,
            Op::AddConst => 1,
            Op::CMult => 2,
            Op::ScalarMult => 3,
            Op::Mult => 4,
            Op::Rot => 5,
            Op::HoistedBatch => 6,
            Op::Conj => 7,
            Op::MulI => 8,
            Op::LevelDrop => 9,
            Op::Bootstrap => 10,
        }
    }

    /// Counts `n` operations of kind `op`.
    pub fn record(&self, op: Op, n: u64) {
        self.counts[Self::index(op)].fetch_add(n, Ordering::Relaxed);
    }

    /// Notes that a ciphertext at `level` was produced.
    pub fn observe_level(&self, level: usize) {
        self.min_level.fetch_min(level, Ordering::Relaxed);
    }

    /// Current counts.
    pub fn snapshot(&self) -> OpCounts {
        let get = |op| self.counts[Self::index(op)].load(Ordering::Relaxed);
        let min = self.min_level.load(Ordering::Relaxed);
        OpCounts {
            add: get(Op::Add),
            add_const: get(Op::AddConst),
            cmult: get(Op::CMult),
            scalar_mult: get(Op::ScalarMult),
            mult: get(Op::Mult),
            rot: get(Op::Rot),
            hoisted_batches: get(Op::HoistedBatch),
            conj: get(Op::Conj),
            mul_i: get(Op::MulI),
            level_drops: get(Op::LevelDrop),
            bootstrap: get(Op::Bootstrap),
            min_level: (min != NO_LEVEL).then_some(min),
        }
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
        self.min_level.store(NO_LEVEL, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_snapshots_and_resets() {
        let c = OpCounter::new();
        c.record(Op::Rot, 3);
        c.record(Op::Mult, 1);
        c.observe_level(7);
        c.observe_level(5);
        c.observe_level(9);
        let s = c.snapshot();
        assert_eq!(s.table_triple(), (0, 1, 3));
        assert_eq!(s.min_level, Some(5));
        c.record(Op::Rot, 2);
        assert_eq!(c.snapshot().since(&s).rot, 2);
        c.reset();
        assert_eq!(c.snapshot(), OpCounts::default());
    }
}
