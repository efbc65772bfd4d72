//! Where the logits of a row live in a column-tiled block, and the masks the softmax needs.

use num_complex::Complex64;

use crate::{Error, Result};

/// A column-tiled block: `slots / cols` rows of `cols` slots; column `j` of a row holds class
/// `j mod period`, `period = classes.next_power_of_two()` (classes ≥ the real count are padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TiledRows {
    slots: usize,
    cols: usize,
    classes: usize,
    period: usize,
}

impl TiledRows {
    /// Checks that `cols` is a power of two dividing `slots` and that the class period fits.
    pub fn new(slots: usize, cols: usize, classes: usize) -> Result<Self> {
        if classes < 2 {
            return Err(Error::Shape(format!(
                "softmax needs at least 2 classes, got {classes}"
            )));
        }
        let period = classes.next_power_of_two();
        if !slots.is_power_of_two() || !cols.is_power_of_two() || cols > slots || period > cols {
            return Err(Error::Shape(format!(
                "column-tiled block with {slots} slots, {cols} columns and {classes} classes: \
                 need powers of two with class period {period} ≤ columns ≤ slots"
            )));
        }
        Ok(Self {
            slots,
            cols,
            classes,
            period,
        })
    }

    /// Slots per ciphertext.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Columns per row (`s1`).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows per block (`s0`).
    pub fn rows(&self) -> usize {
        self.slots / self.cols
    }

    /// Real classes `c`.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Tile period `c_pad`.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Slot of `(row, class)` in the first tile.
    pub fn slot(&self, row: usize, class: usize) -> usize {
        row * self.cols + class
    }

    fn mask_by(&self, f: impl Fn(usize) -> f64) -> Vec<Complex64> {
        (0..self.slots)
            .map(|s| Complex64::new(f(s % self.cols), 0.0))
            .collect()
    }

    /// `value` on real-class columns, 0 on padded ones.
    pub fn real_mask(&self, value: f64) -> Vec<Complex64> {
        self.mask_by(|j| {
            if j % self.period < self.classes {
                value
            } else {
                0.0
            }
        })
    }

    /// `value` on padded-class columns, 0 on real ones.
    pub fn pad_mask(&self, value: f64) -> Vec<Complex64> {
        self.mask_by(|j| {
            if j % self.period < self.classes {
                0.0
            } else {
                value
            }
        })
    }

    /// `value` on column 0 of every row.
    pub fn first_column(&self, value: f64) -> Vec<Complex64> {
        self.mask_by(|j| if j == 0 { value } else { 0.0 })
    }
}
