//! DiagATB: `G = Aᵀ·B` for `A` (a × c, column-tiled with period c_pad) and `B` (a × b,
//! row-major), giving `G` row-tiled (period c_pad) — the layout of the weights, so a gradient
//! lands where the weights are.
//!
//! `C_p = Ã_p + i·RotLeft(Ã_p, 1)` holds columns `A[:,j] + i·A[:,j+1]`; shifting it by `2m`
//! columns and multiplying by `B` gives, after a cyclic column sum, `G[l+2m, l] + i·G[l+2m+1, l]`
//! in column `l` of every row; the mask `ν_m` and the final real part put both in place.
//!
//! Two forms (HETAL's Algorithms 3 and 4):
//! * **standard**: the column shift is the exact `RotLeft(C_p, 2m)` (one more mask on `A`'s path:
//!   depth 4 on `A`, 2 on `B`);
//! * **PRotUp**: a plain rotation `Rot(C_p, 2m)`, with the wrapped columns repaired on `B` by
//!   `PRotUp(B, 2m)` (depth 3 on both; more Rot and CMult, same Mult).
//!
//! [`AtbForm::Auto`] takes the PRotUp form when `level(A) < level(B)`, as in the reference.
//!
//! **Folded column sum** (the `Folded*` forms, same product and depth, fewer rotations): HETAL
//! sums all `s0` rows of every pair's product (`log2 s0` rotations per pair and block column)
//! before masking by `ν_m`. Since `ν_m` repeats every `c_pad` rows, it is enough to sum each
//! pair's product over `c_pad` consecutive rows (`log2 c_pad` rotations), mask, add the pairs, and
//! sum the `s0/c_pad` groups once for all pairs (`log2(s0/c_pad)` rotations): per block column
//! `(c/2)·log2 c_pad + log2(s0/c_pad)` rotations instead of `(c/2)·log2 s0` (36 instead of 64 at
//! a 256 × 16 block with 16 padded classes). Every group of `c_pad` rows starting at a row
//! `≡ r (mod c_pad)` is disjoint from the others and together they cover the block, so the
//! second sum leaves in row `r` exactly `Σ_m ν_m[r] · colsum(E_m)`.

use super::blocks::{
    accumulate, column_sum_rows, doubling_steps, partial_rot_up, rot_left_rows, rot_left_rows_from,
    rot_left_steps, twice_real,
};
use super::masks;
use super::operands::{OperandRule, UnitCheck, check_factor, finished_blocks, shard_blocks};
use super::partial::{Partial, sum_partials};
use super::shard::{ShardSpec, Sharding};
use crate::eval::{SlotEvaluator, product_accumulate, product_finish};
use crate::pack::{BlockMatrix, Layout, UnitShape};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Which form of DiagATB to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AtbForm {
    /// Exact column shifts of `A` (depth 4 on `A`, 2 on `B`).
    Standard,
    /// Plain rotations of `A`, wrap repaired on `B` (depth 3 on both).
    PRotUp,
    /// PRotUp when `level(A) < level(B)`, standard otherwise.
    Auto,
    /// [`AtbForm::Standard`] with the folded column sum (see the module documentation).
    FoldedStandard,
    /// [`AtbForm::PRotUp`] with the folded column sum.
    FoldedPRotUp,
    /// [`AtbForm::Auto`]'s choice of shift with the folded column sum: what training uses.
    FoldedAuto,
}

impl AtbForm {
    /// The form [`AtbForm::Auto`] (or [`AtbForm::FoldedAuto`]) resolves to for operands at these
    /// levels; the column sum stays as asked.
    pub fn resolve(self, level_a: usize, level_b: usize) -> AtbForm {
        match self {
            AtbForm::Auto if level_a < level_b => AtbForm::PRotUp,
            AtbForm::Auto => AtbForm::Standard,
            AtbForm::FoldedAuto if level_a < level_b => AtbForm::FoldedPRotUp,
            AtbForm::FoldedAuto => AtbForm::FoldedStandard,
            f => f,
        }
    }

    /// The column shift alone: [`AtbForm::Standard`], [`AtbForm::PRotUp`] or [`AtbForm::Auto`].
    pub fn shift(self) -> AtbForm {
        match self {
            AtbForm::FoldedStandard => AtbForm::Standard,
            AtbForm::FoldedPRotUp => AtbForm::PRotUp,
            AtbForm::FoldedAuto => AtbForm::Auto,
            f => f,
        }
    }

    /// Whether the column sum is folded over the pairs.
    pub fn folded(self) -> bool {
        self.shift() != self
    }

