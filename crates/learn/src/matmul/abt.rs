//! DiagABT: `Z = A·Bᵀ` for `A` (a × b, row-major) and `B` (c × b, row-tiled with period c_pad),
//! giving `Z` column-tiled (period c_pad) — the layout of the logits.
//!
//! Two diagonals per multiplication: `C_q = B̃_q + i·Rot(B̃_q, s1)` holds rows `B[r] + i·B[r+1]`;
//! rotating it by `2m·s1` pairs row `r` of `A` with `B[r+2m] + i·B[r+2m+1]`. After a row sum,
//! a column-0 mask and a fill, `D[r,·] = Z[r,r+2m] + i·Z[r,r+2m+1]`; the mask `μ_m` puts both
//! diagonals in place and the final real part removes the imaginary cross terms.
//!
//! Cost (one unit): Mult = (c/2)·P·Q, CMult = c·P, Rot = (c/2)·(Q + 2·P·log2 s1), P conjugations;
//! depth 3.

use super::blocks::{accumulate, doubling_steps, fill_rows, row_sum_to_first, twice_real};
use super::masks;
use super::operands::{OperandRule, UnitCheck, check_factor, finished_blocks, shard_blocks};
use super::partial::{Partial, sum_partials};
use super::shard::{ShardSpec, Sharding};
use crate::eval::{SlotEvaluator, product_accumulate, product_finish};
use crate::pack::{BlockMatrix, Layout, UnitShape};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A DiagABT multiplication cut into work units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbtPlan {
    unit: UnitShape,
    period: usize,
    rows: usize,
    classes: usize,
    row_blocks: usize,
    col_blocks: usize,
    factor: f64,
    shards: Vec<ShardSpec>,
}

/// One DiagABT work unit: everything a worker needs to compute its partial result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbtUnit<C> {
    /// Index ranges covered.
    pub spec: ShardSpec,
    /// Block shape.
    pub unit: UnitShape,
    /// Tile period `c_pad` of `B`.
    pub period: usize,
    /// Scalar folded into the output masks (the product is `factor · A·Bᵀ`).
    pub factor: f64,
    /// `A_{p,q}` for `p` in `spec.row_blocks`, `q` in `spec.col_blocks`, row-major.
    pub a: Vec<C>,
    /// `C_q = B̃_q + i·Rot(B̃_q, s1)` for `q` in `spec.col_blocks`.
    pub c: Vec<C>,
    /// The rotation steps the unit performs (for the worker to check its keys).
    pub rotations: Vec<isize>,
}

const RULE: OperandRule<'static> = OperandRule {
    algorithm: "DiagABT",
    product: "A·Bᵀ",
    layouts: "A row-major and B row-tiled",
};

fn check_inputs<C>(a: &BlockMatrix<C>, b: &BlockMatrix<C>) -> Result<usize> {
    let period = match (a.layout(), b.layout()) {
        (Layout::RowMajor, Layout::RowTiled { period }) => Some(period),
        _ => None,
    };
    RULE.period(a, b, period, a.cols() == b.cols())
}

/// Rotation steps of a unit covering `pairs`.
fn unit_rotations(unit: UnitShape, pairs: &std::ops::Range<usize>) -> Vec<isize> {
    let s1 = unit.s1() as isize;
    let mut steps: BTreeSet<isize> = pairs
        .clone()
        .filter(|&m| m > 0)
        .map(|m| 2 * m as isize * s1)
        .collect();
    steps.extend(doubling_steps(unit.log_s1(), 1));
    steps.extend(doubling_steps(unit.log_s1(), -1));
    steps.into_iter().collect()
}

impl AbtPlan {
    /// Plans `factor · A·Bᵀ` cut by `sharding`.
    pub fn new<C>(
        a: &BlockMatrix<C>,
        b: &BlockMatrix<C>,
        factor: f64,
        sharding: Sharding,
    ) -> Result<Self> {
        let period = check_inputs(a, b)?;
        check_factor(factor)?;
        let shards = sharding.specs(period / 2, a.block_rows(), a.block_cols())?;
        Ok(AbtPlan {
            unit: a.unit(),
            period,
            rows: a.rows(),
            classes: b.rows(),
            row_blocks: a.block_rows(),
            col_blocks: a.block_cols(),
            factor,
            shards,
        })
    }

    /// The units' index ranges.
    pub fn shards(&self) -> &[ShardSpec] {
        &self.shards
    }

    /// Every rotation step the multiplication uses (preparation and all units).
    pub fn rotation_steps(&self) -> BTreeSet<isize> {
        let mut s: BTreeSet<isize> = unit_rotations(self.unit, &(0..self.period / 2))
            .into_iter()
            .collect();
        s.insert(self.unit.s1() as isize);
        s
    }

    /// Preparation (on the coordinator, `Q` rotations): builds `C_q` and the work units.
    pub fn units<E: SlotEvaluator>(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
    ) -> Result<Vec<AbtUnit<E::Ct>>> {
        if check_inputs(a, b)? != self.period
            || a.unit() != self.unit
            || (a.rows(), b.rows(), a.block_rows(), a.block_cols())
                != (self.rows, self.classes, self.row_blocks, self.col_blocks)
        {
            return Err(Error::InvalidInput(
                "DiagABT operands do not match the plan".into(),
            ));
        }
        let s1 = self.unit.s1() as isize;
        crate::pack::check_unit(ev.slots(), self.unit)?;
        let c = b
            .blocks()
            .iter()
            .map(|bq| {
                let up = ev.rotate(bq, s1)?;
                ev.add(bq, &ev.mul_i(&up)?)
            })
            .collect::<Result<Vec<_>>>()?;
        self.shards
            .iter()
            .map(|spec| {
                Ok(AbtUnit {
                    spec: spec.clone(),
                    unit: self.unit,
                    period: self.period,
                    factor: self.factor,
                    a: shard_blocks(a, spec)?,
                    c: c[spec.col_blocks.clone()].to_vec(),
                    rotations: unit_rotations(self.unit, &spec.pairs),
                })
            })
            .collect()
    }

