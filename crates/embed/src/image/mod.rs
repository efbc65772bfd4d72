//! Image embeddings: a Hugging Face ViT directory (`config.json`, `model.safetensors`,
//! optionally `preprocessor_config.json`) run on CPU.
//!
//! [`list_images`] gives the `.png`/`.jpg`/`.jpeg` files of a directory in byte order of their
//! names; rows of the output follow that order.

pub mod preprocess;
pub mod vit;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use crate::Embeddings;
use crate::error::{EmbedError, Result};
use crate::weights::Weights;
use preprocess::Preprocess;
use vit::{Vit, VitConfig};

/// Which hidden states become the image's vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImagePooling {
    /// The CLS token's final state (as `ViTModel`'s `last_hidden_state[:, 0]`).
    #[default]
    Cls,
    /// The mean of the patch tokens' final states (CLS excluded).
    Mean,
}

/// A loaded ViT image encoder.
#[derive(Debug)]
pub struct ImageEmbedder {
    model: Vit,
    preprocess: Preprocess,
    pooling: ImagePooling,
}

impl ImageEmbedder {
    /// Loads the model in `dir`, pooling as `pooling` says.
    pub fn load(dir: &Path, pooling: ImagePooling) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config = VitConfig::load(&config_path)?;
        let preprocess = Preprocess::load(
            &dir.join("preprocessor_config.json"),
            u32::try_from(config.image_size).map_err(|_| EmbedError::Config {
                path: config_path.clone(),
                message: "image_size does not fit in 32 bits".to_owned(),
            })?,
        )?;
        let mut weights = Weights::load(&dir.join("model.safetensors"))?;
        let model = Vit::new(config, &config_path, &mut weights)?;
        Ok(Self {
            model,
            preprocess,
            pooling,
        })
    }

    /// Length of each output row.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    /// Embeds the images at `paths` in batches of at most `batch`; `progress` is called with the
    /// number done after each batch.
    pub fn embed_files(
        &self,
        paths: &[PathBuf],
        batch: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Embeddings> {
        if batch == 0 {
            return Err(EmbedError::Input(
                "the batch size must be at least 1".to_owned(),
            ));
        }
        let dim = self.dim();
        let mut data = Vec::with_capacity(paths.len() * dim);
        for chunk in paths.chunks(batch) {
            let mut pixels = Vec::new();
            for path in chunk {
                pixels.extend(self.preprocess.load_image(path)?);
            }
            data.extend(self.embed_pixels(pixels, chunk.len())?);
            progress(data.len() / dim);
        }
        Ok(Embeddings {
            rows: paths.len(),
            dim,
            data,
        })
    }

    /// Embeds `count` preprocessed images given as consecutive `3 × size × size` channel-major
    /// blocks; returns `count × dim` values.
    pub fn embed_pixels(&self, pixels: Vec<f32>, count: usize) -> Result<Vec<f32>> {
        let side = self.model.config().image_size;
        if pixels.len() != count * 3 * side * side {
            return Err(EmbedError::Input(format!(
                "{} pixel values for {count} images of 3x{side}x{side}",
                pixels.len()
            )));
        }
        let input = Tensor::from_vec(pixels, (count, 3, side, side), &Device::Cpu)?;
        let states = self.model.forward(&input)?;
        let pooled = match self.pooling {
            ImagePooling::Cls => states.narrow(1, 0, 1)?.squeeze(1)?,
            ImagePooling::Mean => {
                let patches = self.model.config().patches();
                states.narrow(1, 1, patches)?.mean(1)?
            }
        };
        Ok(pooled.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// The `.png`, `.jpg` and `.jpeg` files (any case) directly in `dir`, sorted by name; an error
/// if there are none.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| EmbedError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"));
        if is_image && path.is_file() {
            found.push(path);
        }
    }
    if found.is_empty() {
        return Err(EmbedError::Input(format!(
            "{}: no .png, .jpg or .jpeg files",
            dir.display()
        )));
    }
    found.sort();
    Ok(found)
}
