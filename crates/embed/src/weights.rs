//! A safetensors weights file with checked access: every tensor is looked up by name, its
//! shape compared with what the configuration implies, and converted to float32.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::{EmbedError, Result, read_file};

/// The tensors of one `model.safetensors` file, held in memory.
#[derive(Debug)]
pub struct Weights {
    path: PathBuf,
    prefix: String,
    tensors: HashMap<String, Tensor>,
}

impl Weights {
    /// Reads and decodes `path` (the safetensors decoder checks the header and every offset
    /// against the file length before any tensor is built).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_file(path)?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| {
            EmbedError::Safetensors {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            prefix: String::new(),
            tensors,
        })
    }

    /// The file the tensors came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Uses the first of `prefixes` under which `probe` exists (checkpoints saved from a task
    /// model nest the encoder, e.g. `mpnet.` or `vit.`); keeps no prefix when none matches.
    pub fn detect_prefix(&mut self, probe: &str, prefixes: &[&str]) {
        if let Some(p) = prefixes
            .iter()
            .find(|p| self.tensors.contains_key(&format!("{p}{probe}")))
        {
            self.prefix = (*p).to_owned();
        }
    }

    /// Whether a tensor named `name` (after the prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(&format!("{}{name}", self.prefix))
    }

    /// The tensor `name` as float32, checked to have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let full = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&full)
            .ok_or_else(|| EmbedError::MissingTensor {
                path: self.path.clone(),
                name: full.clone(),
            })?;
        if tensor.dims() != shape {
            return Err(EmbedError::TensorShape {
                path: self.path.clone(),
                name: full,
                expected: shape.to_vec(),
                actual: tensor.dims().to_vec(),
            });
        }
        match tensor.dtype() {
            DType::F32 => Ok(tensor.clone()),
            DType::F16 | DType::BF16 | DType::F64 => Ok(tensor.to_dtype(DType::F32)?),
            other => Err(EmbedError::TensorDtype {
                path: self.path.clone(),
                name: full,
                dtype: format!("{other:?}"),
            }),
        }
    }
}
