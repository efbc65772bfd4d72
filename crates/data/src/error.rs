//! Error types: every error names the file and the problem, so a user can fix the input.

use std::path::PathBuf;

/// A malformed or unsupported `.npy` byte stream (the file name is attached by [`DataError::Npy`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The first six bytes are not `\x93NUMPY`.
    #[error("not a .npy file (bad magic bytes)")]
    BadMagic,
    /// The stream ends before the part named here.
    #[error("file is truncated: {0} is incomplete")]
    Truncated(&'static str),
    /// A format version other than 1.0, 2.0 or 3.0.
    #[error("unsupported .npy format version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version byte.
        major: u8,
        /// Minor version byte.
        minor: u8,
    },
    /// The header length field exceeds the bound this reader accepts.
    #[error("header length {len} exceeds the limit of {limit} bytes")]
    HeaderTooLong {
        /// Declared header length.
        len: usize,
        /// Largest accepted header length.
        limit: usize,
    },
    /// The header dictionary could not be parsed.
    #[error("malformed header: {0}")]
    MalformedHeader(String),
    /// A dtype this reader does not handle (big-endian, complex, strings, ...).
    #[error("unsupported dtype {0:?} (supported: <f4, <f8, <i4, <i8)")]
    UnsupportedDtype(String),
    /// Fortran (column-major) order; only C order is supported.
    #[error("Fortran-order arrays are not supported (save with C order)")]
    FortranOrder,
    /// The product of the shape overflows `usize`.
    #[error("shape {0:?} is too large")]
    ShapeOverflow(Vec<usize>),
    /// The data section does not hold exactly shape × item size bytes.
    #[error(
        "shape {shape:?} with {item_size}-byte items needs {expected} data bytes but the file holds {actual}"
    )]
    DataLength {
        /// Declared shape.
        shape: Vec<usize>,
        /// Bytes per element.
        item_size: usize,
        /// Bytes the shape requires.
        expected: usize,
        /// Bytes present after the header.
        actual: usize,
    },
}

/// What is wrong with otherwise well-formed data.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file has zero bytes.
    #[error("the file is empty (0 bytes)")]
    EmptyFile,
    /// A `.npy` feature file whose label file cannot be found by HETAL's naming.
    #[error(
        "no label file given, and the name does not start with `features` (HETAL's \
         `features_X.npy` / `labels_X.npy` pairs); name the labels explicitly"
    )]
    NoLabelFile,
    /// No rows (or no feature columns).
    #[error("no data: shape {0:?}")]
    Empty(Vec<usize>),
    /// The array does not have the expected number of dimensions.
    #[error("expected a {expected}-dimensional array, found shape {found:?}")]
    WrongRank {
        /// Expected number of dimensions.
        expected: usize,
        /// Shape found in the file.
        found: Vec<usize>,
    },
    /// Features were expected to be floating point or labels integer.
    #[error("dtype {found} cannot hold {what} (expected {expected})")]
    WrongDtype {
        /// What the array is (features, labels).
        what: &'static str,
        /// The dtype found.
        found: &'static str,
        /// Acceptable dtypes.
        expected: &'static str,
    },
    /// Feature and label row counts differ.
    #[error("{features} feature rows but {labels} labels")]
    RowCountMismatch {
        /// Rows of the feature matrix.
        features: usize,
        /// Number of labels.
        labels: usize,
    },
    /// Feature dimension differs from the rest of the pack.
    #[error("feature dimension {found} differs from the expected {expected}")]
    DimMismatch {
        /// Expected dimension.
        expected: usize,
        /// Dimension found.
        found: usize,
    },
    /// A NaN or infinite feature value.
    #[error("non-finite feature value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row index (0-based).
        row: usize,
        /// Column index (0-based).
        col: usize,
        /// The offending value.
        value: f64,
    },
    /// A label that is negative or not below the number of classes.
    #[error("label {label} at row {row} is out of range 0..{num_classes}")]
    LabelOutOfRange {
        /// Row index (0-based).
        row: usize,
        /// The offending label.
        label: i64,
        /// Number of classes.
        num_classes: usize,
    },
    /// More classes than the encryption parameters can pack.
    #[error("{classes} classes, but the chosen parameters handle at most {max}")]
    TooManyClasses {
        /// Classes in the data.
        classes: usize,
        /// Largest supported count.
        max: usize,
    },
    /// Fewer than two classes (nothing to classify).
    #[error("{0} class(es): a classifier needs at least 2")]
    TooFewClasses(usize),
    /// Shape differs from what the manifest declares.
    #[error("shape {found:?} differs from the manifest's {expected:?}")]
    ManifestShape {
        /// Shape in the manifest.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// SHA-256 differs from the manifest's.
    #[error("sha256 {found} differs from the manifest's {expected}")]
    Checksum {
        /// Digest in the manifest.
        expected: String,
        /// Digest of the file.
        found: String,
    },
}

/// Any error while loading a feature pack; always names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The `.npy` file is malformed or unsupported.
    #[error("{}: {source}", path.display())]
    Npy {
        /// File concerned.
        path: PathBuf,
        /// What is wrong with it.
        source: NpyError,
    },
    /// A CSV syntax or value error.
    #[error("{}: line {line}: {reason}", path.display())]
    Csv {
        /// File concerned.
        path: PathBuf,
        /// 1-based line number (0 when the problem concerns the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// `manifest.json` is unreadable or inconsistent.
    #[error("{}: {reason}", path.display())]
    Manifest {
        /// Manifest file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The content is well-formed but invalid as training data.
    #[error("{}: {problem}", path.display())]
    Invalid {
        /// File concerned.
        path: PathBuf,
        /// What is wrong.
        problem: Problem,
    },
}

impl DataError {
    /// Builds an [`DataError::Invalid`] for `path`.
    pub fn invalid(path: impl Into<PathBuf>, problem: Problem) -> Self {
        Self::Invalid {
            path: path.into(),
            problem,
        }
    }
}
