//! Jin et al. ("Secure transfer learning for machine fault diagnosis under different operating
//! conditions", PrivGD): one ciphertext per column of the data, and one ciphertext per entry of
//! the weights (the entry repeated in every slot).
//!
//! * `A·Bᵀ`: column `k` of the result is `Σ_j A[:, j] · B[k, j]` — `b·c` Mult, nothing else.
//! * `Aᵀ·B`: entry `(k, j)` is the slot sum of `A[:, k] ⊙ B[:, j]` — `b·c` Mult and
//!   `b·c·log2(slots)` Rot (rotate-and-sum leaves the sum in every slot, i.e. replicated).

use crate::eval::{SlotCodec, SlotEvaluator, product_accumulate, product_finish};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use num_complex::Complex64;

/// A matrix stored one column per ciphertext (slot `i` = row `i`).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnPacked<C> {
    /// Logical row count (≤ slots).
    pub rows: usize,
    /// One ciphertext per column.
    pub columns: Vec<C>,
}

/// A matrix stored one entry per ciphertext, the entry repeated in every slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Replicated<C> {
    /// Logical column count.
    pub cols: usize,
    /// Entries, row-major.
    pub entries: Vec<C>,
}

impl<C> ColumnPacked<C> {
    /// Encrypts `m` column by column at `level`.
    pub fn encrypt<E: SlotCodec<Ct = C>>(
        ev: &E,
        m: ArrayView2<'_, f64>,
        level: usize,
    ) -> Result<Self> {
        if m.nrows() > ev.slots() {
            return Err(Error::Shape(format!(
                "{} rows do not fit {} slots",
                m.nrows(),
                ev.slots()
            )));
        }
        let columns = m
            .columns()
            .into_iter()
            .map(|col| {
                let v: Vec<Complex64> = col.iter().map(|&x| Complex64::new(x, 0.0)).collect();
                ev.encrypt_at(&v, level)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ColumnPacked {
            rows: m.nrows(),
            columns,
        })
    }

    /// Decrypts into an `rows × columns` matrix.
    pub fn decrypt<E: SlotCodec<Ct = C>>(&self, ev: &E) -> Result<Array2<f64>> {
        let mut out = Array2::zeros((self.rows, self.columns.len()));
        for (j, c) in self.columns.iter().enumerate() {
            let v = ev.decrypt(c)?;
            for i in 0..self.rows {
                out[[i, j]] = v[i].re;
            }
        }
        Ok(out)
    }
}

impl<C> Replicated<C> {
    /// Encrypts every entry of `m`, repeated over all slots, at `level`.
    pub fn encrypt<E: SlotCodec<Ct = C>>(
        ev: &E,
        m: ArrayView2<'_, f64>,
        level: usize,
    ) -> Result<Self> {
        let entries = m
            .iter()
            .map(|&x| ev.encrypt_at(&vec![Complex64::new(x, 0.0); ev.slots()], level))
            .collect::<Result<Vec<_>>>()?;
        Ok(Replicated {
            cols: m.ncols(),
            entries,
        })
    }

    /// Decrypts (slot 0 of every entry).
    pub fn decrypt<E: SlotCodec<Ct = C>>(&self, ev: &E) -> Result<Array2<f64>> {
        if self.cols == 0 || !self.entries.len().is_multiple_of(self.cols) {
            return Err(Error::InvalidInput(
                "replicated matrix with a ragged shape".into(),
            ));
        }
        let rows = self.entries.len() / self.cols;
        let mut out = Array2::zeros((rows, self.cols));
        for (v, c) in out.iter_mut().zip(&self.entries) {
            *v = ev.decrypt(c)?[0].re;
        }
        Ok(out)
    }
}

/// `A·Bᵀ` for column-packed `A` (a × b) and replicated `B` (c × b): column-packed `a × c`.
pub fn jin_abt<E: SlotEvaluator>(
    ev: &E,
    a: &ColumnPacked<E::Ct>,
    b: &Replicated<E::Ct>,
) -> Result<ColumnPacked<E::Ct>> {
    if b.cols != a.columns.len() || b.cols == 0 || !b.entries.len().is_multiple_of(b.cols) {
        return Err(Error::Shape("Jin A·Bᵀ operands do not fit together".into()));
    }
    let columns = b
        .entries
        .chunks_exact(b.cols)
        .map(|brow| {
            let mut acc = None;
            for (aj, bkj) in a.columns.iter().zip(brow) {
                product_accumulate(ev, &mut acc, aj, bkj)?;
            }
            product_finish(ev, acc)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ColumnPacked {
        rows: a.rows,
        columns,
    })
}

/// `Aᵀ·B` for column-packed `A` (a × c) and `B` (a × b): replicated `c × b`.
pub fn jin_atb<E: SlotEvaluator>(
    ev: &E,
    a: &ColumnPacked<E::Ct>,
    b: &ColumnPacked<E::Ct>,
) -> Result<Replicated<E::Ct>> {
    if a.rows != b.rows || b.columns.is_empty() {
        return Err(Error::Shape("Jin Aᵀ·B operands do not fit together".into()));
    }
    let log_slots = ev.slots().trailing_zeros();
    let mut entries = Vec::with_capacity(a.columns.len() * b.columns.len());
    for ak in &a.columns {
        for bj in &b.columns {
            let mut x = ev.mul(ak, bj)?;
            for t in 0..log_slots {
                let r = ev.rotate(&x, 1 << t)?;
                ev.add_assign(&mut x, &r)?;
            }
            entries.push(x);
        }
    }
    Ok(Replicated {
        cols: b.columns.len(),
        entries,
    })
}
