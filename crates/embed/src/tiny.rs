//! Tiny models with seeded random weights, written as a complete model directory: for tests,
//! examples and trying `hetal embed` without downloading a real model. Their outputs mean
//! nothing; their files have exactly the layout of the real ones.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{EmbedError, Result};
use crate::text::encoder::Family;

/// The words of the tiny tokenizer's vocabulary (after the four special tokens).
pub const TINY_WORDS: &[&str] = &[
    "play", "some", "music", "by", "the", "beatles", "what", "is", "weather", "in", "paris",
    "book", "a", "table", "for", "two", "rate", "this", "novel", "five", "stars", "find", "movie",
    "times", "##s", "##ing", "?", ".", ",", "cat", "dog", "sat",
];

/// Shape of a tiny sentence transformer (MPNet or BERT).
#[derive(Debug, Clone)]
pub struct TinyText {
    /// Which encoder.
    pub family: Family,
    /// Hidden width.
    pub hidden: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Relative-position buckets (MPNet).
    pub buckets: usize,
    /// Seed of the weights.
    pub seed: u64,
    /// Multiplier of the relative-position bias table (MPNet; 0 turns it off).
    pub relative_bias_scale: f32,
    /// Multiplier of the absolute position embedding (0 makes all positions alike).
    pub position_scale: f32,
}

impl Default for TinyText {
    fn default() -> Self {
        Self {
            family: Family::Mpnet,
            hidden: 16,
            layers: 2,
            heads: 2,
            intermediate: 32,
            buckets: 8,
            seed: 7,
            relative_bias_scale: 1.0,
            position_scale: 1.0,
        }
    }
}

/// Shape of a tiny ViT.
#[derive(Debug, Clone)]
pub struct TinyVit {
    /// Hidden width.
    pub hidden: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Input side in pixels.
    pub image_size: usize,
    /// Patch side in pixels.
    pub patch_size: usize,
    /// Seed of the weights.
    pub seed: u64,
}

impl Default for TinyVit {
    fn default() -> Self {
        Self {
            hidden: 16,
            layers: 2,
            heads: 2,
            intermediate: 32,
            image_size: 16,
            patch_size: 4,
            seed: 11,
        }
    }
}