    /// Whether the form still has to be resolved from the operands' levels.
    pub fn is_auto(self) -> bool {
        self.shift() == AtbForm::Auto
    }
}

/// A DiagATB multiplication cut into work units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtbPlan {
    unit: UnitShape,
    period: usize,
    classes: usize,
    cols: usize,
    row_blocks: usize,
    col_blocks: usize,
    factor: f64,
    form: AtbForm,
    shards: Vec<ShardSpec>,
}

/// One DiagATB work unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AtbUnit<C> {
    /// Index ranges covered.
    pub spec: ShardSpec,
    /// Block shape.
    pub unit: UnitShape,
    /// Tile period `c_pad` of `A`.
    pub period: usize,
    /// Scalar folded into the output masks (the product is `factor · Aᵀ·B`).
    pub factor: f64,
    /// The resolved form (standard or PRotUp shift, HETAL's or the folded column sum).
    pub form: AtbForm,
    /// `C_p = Ã_p + i·RotLeft(Ã_p, 1)` for `p` in `spec.row_blocks`.
    pub c: Vec<C>,
    /// `B_{p,q}` for `p` in `spec.row_blocks`, `q` in `spec.col_blocks`, row-major.
    pub b: Vec<C>,
    /// The rotation steps the unit performs.
    pub rotations: Vec<isize>,
}

const RULE: OperandRule<'static> = OperandRule {
    algorithm: "DiagATB",
    product: "Aᵀ·B",
    layouts: "A column-tiled and B row-major",
};

fn check_inputs<C>(a: &BlockMatrix<C>, b: &BlockMatrix<C>) -> Result<usize> {
    let period = match (a.layout(), b.layout()) {
        (Layout::ColTiled { period }, Layout::RowMajor) => Some(period),
        _ => None,
    };
    RULE.period(a, b, period, a.rows() == b.rows())
}

fn unit_rotations(unit: UnitShape, pairs: &std::ops::Range<usize>, form: AtbForm) -> Vec<isize> {
    let mut steps = BTreeSet::new();
    for m in pairs.clone().filter(|&m| m > 0) {
        match form.shift() {
            AtbForm::PRotUp => {
                steps.insert(2 * m as isize);
                steps.insert(unit.s1() as isize);
            }
            _ => steps.extend(rot_left_steps(unit, 2 * m)),
        }
    }
    steps.extend(doubling_steps(unit.log_s0(), unit.s1() as isize));
    steps.into_iter().collect()
}

/// Lowest level among the blocks.
fn min_level<E: SlotEvaluator>(ev: &E, m: &BlockMatrix<E::Ct>) -> usize {
    m.blocks().iter().map(|c| ev.level(c)).min().unwrap_or(0)
}

impl AtbPlan {
    /// Plans `factor · Aᵀ·B` cut by `sharding`; [`AtbForm::Auto`] is resolved from the operands'
    /// levels here.
    pub fn new<E: SlotEvaluator>(
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
        factor: f64,
        form: AtbForm,
        sharding: Sharding,
    ) -> Result<Self> {
        let period = check_inputs(a, b)?;
        check_factor(factor)?;
        let form = form.resolve(min_level(ev, a), min_level(ev, b));
        let shards = sharding.specs(period / 2, b.block_rows(), b.block_cols())?;
        Ok(AtbPlan {
            unit: a.unit(),
            period,
            classes: a.cols(),
            cols: b.cols(),
            row_blocks: b.block_rows(),
            col_blocks: b.block_cols(),
            factor,
            form,
            shards,
        })
    }

    /// The resolved form.
    pub fn form(&self) -> AtbForm {
        self.form
    }

    /// The units' index ranges.
    pub fn shards(&self) -> &[ShardSpec] {
        &self.shards
    }

    /// Every rotation step the multiplication uses (preparation and all units).
    pub fn rotation_steps(&self) -> BTreeSet<isize> {
        let mut s: BTreeSet<isize> = unit_rotations(self.unit, &(0..self.period / 2), self.form)
            .into_iter()
            .collect();
        s.extend(rot_left_steps(self.unit, 1));
        s
    }

