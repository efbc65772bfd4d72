//! The trained-model file `hetal train` writes and `hetal predict` / `hetal inspect` read
//! (`model.hetal`): the data owner's decrypted softmax-regression weights with what is needed to
//! use them again — the preset they were trained under, dimensions, classes and the feature
//! normalisation fitted on the training set.
//!
//! # Format (version 1)
//! ```text
//! offset size  field
//! 0      8     magic "HETALMDL"
//! 8      2     format version, u16 little-endian (1)
//! 10     2     reserved, zero
//! 12     8     payload length in bytes, u64 little-endian (at most 256 MiB)
//! 20     32    SHA-256 of the payload
//! 52     ...   payload: UTF-8 JSON of [`ModelBody`]
//! ```
//! The payload length is checked against the bound and the bytes present before anything is
//! decoded, then the checksum, then the JSON, then the consistency of the dimensions. The file
//! holds the model in the clear: it belongs to the data owner, like the secret key.

use std::path::Path;

use hetal_learn::train::SoftmaxRegression;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The eight bytes every model file starts with.
pub const MAGIC: &[u8; 8] = b"HETALMDL";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes before the payload.
pub const HEADER_LEN: usize = 52;
/// Largest payload accepted (a 1000-class, 100 000-feature model is about 2 GB of JSON; real
/// HETAL models are a few MB).
pub const MAX_PAYLOAD: u64 = 256 << 20;

/// Why a model file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a model file.
    #[error("not a hetal model file (it does not start with `HETALMDL`)")]
    BadMagic,
    /// Written by a newer (or unknown) format version.
    #[error(
        "model format version {0} is not supported (this build reads version {FORMAT_VERSION})"
    )]
    UnsupportedVersion(u16),
    /// Shorter than the header or than the payload the header announces.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The payload length exceeds [`MAX_PAYLOAD`].
    #[error("payload of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    TooLarge(u64),
    /// The payload's SHA-256 differs from the header's.
    #[error("checksum mismatch: the file is corrupt")]
    Checksum,
    /// The payload is not the expected JSON.
    #[error("payload does not decode: {0}")]
    Json(#[from] serde_json::Error),
    /// Decoded but inconsistent (shapes, non-finite numbers).
    #[error("inconsistent model: {0}")]
    Invalid(String),
}

/// Per-feature affine normalisation fitted on the training set: `x' = (x − offset) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// How it was fitted (`standard`, `max-abs`).
    pub method: String,
    /// Subtracted from each feature.
    pub offset: Vec<f64>,
    /// Each feature is divided by this (positive, finite).
    pub scale: Vec<f64>,
}

/// How to normalise features before encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NormalizeMethod {
    /// Use the features as they are.
    None,
    /// Zero mean, unit variance per feature (on the training set).
    Standard,
    /// Divide each feature by its largest absolute training value (keeps zeros, range [-1, 1]).
    MaxAbs,
}

impl NormalizeMethod {
    /// The name used in configs and model files.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Standard => "standard",
            Self::MaxAbs => "max-abs",
        }
    }
}

impl Normalization {
    /// Fits `method` on `train` (`None` for [`NormalizeMethod::None`]). Constant features get
    /// scale 1 so that nothing is divided by zero.
    pub fn fit(method: NormalizeMethod, train: ArrayView2<'_, f64>) -> Option<Self> {
        let d = train.ncols();
        let (offset, scale): (Vec<f64>, Vec<f64>) = match method {
            NormalizeMethod::None => return None,
            NormalizeMethod::Standard => {
                let mean = train.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(d));
                let std = train.std_axis(Axis(0), 0.0);
                (mean.to_vec(), std.to_vec())
            }
            NormalizeMethod::MaxAbs => (
                vec![0.0; d],
                train
                    .axis_iter(Axis(1))
                    .map(|c| c.iter().fold(0.0f64, |m, v| m.max(v.abs())))
                    .collect(),
            ),
        };
        let scale = scale
            .into_iter()
            .map(|s| if s.is_finite() && s > 1e-12 { s } else { 1.0 })
            .collect();
        Some(Self {
            method: method.name().to_owned(),
            offset,
            scale,
        })
    }

    /// Applies the normalisation (the caller has checked the feature count).
    pub fn apply(&self, x: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut out = x.to_owned();
        for (mut col, (o, s)) in out
            .axis_iter_mut(Axis(1))
            .zip(self.offset.iter().zip(&self.scale))
        {
            col.mapv_inplace(|v| (v - o) / s);
        }
        out
    }
}

