//! The ViT encoder (Hugging Face `ViTModel`): non-overlapping patches projected to tokens, a
//! learned CLS token and absolute position embeddings, pre-LN transformer layers, a final layer
//! norm.

use std::path::Path;

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, Linear};
use serde::Deserialize;

use crate::error::{EmbedError, Result};
use crate::nn::{Activation, Attention, layer_norm, linear};
use crate::weights::Weights;

/// Largest accepted value of any size field of `config.json`.
const MAX_DIM: usize = 1 << 20;

/// The fields of a ViT `config.json` that the forward pass uses.
#[derive(Debug, Clone, Deserialize)]
pub struct VitConfig {
    /// Must be `"vit"`.
    pub model_type: String,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub hidden_act: String,
    /// Epsilon of every layer norm.
    pub layer_norm_eps: f64,
    /// Side of the (square) input image in pixels.
    pub image_size: usize,
    /// Side of a (square) patch in pixels; must divide `image_size`.
    pub patch_size: usize,
    /// Input channels (only 3, RGB, is supported).
    #[serde(default = "three")]
    pub num_channels: usize,
    /// Whether the query/key/value projections have biases.
    #[serde(default = "yes")]
    pub qkv_bias: bool,
}

fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}

impl VitConfig {
    /// Reads and checks `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        crate::error::require_model_type(path, &["vit"], "images")?;
        let config: Self = crate::error::read_json(path)?;
        let bad = |message: String| {
            Err(EmbedError::Config {
                path: path.to_path_buf(),
                message,
            })
        };
        for (name, value) in [
            ("hidden_size", config.hidden_size),
            ("num_hidden_layers", config.num_hidden_layers),
            ("num_attention_heads", config.num_attention_heads),
            ("intermediate_size", config.intermediate_size),
            ("image_size", config.image_size),
            ("patch_size", config.patch_size),
        ] {
            if value == 0 || value > MAX_DIM {
                return bad(format!("{name} = {value} is outside 1..={MAX_DIM}"));
            }
        }
        if config.image_size > 1 << 14 || !config.image_size.is_multiple_of(config.patch_size) {
            return bad(format!(
                "image_size {} must be at most 16384 and a multiple of patch_size {}",
                config.image_size, config.patch_size
            ));
        }
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ));
        }
        if config.num_channels != 3 {
            return bad(format!(
                "num_channels {} is not supported (only 3, RGB)",
                config.num_channels
            ));
        }
        if !config.qkv_bias {
            return bad("qkv_bias = false is not supported".to_owned());
        }
        if !(config.layer_norm_eps > 0.0 && config.layer_norm_eps < 1.0) {
            return bad(format!(
                "layer_norm_eps {} is not in (0, 1)",
                config.layer_norm_eps
            ));
        }
        Activation::parse(&config.hidden_act, path)?;
        Ok(config)
    }

    /// Number of patches per image.
    pub fn patches(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side
    }
}

/// One pre-LN transformer layer.
#[derive(Debug)]
struct Layer {
    norm_before: LayerNorm,
    attention: Attention,
    norm_after: LayerNorm,
    intermediate: Linear,
    output: Linear,
}

/// ViT with its weights loaded.
#[derive(Debug)]
pub struct Vit {
    config: VitConfig,
    activation: Activation,
    patch_weight: Tensor,
    patch_bias: Tensor,
    cls: Tensor,
    positions: Tensor,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
}

impl Vit {
    /// Builds the encoder from checked `config` and `weights` (names as in `ViTModel`,
    /// optionally under `vit.`); every shape is checked against `config`.
    pub fn new(config: VitConfig, config_path: &Path, weights: &mut Weights) -> Result<Self> {
        weights.detect_prefix("embeddings.cls_token", &["", "vit."]);
        let h = config.hidden_size;
        let p = config.patch_size;
        let eps = config.layer_norm_eps;
        let patch_weight = weights.get(
            "embeddings.patch_embeddings.projection.weight",
            &[h, config.num_channels, p, p],
        )?;
        let patch_bias = weights.get("embeddings.patch_embeddings.projection.bias", &[h])?;
        let cls = weights.get("embeddings.cls_token", &[1, 1, h])?;
        let positions = weights.get(
            "embeddings.position_embeddings",
            &[1, config.patches() + 1, h],
        )?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = format!("encoder.layer.{i}");
            let attn = |n: &str| linear(weights, &format!("{l}.attention.attention.{n}"), h, h);
            layers.push(Layer {
                norm_before: layer_norm(weights, &format!("{l}.layernorm_before"), h, eps)?,
                attention: Attention {
                    query: attn("query")?,
                    key: attn("key")?,
                    value: attn("value")?,
                    output: linear(weights, &format!("{l}.attention.output.dense"), h, h)?,
                    heads: config.num_attention_heads,
                },
                norm_after: layer_norm(weights, &format!("{l}.layernorm_after"), h, eps)?,
                intermediate: linear(
                    weights,
                    &format!("{l}.intermediate.dense"),
                    h,
                    config.intermediate_size,
                )?,
                output: linear(
                    weights,
                    &format!("{l}.output.dense"),
                    config.intermediate_size,
                    h,
                )?,
            });
        }
        Ok(Self {
            activation: Activation::parse(&config.hidden_act, config_path)?,
            final_norm: layer_norm(weights, "layernorm", h, eps)?,
            patch_weight,
            patch_bias,
            cls,
            positions,
            layers,
            config,
        })
    }

    /// The configuration the encoder was built from.
    pub fn config(&self) -> &VitConfig {
        &self.config
    }

    /// Final-layer-normed hidden states `(batch, 1 + patches, hidden)` (CLS first) of
    /// preprocessed images `(batch, 3, image_size, image_size)`.
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let batch = pixels.dim(0)?;
        let h = self.config.hidden_size;
        // A convolution with stride = kernel = patch size is one dense map per patch.
        let patches = pixels
            .conv2d(&self.patch_weight, 0, self.config.patch_size, 1, 1)?
            .broadcast_add(&self.patch_bias.reshape((1, h, 1, 1))?)?
            .flatten_from(2)?
            .transpose(1, 2)?; // (batch, patches, hidden)
        let cls = self.cls.broadcast_as((batch, 1, h))?;
        let mut x = Tensor::cat(&[&cls, &patches], 1)?.broadcast_add(&self.positions)?;
        for layer in &self.layers {
            let attended = layer
                .attention
                .forward(&layer.norm_before.forward(&x)?, None, None)?;
            let x1 = (attended + &x)?;
            let inner = self.activation.apply(
                &layer
                    .intermediate
                    .forward(&layer.norm_after.forward(&x1)?)?,
            )?;
            x = (layer.output.forward(&inner)? + x1)?;
        }
        Ok(self.final_norm.forward(&x)?)
    }
}
