//! The unit shape: how one ciphertext's slots are viewed as an `s0 × s1` matrix block.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// An `s0 × s1` block shape with `s0 · s1` = the slot count; slot `r·s1 + j` holds entry `(r, j)`.
/// Both sides are powers of two, so rotations by multiples of `s1` are exact cyclic row shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawUnitShape")]
pub struct UnitShape {
    s0: usize,
    s1: usize,
}

#[derive(Deserialize)]
struct RawUnitShape {
    s0: usize,
    s1: usize,
}

impl TryFrom<RawUnitShape> for UnitShape {
    type Error = Error;
    fn try_from(raw: RawUnitShape) -> Result<Self> {
        UnitShape::new(raw.s0, raw.s1)
    }
}

impl UnitShape {
    /// A unit shape; both sides must be nonzero powers of two whose product fits in `usize`.
    pub fn new(s0: usize, s1: usize) -> Result<Self> {
        if !s0.is_power_of_two() || !s1.is_power_of_two() {
            return Err(Error::Shape(format!(
                "unit shape {s0}×{s1}: both sides must be powers of two"
            )));
        }
        if s0.checked_mul(s1).is_none() {
            return Err(Error::Shape(format!("unit shape {s0}×{s1} overflows")));
        }
        Ok(UnitShape { s0, s1 })
    }

    /// HETAL's rule for a mini-batch of `batch` rows and `classes` classes on `slots` slots:
    /// `c_pad` = next power of two ≥ classes, `s0 = min(max(batch_pad, c_pad), slots / c_pad)`,
    /// `s1 = slots / s0` (the batch is rounded up to a power of two too, so that `s0·s1 = slots`).
    /// Both sides are then ≥ `c_pad`, which the diagonal algorithms need.
    pub fn hetal(batch: usize, classes: usize, slots: usize) -> Result<Self> {
        if !slots.is_power_of_two() {
            return Err(Error::Shape(format!(
                "slot count {slots} is not a power of two"
            )));
        }
        if batch == 0 || classes == 0 {
            return Err(Error::Shape(format!(
                "batch {batch} and classes {classes} must be positive"
            )));
        }
        let c_pad = classes
            .checked_next_power_of_two()
            .ok_or_else(|| Error::Shape(format!("{classes} classes")))?;
        if c_pad.saturating_mul(c_pad) > slots {
            return Err(Error::Shape(format!(
                "{classes} classes (padded to {c_pad}) need at least {c_pad}² slots, have {slots}"
            )));
        }
        let batch_pad = batch.checked_next_power_of_two().unwrap_or(usize::MAX);
        let s0 = batch_pad.max(c_pad).min(slots / c_pad);
        UnitShape::new(s0, slots / s0)
    }

    /// Rows per block.
    pub fn s0(&self) -> usize {
        self.s0
    }

    /// Columns per block.
    pub fn s1(&self) -> usize {
        self.s1
    }

    /// Slots per block (`s0 · s1`).
    pub fn slots(&self) -> usize {
        self.s0 * self.s1
    }

    /// `log2(s0)`.
    pub fn log_s0(&self) -> u32 {
        self.s0.trailing_zeros()
    }

    /// `log2(s1)`.
    pub fn log_s1(&self) -> u32 {
        self.s1.trailing_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hetal_rule_matches_the_reference_table() {
        let s = 1 << 15;
        // (batch, classes) -> (s0, s1) from the reference's ciphertext-count table.
        for (n, c, s0, s1) in [
            (1024, 10, 1024, 32),
            (2048, 10, 2048, 16),
            (512, 3, 512, 64),
            (1024, 7, 1024, 32),
        ] {
            let u = UnitShape::hetal(n, c, s).unwrap();
            assert_eq!((u.s0(), u.s1()), (s0, s1));
        }
        // A batch larger than slots / c_pad is capped so that s1 ≥ c_pad.
        let u = UnitShape::hetal(1 << 14, 16, s).unwrap();
        assert_eq!((u.s0(), u.s1()), (2048, 16));
        // Odd sizes round up.
        let u = UnitShape::hetal(100, 3, 1 << 12).unwrap();
        assert_eq!((u.s0(), u.s1()), (128, 32));
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(UnitShape::new(3, 4).is_err());
        assert!(UnitShape::new(0, 4).is_err());
        assert!(UnitShape::hetal(10, 100, 1 << 12).is_err());
        assert!(UnitShape::hetal(0, 2, 1 << 12).is_err());
        assert!(UnitShape::hetal(8, 2, 1000).is_err());
        let bad: std::result::Result<UnitShape, _> = serde_json::from_str(r#"{"s0": 3, "s1": 4}"#);
        assert!(bad.is_err());
    }
}