    /// Preparation (on the coordinator, 2 Rot + 1 CMult per block row): builds `C_p` and the
    /// work units.
    pub fn units<E: SlotEvaluator>(
        &self,
        ev: &E,
        a: &BlockMatrix<E::Ct>,
        b: &BlockMatrix<E::Ct>,
    ) -> Result<Vec<AtbUnit<E::Ct>>> {
        if check_inputs(a, b)? != self.period
            || a.unit() != self.unit
            || (a.cols(), b.cols(), b.block_rows(), b.block_cols())
                != (self.classes, self.cols, self.row_blocks, self.col_blocks)
        {
            return Err(Error::InvalidInput(
                "DiagATB operands do not match the plan".into(),
            ));
        }
        crate::pack::check_unit(ev.slots(), self.unit)?;
        let c = a
            .blocks()
            .iter()
            .map(|ap| {
                let shifted = rot_left_rows(ev, self.unit, ap, 1)?;
                ev.add(ap, &ev.mul_i(&shifted)?)
            })
            .collect::<Result<Vec<_>>>()?;
        self.shards
            .iter()
            .map(|spec| {
                Ok(AtbUnit {
                    spec: spec.clone(),
                    unit: self.unit,
                    period: self.period,
                    factor: self.factor,
                    form: self.form,
                    c: c[spec.row_blocks.clone()].to_vec(),
                    b: shard_blocks(b, spec)?,
                    rotations: unit_rotations(self.unit, &spec.pairs, self.form),
                })
            })
            .collect()
    }

    /// Adds the units' partial results (in plan order) and takes the real part: `factor · Aᵀ·B`,
    /// row-tiled.
    pub fn combine<E: SlotEvaluator>(
        &self,
        ev: &E,
        partials: &[Partial<E::Ct>],
    ) -> Result<BlockMatrix<E::Ct>> {
        let sums = sum_partials(ev, &self.shards, partials, self.col_blocks, |s| {
            s.col_blocks.clone()
        })?;
        let blocks = sums
            .iter()
            .map(|v| twice_real(ev, v))
            .collect::<Result<Vec<_>>>()?;
        BlockMatrix::from_blocks(
            self.classes,
            self.cols,
            self.unit,
            Layout::RowTiled {
                period: self.period,
            },
            blocks,
        )
    }
}

impl<C> AtbUnit<C> {
    /// The same unit with every ciphertext converted (e.g. references resolved).
    pub fn try_map<D>(&self, mut f: impl FnMut(&C) -> Result<D>) -> Result<AtbUnit<D>> {
        Ok(AtbUnit {
            spec: self.spec.clone(),
            unit: self.unit,
            period: self.period,
            factor: self.factor,
            form: self.form,
            c: self.c.iter().map(&mut f).collect::<Result<_>>()?,
            b: self.b.iter().map(&mut f).collect::<Result<_>>()?,
            rotations: self.rotations.clone(),
        })
    }

    fn validate(&self) -> Result<()> {
        if self.form.is_auto() {
            return Err(Error::InvalidInput(
                "DiagATB unit with an unresolved form".into(),
            ));
        }
        UnitCheck {
            algorithm: RULE.algorithm,
            period: self.period,
            unit: self.unit,
            spec: &self.spec,
            full: (self.b.len(), "B"),
            per_range: (self.c.len(), "C", self.spec.row_blocks.len()),
            rotations_match: self.rotations
                == unit_rotations(self.unit, &self.spec.pairs, self.form),
            factor: self.factor,
        }
        .run()
    }

