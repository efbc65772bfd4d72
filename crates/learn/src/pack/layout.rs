//! Block matrices and HETAL's three layouts.

use super::unit::UnitShape;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How a logical matrix is laid out over `s0 × s1` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Layout {
    /// Plain row-major blocking: entry `(i, j)` is entry `(i mod s0, j mod s1)` of block
    /// `(i / s0, j / s1)`. Used for the data `X`.
    RowMajor,
    /// Vertically tiled with period `period` (one block row): stored row `r` holds logical row
    /// `r mod period` (zero when that is ≥ the logical row count). Used for the weights `W`.
    RowTiled {
        /// Tile period (a power of two dividing `s0`; at least the logical row count).
        period: usize,
    },
    /// Horizontally tiled with period `period` (one block column): stored column `j` holds
    /// logical column `j mod period`. Used for logits, probabilities and labels.
    ColTiled {
        /// Tile period (a power of two dividing `s1`; at least the logical column count).
        period: usize,
    },
}

impl Layout {
    /// Number of (block rows, block columns) for a `rows × cols` matrix, after checking that the
    /// layout can hold it.
    pub fn grid(&self, rows: usize, cols: usize, unit: UnitShape) -> Result<(usize, usize)> {
        if rows == 0 || cols == 0 {
            return Err(Error::Shape(format!("empty matrix {rows}×{cols}")));
        }
        let (s0, s1) = (unit.s0(), unit.s1());
        match *self {
            Layout::RowMajor => Ok((rows.div_ceil(s0), cols.div_ceil(s1))),
            Layout::RowTiled { period } => {
                check_period(period, rows, s0, "row", "s0")?;
                Ok((1, cols.div_ceil(s1)))
            }
            Layout::ColTiled { period } => {
                check_period(period, cols, s1, "column", "s1")?;
                Ok((rows.div_ceil(s0), 1))
            }
        }
    }
}

fn check_period(period: usize, logical: usize, side: usize, what: &str, name: &str) -> Result<()> {
    if !period.is_power_of_two() || period > side {
        return Err(Error::Shape(format!(
            "tile period {period} must be a power of two ≤ {name} = {side}"
        )));
    }
    if logical > period {
        return Err(Error::Shape(format!(
            "{logical} {what}s do not fit a tile period of {period}"
        )));
    }
    Ok(())
}

/// A logical `rows × cols` matrix stored as a grid of blocks (plain slot vectors or ciphertexts),
/// row-major over the grid: block `(p, q)` is `blocks[p · block_cols + q]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    try_from = "RawBlockMatrix<C>",
    bound(deserialize = "C: Deserialize<'de>")
)]
pub struct BlockMatrix<C> {
    rows: usize,
    cols: usize,
    unit: UnitShape,
    layout: Layout,
    block_rows: usize,
    block_cols: usize,
    blocks: Vec<C>,
}

#[derive(Deserialize)]
struct RawBlockMatrix<C> {
    rows: usize,
    cols: usize,
    unit: UnitShape,
    layout: Layout,
    block_rows: usize,
    block_cols: usize,
    blocks: Vec<C>,
}

impl<C> TryFrom<RawBlockMatrix<C>> for BlockMatrix<C> {
    type Error = Error;
    fn try_from(raw: RawBlockMatrix<C>) -> Result<Self> {
        let m = BlockMatrix::from_blocks(raw.rows, raw.cols, raw.unit, raw.layout, raw.blocks)?;
        if (m.block_rows, m.block_cols) != (raw.block_rows, raw.block_cols) {
            return Err(Error::InvalidInput(format!(
                "block grid {}×{} does not match the shape (expected {}×{})",
                raw.block_rows, raw.block_cols, m.block_rows, m.block_cols
            )));
        }
        Ok(m)
    }
}

