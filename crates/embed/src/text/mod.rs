//! Sentence embeddings: a sentence-transformers model directory (MPNet or BERT encoder, see
//! [`encoder`]) run on CPU.
//!
//! The directory holds `config.json`, `model.safetensors`, `tokenizer.json`, and optionally
//! `modules.json` + `1_Pooling/config.json` (the head, see [`pooling::Head`]) and
//! `sentence_bert_config.json` (`max_seq_length`). Texts are stripped of surrounding whitespace,
//! tokenized with special tokens, truncated to `max_seq_length` tokens, grouped into batches of
//! similar length, right-padded, encoded, pooled over the attention mask and (if the head says
//! so) L2-normalised. Padding never changes a row: masked pooling and masked attention make a
//! batch of N equal to N single calls up to float rounding.

pub mod encoder;
pub mod pooling;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::Deserialize;
use tokenizers::Tokenizer;

use crate::Embeddings;
use crate::error::{EmbedError, Result, read_json};
use crate::nn::l2_normalize;
use crate::weights::Weights;
use encoder::{Encoder, EncoderConfig};
use pooling::Head;

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// A loaded sentence-transformer.
#[derive(Debug)]
pub struct TextEmbedder {
    tokenizer: Tokenizer,
    tokenizer_path: PathBuf,
    model: Encoder,
    head: Head,
    max_seq_length: usize,
    lower_case: bool,
}

impl TextEmbedder {
    /// Loads the model in `dir` (see the module documentation for the files).
    pub fn load(dir: &Path) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config = EncoderConfig::load(&config_path)?;
        let st_path = dir.join("sentence_bert_config.json");
        let (requested, lower_case) = if st_path.exists() {
            let st: SentenceBertConfig = read_json(&st_path)?;
            (st.max_seq_length, st.do_lower_case)
        } else {
            (None, false)
        };
        let max_seq_length = requested.unwrap_or(config.max_tokens());
        if max_seq_length < 2 || max_seq_length > config.max_tokens() {
            return Err(EmbedError::Config {
                path: st_path,
                message: format!(
                    "max_seq_length {max_seq_length} is outside 2..={} (the position embedding's reach)",
                    config.max_tokens()
                ),
            });
        }
        let head = Head::load(dir, config.hidden_size)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = load_tokenizer(&tokenizer_path, max_seq_length)?;
        let mut weights = Weights::load(&dir.join("model.safetensors"))?;
        let model = Encoder::new(config, &config_path, &mut weights)?;
        Ok(Self {
            tokenizer,
            tokenizer_path,
            model,
            head,
            max_seq_length,
            lower_case,
        })
    }

    /// Length of each output row.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    /// The pooling and normalisation applied after the encoder.
    pub fn head(&self) -> Head {
        self.head
    }

    /// The most tokens (special tokens included) an input is truncated to.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Token ids of `text` (special tokens included, truncated), checked against the vocabulary.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let text = text.trim();
        let text = if self.lower_case {
            text.to_lowercase()
        } else {
            text.to_owned()
        };
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| EmbedError::Tokenizer {
                path: self.tokenizer_path.clone(),
                message: e.to_string(),
            })?;
        let ids = encoding.get_ids().to_vec();
        let vocab = self.model.config().vocab_size;
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(EmbedError::Tokenizer {
                path: self.tokenizer_path.clone(),
                message: format!("token id {bad} is outside the model's vocabulary of {vocab}"),
            });
        }
        if ids.is_empty() || ids.len() > self.max_seq_length {
            return Err(EmbedError::Tokenizer {
                path: self.tokenizer_path.clone(),
                message: format!(
                    "produced {} tokens, expected 1..={} (check its truncation and special tokens)",
                    ids.len(),
                    self.max_seq_length
                ),
            });
        }
        Ok(ids)
    }

    /// Embeds `texts` in batches of at most `batch` inputs; `progress` is called with the
    /// number of inputs done after each batch. Rows follow the order of `texts`.
    pub fn embed<S: AsRef<str>>(
        &self,
        texts: &[S],
        batch: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Embeddings> {
        if batch == 0 {
            return Err(EmbedError::Input(
                "the batch size must be at least 1".to_owned(),
            ));
        }
        let tokens = texts
            .iter()
            .map(|t| self.tokenize(t.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        // Longest first, as sentence-transformers does: batches of similar length pad little.
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokens[i].len()));
        let dim = self.dim();
        let mut data = vec![0f32; texts.len() * dim];
        let mut done = 0;
        for chunk in order.chunks(batch) {
            let rows: Vec<Vec<u32>> = chunk.iter().map(|&i| tokens[i].clone()).collect();
            let pooled = self.embed_tokens(&rows)?;
            for (row, &i) in pooled.iter().zip(chunk) {
                data[i * dim..(i + 1) * dim].copy_from_slice(row);
            }
            done += chunk.len();
            progress(done);
        }
        Ok(Embeddings {
            rows: texts.len(),
            dim,
            data,
        })
    }

    /// One padded batch through the encoder and the head.
    fn embed_tokens(&self, rows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let states = self.model.forward(rows, seq)?;
        let mask: Vec<f32> = rows
            .iter()
            .flat_map(|r| (0..seq).map(move |j| if j < r.len() { 1.0 } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (rows.len(), seq), &Device::Cpu)?;
        let mut pooled = self.head.pooling.apply(&states, &mask)?;
        if self.head.normalize {
            pooled = l2_normalize(&pooled)?;
        }
        Ok(pooled.to_vec2::<f32>()?)
    }
}

/// Loads `tokenizer.json` with truncation to `max_len` tokens and without padding (batches are
/// padded here, with the model's own padding id).
fn load_tokenizer(path: &Path, max_len: usize) -> Result<Tokenizer> {
    let bytes = crate::error::read_file(path)?;
    let fail = |message: String| EmbedError::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let mut tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| fail(e.to_string()))?;
    let truncation = tokenizers::TruncationParams {
        max_length: max_len,
        ..Default::default()
    };
    tokenizer
        .with_truncation(Some(truncation))
        .map_err(|e| fail(e.to_string()))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}
