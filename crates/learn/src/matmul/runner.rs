//! Running work units: one after the other, or in parallel on the current rayon pool (what a
//! set of local workers would do).

use super::abt::AbtUnit;
use super::atb::AtbUnit;
use super::partial::Partial;
use crate::Result;
use crate::eval::SlotEvaluator;
use rayon::prelude::*;

/// A work unit of a sharded multiplication.
pub trait WorkUnit<C> {
    /// Computes the unit's partial result with `ev`.
    fn execute<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Partial<C>>;
}

impl<C: Clone> WorkUnit<C> for AbtUnit<C> {
    fn execute<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Partial<C>> {
        self.run(ev)
    }
}

impl<C: Clone> WorkUnit<C> for AtbUnit<C> {
    fn execute<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Partial<C>> {
        self.run(ev)
    }
}

/// Runs every unit, in parallel when `parallel` is set; partial results keep the units' order.
pub fn run_units<E, U>(ev: &E, units: &[U], parallel: bool) -> Result<Vec<Partial<E::Ct>>>
where
    E: SlotEvaluator + Sync,
    U: WorkUnit<E::Ct> + Sync,
{
    if parallel {
        units.par_iter().map(|u| u.execute(ev)).collect()
    } else {
        units.iter().map(|u| u.execute(ev)).collect()
    }
}
