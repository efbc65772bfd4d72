//! The data owner's side of encrypted training: it encrypts the data, reviews each epoch's
//! encrypted validation probabilities (decrypt, cross-entropy against its own labels, early
//! stopping) and finally decrypts the model or the predictions. It is the only party that needs
//! a [`SlotCodec`] (the secret key).

use ndarray::{Array2, ArrayView2, Axis, s};
use serde::{Deserialize, Serialize};

use super::early_stop::{Decision, EarlyStopping};
use super::model::{SoftmaxRegression, accuracy, argmax_rows, cross_entropy};
use super::reference::one_hot;
use crate::eval::SlotCodec;
use crate::pack::{
    BlockMatrix, Layout, UnitShape, append_bias_column, decrypt_matrix, encrypt_matrix,
};
use crate::softmax::{ExactSoftmax, RowSoftmax};
use crate::{Error, Result};

/// One encrypted mini-batch: `X̂` (rows × (d+1), row-major) and, for training, the one-hot
/// labels (rows × c, column-tiled). Validation and test batches carry no labels: those stay with
/// the client.
#[derive(Debug, Clone, PartialEq)]
pub struct EncryptedBatch<C> {
    /// Features with the bias column.
    pub x: BlockMatrix<C>,
    /// One-hot labels (training batches only).
    pub y: Option<BlockMatrix<C>>,
    /// Real rows in the batch (the rest of the block is zero padding).
    pub rows: usize,
}

/// What the server sends the client after each epoch to judge the weights by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidationForm {
    /// Encrypted logits: one DiagABT and no bootstrap on the server; the client applies the
    /// exact softmax after decrypting. It reveals nothing more than probabilities would: the
    /// client owns the model and could compute either.
    #[default]
    Logits,
    /// Encrypted probabilities (HETAL's way): the server runs the approximate softmax, with
    /// its bootstraps.
    Probabilities,
}

/// The client's answer after an epoch (what it sends back to the server).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// 0-based epoch.
    pub epoch: usize,
    /// Validation cross-entropy the client computed from the decrypted probabilities.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Continue or stop.
    pub decision: Decision,
    /// Whether this epoch's weights are the best so far (the server keeps a copy).
    pub new_best: bool,
}

/// The data owner.
#[derive(Debug)]
pub struct TrainingClient<'a, K: SlotCodec> {
    codec: &'a K,
    unit: UnitShape,
    classes: usize,
    dim: usize,
    stopper: EarlyStopping,
    epochs: usize,
}

impl<'a, K: SlotCodec> TrainingClient<'a, K> {
    /// A client for `classes` classes and `dim` features on blocks of shape `unit`, stopping
    /// after `patience` epochs without a better validation loss.
    pub fn new(
        codec: &'a K,
        unit: UnitShape,
        classes: usize,
        dim: usize,
        patience: usize,
    ) -> Result<Self> {
        if classes < 2 || dim == 0 {
            return Err(Error::Shape(format!("{classes} classes, {dim} features")));
        }
        Ok(Self {
            codec,
            unit,
            classes,
            dim,
            stopper: EarlyStopping::new(patience),
            epochs: 0,
        })
    }

    fn period(&self) -> usize {
        self.classes.next_power_of_two()
    }

    fn batches(
        &self,
        features: ArrayView2<'_, f64>,
        labels: Option<&[usize]>,
        batch_size: usize,
    ) -> Result<Vec<EncryptedBatch<K::Ct>>> {
        if features.ncols() != self.dim {
            return Err(Error::Shape(format!(
                "{} features, the model has {}",
                features.ncols(),
                self.dim
            )));
        }
        if batch_size == 0 || batch_size > self.unit.s0() {
            return Err(Error::Shape(format!(
                "batch size {batch_size} must be in 1..={} (one block row)",
                self.unit.s0()
            )));
        }
        let x_hat = append_bias_column(features);
        let y = labels.map(|l| one_hot(l, self.classes));
        let level = self.codec.max_level();
        (0..x_hat.nrows())
            .step_by(batch_size)
            .map(|lo| {
                let hi = (lo + batch_size).min(x_hat.nrows());
                let x = encrypt_matrix(
                    self.codec,
                    x_hat.slice(s![lo..hi, ..]),
                    Layout::RowMajor,
                    self.unit,
                    level,
                )?;
                let y = y
                    .as_ref()
                    .map(|y| {
                        encrypt_matrix(
                            self.codec,
                            y.slice(s![lo..hi, ..]),
                            Layout::ColTiled {
                                period: self.period(),
                            },
                            self.unit,
                            level,
                        )
                    })
                    .transpose()?;
                Ok(EncryptedBatch {
                    x,
                    y,
                    rows: hi - lo,
                })
            })
            .collect()
    }

