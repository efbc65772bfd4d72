//! Reading feature matrices and label vectors from `.npy` files, with file-named errors.

use std::path::Path;

use ndarray::Array2;

use crate::error::{DataError, Problem};
use crate::npy::{NpyArray, NpyData, parse_npy};

/// Reads a whole file, attaching the path to any I/O error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a whole file that must not be empty (a zero-byte file is reported as such rather than
/// as a truncated header).
pub fn read_nonempty(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path)?;
    if bytes.is_empty() {
        return Err(DataError::invalid(path, Problem::EmptyFile));
    }
    Ok(bytes)
}

/// Reads and decodes a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray, DataError> {
    let bytes = read_nonempty(path)?;
    parse_npy(&bytes).map_err(|source| DataError::Npy {
        path: path.to_owned(),
        source,
    })
}

/// Converts a decoded array into an `n × d` feature matrix (float32 or float64; must be 2-D).
pub fn features_from_npy(array: NpyArray, path: &Path) -> Result<Array2<f64>, DataError> {
    let &[rows, cols] = array.shape.as_slice() else {
        return Err(DataError::invalid(
            path,
            Problem::WrongRank {
                expected: 2,
                found: array.shape,
            },
        ));
    };
    let values: Vec<f64> = match array.data {
        NpyData::F32(v) => v.into_iter().map(f64::from).collect(),
        NpyData::F64(v) => v,
        NpyData::I32(_) | NpyData::I64(_) => {
            return Err(DataError::invalid(
                path,
                Problem::WrongDtype {
                    what: "features",
                    found: array.data.dtype().descr(),
                    expected: "<f4 or <f8",
                },
            ));
        }
    };
    Array2::from_shape_vec((rows, cols), values).map_err(|_| {
        DataError::invalid(
            path,
            Problem::WrongRank {
                expected: 2,
                found: vec![rows, cols],
            },
        )
    })
}

/// Converts a decoded array into raw integer labels (int32 or int64; shape `(n,)` or `(n, 1)`).
pub fn labels_from_npy(array: NpyArray, path: &Path) -> Result<Vec<i64>, DataError> {
    match array.shape.as_slice() {
        [_] | [_, 1] => {}
        _ => {
            return Err(DataError::invalid(
                path,
                Problem::WrongRank {
                    expected: 1,
                    found: array.shape,
                },
            ));
        }
    }
    match array.data {
        NpyData::I32(v) => Ok(v.into_iter().map(i64::from).collect()),
        NpyData::I64(v) => Ok(v),
        NpyData::F32(_) | NpyData::F64(_) => Err(DataError::invalid(
            path,
            Problem::WrongDtype {
                what: "labels",
                found: array.data.dtype().descr(),
                expected: "<i4 or <i8",
            },
        )),
    }
}

/// Loads an `n × d` feature matrix from a `.npy` file.
pub fn load_features_npy(path: &Path) -> Result<Array2<f64>, DataError> {
    features_from_npy(read_npy(path)?, path)
}

/// Loads integer labels from a `.npy` file (range is checked when a split is built).
pub fn load_labels_npy(path: &Path) -> Result<Vec<i64>, DataError> {
    labels_from_npy(read_npy(path)?, path)
}
