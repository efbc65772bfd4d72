//! Crockett, "A low-depth homomorphic circuit for logistic regression model training":
//! one class (row of `B` / column of `A`) at a time.
//!
//! * ColMajor, `A·Bᵀ` (A row-major, B row-tiled → row-major a × c): per class `k`, mask row `k`
//!   of `B`, fill it over all rows (cyclic column sum), multiply with `A`, sum each row into
//!   column 0 (mask), shift right by `k`.
//! * RowMajor, `Aᵀ·B` (A column-tiled, B row-major → row-major c × b): per class `k`, mask column
//!   `k` of `A`, shift it to column 0 and fill the row, multiply with `B`, cyclic column sum,
//!   keep row `k`.

use crate::eval::{SlotEvaluator, product_accumulate, product_finish};
use crate::matmul::blocks::{accumulate, column_sum_fill, fill_rows, row_sum_to_first};
use crate::matmul::masks;
use crate::pack::{BlockMatrix, Layout};
use crate::{Error, Result};

/// ColMajor: `A·Bᵀ` as a row-major `a × c` block matrix.
pub fn col_major<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
) -> Result<BlockMatrix<E::Ct>> {
    if a.layout() != Layout::RowMajor || !matches!(b.layout(), Layout::RowTiled { .. }) {
        return Err(Error::Shape(
            "ColMajor needs A row-major and B row-tiled".into(),
        ));
    }
    if a.unit() != b.unit() || a.cols() != b.cols() {
        return Err(Error::Shape("ColMajor operands do not fit together".into()));
    }
    let unit = a.unit();
    let np = a.block_rows();
    let mut out: Vec<Option<E::Ct>> = vec![None; np];
    for k in 0..b.rows() {
        let row_k = masks::row(unit, k, 1.0);
        let bk = b
            .blocks()
            .iter()
            .map(|bq| column_sum_fill(ev, unit, ev.mul_const(bq, &row_k)?))
            .collect::<Result<Vec<_>>>()?;
        let first_col = masks::column(unit, 0, 1.0);
        for (p, acc) in out.iter_mut().enumerate() {
            let mut r: Option<E::ProductSum> = None;
            for (q, bkq) in bk.iter().enumerate() {
                product_accumulate(ev, &mut r, a.block(p, q)?, bkq)?;
            }
            let r = product_finish(ev, r)?;
            let summed = ev.mul_const(&row_sum_to_first(ev, unit, r)?, &first_col)?;
            accumulate(ev, acc, ev.rotate(&summed, -(k as isize))?)?;
        }
    }
    let blocks = out
        .into_iter()
        .map(|b| b.ok_or_else(|| Error::Shape("ColMajor with no classes".into())))
        .collect::<Result<Vec<_>>>()?;
    BlockMatrix::from_blocks(a.rows(), b.rows(), unit, Layout::RowMajor, blocks)
}

/// RowMajor: `Aᵀ·B` as a row-major `c × b` block matrix.
pub fn row_major<E: SlotEvaluator>(
    ev: &E,
    a: &BlockMatrix<E::Ct>,
    b: &BlockMatrix<E::Ct>,
) -> Result<BlockMatrix<E::Ct>> {
    if !matches!(a.layout(), Layout::ColTiled { .. }) || b.layout() != Layout::RowMajor {
        return Err(Error::Shape(
            "RowMajor needs A column-tiled and B row-major".into(),
        ));
    }
    if a.unit() != b.unit() || a.rows() != b.rows() {
        return Err(Error::Shape("RowMajor operands do not fit together".into()));
    }
    let unit = a.unit();
    if a.cols() > unit.s0() {
        return Err(Error::Shape(
            "RowMajor needs the classes to fit one block row".into(),
        ));
    }
    let nq = b.block_cols();
    let mut out: Vec<Option<E::Ct>> = vec![None; nq];
    for k in 0..a.cols() {
        let col_k = masks::column(unit, k, 1.0);
        let ak = a
            .blocks()
            .iter()
            .map(|ap| {
                let shifted = ev.rotate(&ev.mul_const(ap, &col_k)?, k as isize)?;
                fill_rows(ev, unit, shifted)
            })
            .collect::<Result<Vec<_>>>()?;
        let row_k = masks::row(unit, k, 1.0);
        for (q, acc) in out.iter_mut().enumerate() {
            let mut e: Option<E::ProductSum> = None;
            for (p, akp) in ak.iter().enumerate() {
                product_accumulate(ev, &mut e, akp, b.block(p, q)?)?;
            }
            let e = product_finish(ev, e)?;
            let summed = column_sum_fill(ev, unit, e)?;
            accumulate(ev, acc, ev.mul_const(&summed, &row_k)?)?;
        }
    }
    let blocks = out
        .into_iter()
        .map(|b| b.ok_or_else(|| Error::Shape("RowMajor with no classes".into())))
        .collect::<Result<Vec<_>>>()?;
    BlockMatrix::from_blocks(a.cols(), b.cols(), unit, Layout::RowMajor, blocks)
}
