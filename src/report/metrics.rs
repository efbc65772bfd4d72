//! The confusion matrix of a classifier's predictions.

use serde::{Deserialize, Serialize};

use super::ReportError;

/// `counts[t][p]`: rows whose true class is `t` and predicted class is `p`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// Number of classes (the matrix is `classes × classes`).
    pub classes: usize,
    /// Row = true class, column = predicted class.
    pub counts: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts `(truth[i], predicted[i])` pairs; both must have the same length and every class
    /// must be below `classes`.
    pub fn from_predictions(
        truth: &[usize],
        predicted: &[usize],
        classes: usize,
    ) -> Result<Self, ReportError> {
        if truth.len() != predicted.len() {
            return Err(ReportError::Invalid(format!(
                "{} labels but {} predictions",
                truth.len(),
                predicted.len()
            )));
        }
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t >= classes || p >= classes {
                return Err(ReportError::Invalid(format!(
                    "class pair ({t}, {p}) outside {classes} classes"
                )));
            }
            counts[t][p] += 1;
        }
        Ok(Self { classes, counts })
    }

    /// Rows counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Rows on the diagonal (correct predictions).
    pub fn correct(&self) -> u64 {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| row.get(i).copied().unwrap_or(0))
            .sum()
    }

    /// `correct / total` (0 when empty).
    pub fn accuracy(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            n => self.correct() as f64 / n as f64,
        }
    }

    /// The largest cell (for colour scaling).
    pub fn max_count(&self) -> u64 {
        self.counts.iter().flatten().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pairs_and_refuses_bad_input() {
        let m = ConfusionMatrix::from_predictions(&[0, 1, 1, 2], &[0, 1, 2, 2], 3).unwrap();
        assert_eq!(m.counts, vec![vec![1, 0, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert_eq!((m.total(), m.correct(), m.max_count()), (4, 3, 1));
        assert!((m.accuracy() - 0.75).abs() < 1e-12);
        assert!(ConfusionMatrix::from_predictions(&[0], &[0, 1], 3).is_err());
        assert!(ConfusionMatrix::from_predictions(&[3], &[0], 3).is_err());
        assert_eq!(
            ConfusionMatrix::from_predictions(&[], &[], 2)
                .unwrap()
                .accuracy(),
            0.0
        );
    }
}
