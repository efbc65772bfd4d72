//! The sentence-transformers head of a model directory: which pooling (`1_Pooling/config.json`)
//! and whether rows are L2-normalised (`2_Normalize` in `modules.json`).

use std::path::Path;

use candle_core::{D, Tensor};
use serde::Deserialize;

use crate::error::{EmbedError, Result, read_json};

/// How token states become one vector per input (attention-masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first token's state.
    Cls,
    /// The mean over real tokens.
    Mean,
    /// The elementwise maximum over real tokens.
    Max,
    /// The sum over real tokens divided by the square root of their number.
    MeanSqrtLen,
}

/// What follows the transformer, from `modules.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The pooling.
    pub pooling: Pooling,
    /// Whether rows are divided by their L2 norm.
    pub normalize: bool,
}

#[derive(Debug, Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl Head {
    /// Reads `dir/modules.json` and the pooling configuration it points to. Without
    /// `modules.json` (a plain Hugging Face encoder), mean pooling without normalisation, as
    /// sentence-transformers does for such a directory. `hidden` is the encoder's width, which
    /// the pooling's `word_embedding_dimension` must match.
    pub fn load(dir: &Path, hidden: usize) -> Result<Self> {
        let modules_path = dir.join("modules.json");
        if !modules_path.exists() {
            return Ok(Self {
                pooling: Pooling::Mean,
                normalize: false,
            });
        }
        let modules: Vec<Module> = read_json(&modules_path)?;
        let unsupported = |message: String| EmbedError::Config {
            path: modules_path.clone(),
            message,
        };
        let mut pooling = None;
        let mut normalize = false;
        let mut seen_transformer = false;
        for module in &modules {
            let kind = module
                .kind
                .rsplit('.')
                .next()
                .unwrap_or(module.kind.as_str());
            match kind {
                "Transformer" if !seen_transformer && pooling.is_none() => {
                    seen_transformer = true;
                }
                "Pooling" if seen_transformer && pooling.is_none() => {
                    let path = dir.join(&module.path).join("config.json");
                    pooling = Some(Self::load_pooling(&path, hidden)?);
                }
                "Normalize" if pooling.is_some() && !normalize => normalize = true,
                _ => {
                    return Err(unsupported(format!(
                        "module {:?} at this position is not supported (supported: Transformer, \
                         Pooling, Normalize, in that order)",
                        module.kind
                    )));
                }
            }
        }
        let pooling =
            pooling.ok_or_else(|| unsupported("no Transformer + Pooling modules".to_owned()))?;
        Ok(Self { pooling, normalize })
    }

    fn load_pooling(path: &Path, hidden: usize) -> Result<Pooling> {
        let config: PoolingConfig = read_json(path)?;
        let bad = |message: String| EmbedError::Config {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dim) = config.word_embedding_dimension
            && dim != hidden
        {
            return Err(bad(format!(
                "word_embedding_dimension {dim} differs from the encoder's hidden_size {hidden}"
            )));
        }
        if config.pooling_mode_weightedmean_tokens || config.pooling_mode_lasttoken {
            return Err(bad(
                "weighted-mean and last-token pooling are not supported".to_owned(),
            ));
        }
        let modes = [
            (config.pooling_mode_cls_token, Pooling::Cls),
            (config.pooling_mode_mean_tokens, Pooling::Mean),
            (config.pooling_mode_max_tokens, Pooling::Max),
            (
                config.pooling_mode_mean_sqrt_len_tokens,
                Pooling::MeanSqrtLen,
            ),
        ];
        let chosen: Vec<Pooling> = modes
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, p)| *p)
            .collect();
        match chosen.as_slice() {
            [one] => Ok(*one),
            [] => Err(bad("no pooling mode is enabled".to_owned())),
            _ => Err(bad(
                "several pooling modes at once (concatenated) are not supported".to_owned(),
            )),
        }
    }
}

impl Pooling {
    /// Pools `states` `(batch, seq, hidden)` with `mask` `(batch, seq)` (1 on real tokens) into
    /// `(batch, hidden)`.
    pub fn apply(self, states: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let expanded = mask.unsqueeze(D::Minus1)?; // (batch, seq, 1)
        let count = || -> Result<Tensor> { Ok(mask.sum_keepdim(1)?.clamp(1e-9f32, f32::MAX)?) };
        Ok(match self {
            Self::Cls => states.narrow(1, 0, 1)?.squeeze(1)?,
            Self::Mean => states
                .broadcast_mul(&expanded)?
                .sum(1)?
                .broadcast_div(&count()?)?,
            Self::MeanSqrtLen => states
                .broadcast_mul(&expanded)?
                .sum(1)?
                .broadcast_div(&count()?.sqrt()?)?,
            Self::Max => {
                // Padded positions get a very negative value so that they never win.
                let blocked = (expanded.affine(-1.0, 1.0)? * -1e9)?;
                states.broadcast_add(&blocked)?.max(1)?
            }
        })
    }
}
