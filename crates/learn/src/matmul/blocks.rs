//! Homomorphic building blocks shared by the matrix multiplications: exact row-cyclic shifts of
//! tiled blocks, row and column sums, and taking the real part.

use super::masks;
use crate::Result;
use crate::eval::SlotEvaluator;
use crate::pack::UnitShape;

/// `RotLeft(X, k)`: exact row-cyclic left shift by `k` columns of a block (2 Rot + 1 CMult,
/// one level): `R1 + M_k ⊙ (R2 − R1)` with `R1 = Rot(X, k)`, `R2 = Rot(X, k − s1)` and `M_k`
/// the last `k` columns. `rotated` must hold `[R1, R2]` (from a hoisted batch of `x`).
pub fn rot_left_rows_from<E: SlotEvaluator>(
    ev: &E,
    unit: UnitShape,
    k: usize,
    r1: &E::Ct,
    r2: &E::Ct,
) -> Result<E::Ct> {
    let fix = ev.mul_const(&ev.sub(r2, r1)?, &masks::last_columns(unit, k))?;
    ev.add(r1, &fix)
}

/// The rotation steps `RotLeft(·, k)` needs: `[k, k − s1]`.
pub fn rot_left_steps(unit: UnitShape, k: usize) -> [isize; 2] {
    [k as isize, k as isize - unit.s1() as isize]
}

/// `RotLeft(X, k)` with its own (hoisted) pair of rotations; the identity for `k = 0`.
pub fn rot_left_rows<E: SlotEvaluator>(
    ev: &E,
    unit: UnitShape,
    x: &E::Ct,
    k: usize,
) -> Result<E::Ct> {
    if k == 0 {
        return Ok(x.clone());
    }
    let r = ev.rotate_hoisted(x, &rot_left_steps(unit, k))?;
    rot_left_rows_from(ev, unit, k, &r[0], &r[1])
}

/// `PRotUp(B, k)`: in the last `k` columns replace row `r` by row `r + 1` (cyclically):
/// `B + M_k ⊙ (Rot(B, s1) − B)` (1 Rot + 1 CMult, one level). The identity for `k = 0`.
pub fn partial_rot_up<E: SlotEvaluator>(
    ev: &E,
    unit: UnitShape,
    b: &E::Ct,
    k: usize,
) -> Result<E::Ct> {
    if k == 0 {
        return Ok(b.clone());
    }
    let up = ev.rotate(b, unit.s1() as isize)?;
    let fix = ev.mul_const(&ev.sub(&up, b)?, &masks::last_columns(unit, k))?;
    ev.add(b, &fix)
}

/// Sums each row into its column 0 (`log2 s1` rotations; other columns hold partial sums).
pub fn row_sum_to_first<E: SlotEvaluator>(ev: &E, unit: UnitShape, x: E::Ct) -> Result<E::Ct> {
    doubling_sum(ev, x, unit.log_s1(), 1)
}

/// Copies column 0 over the whole row when the other columns are zero (`log2 s1` rotations).
pub fn fill_rows<E: SlotEvaluator>(ev: &E, unit: UnitShape, x: E::Ct) -> Result<E::Ct> {
    doubling_sum(ev, x, unit.log_s1(), -1)
}

/// Cyclic column sum: every row ends up holding the sum of all rows (`log2 s0` rotations).
pub fn column_sum_fill<E: SlotEvaluator>(ev: &E, unit: UnitShape, x: E::Ct) -> Result<E::Ct> {
    column_sum_rows(ev, unit, x, 0..unit.log_s0())
}

/// The doubling steps `t` in `levels` of a cyclic column sum (`x ← x + Rot(x, 2^t·s1)`): over
/// `0..k` row `r` gets the sum of rows `r..r+2^k`; applied to such group sums, `k..log2 s0`
/// adds the groups starting at rows `r + j·2^k`. The two ranges together are
/// [`column_sum_fill`].
pub fn column_sum_rows<E: SlotEvaluator>(
    ev: &E,
    unit: UnitShape,
    x: E::Ct,
    levels: std::ops::Range<u32>,
) -> Result<E::Ct> {
    doubling_sum_over(ev, x, levels, unit.s1() as isize)
}

/// `x ← x + Rot(x, sign·2^t)` for `t < steps` (`sign` is the unit step, possibly negative).
fn doubling_sum<E: SlotEvaluator>(ev: &E, x: E::Ct, steps: u32, unit_step: isize) -> Result<E::Ct> {
    doubling_sum_over(ev, x, 0..steps, unit_step)
}

/// `x ← x + Rot(x, unit_step·2^t)` for `t` in `levels`, in order.
fn doubling_sum_over<E: SlotEvaluator>(
    ev: &E,
    mut x: E::Ct,
    levels: std::ops::Range<u32>,
    unit_step: isize,
) -> Result<E::Ct> {
    for t in levels {
        let r = ev.rotate(&x, unit_step << t)?;
        ev.add_assign(&mut x, &r)?;
    }
    Ok(x)
}

/// The rotation steps of [`row_sum_to_first`], [`fill_rows`] or [`column_sum_fill`].
pub fn doubling_steps(steps: u32, unit_step: isize) -> impl Iterator<Item = isize> {
    (0..steps).map(move |t| unit_step << t)
}

/// `x + conj(x)`: twice the real part (the masks carry the factor ½); one conjugation, no level.
pub fn twice_real<E: SlotEvaluator>(ev: &E, x: &E::Ct) -> Result<E::Ct> {
    ev.add(x, &ev.conjugate(x)?)
}

/// `acc ← acc + x`, starting from `x` when `acc` is empty.
pub fn accumulate<E: SlotEvaluator>(ev: &E, acc: &mut Option<E::Ct>, x: E::Ct) -> Result<()> {
    match acc {
        Some(a) => ev.add_assign(a, &x),
        None => {
            *acc = Some(x);
            Ok(())
        }
    }
}
