//! Partial results of work units and their combination.

use super::shard::ShardSpec;
use crate::eval::SlotEvaluator;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// What one work unit returns: one partial output block per output block index it touches (block
/// rows for DiagABT, block columns for DiagATB), before the final real-part step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Partial<C> {
    /// The unit's index ranges (echoed so that the coordinator can check what it receives).
    pub spec: ShardSpec,
    /// Partial output blocks, in index order.
    pub blocks: Vec<C>,
}

/// Sums the partials block by block into `n_out` outputs. `out_range` gives the output indices a
/// partial covers; every output must be covered at least once and every partial must match the
/// plan's unit at the same position.
pub(crate) fn sum_partials<E: SlotEvaluator>(
    ev: &E,
    plan_specs: &[ShardSpec],
    partials: &[Partial<E::Ct>],
    n_out: usize,
    out_range: impl Fn(&ShardSpec) -> std::ops::Range<usize>,
) -> Result<Vec<E::Ct>> {
    if partials.len() != plan_specs.len() {
        return Err(Error::InvalidInput(format!(
            "{} partial results for a plan of {} units",
            partials.len(),
            plan_specs.len()
        )));
    }
    let mut acc: Vec<Option<E::Ct>> = vec![None; n_out];
    for (i, (part, spec)) in partials.iter().zip(plan_specs).enumerate() {
        if &part.spec != spec {
            return Err(Error::InvalidInput(format!(
                "partial result {i} is for unit {:?}, the plan's unit is {spec:?}",
                part.spec
            )));
        }
        let range = out_range(spec);
        if part.blocks.len() != range.len() || range.end > n_out {
            return Err(Error::InvalidInput(format!(
                "partial result {i} has {} blocks for outputs {range:?}",
                part.blocks.len()
            )));
        }
        for (slot, block) in acc[range].iter_mut().zip(&part.blocks) {
            super::blocks::accumulate(ev, slot, block.clone())?;
        }
    }
    acc.into_iter()
        .enumerate()
        .map(|(i, b)| {
            b.ok_or_else(|| Error::InvalidInput(format!("no partial result for output block {i}")))
        })
        .collect()
}