/// What a model file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelBody {
    /// Always `"hetal-model"`.
    pub kind: String,
    /// Backend it was trained on (`ckks` or `sim`).
    pub backend: String,
    /// CKKS parameter preset of the training run (the simulator mirrors its slot count).
    pub preset: String,
    /// Softmax approximation used in training.
    pub softmax: String,
    /// Mini-batch size of training (prediction packs this many rows per block or more).
    pub batch_size: usize,
    /// Number of classes.
    pub classes: usize,
    /// Feature dimension (without the bias).
    pub dim: usize,
    /// `classes × (dim + 1)` weights, row-major, last column the bias.
    pub weights: Vec<f64>,
    /// Normalisation applied to features before the weights.
    pub normalization: Option<Normalization>,
    /// Epoch whose weights these are (0-based), as the client chose them.
    pub best_epoch: Option<usize>,
    /// Test accuracy the training run measured, if it had a test split.
    pub test_accuracy: Option<f64>,
}

/// A trained model as stored in `model.hetal`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFile {
    body: ModelBody,
    regression: SoftmaxRegression,
}

fn invalid(msg: impl Into<String>) -> ModelError {
    ModelError::Invalid(msg.into())
}

impl ModelFile {
    /// Wraps a decrypted model (checked like a loaded one).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        backend: &str,
        preset: &str,
        softmax: &str,
        batch_size: usize,
        model: &SoftmaxRegression,
        normalization: Option<Normalization>,
        best_epoch: Option<usize>,
        test_accuracy: Option<f64>,
    ) -> Result<Self, ModelError> {
        Self::from_body(ModelBody {
            kind: "hetal-model".into(),
            backend: backend.into(),
            preset: preset.into(),
            softmax: softmax.into(),
            batch_size,
            classes: model.classes(),
            dim: model.dim(),
            weights: model.weights().iter().copied().collect(),
            normalization,
            best_epoch,
            test_accuracy,
        })
    }

    /// Checks a decoded body and builds the model.
    pub fn from_body(body: ModelBody) -> Result<Self, ModelError> {
        if body.kind != "hetal-model" {
            return Err(invalid(format!(
                "kind {:?} is not \"hetal-model\"",
                body.kind
            )));
        }
        if body.classes < 2 || body.dim == 0 || body.batch_size == 0 {
            return Err(invalid(format!(
                "{} classes, {} features, batch size {}",
                body.classes, body.dim, body.batch_size
            )));
        }
        let expected = body
            .classes
            .checked_mul(body.dim + 1)
            .ok_or_else(|| invalid("shape overflows"))?;
        if body.weights.len() != expected {
            return Err(invalid(format!(
                "{} weights for {} classes × ({} features + bias)",
                body.weights.len(),
                body.classes,
                body.dim
            )));
        }
        if let Some(i) = body.weights.iter().position(|w| !w.is_finite()) {
            return Err(invalid(format!("weight {i} is not finite")));
        }
        if let Some(n) = &body.normalization {
            if n.offset.len() != body.dim || n.scale.len() != body.dim {
                return Err(invalid(format!(
                    "normalisation for {} / {} features, the model has {}",
                    n.offset.len(),
                    n.scale.len(),
                    body.dim
                )));
            }
            if n.offset.iter().any(|o| !o.is_finite())
                || n.scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
            {
                return Err(invalid(
                    "normalisation offsets/scales must be finite, scales positive",
                ));
            }
        }
        if body
            .test_accuracy
            .is_some_and(|a| !(0.0..=1.0).contains(&a))
        {
            return Err(invalid("test accuracy outside [0, 1]"));
        }
        let weights = Array2::from_shape_vec((body.classes, body.dim + 1), body.weights.clone())
            .map_err(|e| invalid(e.to_string()))?;
        let regression =
            SoftmaxRegression::from_weights(weights).map_err(|e| invalid(e.to_string()))?;
        Ok(Self { body, regression })
    }

    /// The stored fields.
    pub fn body(&self) -> &ModelBody {
        &self.body
    }

    /// The weights as a model.
    pub fn regression(&self) -> &SoftmaxRegression {
        &self.regression
    }

    /// Features as the model expects them (normalised if it was trained on normalised ones).
    pub fn prepare(&self, x: ArrayView2<'_, f64>) -> Result<Array2<f64>, ModelError> {
        if x.ncols() != self.body.dim {
            return Err(invalid(format!(
                "the data has {} features, the model expects {}",
                x.ncols(),
                self.body.dim
            )));
        }
        Ok(match &self.body.normalization {
            Some(n) => n.apply(x),
            None => x.to_owned(),
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let payload = serde_json::to_vec(&self.body)?;
        let len = payload.len() as u64;
        if len > MAX_PAYLOAD {
            return Err(ModelError::TooLarge(len));
        }
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&payload));
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Parses a model file held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.len() < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC[..] {
            return Err(ModelError::BadMagic);
        }
        let header = bytes.get(..HEADER_LEN).ok_or_else(|| {
            ModelError::Truncated(format!(
                "{} bytes, shorter than the {HEADER_LEN}-byte header",
                bytes.len()
            ))
        })?;
        let version = u16::from_le_bytes([header[8], header[9]]);
        if version != FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&header[12..20]);
        let len = u64::from_le_bytes(len);
        if len > MAX_PAYLOAD {
            return Err(ModelError::TooLarge(len));
        }
        let payload = &bytes[HEADER_LEN..];
        if payload.len() as u64 != len {
            return Err(ModelError::Truncated(format!(
                "the header announces a {len}-byte payload but {} bytes follow it",
                payload.len()
            )));
        }
        if Sha256::digest(payload).as_slice() != &header[20..52] {
            return Err(ModelError::Checksum);
        }
        Self::from_body(serde_json::from_slice(payload)?)
    }

    /// Whether `bytes` start like a model file (for `hetal inspect`).
    pub fn sniff(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Writes the file (to a temporary name first, then renamed, so a crash leaves no half file).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.display().to_string(),
            source,
        };
        let tmp = path.with_extension("hetal.tmp");
        std::fs::write(&tmp, self.to_bytes()?).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads the file; errors other than I/O are returned bare (the caller names the file).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn model() -> ModelFile {
        let reg = SoftmaxRegression::from_weights(array![[0.5, -1.0, 0.25], [1e-300, 3.0, -7.5]])
            .unwrap();
        let norm = Normalization::fit(
            NormalizeMethod::Standard,
            array![[1.0, 0.0], [3.0, 0.0]].view(),
        );
        ModelFile::new(
            "sim",
            "boot-n16",
            "hetal-rs",
            128,
            &reg,
            norm,
            Some(3),
            Some(0.5),
        )
        .unwrap()
    }

    #[test]
    fn round_trips_exactly() {
        let m = model();
        let bytes = m.to_bytes().unwrap();
        assert!(ModelFile::sniff(&bytes));
        let back = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        let n = back.body().normalization.as_ref().unwrap();
        assert_eq!(
            (n.offset.clone(), n.scale.clone()),
            (vec![2.0, 0.0], vec![1.0, 1.0])
        );
        let x = back.prepare(array![[3.0, 5.0]].view()).unwrap();
        assert_eq!(x, array![[1.0, 5.0]]);
        assert!(back.prepare(array![[3.0]].view()).is_err());
    }

    #[test]
    fn every_corruption_is_detected() {
        let bytes = model().to_bytes().unwrap();
        assert!(matches!(
            ModelFile::from_bytes(b"HETALMD"),
            Err(ModelError::BadMagic)
        ));
        assert!(matches!(
            ModelFile::from_bytes(&bytes[..30]),
            Err(ModelError::Truncated(_))
        ));
        assert!(matches!(
            ModelFile::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Truncated(_))
        ));
        for at in [HEADER_LEN, HEADER_LEN + 10, bytes.len() - 2] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            assert!(
                matches!(ModelFile::from_bytes(&bad), Err(ModelError::Checksum)),
                "{at}"
            );
        }
        let mut v2 = bytes.clone();
        v2[8] = 2;
        assert!(matches!(
            ModelFile::from_bytes(&v2),
            Err(ModelError::UnsupportedVersion(2))
        ));
        let mut huge = bytes;
        huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            ModelFile::from_bytes(&huge),
            Err(ModelError::TooLarge(_))
        ));
    }

    #[test]
    fn inconsistent_bodies_are_refused() {
        let mut body = model().body().clone();
        body.weights.pop();
        assert!(matches!(
            ModelFile::from_body(body),
            Err(ModelError::Invalid(_))
        ));
        let mut body = model().body().clone();
        body.weights[0] = f64::NAN;
        assert!(ModelFile::from_body(body).is_err());
        let mut body = model().body().clone();
        if let Some(n) = body.normalization.as_mut() {
            n.scale[0] = 0.0;
        }
        assert!(ModelFile::from_body(body).is_err());
    }
}
