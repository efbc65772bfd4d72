//! Encoding `ndarray` matrices into block matrices of slot vectors (and ciphertexts) and back.

use super::layout::{BlockMatrix, Layout};
use super::unit::UnitShape;
use crate::eval::SlotCodec;
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use num_complex::Complex64;

/// A block of `s0 · s1` plain (unencrypted) slot values.
pub type SlotVec = Vec<Complex64>;

/// `x` with a column of ones appended (`features + 1`): the bias of the softmax layer then
/// becomes the last column of `W`.
pub fn append_bias_column(x: ArrayView2<'_, f64>) -> Array2<f64> {
    let (n, d) = x.dim();
    Array2::from_shape_fn((n, d + 1), |(i, j)| if j < d { x[[i, j]] } else { 1.0 })
}

/// Stored position `(block row, block column, slot)` of logical entry `(i, j)` in its first
/// (canonical) copy.
fn canonical_slot(layout: Layout, unit: UnitShape, i: usize, j: usize) -> (usize, usize, usize) {
    let (s0, s1) = (unit.s0(), unit.s1());
    match layout {
        Layout::RowMajor => (i / s0, j / s1, (i % s0) * s1 + j % s1),
        Layout::RowTiled { .. } => (0, j / s1, i * s1 + j % s1),
        Layout::ColTiled { .. } => (i / s0, 0, (i % s0) * s1 + j),
    }
}

/// Packs `m` into blocks of `unit` slots in `layout`, zero-padded, with the tiled layouts'
/// copies filled in.
pub fn pack(
    m: ArrayView2<'_, f64>,
    layout: Layout,
    unit: UnitShape,
) -> Result<BlockMatrix<SlotVec>> {
    let (rows, cols) = m.dim();
    let (br, bc) = layout.grid(rows, cols, unit)?;
    let (s0, s1) = (unit.s0(), unit.s1());
    let zero = Complex64::new(0.0, 0.0);
    let mut blocks = vec![vec![zero; unit.slots()]; br * bc];
    for (p, q) in (0..br).flat_map(|p| (0..bc).map(move |q| (p, q))) {
        let block = &mut blocks[p * bc + q];
        for r in 0..s0 {
            for c in 0..s1 {
                let (i, j) = match layout {
                    Layout::RowMajor => (p * s0 + r, q * s1 + c),
                    Layout::RowTiled { period } => (r % period, q * s1 + c),
                    Layout::ColTiled { period } => (p * s0 + r, c % period),
                };
                if i < rows && j < cols {
                    block[r * s1 + c] = Complex64::new(m[[i, j]], 0.0);
                }
            }
        }
    }
    BlockMatrix::from_blocks(rows, cols, unit, layout, blocks)
}

/// Reads the logical matrix (real parts of the canonical copies) back from packed slots.
pub fn unpack(bm: &BlockMatrix<SlotVec>) -> Result<Array2<f64>> {
    let slots = bm.unit().slots();
    if let Some(bad) = bm.blocks().iter().find(|b| b.len() != slots) {
        return Err(Error::SlotLength {
            expected: slots,
            got: bad.len(),
        });
    }
    let mut out = Array2::zeros((bm.rows(), bm.cols()));
    for ((i, j), v) in out.indexed_iter_mut() {
        let (p, q, s) = canonical_slot(bm.layout(), bm.unit(), i, j);
        *v = bm.block(p, q)?[s].re;
    }
    Ok(out)
}

/// Encrypts every block of `plain` at `level`.
pub fn encrypt_blocks<E: SlotCodec>(
    ev: &E,
    plain: &BlockMatrix<SlotVec>,
    level: usize,
) -> Result<BlockMatrix<E::Ct>> {
    check_unit(ev.slots(), plain.unit())?;
    plain.try_map(|b| ev.encrypt_at(b, level))
}

/// Decrypts every block.
pub fn decrypt_blocks<E: SlotCodec>(
    ev: &E,
    ct: &BlockMatrix<E::Ct>,
) -> Result<BlockMatrix<SlotVec>> {
    ct.try_map(|b| ev.decrypt(b))
}