/// Seeded uniform values in `[-scale, scale)` (SplitMix64; enough for test weights).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn tensor(&mut self, shape: &[usize], scale: f32) -> Result<Tensor> {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| self.next() * scale).collect();
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// A layer norm's weight near 1 and bias near 0.
    fn norm(&mut self, t: &mut HashMap<String, Tensor>, name: &str, dim: usize) -> Result<()> {
        let w = (self.tensor(&[dim], 0.1)? + 1.0)?;
        t.insert(format!("{name}.weight"), w);
        t.insert(format!("{name}.bias"), self.tensor(&[dim], 0.1)?);
        Ok(())
    }

    fn dense(
        &mut self,
        t: &mut HashMap<String, Tensor>,
        name: &str,
        input: usize,
        output: usize,
    ) -> Result<()> {
        let scale = 1.5 / (input as f32).sqrt();
        t.insert(
            format!("{name}.weight"),
            self.tensor(&[output, input], scale)?,
        );
        t.insert(format!("{name}.bias"), self.tensor(&[output], 0.1)?);
        Ok(())
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| EmbedError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn save(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    candle_core::safetensors::save(tensors, path).map_err(|e| EmbedError::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The tiny WordPiece `tokenizer.json` (BERT normaliser and pre-tokenizer, RoBERTa-style
/// `<s> … </s>` framing as all-mpnet-base-v2's): ids 0–3 are `<s>`, `<pad>`, `</s>`, `[UNK]`,
/// then [`TINY_WORDS`].
pub fn tiny_tokenizer_json() -> String {
    let special = ["<s>", "<pad>", "</s>", "[UNK]"];
    let vocab: Vec<String> = special
        .iter()
        .chain(TINY_WORDS)
        .enumerate()
        .map(|(i, w)| format!("{}: {i}", serde_json::Value::from(*w)))
        .collect();
    let added: Vec<String> = special
        .iter()
        .enumerate()
        .map(|(i, w)| {
            format!(
                r#"{{"id": {i}, "content": "{w}", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}}"#
            )
        })
        .collect();
    format!(
        r###"{{"version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [{}],
  "normalizer": {{"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true}},
  "pre_tokenizer": {{"type": "BertPreTokenizer"}},
  "post_processor": {{"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": true, "add_prefix_space": false}},
  "decoder": null,
  "model": {{"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100, "vocab": {{{}}}}}}}"###,
        added.join(", "),
        vocab.join(", ")
    )
}

/// Writes a complete sentence-transformers directory for `spec` into `dir` (which must exist):
/// `config.json`, `model.safetensors`, `tokenizer.json`, `modules.json`,
/// `1_Pooling/config.json` (mean pooling), `sentence_bert_config.json` (max 32 tokens). Both
/// families use the same tokenizer and `pad_token_id` 1.
pub fn write_tiny_text(dir: &Path, spec: &TinyText) -> Result<()> {
    let vocab = 4 + TINY_WORDS.len();
    let max_positions = 40;
    let h = spec.hidden;
    let family_fields = match spec.family {
        Family::Mpnet => format!(
            r#""model_type": "mpnet", "relative_attention_num_buckets": {}"#,
            spec.buckets
        ),
        Family::Bert => {
            r#""model_type": "bert", "type_vocab_size": 2, "position_embedding_type": "absolute""#
                .to_owned()
        }
    };
    write(
        &dir.join("config.json"),
        &format!(
            r#"{{{family_fields}, "vocab_size": {vocab}, "hidden_size": {h},
  "num_hidden_layers": {}, "num_attention_heads": {}, "intermediate_size": {},
  "hidden_act": "gelu", "layer_norm_eps": 1e-05, "max_position_embeddings": {max_positions},
  "pad_token_id": 1}}"#,
            spec.layers, spec.heads, spec.intermediate
        ),
    )?;
    write(&dir.join("tokenizer.json"), &tiny_tokenizer_json())?;
    write(
        &dir.join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
 {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
 {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]"#,
    )?;
    let pooling = dir.join("1_Pooling");
    std::fs::create_dir_all(&pooling).map_err(|source| EmbedError::Io {
        path: pooling.clone(),
        source,
    })?;
    write(
        &pooling.join("config.json"),
        &format!(
            r#"{{"word_embedding_dimension": {h}, "pooling_mode_cls_token": false,
  "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false,
  "pooling_mode_mean_sqrt_len_tokens": false}}"#
        ),
    )?;
    write(
        &dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 32, "do_lower_case": false}"#,
    )?;
    let mut rng = Uniform(spec.seed);
    let mut t = HashMap::new();
    t.insert(
        "embeddings.word_embeddings.weight".to_owned(),
        rng.tensor(&[vocab, h], 1.0)?,
    );
    t.insert(
        "embeddings.position_embeddings.weight".to_owned(),
        rng.tensor(&[max_positions, h], spec.position_scale)?,
    );
    rng.norm(&mut t, "embeddings.LayerNorm", h)?;
    let attention: [&str; 5] = match spec.family {
        Family::Mpnet => {
            t.insert(
                "encoder.relative_attention_bias.weight".to_owned(),
                rng.tensor(&[spec.buckets, spec.heads], 2.0 * spec.relative_bias_scale)?,
            );
            ["attn.q", "attn.k", "attn.v", "attn.o", "LayerNorm"]
        }
        Family::Bert => {
            t.insert(
                "embeddings.token_type_embeddings.weight".to_owned(),
                rng.tensor(&[2, h], 0.5)?,
            );
            [
                "self.query",
                "self.key",
                "self.value",
                "output.dense",
                "output.LayerNorm",
            ]
        }
    };
    for i in 0..spec.layers {
        let p = format!("encoder.layer.{i}");
        for n in &attention[..4] {
            rng.dense(&mut t, &format!("{p}.attention.{n}"), h, h)?;
        }
        rng.norm(&mut t, &format!("{p}.attention.{}", attention[4]), h)?;
        rng.dense(
            &mut t,
            &format!("{p}.intermediate.dense"),
            h,
            spec.intermediate,
        )?;
        rng.dense(&mut t, &format!("{p}.output.dense"), spec.intermediate, h)?;
        rng.norm(&mut t, &format!("{p}.output.LayerNorm"), h)?;
    }
    save(&t, &dir.join("model.safetensors"))
}

/// Writes a complete ViT directory for `spec` into `dir` (which must exist): `config.json`,
/// `preprocessor_config.json` (bilinear resize, rescale 1/255, normalise with 0.5/0.5),
/// `model.safetensors`.
pub fn write_tiny_vit(dir: &Path, spec: &TinyVit) -> Result<()> {
    let h = spec.hidden;
    let p = spec.patch_size;
    write(
        &dir.join("config.json"),
        &format!(
            r#"{{"model_type": "vit", "hidden_size": {h}, "num_hidden_layers": {},
  "num_attention_heads": {}, "intermediate_size": {}, "hidden_act": "gelu",
  "layer_norm_eps": 1e-12, "image_size": {}, "patch_size": {p}, "num_channels": 3,
  "qkv_bias": true}}"#,
            spec.layers, spec.heads, spec.intermediate, spec.image_size
        ),
    )?;
    write(
        &dir.join("preprocessor_config.json"),
        &format!(
            r#"{{"do_resize": true, "size": {{"height": {s}, "width": {s}}}, "resample": 2,
  "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}}"#,
            s = spec.image_size
        ),
    )?;
    let patches = (spec.image_size / p).pow(2);
    let mut rng = Uniform(spec.seed);
    let mut t = HashMap::new();
    t.insert(
        "embeddings.patch_embeddings.projection.weight".to_owned(),
        rng.tensor(&[h, 3, p, p], 1.0 / (3.0 * (p * p) as f32).sqrt())?,
    );
    t.insert(
        "embeddings.patch_embeddings.projection.bias".to_owned(),
        rng.tensor(&[h], 0.1)?,
    );
    t.insert(
        "embeddings.cls_token".to_owned(),
        rng.tensor(&[1, 1, h], 1.0)?,
    );
    t.insert(
        "embeddings.position_embeddings".to_owned(),
        rng.tensor(&[1, patches + 1, h], 0.5)?,
    );
    for i in 0..spec.layers {
        let l = format!("encoder.layer.{i}");
        rng.norm(&mut t, &format!("{l}.layernorm_before"), h)?;
        for n in ["query", "key", "value"] {
            rng.dense(&mut t, &format!("{l}.attention.attention.{n}"), h, h)?;
        }
        rng.dense(&mut t, &format!("{l}.attention.output.dense"), h, h)?;
        rng.norm(&mut t, &format!("{l}.layernorm_after"), h)?;
        rng.dense(
            &mut t,
            &format!("{l}.intermediate.dense"),
            h,
            spec.intermediate,
        )?;
        rng.dense(&mut t, &format!("{l}.output.dense"), spec.intermediate, h)?;
    }
    rng.norm(&mut t, "layernorm", h)?;
    save(&t, &dir.join("model.safetensors"))
}
