//! Operation counting shared by every backend.
//!
//! The counts are what HETAL's cost tables (Tables 6/7 of the paper) are stated in: constant
//! multiplications (CMult), ciphertext multiplications (Mult) and rotations (Rot). The flat counts
//! are lock-free so that sharded work running on several threads can share one backend.
//!
//! Every operation is also counted at the level of the ciphertext it consumed ([`LevelCounts`]):
//! an operation's cost grows with the number of limbs (level + 1), so a count priced at one
//! level's per-operation times over- or under-prices whatever ran elsewhere in the chain. The
//! per-level split sits behind a mutex held for one array update, negligible beside any
//! homomorphic operation.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
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

    /// Operation-wise sum (`min_level`: the lower of the two).
    pub fn plus(&self, other: &OpCounts) -> OpCounts {
        let min_level = match (self.min_level, other.min_level) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        OpCounts {
            add: self.add + other.add,
            add_const: self.add_const + other.add_const,
            cmult: self.cmult + other.cmult,
            scalar_mult: self.scalar_mult + other.scalar_mult,
            mult: self.mult + other.mult,
            rot: self.rot + other.rot,
            hoisted_batches: self.hoisted_batches + other.hoisted_batches,
            conj: self.conj + other.conj,
            mul_i: self.mul_i + other.mul_i,
            level_drops: self.level_drops + other.level_drops,
            bootstrap: self.bootstrap + other.bootstrap,
            min_level,
        }
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

/// The operations of a run split by level: at each level, what ran on ciphertexts of that level
/// (the input's level: a multiplication at level `ℓ` leaves its product at `ℓ − 1`). The entries'
/// `min_level` is unset; their sum is the flat [`OpCounts`] of the same run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelCounts {
    /// Counts per level (levels with no operation are absent).
    pub by_level: BTreeMap<usize, OpCounts>,
}

impl LevelCounts {
    /// The counts of every level added up (`min_level` unset).
    pub fn total(&self) -> OpCounts {
        self.by_level
            .values()
            .fold(OpCounts::default(), |acc, c| acc.plus(c))
    }

    /// `"L12 7/5/4, L11 96/17/16, …"`: CMult (+ scalar) / Mult / Rot (+ conj) at each level with
    /// an operation, highest first, each divided by `per` (e.g. the steps counted) and rounded.
    pub fn summary(&self, per: usize) -> String {
        let per = per.max(1) as f64;
        let split: Vec<String> = self
            .by_level
            .iter()
            .rev()
            .filter(|(_, c)| c.cmult + c.scalar_mult + c.mult + c.rot + c.conj > 0)
            .map(|(l, c)| {
                format!(
                    "L{l} {:.0}/{:.0}/{:.0}",
                    (c.cmult + c.scalar_mult) as f64 / per,
                    c.mult as f64 / per,
                    (c.rot + c.conj) as f64 / per
                )
            })
            .collect();
        split.join(", ")
    }

    /// Level-wise difference `self − earlier` (levels left empty are dropped).
    pub fn since(&self, earlier: &LevelCounts) -> LevelCounts {
        let by_level = self
            .by_level
            .iter()
            .map(|(&level, c)| {
                let before = earlier.by_level.get(&level).copied().unwrap_or_default();
                (level, c.since(&before))
            })
            // Entries carry no `min_level`, so an empty difference equals the default.
            .filter(|(_, c)| *c != OpCounts::default())
            .collect();
        LevelCounts { by_level }
    }

