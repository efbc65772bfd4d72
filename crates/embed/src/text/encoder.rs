//! The text encoders: MPNet (Hugging Face `MPNetModel`) and BERT (`BertModel`, e.g.
//! all-MiniLM-L6-v2). Both are post-LN transformers over word + absolute position embeddings;
//! they differ in where positions start, in BERT's token-type embedding, in MPNet's
//! relative-position bias (computed once from bucketed token distances and shared by all
//! layers), and in tensor names.

use std::path::Path;

use candle_core::{Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear};
use serde::Deserialize;

use crate::error::{EmbedError, Result};
use crate::nn::{Activation, Attention, additive_mask, layer_norm, linear};
use crate::weights::Weights;

/// The distance beyond which relative positions share the last bucket (fixed in MPNet).
pub const RELATIVE_MAX_DISTANCE: usize = 128;
/// Largest accepted value of any size field of `config.json`; real models stay far below, and
/// the weights file must still hold tensors of the implied shapes.
const MAX_DIM: usize = 1 << 20;

/// Which encoder a `config.json` describes (its `model_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// MPNet: positions from `pad_token_id + 1`, relative-position bias.
    Mpnet,
    /// BERT: positions from 0, token-type embedding (type 0 for single texts).
    Bert,
}

/// The fields of a text encoder's `config.json` that the forward pass uses.
#[derive(Debug, Clone, Deserialize)]
pub struct EncoderConfig {
    /// `"mpnet"` or `"bert"`.
    pub model_type: Family,
    /// Rows of the word embedding.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`hidden_size` must be a multiple).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation (`gelu` is the exact, erf-based one).
    pub hidden_act: String,
    /// Epsilon of every layer norm.
    pub layer_norm_eps: f64,
    /// Rows of the absolute position embedding.
    pub max_position_embeddings: usize,
    /// Id of the padding token (MPNet's position ids start at `pad_token_id + 1`).
    pub pad_token_id: u32,
    /// MPNet: number of relative-position buckets (half for each direction).
    pub relative_attention_num_buckets: Option<usize>,
    /// BERT: rows of the token-type embedding (default 2).
    pub type_vocab_size: Option<usize>,
    /// BERT: must be `"absolute"` when present.
    pub position_embedding_type: Option<String>,
}

