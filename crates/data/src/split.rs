//! One validated split (train, val or test): finite features and labels in `0..num_classes`.

use std::path::Path;

use ndarray::Array2;

use crate::csv::load_csv;
use crate::error::{DataError, Problem};
use crate::load::{load_features_npy, load_labels_npy};

/// Features and labels of one split, checked: same row count, no NaN or infinity, labels in range.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    features: Array2<f64>,
    labels: Vec<usize>,
}

/// Checks that every feature is finite; `path` names the file in the error.
pub fn check_finite(features: &Array2<f64>, path: &Path) -> Result<(), DataError> {
    match features.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((row, col), &value)) => Err(DataError::invalid(
            path,
            Problem::NonFinite { row, col, value },
        )),
        None => Ok(()),
    }
}

/// Converts raw labels to class indices, rejecting any outside `0..num_classes`.
pub fn check_labels(raw: &[i64], num_classes: usize, path: &Path) -> Result<Vec<usize>, DataError> {
    raw.iter()
        .enumerate()
        .map(|(row, &label)| {
            usize::try_from(label)
                .ok()
                .filter(|&l| l < num_classes)
                .ok_or_else(|| {
                    DataError::invalid(
                        path,
                        Problem::LabelOutOfRange {
                            row,
                            label,
                            num_classes,
                        },
                    )
                })
        })
        .collect()
}

/// Checks that `classes` does not exceed `max` (for example what a CKKS preset can pack:
/// the padded class count squared must fit the slots); `path` names the labels' source.
pub fn check_class_count(classes: usize, max: usize, path: &Path) -> Result<(), DataError> {
    if classes > max {
        return Err(DataError::invalid(
            path,
            Problem::TooManyClasses { classes, max },
        ));
    }
    Ok(())
}

impl Split {
    /// Validates features and raw labels; `features_path` and `labels_path` name the sources in
    /// errors (they may be the same file, e.g. a CSV).
    pub fn new(
        features: Array2<f64>,
        raw_labels: &[i64],
        num_classes: usize,
        features_path: &Path,
        labels_path: &Path,
    ) -> Result<Self, DataError> {
        if features.nrows() == 0 || features.ncols() == 0 {
            return Err(DataError::invalid(
                features_path,
                Problem::Empty(features.shape().to_vec()),
            ));
        }
        if features.nrows() != raw_labels.len() {
            return Err(DataError::invalid(
                labels_path,
                Problem::RowCountMismatch {
                    features: features.nrows(),
                    labels: raw_labels.len(),
                },
            ));
        }
        if num_classes < 2 {
            return Err(DataError::invalid(
                labels_path,
                Problem::TooFewClasses(num_classes),
            ));
        }
        check_finite(&features, features_path)?;
        let labels = check_labels(raw_labels, num_classes, labels_path)?;
        Ok(Self { features, labels })
    }

    /// Loads `features` and `labels` `.npy` files.
    pub fn from_npy(
        features_path: &Path,
        labels_path: &Path,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let features = load_features_npy(features_path)?;
        let labels = load_labels_npy(labels_path)?;
        Self::new(features, &labels, num_classes, features_path, labels_path)
    }

    /// Loads a CSV file whose `label_column` holds the labels.
    pub fn from_csv(
        path: &Path,
        label_column: &str,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        let table = load_csv(path, label_column)?;
        Self::new(table.features, &table.labels, num_classes, path, path)
    }

    /// `n × d` feature matrix.
    pub fn features(&self) -> &Array2<f64> {
        &self.features
    }

    /// Class index of each row.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false: a split has at least one row.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.features.ncols()
    }

    /// Rows per class.
    pub fn class_counts(&self, num_classes: usize) -> Vec<usize> {
        let mut counts = vec![0; num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn validation_names_file_and_problem() {
        let p = Path::new("f.npy");
        let q = Path::new("l.npy");
        let ok = Split::new(array![[0.0, 1.0], [2.0, 3.0]], &[1, 0], 2, p, q).unwrap();
        assert_eq!(ok.labels(), &[1, 0]);
        assert_eq!(ok.class_counts(2), vec![1, 1]);

        let e = Split::new(array![[0.0, f64::NAN]], &[0], 2, p, q).unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.npy: non-finite feature value NaN at row 0, column 1"
        );
        let e = Split::new(array![[0.0, 1.0]], &[2], 2, p, q).unwrap_err();
        assert_eq!(
            e.to_string(),
            "l.npy: label 2 at row 0 is out of range 0..2"
        );
        let e = Split::new(array![[0.0, 1.0]], &[-1], 2, p, q).unwrap_err();
        assert!(e.to_string().contains("label -1"));
        let e = Split::new(array![[0.0, 1.0]], &[0, 1], 2, p, q).unwrap_err();
        assert_eq!(e.to_string(), "l.npy: 1 feature rows but 2 labels");
        let e = Split::new(Array2::zeros((0, 3)), &[], 2, p, q).unwrap_err();
        assert!(e.to_string().starts_with("f.npy: no data"));
        let e = Split::new(array![[0.0]], &[0], 1, p, q).unwrap_err();
        assert!(e.to_string().contains("at least 2"));
        check_class_count(10, 16, q).unwrap();
        let e = check_class_count(300, 256, q).unwrap_err();
        assert_eq!(
            e.to_string(),
            "l.npy: 300 classes, but the chosen parameters handle at most 256"
        );
    }
}
