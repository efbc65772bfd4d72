//! Splits named by the user on a command line: a `.npy` feature file with its label file (given,
//! or found beside it by HETAL's naming, `features_train.npy` → `labels_train.npy`), or a CSV file
//! with a named label column. [`load_pack`] turns a train, a validation and an optional test
//! source into a checked [`FeaturePack`].

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::csv::load_csv;
use crate::error::{DataError, Problem};
use crate::load::{load_features_npy, load_labels_npy};
use crate::pack::FeaturePack;
use crate::split::{Split, check_class_count};

/// Where one split comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitSource {
    /// A `.npy` feature matrix and a `.npy` label vector.
    Npy {
        /// `n × d` float32/float64 features.
        features: PathBuf,
        /// `n` int32/int64 labels.
        labels: PathBuf,
    },
    /// A CSV table: a header row, the named label column, every other column a feature.
    Csv {
        /// The file.
        path: PathBuf,
        /// Name of the label column.
        label_column: String,
    },
}

/// Whether `path` names a CSV file (by extension, case-insensitive).
pub fn is_csv(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// The label file HETAL's naming puts beside a feature file: the leading `features` of the file
/// name becomes `labels` (`features_val.npy` → `labels_val.npy`, `features.npy` → `labels.npy`).
pub fn sibling_labels(features: &Path) -> Option<PathBuf> {
    let name = features.file_name()?.to_str()?;
    let rest = name.strip_prefix("features")?;
    Some(features.with_file_name(format!("labels{rest}")))
}

impl SplitSource {
    /// The source for a file given on the command line: CSV by extension, otherwise `.npy` with
    /// `labels` or, without it, the sibling label file (an error naming the file if there is none).
    pub fn for_file(
        path: &Path,
        labels: Option<&Path>,
        label_column: &str,
    ) -> Result<Self, DataError> {
        if is_csv(path) {
            return Ok(Self::Csv {
                path: path.to_owned(),
                label_column: label_column.to_owned(),
            });
        }
        let labels = match labels {
            Some(l) => l.to_owned(),
            None => sibling_labels(path)
                .ok_or_else(|| DataError::invalid(path, Problem::NoLabelFile))?,
        };
        Ok(Self::Npy {
            features: path.to_owned(),
            labels,
        })
    }

    /// The file the features are read from.
    pub fn features_path(&self) -> &Path {
        match self {
            Self::Npy { features, .. } => features,
            Self::Csv { path, .. } => path,
        }
    }

    /// The file the labels are read from.
    pub fn labels_path(&self) -> &Path {
        match self {
            Self::Npy { labels, .. } => labels,
            Self::Csv { path, .. } => path,
        }
    }

    /// Reads features and raw labels (finiteness, ranges and counts are checked by [`Split`]).
    pub fn load_raw(&self) -> Result<(Array2<f64>, Vec<i64>), DataError> {
        match self {
            Self::Npy { features, labels } => {
                Ok((load_features_npy(features)?, load_labels_npy(labels)?))
            }
            Self::Csv { path, label_column } => {
                let table = load_csv(path, label_column)?;
                Ok((table.features, table.labels))
            }
        }
    }
}

/// Loads features for prediction: a CSV file (its label column, when present, is returned and
/// left out of the features) or a `.npy` matrix. Labels of a `.npy` come from `labels` if given.
pub fn load_unlabelled(
    path: &Path,
    labels: Option<&Path>,
    label_column: &str,
) -> Result<(Array2<f64>, Option<Vec<i64>>), DataError> {
    let (features, mut raw) = if is_csv(path) {
        match load_csv(path, label_column) {
            Ok(table) => (table.features, Some(table.labels)),
            Err(DataError::Csv { line, reason, .. })
                if line <= 1 && reason.starts_with("no column named") =>
            {
                // No label column: every column is a feature. `parse_csv` needs a label column,
                // so features-only CSVs are read through a synthetic one.
                let table = crate::csv::load_csv_features(path)?;
                (table, None)
            }
            Err(e) => return Err(e),
        }
    } else {
        (load_features_npy(path)?, None)
    };
    if let Some(l) = labels {
        raw = Some(load_labels_npy(l)?);
    }
    if features.nrows() == 0 || features.ncols() == 0 {
        return Err(DataError::invalid(
            path,
            Problem::Empty(features.shape().to_vec()),
        ));
    }
    crate::split::check_finite(&features, path)?;
    if let Some(raw) = &raw
        && raw.len() != features.nrows()
    {
        return Err(DataError::invalid(
            labels.unwrap_or(path),
            Problem::RowCountMismatch {
                features: features.nrows(),
                labels: raw.len(),
            },
        ));
    }
    Ok((features, raw))
}

/// What [`load_pack`] needs besides the sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PackOptions {
    /// Number of classes; `None`: one more than the largest training label (a validation or
    /// test label the training set never shows is then out of range).
    pub classes: Option<usize>,
    /// Largest class count the encryption parameters can pack.
    pub max_classes: Option<usize>,
}

