//! Checks and gathering shared by DiagABT and DiagATB: both take two block matrices in fixed
//! layouts, cut them into work units over ranges of block rows and columns, and must refuse a
//! unit that arrives from elsewhere inconsistent with itself.

use super::shard::ShardSpec;
use crate::pack::{BlockMatrix, UnitShape};
use crate::{Error, Result};

/// What a diagonal multiplication expects of its two operands.
pub(crate) struct OperandRule<'a> {
    /// Algorithm name for messages (`"DiagABT"`).
    pub algorithm: &'a str,
    /// The product for messages (`"A·Bᵀ"`).
    pub product: &'a str,
    /// The layouts it needs, for messages (`"A row-major and B row-tiled"`).
    pub layouts: &'a str,
}

impl OperandRule<'_> {
    /// The tile period of the operands: `period` is what the layout pair gave (`None` when the
    /// layouts are wrong), `inner_dims_agree` whether the contracted dimensions match.
    pub fn period<C>(
        &self,
        a: &BlockMatrix<C>,
        b: &BlockMatrix<C>,
        period: Option<usize>,
        inner_dims_agree: bool,
    ) -> Result<usize> {
        let Some(period) = period else {
            return Err(Error::Shape(format!(
                "{} needs {}, got {:?} and {:?}",
                self.algorithm,
                self.layouts,
                a.layout(),
                b.layout()
            )));
        };
        if a.unit() != b.unit() {
            return Err(Error::Shape(format!(
                "{} operands have different unit shapes",
                self.algorithm
            )));
        }
        if !inner_dims_agree {
            return Err(Error::Shape(format!(
                "{} with A {}×{} and B {}×{}",
                self.product,
                a.rows(),
                a.cols(),
                b.rows(),
                b.cols()
            )));
        }
        check_period(period, a.unit())?;
        Ok(period)
    }
}

/// The diagonal algorithms need an even tile period that divides both block sides.
pub(crate) fn check_period(period: usize, unit: UnitShape) -> Result<()> {
    if period < 2 || period > unit.s0() || period > unit.s1() {
        return Err(Error::Shape(format!(
            "tile period {period} must be ≥ 2 and ≤ both sides of the {}×{} unit",
            unit.s0(),
            unit.s1()
        )));
    }
    Ok(())
}

/// A finite scalar factor, or a typed error.
pub(crate) fn check_factor(factor: f64) -> Result<()> {
    if factor.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("factor {factor}")))
    }
}

/// The blocks `(p, q)` of `m` for `p` in the unit's block rows and `q` in its block columns,
/// row-major: the per-unit copy of the operand that is cut by both ranges.
pub(crate) fn shard_blocks<C: Clone>(m: &BlockMatrix<C>, spec: &ShardSpec) -> Result<Vec<C>> {
    let mut blocks = Vec::with_capacity(spec.row_blocks.len() * spec.col_blocks.len());
    for p in spec.row_blocks.clone() {
        for q in spec.col_blocks.clone() {
            blocks.push(m.block(p, q)?.clone());
        }
    }
    Ok(blocks)
}

/// What every received unit must satisfy before it runs: a valid period, index ranges within
/// what they claim, block counts that fit the ranges (`full` blocks cut by both ranges, `per_range`
/// blocks cut by one range of length `per_range_len`), the rotation steps the unit's own ranges
/// imply, and a finite factor.
pub(crate) struct UnitCheck<'a> {
    /// Algorithm name for messages.
    pub algorithm: &'a str,
    /// Tile period.
    pub period: usize,
    /// Block shape.
    pub unit: UnitShape,
    /// Index ranges.
    pub spec: &'a ShardSpec,
    /// Number of blocks cut by both ranges, and their name.
    pub full: (usize, &'a str),
    /// Number of blocks cut by one range, their name and the length they must have.
    pub per_range: (usize, &'a str, usize),
    /// Whether the listed rotation steps are the ones the ranges imply.
    pub rotations_match: bool,
    /// Scalar factor.
    pub factor: f64,
}

impl UnitCheck<'_> {
    /// Runs every check, first failure wins.
    pub fn run(&self) -> Result<()> {
        check_period(self.period, self.unit)?;
        let spec = self.spec;
        let (np, nq) = (spec.row_blocks.len(), spec.col_blocks.len());
        spec.check(self.period / 2, spec.row_blocks.end, spec.col_blocks.end)?;
        let (full, full_name) = self.full;
        let (per, per_name, per_len) = self.per_range;
        if full != np * nq || per != per_len {
            return Err(Error::InvalidInput(format!(
                "{} unit has {full} {full_name} blocks and {per} {per_name} blocks for a {np}×{nq} range",
                self.algorithm
            )));
        }
        if !self.rotations_match {
            return Err(Error::InvalidInput(format!(
                "{} unit lists the wrong rotation steps",
                self.algorithm
            )));
        }
        check_factor(self.factor)
    }
}

/// The unit's output blocks, each of which must have received at least one term.
pub(crate) fn finished_blocks<C>(algorithm: &str, out: Vec<Option<C>>) -> Result<Vec<C>> {
    out.into_iter()
        .map(|b| b.ok_or_else(|| Error::InvalidInput(format!("{algorithm} unit without pairs"))))
        .collect()
}
