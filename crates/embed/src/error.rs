//! The one error type of this crate: every variant names the file (or input) at fault.

use std::path::PathBuf;

/// Why a model directory, an input or a computation could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// A file the model needs is not there.
    #[error("{path}: missing (the model directory must hold it)")]
    MissingFile {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A JSON configuration file is malformed or lacks a field.
    #[error("{path}: invalid JSON configuration: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        source: serde_json::Error,
    },
    /// A configuration asks for something this crate does not implement, or is inconsistent.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong or unsupported.
        message: String,
    },
    /// The weights file could not be decoded as safetensors.
    #[error("{path}: not a readable safetensors file: {message}")]
    Safetensors {
        /// The weights file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A tensor the architecture needs is absent from the weights file.
    #[error("{path}: tensor `{name}` is missing")]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The tensor name (with any prefix).
        name: String,
    },
    /// A tensor has a shape other than the configuration implies.
    #[error("{path}: tensor `{name}` has shape {actual:?}, the configuration implies {expected:?}")]
    TensorShape {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape the configuration implies.
        expected: Vec<usize>,
        /// The shape in the file.
        actual: Vec<usize>,
    },
    /// A tensor has an element type that cannot be converted to float32.
    #[error("{path}: tensor `{name}` has element type {dtype}, expected a float type")]
    TensorDtype {
        /// The weights file.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The element type found.
        dtype: String,
    },
    /// The tokenizer file could not be loaded or failed on an input.
    #[error("{path}: tokenizer: {message}")]
    Tokenizer {
        /// The `tokenizer.json` file.
        path: PathBuf,
        /// The tokenizer's message.
        message: String,
    },
    /// An image could not be decoded.
    #[error("{path}: cannot decode image: {source}")]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// An input is unusable (no inputs, a zero batch size, an empty image directory).
    #[error("{0}")]
    Input(String),
    /// The tensor computation failed (out of memory, an internal shape error).
    #[error("inference failed: {0}")]
    Compute(#[from] candle_core::Error),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, EmbedError>;

/// Reads a file, with [`EmbedError::MissingFile`] when it does not exist.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => EmbedError::MissingFile {
            path: path.to_path_buf(),
        },
        _ => EmbedError::Io {
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Reads and parses a JSON file into `T`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|source| EmbedError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks `model_type` of the `config.json` at `path` (one of `expected`) before its other
/// fields are parsed, so that a directory of the wrong kind of model gets a clear error rather
/// than a missing-field one.
pub(crate) fn require_model_type(
    path: &std::path::Path,
    expected: &[&str],
    use_: &str,
) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Kind {
        model_type: Option<String>,
    }
    let kind: Kind = read_json(path)?;
    match kind.model_type.as_deref() {
        Some(found) if expected.contains(&found) => Ok(()),
        found => Err(EmbedError::Config {
            path: path.to_path_buf(),
            message: format!(
                "model_type {found:?} is not supported for {use_} (supported: {})",
                expected.join(", ")
            ),
        }),
    }
}