impl EncoderConfig {
    /// Reads and checks `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        crate::error::require_model_type(path, &["mpnet", "bert"], "text")?;
        let config: Self = crate::error::read_json(path)?;
        config.check(path)?;
        Ok(config)
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |message: String| {
            Err(EmbedError::Config {
                path: path.to_path_buf(),
                message,
            })
        };
        let sizes = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, value) in sizes {
            if value == 0 || value > MAX_DIM {
                return bad(format!("{name} = {value} is outside 1..={MAX_DIM}"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return bad(format!(
                "layer_norm_eps {} is not in (0, 1)",
                self.layer_norm_eps
            ));
        }
        match self.model_type {
            Family::Mpnet => {
                let Some(buckets) = self.relative_attention_num_buckets else {
                    return bad("relative_attention_num_buckets is missing".to_owned());
                };
                if !(4..=MAX_DIM).contains(&buckets) || !buckets.is_multiple_of(2) {
                    return bad(format!(
                        "relative_attention_num_buckets {buckets} must be even and at least 4"
                    ));
                }
                if (self.pad_token_id as usize) + 2 > self.max_position_embeddings {
                    return bad(format!(
                        "pad_token_id {} leaves no position embedding (max_position_embeddings {})",
                        self.pad_token_id, self.max_position_embeddings
                    ));
                }
            }
            Family::Bert => {
                if let Some(kind) = &self.position_embedding_type
                    && kind != "absolute"
                {
                    return bad(format!(
                        "position_embedding_type {kind:?} is not supported (only \"absolute\")"
                    ));
                }
                if !(1..=MAX_DIM).contains(&self.type_vocab_size.unwrap_or(2)) {
                    return bad("type_vocab_size must be at least 1".to_owned());
                }
            }
        }
        Activation::parse(&self.hidden_act, path)?;
        Ok(())
    }

    /// The longest token sequence the position embedding covers.
    pub fn max_tokens(&self) -> usize {
        match self.model_type {
            Family::Mpnet => self.max_position_embeddings - self.pad_token_id as usize - 1,
            Family::Bert => self.max_position_embeddings,
        }
    }
}

/// The bucket of relative position `memory - context` (Hugging Face / T5 scheme): exact buckets
/// for distances below `buckets / 4`, logarithmic ones up to [`RELATIVE_MAX_DISTANCE`], one half
/// of the buckets per direction. Computed in float32 as PyTorch does, so boundaries agree.
pub fn relative_position_bucket(relative: i64, buckets: usize) -> usize {
    let half = buckets / 2;
    let n = -relative;
    let mut bucket = if n < 0 { half } else { 0 };
    let n = n.unsigned_abs() as usize;
    let max_exact = half / 2;
    if n < max_exact {
        bucket += n;
    } else {
        let scale = ((RELATIVE_MAX_DISTANCE as f64) / (max_exact as f64)).ln() as f32;
        let log_ratio = (n as f32 / max_exact as f32).ln() / scale;
        let large = max_exact + (log_ratio * (half - max_exact) as f32) as usize;
        bucket += large.min(half - 1);
    }
    bucket
}

/// One post-LN transformer layer.
#[derive(Debug)]
struct Layer {
    attention: Attention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// Where each family keeps a layer's attention tensors.
struct AttentionNames {
    q: &'static str,
    k: &'static str,
    v: &'static str,
    o: &'static str,
    norm: &'static str,
}

const MPNET_NAMES: AttentionNames = AttentionNames {
    q: "attention.attn.q",
    k: "attention.attn.k",
    v: "attention.attn.v",
    o: "attention.attn.o",
    norm: "attention.LayerNorm",
};

const BERT_NAMES: AttentionNames = AttentionNames {
    q: "attention.self.query",
    k: "attention.self.key",
    v: "attention.self.value",
    o: "attention.output.dense",
    norm: "attention.output.LayerNorm",
};

/// A text encoder with its weights loaded.
#[derive(Debug)]
pub struct Encoder {
    config: EncoderConfig,
    activation: Activation,
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    /// BERT: row 0 of the token-type embedding, added to every token.
    token_type: Option<Tensor>,
    embedding_norm: LayerNorm,
    /// MPNet: the `(buckets, heads)` relative-position bias table.
    relative_bias: Option<Tensor>,
    layers: Vec<Layer>,
}

impl Encoder {
    /// Builds the encoder from checked `config` and the tensors of `weights` (names as in
    /// `MPNetModel` / `BertModel`, optionally under `mpnet.` / `bert.`); every shape is checked
    /// against `config`.
    pub fn new(config: EncoderConfig, config_path: &Path, weights: &mut Weights) -> Result<Self> {
        let (prefix, names) = match config.model_type {
            Family::Mpnet => ("mpnet.", &MPNET_NAMES),
            Family::Bert => ("bert.", &BERT_NAMES),
        };
        weights.detect_prefix("embeddings.word_embeddings.weight", &["", prefix]);
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let word = weights.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
        let position = weights.get(
            "embeddings.position_embeddings.weight",
            &[config.max_position_embeddings, h],
        )?;
        let token_type = match config.model_type {
            Family::Bert => Some(
                weights
                    .get(
                        "embeddings.token_type_embeddings.weight",
                        &[config.type_vocab_size.unwrap_or(2), h],
                    )?
                    .narrow(0, 0, 1)?,
            ),
            Family::Mpnet => None,
        };
        let relative_bias = match config.relative_attention_num_buckets {
            Some(buckets) if config.model_type == Family::Mpnet => Some(weights.get(
                "encoder.relative_attention_bias.weight",
                &[buckets, config.num_attention_heads],
            )?),
            _ => None,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let attn = |n: &str| linear(weights, &format!("{p}.{n}"), h, h);
            layers.push(Layer {
                attention: Attention {
                    query: attn(names.q)?,
                    key: attn(names.k)?,
                    value: attn(names.v)?,
                    output: attn(names.o)?,
                    heads: config.num_attention_heads,
                },
                attention_norm: layer_norm(weights, &format!("{p}.{}", names.norm), h, eps)?,
                intermediate: linear(
                    weights,
                    &format!("{p}.intermediate.dense"),
                    h,
                    config.intermediate_size,
                )?,
                output: linear(
                    weights,
                    &format!("{p}.output.dense"),
                    config.intermediate_size,
                    h,
                )?,
                output_norm: layer_norm(weights, &format!("{p}.output.LayerNorm"), h, eps)?,
            });
        }
        Ok(Self {
            activation: Activation::parse(&config.hidden_act, config_path)?,
            word_embeddings: Embedding::new(word, h),
            position_embeddings: Embedding::new(position, h),
            token_type,
            embedding_norm: layer_norm(weights, "embeddings.LayerNorm", h, eps)?,
            relative_bias,
            layers,
            config,
        })
    }

    /// The configuration the encoder was built from.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// Appends the position ids of `row` right-padded to `seq` tokens.
    fn positions(&self, row: &[u32], seq: usize, out: &mut Vec<u32>) {
        let pad = self.config.pad_token_id;
        match self.config.model_type {
            // As create_position_ids_from_input_ids: padding tokens sit at the padding index,
            // the others count up from padding index + 1.
            Family::Mpnet => {
                let mut seen = 0u32;
                for j in 0..seq {
                    match row.get(j) {
                        Some(&id) if id != pad => {
                            seen += 1;
                            out.push(pad + seen);
                        }
                        _ => out.push(pad),
                    }
                }
            }
            Family::Bert => out.extend(0..seq as u32),
        }
    }

    /// Hidden states `(batch, seq, hidden)` of token-id rows, right-padded to `seq` with the
    /// padding id and masked. Ids must be below `vocab_size` and `seq` at most
    /// [`EncoderConfig::max_tokens`] (the caller checks both).
    pub fn forward(&self, ids: &[Vec<u32>], seq: usize) -> Result<Tensor> {
        let batch = ids.len();
        let pad = self.config.pad_token_id;
        let mut flat = Vec::with_capacity(batch * seq);
        let mut positions = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        for row in ids {
            flat.extend((0..seq).map(|j| row.get(j).copied().unwrap_or(pad)));
            mask.extend((0..seq).map(|j| if j < row.len() { 1f32 } else { 0f32 }));
            self.positions(row, seq, &mut positions);
        }
        let device = Device::Cpu;
        let ids = Tensor::from_vec(flat, (batch, seq), &device)?;
        let positions = Tensor::from_vec(positions, (batch, seq), &device)?;
        let mask = Tensor::from_vec(mask, (batch, seq), &device)?;
        let mut embedded = (self.word_embeddings.forward(&ids)?
            + self.position_embeddings.forward(&positions)?)?;
        if let Some(token_type) = &self.token_type {
            embedded = embedded.broadcast_add(token_type)?;
        }
        let mut x = self.embedding_norm.forward(&embedded)?;
        let bias = match &self.relative_bias {
            Some(table) => Some(self.position_bias(table, seq)?),
            None => None,
        };
        let additive = additive_mask(&mask)?;
        for layer in &self.layers {
            let attended = layer
                .attention
                .forward(&x, bias.as_ref(), Some(&additive))?;
            let x1 = layer.attention_norm.forward(&(attended + &x)?)?;
            let inner = self.activation.apply(&layer.intermediate.forward(&x1)?)?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + x1)?)?;
        }
        Ok(x)
    }

    /// The relative-position bias `(1, heads, seq, seq)`, the same for every layer and row.
    fn position_bias(&self, table: &Tensor, seq: usize) -> Result<Tensor> {
        let (buckets, heads) = table.dims2()?;
        let mut index = Vec::with_capacity(seq * seq);
        for context in 0..seq {
            for memory in 0..seq {
                let relative = memory as i64 - context as i64;
                index.push(relative_position_bucket(relative, buckets) as u32);
            }
        }
        let index = Tensor::from_vec(index, seq * seq, &Device::Cpu)?;
        Ok(table
            .index_select(&index, 0)?
            .reshape((seq, seq, heads))?
            .permute((2, 0, 1))?
            .contiguous()?
            .unsqueeze(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::relative_position_bucket;

    #[test]
    fn buckets_are_exact_near_then_logarithmic_then_capped() {
        // Key positions behind the query (relative < 0) use buckets 0..16, ahead 16..32.
        let cases = [
            (0, 0),
            (-1, 1),
            (-7, 7),
            (-8, 8),
            (-15, 9),
            (-16, 10),
            (-31, 11),
            (-32, 12),
            (-64, 14),
            (-127, 15),
            (-128, 15),
            (-5000, 15),
            (1, 17),
            (16, 26),
            (5000, 31),
        ];
        for (relative, bucket) in cases {
            assert_eq!(
                relative_position_bucket(relative, 32),
                bucket,
                "relative {relative}"
            );
        }
        for distance in 1..600 {
            assert_eq!(
                relative_position_bucket(distance, 32),
                16 + relative_position_bucket(-distance, 32)
            );
        }
    }
}