/// Loads and checks train, validation and (optional) test splits: same feature dimension, finite
/// values, labels in range, class count within `options.max_classes`. Every error names a file.
pub fn load_pack(
    name: &str,
    train: &SplitSource,
    val: &SplitSource,
    test: Option<&SplitSource>,
    options: PackOptions,
) -> Result<FeaturePack, DataError> {
    let (train_x, train_y) = train.load_raw()?;
    let classes = match options.classes {
        Some(c) => c,
        None => train_y
            .iter()
            .copied()
            .max()
            .and_then(|m| usize::try_from(m).ok())
            .map_or(0, |m| m.saturating_add(1)),
    };
    if let Some(max) = options.max_classes {
        check_class_count(classes, max, train.labels_path())?;
    }
    let train_split = Split::new(
        train_x,
        &train_y,
        classes,
        train.features_path(),
        train.labels_path(),
    )?;
    let dim = train_split.dim();
    let mut load = |source: &SplitSource| -> Result<Split, DataError> {
        let (x, y) = source.load_raw()?;
        if x.ncols() != dim && x.nrows() > 0 {
            return Err(DataError::invalid(
                source.features_path(),
                Problem::DimMismatch {
                    expected: dim,
                    found: x.ncols(),
                },
            ));
        }
        Split::new(x, &y, classes, source.features_path(), source.labels_path())
    };
    let val_split = load(val)?;
    let test_split = test.map(&mut load).transpose()?;
    FeaturePack::from_splits(name, classes, train_split, val_split, test_split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::npy::{NpyArray, NpyData, write_npy};

    fn write(dir: &Path, name: &str, array: NpyArray) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, write_npy(&array).unwrap()).unwrap();
        path
    }

    fn features(rows: usize, cols: usize) -> NpyArray {
        NpyArray {
            shape: vec![rows, cols],
            data: NpyData::F32((0..rows * cols).map(|i| i as f32 / 10.0).collect()),
        }
    }

    fn labels(values: &[i32]) -> NpyArray {
        NpyArray {
            shape: vec![values.len()],
            data: NpyData::I32(values.to_vec()),
        }
    }

    #[test]
    fn sibling_label_files_follow_hetal_naming() {
        assert_eq!(
            sibling_labels(Path::new("d/features_train.npy")),
            Some(PathBuf::from("d/labels_train.npy"))
        );
        assert_eq!(sibling_labels(Path::new("x.npy")), None);
        let e = SplitSource::for_file(Path::new("x.npy"), None, "label").unwrap_err();
        assert!(e.to_string().starts_with("x.npy: "), "{e}");
        assert!(matches!(
            SplitSource::for_file(Path::new("t.CSV"), None, "y"),
            Ok(SplitSource::Csv { .. })
        ));
    }

    #[test]
    fn pack_checks_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ftr = write(d, "features_train.npy", features(4, 3));
        write(d, "labels_train.npy", labels(&[0, 1, 2, 1]));
        let fva = write(d, "features_val.npy", features(2, 3));
        write(d, "labels_val.npy", labels(&[2, 0]));
        let src = |p: &Path| SplitSource::for_file(p, None, "label").unwrap();
        let pack = load_pack("t", &src(&ftr), &src(&fva), None, PackOptions::default()).unwrap();
        assert_eq!((pack.num_classes(), pack.dim()), (3, 3));

        // A validation label the training set never shows.
        write(d, "labels_val.npy", labels(&[3, 0]));
        let e = load_pack("t", &src(&ftr), &src(&fva), None, PackOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("labels_val.npy") && e.contains("out of range"),
            "{e}"
        );

        // Dimension mismatch between splits.
        write(d, "features_val.npy", features(2, 5));
        write(d, "labels_val.npy", labels(&[2, 0]));
        let e = load_pack("t", &src(&ftr), &src(&fva), None, PackOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("features_val.npy") && e.contains("dimension 5"),
            "{e}"
        );

        // Too many classes for the parameters.
        let e = load_pack(
            "t",
            &src(&ftr),
            &src(&fva),
            None,
            PackOptions {
                classes: None,
                max_classes: Some(2),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("labels_train.npy") && e.contains("at most 2"),
            "{e}"
        );

        // An empty file.
        std::fs::write(&ftr, b"").unwrap();
        let e = load_pack("t", &src(&ftr), &src(&fva), None, PackOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("features_train.npy") && e.contains("empty"),
            "{e}"
        );
    }

    #[test]
    fn unlabelled_csv_and_npy_load() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("x.csv");
        std::fs::write(&csv, "a,b\n1,2\n3,4\n").unwrap();
        let (x, y) = load_unlabelled(&csv, None, "label").unwrap();
        assert_eq!((x.shape(), y), (&[2usize, 2][..], None));
        std::fs::write(&csv, "a,label,b\n1,0,2\n3,1,4\n").unwrap();
        let (x, y) = load_unlabelled(&csv, None, "label").unwrap();
        assert_eq!((x.shape(), y), (&[2usize, 2][..], Some(vec![0, 1])));
        let f = write(dir.path(), "f.npy", features(3, 2));
        let l = write(dir.path(), "l.npy", labels(&[0, 1]));
        let e = load_unlabelled(&f, Some(&l), "label")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("{}: 3 feature rows but 2 labels", l.display())),
            "{e}"
        );
    }
}
