//! Feature extraction for hetal: the frozen encoder HETAL runs before training, in Rust.
//!
//! * [`text`]: a sentence transformer (MPNet or BERT encoder, masked pooling, L2 normalisation),
//!   configured by the model directory's `config.json`, `modules.json`, `1_Pooling/config.json`,
//!   `sentence_bert_config.json` and `tokenizer.json`.
//! * [`image`]: a ViT encoder (patch embedding, pre-LN transformer, CLS or mean pooling) with the
//!   preprocessing of `preprocessor_config.json` (resize, rescale, normalise).
//!
//! [`tiny`] writes tiny random models in the same layout, for tests and trying the pipeline.
//!
//! Everything is read from a local directory (weights as `model.safetensors`); nothing touches
//! the network. Inference runs on the CPU in float32; every malformed file gives an
//! [`EmbedError`] that names it.

pub mod error;
pub mod image;
mod nn;
pub mod text;
pub mod tiny;
pub mod weights;

pub use error::EmbedError;
pub use image::{ImageEmbedder, ImagePooling, list_images};
pub use text::TextEmbedder;

/// Embeddings of a list of inputs: one row of `dim` float32 values per input, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Number of rows (inputs).
    pub rows: usize,
    /// Length of each row.
    pub dim: usize,
    /// Row-major values, `rows * dim` long.
    pub data: Vec<f32>,
}

impl Embeddings {
    /// Row `i` (panics if `i >= rows`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}