    /// `C_p` shifted by `2m` columns for every pair of the unit (`[m][p]`), rotations hoisted per
    /// `C_p`: exactly (`RotLeft`) in the standard form, plainly (`Rot`) in the PRotUp form.
    fn shifted_c<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Vec<Vec<C>>>
    where
        C: Clone,
    {
        let pairs: Vec<usize> = self.spec.pairs.clone().collect();
        let mut out: Vec<Vec<C>> = vec![Vec::with_capacity(self.c.len()); pairs.len()];
        for cp in &self.c {
            let steps: Vec<isize> = match self.form.shift() {
                AtbForm::PRotUp => pairs.iter().map(|&m| 2 * m as isize).collect(),
                _ => pairs
                    .iter()
                    .filter(|&&m| m > 0)
                    .flat_map(|&m| rot_left_steps(self.unit, 2 * m))
                    .collect(),
            };
            let rotated = ev.rotate_hoisted(cp, &steps)?;
            match self.form.shift() {
                AtbForm::PRotUp => {
                    for (o, r) in out.iter_mut().zip(rotated) {
                        o.push(r);
                    }
                }
                _ => {
                    let mut pairs_of_rotations = rotated.chunks_exact(2);
                    for (o, &m) in out.iter_mut().zip(&pairs) {
                        if m == 0 {
                            o.push(cp.clone());
                        } else {
                            let r = pairs_of_rotations
                                .next()
                                .ok_or_else(|| Error::InvalidInput("missing rotation".into()))?;
                            o.push(rot_left_rows_from(ev, self.unit, 2 * m, &r[0], &r[1])?);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// `B` brought down, once, to one level above `C_p`: the products take `B` no higher than
    /// that (PRotUp's mask takes one level first), so the result is the same, and PRotUp's
    /// rotations of `B` then run on that many limbs rather than on those of a fresh encryption
    /// (fresh data sit at the top of the chain).
    fn b_at_product_level<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Vec<C>>
    where
        C: Clone,
    {
        let nq = self.spec.col_blocks.len();
        self.b
            .iter()
            .enumerate()
            .map(|(i, bpq)| {
                let cp = self
                    .c
                    .get(i / nq.max(1))
                    .ok_or_else(|| Error::InvalidInput("DiagATB unit without C".into()))?;
                let target = ev.level(cp) + 1;
                if ev.level(bpq) > target {
                    ev.drop_to_level(bpq, target)
                } else {
                    Ok(bpq.clone())
                }
            })
            .collect()
    }

    /// Computes the unit's partial result: for each block column `q` of the unit,
    /// `Σ_m colsum(Σ_p C_p^m ⊙ B'_{p,q}) ⊙ ν_m` (the coordinator takes the real part); in a
    /// folded form the sum over the `s0/c_pad` row groups is taken once, after the pairs.
    pub fn run<E: SlotEvaluator<Ct = C>>(&self, ev: &E) -> Result<Partial<C>>
    where
        C: Clone,
    {
        // The unit came from elsewhere: its block shape must be this backend's before anything
        // of that size is built.
        crate::pack::check_unit(ev.slots(), self.unit)?;
        self.validate()?;
        let unit = self.unit;
        let nq = self.spec.col_blocks.len();
        let shifted = self.shifted_c(ev)?;
        // Rows summed per pair: the whole block, or (folded) one group of `period` rows.
        let period_log = self.period.trailing_zeros();
        let pair_sum_log = if self.form.folded() {
            period_log
        } else {
            unit.log_s0()
        };
        let prot_up = self.form.shift() == AtbForm::PRotUp;
        let b = self.b_at_product_level(ev)?;
        let mut out: Vec<Option<C>> = vec![None; nq];
        for (m, cm) in self.spec.pairs.clone().zip(&shifted) {
            let nu = masks::atb_diagonal(unit, self.period, m, self.factor / 2.0);
            for (qi, acc) in out.iter_mut().enumerate() {
                let mut e: Option<E::ProductSum> = None;
                for (pi, cmp) in cm.iter().enumerate() {
                    let bpq = &b[pi * nq + qi];
                    if prot_up && m > 0 {
                        product_accumulate(
                            ev,
                            &mut e,
                            cmp,
                            &partial_rot_up(ev, unit, bpq, 2 * m)?,
                        )?;
                    } else {
                        product_accumulate(ev, &mut e, cmp, bpq)?;
                    }
                }
                let e = product_finish(ev, e)?;
                let summed = column_sum_rows(ev, unit, e, 0..pair_sum_log)?;
                accumulate(ev, acc, ev.mul_const(&summed, &nu)?)?;
            }
        }
        if self.form.folded() {
            out = out
                .into_iter()
                .map(|acc| {
                    acc.map(|x| column_sum_rows(ev, unit, x, period_log..unit.log_s0()))
                        .transpose()
                })
                .collect::<Result<_>>()?;
        }
        Ok(Partial {
            spec: self.spec.clone(),
            blocks: finished_blocks(RULE.algorithm, out)?,
        })
    }
}

/// `factor · Aᵀ·B` in one process (one unit, rotations hoisted), in the given form.
pub fn diag_atb_with<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
    factor: f64,
    form: AtbForm,
) -> Result<BlockMatrix<E::Ct>> {
    run_sharded_atb(ev, a, b, factor, form, Sharding::single())
}

/// `Aᵀ·B` (DiagATB, form chosen from the levels) in one process.
pub fn diag_atb<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
) -> Result<BlockMatrix<E::Ct>> {
    diag_atb_with(ev, a, b, 1.0, AtbForm::Auto)
}

/// `factor · Aᵀ·B` cut by `sharding`, the units run one after the other in this process.
pub fn run_sharded_atb<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
    factor: f64,
    form: AtbForm,
    sharding: Sharding,
) -> Result<BlockMatrix<E::Ct>> {
    let plan = AtbPlan::new(ev, a, b, factor, form, sharding)?;
    let units = plan.units(ev, a, b)?;
    let partials = units
        .iter()
        .map(|u| u.run(ev))
        .collect::<Result<Vec<_>>>()?;
    plan.combine(ev, &partials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator};
    use crate::matmul::cost;
    use crate::pack::{decrypt_matrix, encrypt_matrix};
    use ndarray::Array2;

    fn matrix(rows: usize, cols: usize, seed: usize) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 7 + j * 13 + seed * 31) % 23) as f64 / 23.0 - 0.5
        })
    }

    /// The folded column sum gives HETAL's product at the same level with the rotations its
    /// cost formula counts (fewer than HETAL's), in one unit and cut into several.
    #[test]
    fn folded_column_sum_gives_the_same_product_with_fewer_rotations() {
        // Two block rows and three block columns; 10 classes (period 16) on 64 × 16 blocks.
        let unit = UnitShape::new(64, 16).unwrap();
        let sim = Simulator::new(SimConfig::with_slots(unit.slots())).unwrap();
        let (a, b, c) = (100, 40, 10);
        let p = matrix(a, c, 1);
        let x = matrix(a, b, 2);
        let want = p.t().dot(&x) * 0.25;
        let pe = encrypt_matrix(&sim, p.view(), Layout::ColTiled { period: 16 }, unit, 9).unwrap();
        let xe = encrypt_matrix(&sim, x.view(), Layout::RowMajor, unit, 12).unwrap();
        for (paper, folded) in [
            (AtbForm::Standard, AtbForm::FoldedStandard),
            (AtbForm::PRotUp, AtbForm::FoldedPRotUp),
            (AtbForm::Auto, AtbForm::FoldedAuto),
        ] {
            let mut runs = Vec::new();
            for form in [paper, folded] {
                sim.counter().reset();
                let got = diag_atb_with(&sim, &pe, &xe, 0.25, form).unwrap();
                let counts = sim.counts().table_triple();
                let resolved = form.resolve(9, 12);
                let predicted = cost::diag_atb(a, b, 16, unit, resolved).triple();
                assert_eq!(counts, predicted, "{form:?}");
                let err = (&decrypt_matrix(&sim, &got).unwrap() - &want)
                    .mapv(f64::abs)
                    .fold(0.0f64, |m, &v| m.max(v));
                assert!(err < 1e-12, "{form:?}: error {err}");
                let level = got.blocks().iter().map(|c| sim.level(c)).min().unwrap();
                runs.push((counts, level));
            }
            let ((paper_counts, paper_level), (folded_counts, folded_level)) = (runs[0], runs[1]);
            assert_eq!(paper_level, folded_level, "{folded:?} keeps the depth");
            // Per block column: 8 pairs × log2(64) = 48 rotations against 8 × 4 + 2 = 34.
            assert_eq!(
                paper_counts.2 - folded_counts.2,
                3 * (48 - 34),
                "{folded:?}"
            );
            assert_eq!(paper_counts.0, folded_counts.0, "{folded:?}: same CMult");

            // Cut into units (by pair and block column), the partial results still add up.
            for workers in [2, 3, 5] {
                let sharding = crate::matmul::Sharding::for_workers(workers, 8, 3);
                let plan = AtbPlan::new(&sim, &pe, &xe, 0.25, folded, sharding).unwrap();
                let units = plan.units(&sim, &pe, &xe).unwrap();
                let partials = units
                    .iter()
                    .map(|u| u.run(&sim))
                    .collect::<Result<Vec<_>>>()
                    .unwrap();
                let got = decrypt_matrix(&sim, &plan.combine(&sim, &partials).unwrap()).unwrap();
                let err = (&got - &want).mapv(f64::abs).fold(0.0f64, |m, &v| m.max(v));
                assert!(err < 1e-12, "{folded:?} over {workers} units: error {err}");
            }
        }
    }

    #[test]
    fn folded_forms_resolve_like_their_shifts() {
        assert_eq!(AtbForm::FoldedAuto.resolve(3, 5), AtbForm::FoldedPRotUp);
        assert_eq!(AtbForm::FoldedAuto.resolve(5, 5), AtbForm::FoldedStandard);
        assert_eq!(AtbForm::FoldedPRotUp.shift(), AtbForm::PRotUp);
        assert!(AtbForm::FoldedStandard.folded() && !AtbForm::Standard.folded());
        assert!(AtbForm::FoldedAuto.is_auto() && !AtbForm::FoldedPRotUp.is_auto());
        assert_eq!(
            cost::diag_atb_depths(16, AtbForm::FoldedPRotUp),
            cost::diag_atb_depths(16, AtbForm::PRotUp)
        );
    }
}