/// Packs and encrypts `m` at `level`.
pub fn encrypt_matrix<E: SlotCodec>(
    ev: &E,
    m: ArrayView2<'_, f64>,
    layout: Layout,
    unit: UnitShape,
    level: usize,
) -> Result<BlockMatrix<E::Ct>> {
    check_unit(ev.slots(), unit)?;
    encrypt_blocks(ev, &pack(m, layout, unit)?, level)
}

/// Decrypts and unpacks a block matrix.
pub fn decrypt_matrix<E: SlotCodec>(ev: &E, ct: &BlockMatrix<E::Ct>) -> Result<Array2<f64>> {
    unpack(&decrypt_blocks(ev, ct)?)
}

/// Checks that a unit shape uses exactly the backend's slots.
pub fn check_unit(slots: usize, unit: UnitShape) -> Result<()> {
    if unit.slots() != slots {
        return Err(Error::Shape(format!(
            "unit shape {}×{} has {} slots, the backend has {slots}",
            unit.s0(),
            unit.s1(),
            unit.slots()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator};
    use ndarray::array;
    use proptest::prelude::*;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 31 + j * 17 + seed as usize * 7) % 23) as f64 - 11.0
        })
    }

    #[test]
    fn bias_column_is_ones() {
        let x = append_bias_column(array![[1.0, 2.0], [3.0, 4.0]].view());
        assert_eq!(x, array![[1.0, 2.0, 1.0], [3.0, 4.0, 1.0]]);
    }

    #[test]
    fn tiled_layouts_repeat_with_the_period() {
        let u = UnitShape::new(8, 4).unwrap();
        let w = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
        let p = pack(w.view(), Layout::RowTiled { period: 4 }, u).unwrap();
        let b = &p.blocks()[0];
        // Row 5 = row 1, row 7 = row 3 = zero padding, column 3 = zero padding.
        assert_eq!(b[5 * 4].re, 4.0);
        assert_eq!(b[7 * 4 + 1].re, 0.0);
        assert_eq!(b[4 + 3].re, 0.0);
        let z = array![[1.0, 2.0], [3.0, 4.0]];
        let p = pack(z.view(), Layout::ColTiled { period: 2 }, u).unwrap();
        let b = &p.blocks()[0];
        assert_eq!((b[4 + 2].re, b[4 + 3].re), (3.0, 4.0));
        assert_eq!(b[2 * 4].re, 0.0);
    }

    #[test]
    fn encrypted_round_trip_on_the_simulator() {
        let sim = Simulator::new(SimConfig::with_slots(64)).unwrap();
        let u = UnitShape::new(8, 8).unwrap();
        let x = append_bias_column(matrix(13, 9, 1).view());
        let ct = encrypt_matrix(&sim, x.view(), Layout::RowMajor, u, 5).unwrap();
        assert_eq!((ct.block_rows(), ct.block_cols()), (2, 2));
        assert_eq!(decrypt_matrix(&sim, &ct).unwrap(), x);
        let wrong = UnitShape::new(8, 4).unwrap();
        assert!(encrypt_matrix(&sim, x.view(), Layout::RowMajor, wrong, 5).is_err());
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trips(
            log_s0 in 0u32..5, log_s1 in 0u32..5,
            rows in 1usize..40, cols in 1usize..40,
            which in 0usize..3, seed in 0u64..1000,
        ) {
            let u = UnitShape::new(1 << log_s0, 1 << log_s1).unwrap();
            let m = matrix(rows, cols, seed);
            let layout = match which {
                0 => Layout::RowMajor,
                1 => Layout::RowTiled { period: rows.next_power_of_two() },
                _ => Layout::ColTiled { period: cols.next_power_of_two() },
            };
            match pack(m.view(), layout, u) {
                Ok(p) => {
                    prop_assert_eq!(unpack(&p).unwrap(), m.clone());
                    // Every stored value is a copy of a logical entry or a zero pad.
                    let total: usize = p.blocks().iter().map(|b| b.len()).sum();
                    prop_assert_eq!(total, p.blocks().len() * u.slots());
                }
                Err(_) => {
                    // Only a tile period that does not fit the unit may be refused.
                    let too_big = match layout {
                        Layout::RowTiled { period } => period > u.s0(),
                        Layout::ColTiled { period } => period > u.s1(),
                        Layout::RowMajor => false,
                    };
                    prop_assert!(too_big);
                }
            }
        }
    }
}
