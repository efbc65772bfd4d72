//! A feature pack: train / val / (optional) test splits loaded from a directory that holds
//! `features_{split}.npy` and `labels_{split}.npy` (HETAL's file names) and, optionally, a
//! `manifest.json` whose shapes and SHA-256 digests are verified.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{DataError, Problem};
use crate::load::{features_from_npy, labels_from_npy, read_nonempty};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::npy::{NpyArray, parse_npy};
use crate::split::Split;

/// Which split of a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SplitName {
    /// Training rows.
    Train,
    /// Validation rows (early stopping).
    Val,
    /// Held-out test rows.
    Test,
}

impl SplitName {
    /// Lower-case name used in file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }

    /// `features_{split}.npy`.
    pub fn features_file(self) -> String {
        format!("features_{}.npy", self.as_str())
    }

    /// `labels_{split}.npy`.
    pub fn labels_file(self) -> String {
        format!("labels_{}.npy", self.as_str())
    }
}

/// A validated dataset: every split has the same feature dimension and labels in `0..num_classes`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeaturePack {
    name: String,
    num_classes: usize,
    train: Split,
    val: Split,
    test: Option<Split>,
}

/// A file read once: its bytes checked against the manifest, then decoded.
fn load_checked(
    dir: &Path,
    file: &str,
    manifest: Option<&Manifest>,
) -> Result<NpyArray, DataError> {
    let path = dir.join(file);
    let bytes = read_nonempty(&path)?;
    let entry = manifest.and_then(|m| m.files.get(file));
    if let Some(expected) = entry.and_then(|e| e.sha256.as_deref()) {
        let found: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !found.eq_ignore_ascii_case(expected) {
            return Err(DataError::invalid(
                &path,
                Problem::Checksum {
                    expected: expected.to_owned(),
                    found,
                },
            ));
        }
    }
    let array = parse_npy(&bytes).map_err(|source| DataError::Npy {
        path: path.clone(),
        source,
    })?;
    if let Some(expected) = entry.and_then(|e| e.shape.as_ref())
        && *expected != array.shape
    {
        return Err(DataError::invalid(
            &path,
            Problem::ManifestShape {
                expected: expected.clone(),
                found: array.shape,
            },
        ));
    }
    Ok(array)
}

impl FeaturePack {
    /// Builds a pack from already validated splits, checking that their dimensions agree.
    pub fn from_splits(
        name: impl Into<String>,
        num_classes: usize,
        train: Split,
        val: Split,
        test: Option<Split>,
    ) -> Result<Self, DataError> {
        let dim = train.dim();
        for (split, which) in [
            (Some(&val), SplitName::Val),
            (test.as_ref(), SplitName::Test),
        ] {
            if let Some(split) = split
                && split.dim() != dim
            {
                return Err(DataError::invalid(
                    which.features_file(),
                    Problem::DimMismatch {
                        expected: dim,
                        found: split.dim(),
                    },
                ));
            }
        }
        Ok(Self {
            name: name.into(),
            num_classes,
            train,
            val,
            test,
        })
    }

    /// Loads a pack directory. Train and val are required, test is optional; with a manifest,
    /// its digests, shapes, class count and dimension are enforced, without one the class count is
    /// one more than the largest label.
    pub fn load_dir(dir: &Path) -> Result<Self, DataError> {
        let manifest = Manifest::load_from_dir(dir)?;
        let manifest_path = dir.join(MANIFEST_FILE);
        let splits = [SplitName::Train, SplitName::Val, SplitName::Test];
        let mut raw = Vec::new();
        for which in splits {
            let (f, l) = (which.features_file(), which.labels_file());
            let listed = manifest.as_ref().is_some_and(|m| m.files.contains_key(&f));
            if which == SplitName::Test && !listed && !dir.join(&f).exists() {
                continue;
            }
            let features =
                features_from_npy(load_checked(dir, &f, manifest.as_ref())?, &dir.join(&f))?;
            let labels = labels_from_npy(load_checked(dir, &l, manifest.as_ref())?, &dir.join(&l))?;
            raw.push((which, features, labels));
        }
        let num_classes = match manifest.as_ref().and_then(|m| m.stats.num_classes) {
            Some(c) => c,
            None => raw
                .iter()
                .flat_map(|(_, _, labels)| labels.iter().copied())
                .max()
                .and_then(|m| usize::try_from(m).ok())
                .map_or(0, |m| m.saturating_add(1)),
        };
        if let Some(dim) = manifest.as_ref().and_then(|m| m.stats.dim)
            && let Some((_, features, _)) = raw.first()
            && features.ncols() != dim
        {
            return Err(DataError::Manifest {
                path: manifest_path,
                reason: format!(
                    "declares dim {dim} but the features have {}",
                    features.ncols()
                ),
            });
        }
        let mut built: Vec<(SplitName, Split)> = Vec::new();
        for (which, features, labels) in raw {
            let fp: PathBuf = dir.join(which.features_file());
            let lp: PathBuf = dir.join(which.labels_file());
            built.push((which, Split::new(features, &labels, num_classes, &fp, &lp)?));
        }
        let mut take = |w: SplitName| {
            built
                .iter()
                .position(|(n, _)| *n == w)
                .map(|i| built.swap_remove(i).1)
        };
        let (Some(train), Some(val)) = (take(SplitName::Train), take(SplitName::Val)) else {
            return Err(DataError::Manifest {
                path: dir.to_owned(),
                reason: "train and val splits are required".into(),
            });
        };
        let test = take(SplitName::Test);
        let name = manifest
            .and_then(|m| m.name)
            .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Self::from_splits(name, num_classes, train, val, test)
    }

    /// Pack name (manifest `name`, else the directory name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Feature dimension (without a bias column).
    pub fn dim(&self) -> usize {
        self.train.dim()
    }

    /// Training split.
    pub fn train(&self) -> &Split {
        &self.train
    }

    /// Validation split.
    pub fn val(&self) -> &Split {
        &self.val
    }

    /// Test split, if the pack has one.
    pub fn test(&self) -> Option<&Split> {
        self.test.as_ref()
    }

    /// The split named `which`, if present.
    pub fn split(&self, which: SplitName) -> Option<&Split> {
        match which {
            SplitName::Train => Some(&self.train),
            SplitName::Val => Some(&self.val),
            SplitName::Test => self.test.as_ref(),
        }
    }
}
