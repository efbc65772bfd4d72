//! Cutting one multiplication into independent work units.
//!
//! Both diagonal algorithms are sums over three indices: the diagonal pair `m` (`c/2` of them),
//! the block row `p` and the block column `q`. A work unit takes a contiguous range of each; its
//! partial result is a sum of masked terms, so partial results combine by plain addition.
//!
//! What balances best: splitting by **diagonal pair** duplicates nothing (every pair costs the same
//! number of Mult, Rot and CMult, except that pair 0 skips its rotation), so it comes first. With
//! more workers than pairs, the block columns are split next: for DiagATB that only repeats the
//! cheap rotation of the `C_p` (2 Rot + 1 CMult per block row), for DiagABT it repeats the row
//! sum and fill (`2·log2 s1` Rot + 2 CMult per block row). Block rows are split last (in HETAL a
//! mini-batch is one block row).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How many groups to cut each index range into (each is clamped to the range's length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sharding {
    /// Groups of diagonal pairs.
    pub pair_groups: usize,
    /// Groups of block rows.
    pub row_groups: usize,
    /// Groups of block columns.
    pub col_groups: usize,
}

impl Default for Sharding {
    fn default() -> Self {
        Self::single()
    }
}

impl Sharding {
    /// One unit: the whole multiplication in one process (with all rotations hoisted).
    pub fn single() -> Self {
        Sharding {
            pair_groups: 1,
            row_groups: 1,
            col_groups: 1,
        }
    }

    /// About `workers` units for a multiplication with `pairs` diagonal pairs and `cols` block
    /// columns: by pair first, then by block column (see the module documentation).
    pub fn for_workers(workers: usize, pairs: usize, cols: usize) -> Self {
        let workers = workers.max(1);
        let pair_groups = workers.min(pairs.max(1));
        let col_groups = workers.div_ceil(pair_groups).min(cols.max(1));
        Sharding {
            pair_groups,
            row_groups: 1,
            col_groups,
        }
    }

    /// The units' index ranges, pair-major.
    pub fn specs(&self, pairs: usize, rows: usize, cols: usize) -> Result<Vec<ShardSpec>> {
        if self.pair_groups == 0 || self.row_groups == 0 || self.col_groups == 0 {
            return Err(Error::InvalidInput(format!(
                "sharding {self:?} has an empty group count"
            )));
        }
        let mut out = Vec::new();
        for pr in split(pairs, self.pair_groups) {
            for rr in split(rows, self.row_groups) {
                for cr in split(cols, self.col_groups) {
                    out.push(ShardSpec {
                        pairs: pr.clone(),
                        row_blocks: rr.clone(),
                        col_blocks: cr,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The index ranges one work unit covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// Diagonal pairs `m` (pair `m` handles diagonals `2m` and `2m + 1`).
    pub pairs: Range<usize>,
    /// Block rows `p`.
    pub row_blocks: Range<usize>,
    /// Block columns `q`.
    pub col_blocks: Range<usize>,
}

impl ShardSpec {
    /// Checks that the ranges are non-empty and inside `pairs × rows × cols`.
    pub fn check(&self, pairs: usize, rows: usize, cols: usize) -> Result<()> {
        for (name, r, n) in [
            ("pairs", &self.pairs, pairs),
            ("block rows", &self.row_blocks, rows),
            ("block columns", &self.col_blocks, cols),
        ] {
            if r.start >= r.end || r.end > n {
                return Err(Error::InvalidInput(format!(
                    "work unit {name} {r:?} not a non-empty part of 0..{n}"
                )));
            }
        }
        Ok(())
    }
}

/// `0..n` cut into `min(k, n)` contiguous, near-equal ranges.
pub fn split(n: usize, k: usize) -> Vec<Range<usize>> {
    let k = k.clamp(1, n.max(1));
    (0..k)
        .map(|i| (i * n / k)..((i + 1) * n / k))
        .filter(|r| !r.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_exactly_once() {
        for n in 1..20 {
            for k in 1..25 {
                let parts = split(n, k);
                assert_eq!(parts.len(), k.min(n));
                assert_eq!(parts.first().unwrap().start, 0);
                assert_eq!(parts.last().unwrap().end, n);
                assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
                let (lo, hi) = parts
                    .iter()
                    .fold((n, 0), |(lo, hi), r| (lo.min(r.len()), hi.max(r.len())));
                assert!(hi - lo <= 1);
            }
        }
    }

    #[test]
    fn for_workers_prefers_pairs_then_columns() {
        assert_eq!(Sharding::for_workers(4, 8, 25).pair_groups, 4);
        let s = Sharding::for_workers(16, 8, 25);
        assert_eq!((s.pair_groups, s.col_groups), (8, 2));
        assert_eq!(s.specs(8, 1, 25).unwrap().len(), 16);
        assert!(
            Sharding {
                pair_groups: 0,
                ..Sharding::single()
            }
            .specs(1, 1, 1)
            .is_err()
        );
        let spec = ShardSpec {
            pairs: 0..2,
            row_blocks: 0..1,
            col_blocks: 3..3,
        };
        assert!(spec.check(2, 1, 4).is_err());
    }
}
