//! `manifest.json` of a feature pack: declared shapes, SHA-256 digests, class count and dimension.
//!
//! Only the fields used for checking are read; everything else in the file (baselines, provenance)
//! is ignored.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::DataError;
use crate::load::read_file;

/// File name of the manifest inside a pack directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Largest manifest accepted (the bundled ones are ~10 kB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// What the manifest declares about one file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FileEntry {
    /// Array shape.
    #[serde(default)]
    pub shape: Option<Vec<usize>>,
    /// Hex SHA-256 of the whole file.
    #[serde(default)]
    pub sha256: Option<String>,
    /// File size in bytes.
    #[serde(default)]
    pub bytes: Option<u64>,
}

/// Summary statistics the manifest declares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Stats {
    /// Feature dimension.
    #[serde(default)]
    pub dim: Option<usize>,
    /// Number of classes.
    #[serde(default)]
    pub num_classes: Option<usize>,
}

/// The parts of `manifest.json` used to check a pack.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    /// Pack name.
    #[serde(default)]
    pub name: Option<String>,
    /// Per-file declarations, keyed by file name.
    #[serde(default)]
    pub files: BTreeMap<String, FileEntry>,
    /// Summary statistics.
    #[serde(default)]
    pub stats: Stats,
}

impl Manifest {
    /// Parses manifest text; `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, DataError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(DataError::Manifest {
                path: path.to_owned(),
                reason: format!(
                    "{} bytes exceeds the {MAX_MANIFEST_BYTES}-byte limit",
                    bytes.len()
                ),
            });
        }
        serde_json::from_slice(bytes).map_err(|e| DataError::Manifest {
            path: path.to_owned(),
            reason: format!("invalid JSON: {e}"),
        })
    }

    /// Reads `dir/manifest.json` if it exists.
    pub fn load_from_dir(dir: &Path) -> Result<Option<Self>, DataError> {
        let path = dir.join(MANIFEST_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_file(&path)?;
        Self::parse(&bytes, &path).map(Some)
    }
}
