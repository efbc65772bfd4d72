//! # hetal-data — feature packs
//!
//! Loading of features and labels (`.npy`, CSV) with checks that name the file and the problem.
//! Synchronous I/O only; nothing here knows about encryption.
//!
//! * [`npy`]: a bounds-checked `.npy` reader and writer (float32/float64 features, int32/int64
//!   labels, little-endian, C order);
//! * [`csv`]: CSV tables with a named label column;
//! * [`Split`]: one validated split (finite features, labels in range, matching row counts);
//! * [`FeaturePack`]: train/val/test splits from a directory such as `data/digits`, checked
//!   against its `manifest.json`;
//! * [`source`]: splits named file by file (`.npy` pairs or CSV), as `hetal train` takes them,
//!   loaded into a checked [`FeaturePack`] by [`source::load_pack`].

pub mod csv;
pub mod error;
pub mod load;
pub mod manifest;
pub mod npy;
pub mod pack;
pub mod source;
pub mod split;

pub use error::{DataError, NpyError, Problem};
pub use pack::{FeaturePack, SplitName};
pub use source::{PackOptions, SplitSource, load_pack};
pub use split::Split;