    /// The lowest and highest level any operation ran at (`None` when nothing ran).
    pub fn range(&self) -> Option<(usize, usize)> {
        Some((
            *self.by_level.keys().next()?,
            *self.by_level.keys().next_back()?,
        ))
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
    by_level: Mutex<BTreeMap<usize, [u64; N_OPS]>>,
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
            by_level: Mutex::new(BTreeMap::new()),
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

    /// Counts `n` operations of kind `op` run on ciphertexts at `level`.
    pub fn record(&self, op: Op, n: u64, level: usize) {
        let i = Self::index(op);
        self.counts[i].fetch_add(n, Ordering::Relaxed);
        // A panic elsewhere while holding the lock cannot leave a half-written count (one
        // addition), so a poisoned map is still exact.
        let mut map = self.by_level.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(level).or_insert([0; N_OPS])[i] += n;
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

    /// Current counts split by the level each operation ran at.
    pub fn by_level(&self) -> LevelCounts {
        let map = self.by_level.lock().unwrap_or_else(|e| e.into_inner());
        let by_level = map
            .iter()
            .map(|(&level, c)| {
                let get = |op| c[Self::index(op)];
                let counts = OpCounts {
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
                    min_level: None,
                };
                (level, counts)
            })
            .collect();
        LevelCounts { by_level }
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
        self.min_level.store(NO_LEVEL, Ordering::Relaxed);
        self.by_level
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_snapshots_and_resets() {
        let c = OpCounter::new();
        c.record(Op::Rot, 3, 9);
        c.record(Op::Mult, 1, 8);
        c.observe_level(7);
        c.observe_level(5);
        c.observe_level(9);
        let s = c.snapshot();
        assert_eq!(s.table_triple(), (0, 1, 3));
        assert_eq!(s.min_level, Some(5));
        c.record(Op::Rot, 2, 4);
        assert_eq!(c.snapshot().since(&s).rot, 2);
        c.reset();
        assert_eq!(c.snapshot(), OpCounts::default());
        assert_eq!(c.by_level(), LevelCounts::default());
    }

    #[test]
    fn level_summary_lists_levels_highest_first_per_unit() {
        let c = OpCounter::new();
        c.record(Op::CMult, 2, 7);
        c.record(Op::ScalarMult, 2, 7);
        c.record(Op::Mult, 6, 7);
        c.record(Op::Rot, 3, 12);
        c.record(Op::Conj, 1, 12);
        // In none of the three columns: level 3 is left out.
        c.record(Op::Add, 5, 3);
        let levels = c.by_level();
        assert_eq!(levels.summary(1), "L12 0/0/4, L7 4/6/0");
        assert_eq!(levels.summary(2), "L12 0/0/2, L7 2/3/0");
        assert_eq!(levels.summary(0), levels.summary(1));
    }

    #[test]
    fn level_split_adds_up_to_the_flat_counts() {
        let c = OpCounter::new();
        // Every kind of operation at a few levels, some from several threads at once.
        let ops = [
            Op::Add,
            Op::AddConst,
            Op::CMult,
            Op::ScalarMult,
            Op::Mult,
            Op::Rot,
            Op::HoistedBatch,
            Op::Conj,
            Op::MulI,
            Op::LevelDrop,
            Op::Bootstrap,
        ];
        std::thread::scope(|scope| {
            for t in 0..4u64 {
                let c = &c;
                scope.spawn(move || {
                    for (i, &op) in ops.iter().enumerate() {
                        for level in 0..5usize {
                            c.record(op, t + i as u64 + level as u64, level * 3);
                        }
                    }
                });
            }
        });
        let levels = c.by_level();
        let flat = c.snapshot();
        assert_eq!(
            levels.total(),
            OpCounts {
                min_level: None,
                ..flat
            }
        );
        assert_eq!(levels.range(), Some((0, 12)));
        // At level 6 (level index 2), op i got (0 + 1 + 2 + 3) + 4·(i + 2) over the threads.
        let at6 = levels.by_level[&6];
        assert_eq!(at6.add, 6 + 4 * 2);
        assert_eq!(at6.bootstrap, 6 + 4 * 12);
        // A later phase alone.
        let before = c.by_level();
        c.record(Op::Rot, 5, 6);
        c.record(Op::Mult, 2, 20);
        let phase = c.by_level().since(&before);
        assert_eq!(phase.by_level.len(), 2);
        assert_eq!(phase.by_level[&6].rot, 5);
        assert_eq!(phase.by_level[&20].mult, 2);
        assert_eq!(phase.total().table_triple(), (0, 2, 5));
    }
}