    /// Encrypts a training set as mini-batches of `batch_size` consecutive rows.
    pub fn encrypt_training_set(
        &self,
        features: ArrayView2<'_, f64>,
        labels: &[usize],
        batch_size: usize,
    ) -> Result<Vec<EncryptedBatch<K::Ct>>> {
        if labels.len() != features.nrows() {
            return Err(Error::Shape(format!(
                "{} rows, {} labels",
                features.nrows(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= self.classes) {
            return Err(Error::InvalidInput(format!(
                "label {bad} ≥ {} classes",
                self.classes
            )));
        }
        self.batches(features, Some(labels), batch_size)
    }

    /// Encrypts features only (validation or test), in blocks of up to `s0` rows.
    pub fn encrypt_features(
        &self,
        features: ArrayView2<'_, f64>,
    ) -> Result<Vec<EncryptedBatch<K::Ct>>> {
        self.batches(features, None, self.unit.s0())
    }

    /// Encrypted all-zero initial weights (row-tiled `c × (d+1)`): the server cannot encrypt.
    pub fn initial_weights(&self) -> Result<BlockMatrix<K::Ct>> {
        encrypt_matrix(
            self.codec,
            Array2::zeros((self.classes, self.dim + 1)).view(),
            Layout::RowTiled {
                period: self.period(),
            },
            self.unit,
            self.codec.max_level(),
        )
    }

    fn decrypt_rows(&self, blocks: &[BlockMatrix<K::Ct>]) -> Result<Array2<f64>> {
        let parts = blocks
            .iter()
            .map(|b| decrypt_matrix(self.codec, b))
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views).map_err(|e| Error::Shape(e.to_string()))
    }

    /// Decrypts one epoch's validation probabilities, scores them against `labels` and decides.
    pub fn review_epoch(
        &mut self,
        probabilities: &[BlockMatrix<K::Ct>],
        labels: &[usize],
    ) -> Result<Verdict> {
        let p = self.decrypt_rows(probabilities)?;
        self.decide(&p, labels)
    }

    /// Scores decrypted probabilities and applies the early-stopping rule.
    fn decide(&mut self, p: &Array2<f64>, labels: &[usize]) -> Result<Verdict> {
        let val_loss = cross_entropy(p, labels)?;
        let val_accuracy = accuracy(&argmax_rows(p), labels);
        let decision = self.stopper.observe(val_loss);
        let epoch = self.epochs;
        self.epochs += 1;
        Ok(Verdict {
            epoch,
            val_loss,
            val_accuracy,
            decision,
            new_best: self.stopper.last_is_best(),
        })
    }

    /// Decrypts one epoch's validation logits (see [`ValidationForm::Logits`]), applies the
    /// exact softmax, scores against `labels` and decides.
    pub fn review_logits(
        &mut self,
        logits: &[BlockMatrix<K::Ct>],
        labels: &[usize],
    ) -> Result<Verdict> {
        let p = ExactSoftmax.softmax_rows(&self.decrypt_rows(logits)?)?;
        self.decide(&p, labels)
    }

    /// Reviews an epoch's validation output of the given form.
    pub fn review(
        &mut self,
        form: ValidationForm,
        output: &[BlockMatrix<K::Ct>],
        labels: &[usize],
    ) -> Result<Verdict> {
        match form {
            ValidationForm::Logits => self.review_logits(output, labels),
            ValidationForm::Probabilities => self.review_epoch(output, labels),
        }
    }

    /// Best epoch so far.
    pub fn best_epoch(&self) -> Option<usize> {
        self.stopper.best_epoch()
    }

    /// Decrypts the trained weights, stored divided by `weight_scale` (the server's public
    /// [`EncryptedTrainer::weight_scale`](super::EncryptedTrainer::weight_scale)).
    pub fn decrypt_model(
        &self,
        weights: &BlockMatrix<K::Ct>,
        weight_scale: f64,
    ) -> Result<SoftmaxRegression> {
        if !(weight_scale.is_finite() && weight_scale > 0.0) {
            return Err(Error::InvalidInput(format!("weight scale {weight_scale}")));
        }
        SoftmaxRegression::from_weights(decrypt_matrix(self.codec, weights)? * weight_scale)
    }

    /// Decrypts encrypted logits (from encrypted inference) into predicted classes.
    pub fn decrypt_predictions(&self, logits: &[BlockMatrix<K::Ct>]) -> Result<Vec<usize>> {
        Ok(argmax_rows(&self.decrypt_rows(logits)?))
    }
}
