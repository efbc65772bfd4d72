//! Early stopping on the validation loss: the client-side decision rule.

use serde::{Deserialize, Serialize};

/// What the client answers after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Train another epoch.
    Continue,
    /// Stop; the model of [`EarlyStopping::best_epoch`] is the result.
    Stop,
}

/// Patience-based early stopping: stop after `patience` epochs without a new minimum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    patience: usize,
    best_loss: f64,
    best_epoch: Option<usize>,
    epochs_seen: usize,
}

impl EarlyStopping {
    /// A rule with the given patience (HETAL: 3). Patience 0 never stops early.
    pub fn new(patience: usize) -> Self {
        Self {
            patience,
            best_loss: f64::INFINITY,
            best_epoch: None,
            epochs_seen: 0,
        }
    }

    /// Records the loss of the next epoch (0-based epochs) and decides. A non-finite loss never
    /// becomes the best.
    pub fn observe(&mut self, loss: f64) -> Decision {
        let epoch = self.epochs_seen;
        self.epochs_seen += 1;
        if loss.is_finite() && loss < self.best_loss {
            self.best_loss = loss;
            self.best_epoch = Some(epoch);
        }
        let since_best = match self.best_epoch {
            Some(b) => epoch - b,
            None => epoch + 1,
        };
        if self.patience > 0 && since_best >= self.patience {
            Decision::Stop
        } else {
            Decision::Continue
        }
    }

    /// Whether the last observed epoch is the best so far.
    pub fn last_is_best(&self) -> bool {
        self.epochs_seen > 0 && self.best_epoch == Some(self.epochs_seen - 1)
    }

    /// Best epoch so far (0-based).
    pub fn best_epoch(&self) -> Option<usize> {
        self.best_epoch
    }

    /// Best loss so far.
    pub fn best_loss(&self) -> f64 {
        self.best_loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_after_patience_epochs_without_improvement() {
        let mut es = EarlyStopping::new(3);
        let losses = [1.0, 0.5, 0.6, 0.4, 0.45, 0.41, 0.42];
        let decisions: Vec<_> = losses.iter().map(|&l| es.observe(l)).collect();
        // Best at epoch 3; epochs 4, 5, 6 do not improve: stop after the third.
        assert!(decisions[..6].iter().all(|d| *d == Decision::Continue));
        assert_eq!(decisions[6], Decision::Stop);
        assert_eq!(es.best_epoch(), Some(3));
        assert_eq!(es.best_loss(), 0.4);
    }

    #[test]
    fn nan_never_becomes_best() {
        let mut es = EarlyStopping::new(2);
        assert_eq!(es.observe(f64::NAN), Decision::Continue);
        assert_eq!(es.observe(f64::NAN), Decision::Stop);
        assert_eq!(es.best_epoch(), None);
        assert!(!es.last_is_best());
    }
}