    /// Adds the units' partial results (in plan order) and takes the real part: `factor · A·Bᵀ`,
    /// column-tiled.
    pub fn combine<E: SlotEvaluator>(
        &self,
        ev: &E,
        partials: &[Partial<E::Ct>],
    ) -> Result<BlockMatrix<E::Ct>> {
        let sums = sum_partials(ev, &self.shards, partials, self.row_blocks, |s| {
            s.row_blocks.clone()
        })?;
        let blocks = sums
            .iter()
            .map(|u| twice_real(ev, u))
            .collect::<Result<Vec<_>>>()?;
        BlockMatrix::from_blocks(
            self.rows,
            self.classes,
            self.unit,
            Layout::ColTiled {
                period: self.period,
            },
            blocks,
        )
    }
}

impl<C> AbtUnit<C> {
    /// The same unit with every ciphertext converted (e.g. references resolved).
    pub fn try_map<D>(&self, mut f: impl FnMut(&C) -> Result<D>) -> Result<AbtUnit<D>> {
        Ok(AbtUnit {
            spec: self.spec.clone(),
            unit: self.unit,
            period: self.period,
            factor: self.factor,
            a: self.a.iter().map(&mut f).collect::<Result<_>>()?,
            c: self.c.iter().map(&mut f).collect::<Result<_>>()?,
            rotations: self.rotations.clone(),
        })
    }

    fn validate(&self) -> Result<()> {
        UnitCheck {
            algorithm: RULE.algorithm,
            period: self.period,
            unit: self.unit,
            spec: &self.spec,
            full: (self.a.len(), "A"),
            per_range: (self.c.len(), "C", self.spec.col_blocks.len()),
            rotations_match: self.rotations == unit_rotations(self.unit, &self.spec.pairs),
            factor: self.factor,
        }
        .run()
    }

    /// Computes the unit's partial result: for each block row `p` of the unit,
    /// `Σ_{m, q} D_{m,p,q} ⊙ μ_m` (still complex; the coordinator takes the real part).
    pub fn run<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Partial<C>>
    where
        C: Clone,
    {
        // The unit came from elsewhere: its block shape must be this backend's before anything
        // of that size is built.
        crate::pack::check_unit(ev.slots(), self.unit)?;
        self.validate()?;
        let unit = self.unit;
        let s1 = unit.s1() as isize;
        let nq = self.spec.col_blocks.len();
        let np = self.spec.row_blocks.len();
        let steps: Vec<isize> = self
            .spec
            .pairs
            .clone()
            .map(|m| 2 * m as isize * s1)
            .collect();
        // D[m][p] = Σ_q A_{p,q} ⊙ Rot(C_q, 2m·s1); all rotations of one C_q are hoisted.
        let mut d: Vec<Vec<Option<E::ProductSum>>> = vec![vec![None; np]; steps.len()];
        for (qi, cq) in self.c.iter().enumerate() {
            let rotated = ev.rotate_hoisted(cq, &steps)?;
            for (dm, cqm) in d.iter_mut().zip(&rotated) {
                for (pi, dmp) in dm.iter_mut().enumerate() {
                    product_accumulate(ev, dmp, &self.a[pi * nq + qi], cqm)?;
                }
            }
        }
        let first_col = masks::column(unit, 0, 1.0);
        let mut out: Vec<Option<C>> = vec![None; np];
        for (m, dm) in self.spec.pairs.clone().zip(d) {
            let mu = masks::abt_diagonal(unit, self.period, m, self.factor / 2.0);
            for (acc, dmp) in out.iter_mut().zip(dm) {
                let dmp = product_finish(ev, dmp)?;
                let summed = row_sum_to_first(ev, unit, dmp)?;
                let filled = fill_rows(ev, unit, ev.mul_const(&summed, &first_col)?)?;
                accumulate(ev, acc, ev.mul_const(&filled, &mu)?)?;
            }
        }
        Ok(Partial {
            spec: self.spec.clone(),
            blocks: finished_blocks(RULE.algorithm, out)?,
        })
    }
}

/// `factor · A·Bᵀ` in one process (one unit, all rotations hoisted).
pub fn diag_abt_scaled<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
    factor: f64,
) -> Result<BlockMatrix<E::Ct>> {
    run_sharded_abt(ev, a, b, factor, Sharding::single())
}

/// `A·Bᵀ` (DiagABT) in one process.
pub fn diag_abt<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
) -> Result<BlockMatrix<E::Ct>> {
    diag_abt_scaled(ev, a, b, 1.0)
}

/// `factor · A·Bᵀ` cut by `sharding`, the units run one after the other in this process (what a
/// set of workers would compute).
pub fn run_sharded_abt<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
    factor: f64,
    sharding: Sharding,
) -> Result<BlockMatrix<E::Ct>> {
    let plan = AbtPlan::new(a, b, factor, sharding)?;
    let units = plan.units(ev, a, b)?;
    let partials = units
        .iter()
        .map(|u| u.run(ev))
        .collect::<Result<Vec<_>>>()?;
    plan.combine(ev, &partials)
}
