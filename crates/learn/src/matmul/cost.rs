//! Closed-form operation counts and depths of every multiplication, as implemented here.
//!
//! With one block row (`P = ⌈a/s0⌉ = 1`, always the case in HETAL: a mini-batch is one block
//! row) they are exactly the authors' corrected Table 6 formulas; the reference writes some
//! constant terms (`2`, `1`, `− ⌈a/s0⌉`) that only hold for `P = 1`, and these are the
//! general-`P` counts of the same algorithms.

use super::atb::AtbForm;
use crate::pack::UnitShape;
use serde::{Deserialize, Serialize};

/// (CMult, Mult, Rot) of one multiplication, and its depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Constant multiplications.
    pub cmult: u64,
    /// Ciphertext multiplications.
    pub mult: u64,
    /// Rotations.
    pub rot: u64,
}

impl Cost {
    /// `(CMult, Mult, Rot)`.
    pub fn triple(&self) -> (u64, u64, u64) {
        (self.cmult, self.mult, self.rot)
    }
}

/// `(P, Q, log2 s0, log2 s1)` for `a` rows and `b` columns.
fn grid(a: usize, b: usize, unit: UnitShape) -> (u64, u64, u64, u64) {
    (
        a.div_ceil(unit.s0()) as u64,
        b.div_ceil(unit.s1()) as u64,
        unit.log_s0() as u64,
        unit.log_s1() as u64,
    )
}

/// DiagABT for `A` a × b and `B` c × b, with tile period `c_pad` (even).
pub fn diag_abt(a: usize, b: usize, c_pad: usize, unit: UnitShape) -> Cost {
    let (p, q, _, l1) = grid(a, b, unit);
    let h = c_pad as u64 / 2;
    Cost {
        cmult: 2 * h * p,
        mult: h * p * q,
        rot: h * (q + 2 * p * l1),
    }
}

/// DiagATB for `A` a × c and `B` a × b, with tile period `c_pad`, in a resolved form.
pub fn diag_atb(a: usize, b: usize, c_pad: usize, unit: UnitShape, form: AtbForm) -> Cost {
    let (p, q, l0, _) = grid(a, b, unit);
    let h = c_pad as u64 / 2;
    let mult = h * p * q;
    // Column-sum rotations per block column: `log2 s0` per pair, or folded (see
    // [`AtbForm::FoldedAuto`]) `log2 c_pad` per pair and `log2(s0/c_pad)` once.
    let lp = u64::from(c_pad.trailing_zeros());
    let sums = if form.folded() {
        q * (h * lp + l0.saturating_sub(lp))
    } else {
        h * q * l0
    };
    match form.shift() {
        AtbForm::PRotUp => Cost {
            cmult: p + (h - 1) * p * q + h * q,
            mult,
            rot: 2 * p + (h - 1) * (p + p * q) + sums,
        },
        _ => Cost {
            cmult: h * (p + q),
            mult,
            rot: 2 * h * p + sums,
        },
    }
}

/// Crockett's ColMajor (`A·Bᵀ`) for `A` a × b and `B` c × b (`c` logical rows).
pub fn col_major(a: usize, b: usize, c: usize, unit: UnitShape) -> Cost {
    let (p, q, l0, l1) = grid(a, b, unit);
    let c = c as u64;
    Cost {
        cmult: c * (q + p),
        mult: c * p * q,
        rot: c * (q * l0 + p * l1) + (c - 1) * p,
    }
}

/// Crockett's RowMajor (`Aᵀ·B`) for `A` a × c and `B` a × b (`c` logical columns).
pub fn row_major(a: usize, b: usize, c: usize, unit: UnitShape) -> Cost {
    let (p, q, l0, l1) = grid(a, b, unit);
    let c = c as u64;
    Cost {
        cmult: c * (p + q),
        mult: c * p * q,
        rot: c * (q * l0 + p * l1) + (c - 1) * p,
    }
}

/// Jin et al.'s `A·Bᵀ` (column-packed `A`, entry-replicated `B`).
pub fn jin_abt(b: usize, c: usize) -> Cost {
    Cost {
        cmult: 0,
        mult: (b * c) as u64,
        rot: 0,
    }
}

