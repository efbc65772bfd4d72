//! Helpers shared by the integration tests: random matrices and slot-exact comparisons.

#![allow(dead_code)]

use hetal_learn::eval::{SlotCodec, SlotEvaluator};
use hetal_learn::pack::{self, BlockMatrix, Layout};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A `rows × cols` matrix with entries uniform in [−1, 1).
pub fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0..1.0))
}

/// Largest slot-wise distance between the decryption of `got` and `expected` packed in the
/// same layout: checks every copy in the tiles and every zero pad, not only the logical entries.
pub fn max_slot_error<E: SlotCodec>(
    ev: &E,
    got: &BlockMatrix<E::Ct>,
    expected: &Array2<f64>,
) -> f64 {
    assert_eq!((got.rows(), got.cols()), expected.dim(), "logical shape");
    let want = pack::pack(expected.view(), got.layout(), got.unit()).expect("pack expected");
    let mut worst: f64 = 0.0;
    for (g, w) in got.blocks().iter().zip(want.blocks()) {
        let g = ev.decrypt(g).expect("decrypt");
        for (x, y) in g.iter().zip(w) {
            worst = worst.max((x - y).norm());
        }
    }
    worst
}

/// Lowest level of the blocks.
pub fn level<E: SlotEvaluator>(ev: &E, m: &BlockMatrix<E::Ct>) -> usize {
    m.blocks()
        .iter()
        .map(|c| ev.level(c))
        .min()
        .expect("non-empty")
}

/// The row-tiled / column-tiled layouts with the padded class count as the period.
pub fn row_tiled(classes: usize) -> Layout {
    Layout::RowTiled {
        period: classes.next_power_of_two().max(2),
    }
}

/// See [`row_tiled`].
pub fn col_tiled(classes: usize) -> Layout {
    Layout::ColTiled {
        period: classes.next_power_of_two().max(2),
    }
}