impl<C> BlockMatrix<C> {
    /// Assembles a block matrix, checking that `blocks` has exactly one entry per grid cell.
    pub fn from_blocks(
        rows: usize,
        cols: usize,
        unit: UnitShape,
        layout: Layout,
        blocks: Vec<C>,
    ) -> Result<Self> {
        let (block_rows, block_cols) = layout.grid(rows, cols, unit)?;
        if blocks.len() != block_rows * block_cols {
            return Err(Error::InvalidInput(format!(
                "a {rows}×{cols} {layout:?} matrix on {}×{} units needs {} blocks, got {}",
                unit.s0(),
                unit.s1(),
                block_rows * block_cols,
                blocks.len()
            )));
        }
        Ok(BlockMatrix {
            rows,
            cols,
            unit,
            layout,
            block_rows,
            block_cols,
            blocks,
        })
    }

    /// Logical row count.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Logical column count.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The unit (block) shape.
    pub fn unit(&self) -> UnitShape {
        self.unit
    }

    /// The layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Number of block rows (`⌈a/s0⌉` for row-major and column-tiled, 1 for row-tiled).
    pub fn block_rows(&self) -> usize {
        self.block_rows
    }

    /// Number of block columns (`⌈b/s1⌉` for row-major and row-tiled, 1 for column-tiled).
    pub fn block_cols(&self) -> usize {
        self.block_cols
    }

    /// Block `(p, q)`.
    pub fn block(&self, p: usize, q: usize) -> Result<&C> {
        if p >= self.block_rows || q >= self.block_cols {
            return Err(Error::InvalidInput(format!(
                "block ({p}, {q}) outside the {}×{} grid",
                self.block_rows, self.block_cols
            )));
        }
        Ok(&self.blocks[p * self.block_cols + q])
    }

    /// All blocks, row-major over the grid.
    pub fn blocks(&self) -> &[C] {
        &self.blocks
    }

    /// Takes the blocks out.
    pub fn into_blocks(self) -> Vec<C> {
        self.blocks
    }

    /// The same matrix with every block converted by `f` (e.g. encrypted, decrypted, or
    /// references resolved to ciphertexts).
    pub fn try_map<D>(&self, f: impl FnMut(&C) -> Result<D>) -> Result<BlockMatrix<D>> {
        let blocks = self.blocks.iter().map(f).collect::<Result<Vec<D>>>()?;
        Ok(BlockMatrix {
            rows: self.rows,
            cols: self.cols,
            unit: self.unit,
            layout: self.layout,
            block_rows: self.block_rows,
            block_cols: self.block_cols,
            blocks,
        })
    }

    /// The tile period of a tiled layout (`None` for row-major).
    pub fn period(&self) -> Option<usize> {
        match self.layout {
            Layout::RowMajor => None,
            Layout::RowTiled { period } | Layout::ColTiled { period } => Some(period),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_follow_the_layouts() {
        let u = UnitShape::new(16, 8).unwrap();
        assert_eq!(Layout::RowMajor.grid(17, 9, u).unwrap(), (2, 2));
        assert_eq!(
            Layout::RowTiled { period: 4 }.grid(3, 17, u).unwrap(),
            (1, 3)
        );
        assert_eq!(
            Layout::ColTiled { period: 8 }.grid(40, 5, u).unwrap(),
            (3, 1)
        );
        assert!(Layout::RowTiled { period: 4 }.grid(5, 1, u).is_err());
        assert!(Layout::ColTiled { period: 16 }.grid(1, 1, u).is_err());
        assert!(Layout::ColTiled { period: 3 }.grid(1, 1, u).is_err());
        assert!(Layout::RowMajor.grid(0, 1, u).is_err());
    }

    #[test]
    fn from_blocks_checks_the_count_and_serde_revalidates() {
        let u = UnitShape::new(4, 4).unwrap();
        assert!(BlockMatrix::from_blocks(5, 4, u, Layout::RowMajor, vec![0u8; 1]).is_err());
        let m = BlockMatrix::from_blocks(5, 4, u, Layout::RowMajor, vec![1u8, 2]).unwrap();
        assert_eq!(*m.block(1, 0).unwrap(), 2);
        assert!(m.block(0, 1).is_err());
        let json = serde_json::to_string(&m).unwrap();
        let back: BlockMatrix<u8> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        let tampered = json.replace("[1,2]", "[1,2,3]");
        assert!(serde_json::from_str::<BlockMatrix<u8>>(&tampered).is_err());
    }
}