/// Jin et al.'s `Aᵀ·B` (both column-packed; a rotate-and-sum over all `slots`).
pub fn jin_atb(b: usize, c: usize, slots: usize) -> Cost {
    Cost {
        cmult: 0,
        mult: (b * c) as u64,
        rot: (b * c) as u64 * slots.trailing_zeros() as u64,
    }
}

/// Output level of DiagABT for inputs at `la`, `lb` (depth 3), if it fits.
pub fn diag_abt_output_level(la: usize, lb: usize) -> Option<usize> {
    la.min(lb).checked_sub(3)
}

/// Depths of DiagATB on `(A, B)`: standard (4, 2), PRotUp (3, 3); with `c_pad = 2` there is
/// only the pair `m = 0`, which needs neither the exact shift nor `PRotUp`, so both forms are (3, 2).
pub fn diag_atb_depths(c_pad: usize, form: AtbForm) -> (usize, usize) {
    let shifts = usize::from(c_pad > 2);
    match form.shift() {
        AtbForm::PRotUp => (3, 2 + shifts),
        _ => (3 + shifts, 2),
    }
}

/// Output level of DiagATB for inputs at `la`, `lb` (with [`AtbForm::Auto`] resolved from them),
/// if it fits.
pub fn diag_atb_output_level(la: usize, lb: usize, c_pad: usize, form: AtbForm) -> Option<usize> {
    let (da, db) = diag_atb_depths(c_pad, form.resolve(la, lb));
    Some(la.checked_sub(da)?.min(lb.checked_sub(db)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's printed (corrected) Table 6 formulas, valid for `P = 1`.
    #[test]
    fn general_formulas_reduce_to_table_6_for_one_block_row() {
        for (a, b, c) in [
            (128usize, 128usize, 4usize),
            (256, 256, 8),
            (512, 769, 4),
            (1024, 769, 8),
            (2048, 769, 16),
        ] {
            let u = UnitShape::new(a, (1 << 15) / a).unwrap();
            let (p, q) = (1u64, b.div_ceil(u.s1()) as u64);
            let (l0, l1, h) = (u.log_s0() as u64, u.log_s1() as u64, c as u64 / 2);
            let c64 = c as u64;
            assert_eq!(
                diag_abt(a, b, c, u).triple(),
                (c64 * p, h * p * q, h * (q + 2 * p * l1))
            );
            assert_eq!(
                diag_atb(a, b, c, u, AtbForm::Standard).triple(),
                (
                    1 + h * (p + q) - p,
                    h * p * q,
                    2 + h * (2 * p + q * l0) - 2 * p
                )
            );
            assert_eq!(
                diag_atb(a, b, c, u, AtbForm::PRotUp).triple(),
                (
                    1 + h * (p * q + q) - p * q,
                    h * p * q,
                    2 + h * (p + p * q + q * l0) - p - p * q
                )
            );
            assert_eq!(
                col_major(a, b, c, u).triple(),
                (
                    c64 * (p * q + p),
                    c64 * p * q,
                    c64 * (q * l0 + p * (l1 + 1)) - p
                )
            );
            assert_eq!(
                row_major(a, b, c, u).triple(),
                (
                    c64 * p * q + c64,
                    c64 * p * q,
                    c64 * (q * l0 + p * (l1 + 1)) - p
                )
            );
        }
    }

    #[test]
    fn output_levels() {
        assert_eq!(diag_abt_output_level(12, 12), Some(9));
        assert_eq!(diag_atb_output_level(12, 12, 16, AtbForm::Auto), Some(8));
        assert_eq!(diag_atb_output_level(9, 12, 16, AtbForm::Auto), Some(6));
        assert_eq!(diag_atb_output_level(12, 12, 16, AtbForm::PRotUp), Some(9));
        assert_eq!(diag_atb_output_level(12, 12, 2, AtbForm::Standard), Some(9));
        assert_eq!(diag_abt_output_level(2, 12), None);
    }
}
