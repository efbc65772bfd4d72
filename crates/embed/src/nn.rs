//! Building blocks shared by the encoders: checked loading of dense and layer-norm layers,
//! multi-head attention, and the activations the configurations may name.

use std::path::Path;

use candle_core::{Module, Tensor};
use candle_nn::{LayerNorm, Linear};

use crate::error::{EmbedError, Result};
use crate::weights::Weights;

/// A dense layer `name.weight` (`out × in`) + `name.bias` (`out`).
pub(crate) fn linear(w: &Weights, name: &str, input: usize, output: usize) -> Result<Linear> {
    let weight = w.get(&format!("{name}.weight"), &[output, input])?;
    let bias = w.get(&format!("{name}.bias"), &[output])?;
    Ok(Linear::new(weight, Some(bias)))
}

/// A layer norm `name.weight` + `name.bias` over `dim` features.
pub(crate) fn layer_norm(w: &Weights, name: &str, dim: usize, eps: f64) -> Result<LayerNorm> {
    let weight = w.get(&format!("{name}.weight"), &[dim])?;
    let bias = w.get(&format!("{name}.bias"), &[dim])?;
    Ok(LayerNorm::new(weight, bias, eps))
}

/// The feed-forward activation named by `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Exact GELU, `x·Φ(x)` (Hugging Face `"gelu"`).
    GeluErf,
    /// The tanh approximation of GELU (`"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
    /// `max(0, x)`.
    Relu,
}

impl Activation {
    /// Parses `hidden_act` of `config`.
    pub(crate) fn parse(name: &str, config: &Path) -> Result<Self> {
        match name {
            "gelu" => Ok(Self::GeluErf),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Self::GeluTanh),
            "relu" => Ok(Self::Relu),
            other => Err(EmbedError::Config {
                path: config.to_path_buf(),
                message: format!(
                    "hidden_act {other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"
                ),
            }),
        }
    }

    /// Applies the activation elementwise.
    pub(crate) fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Self::GeluErf => x.gelu_erf()?,
            Self::GeluTanh => x.gelu()?,
            Self::Relu => x.relu()?,
        })
    }
}

/// Query, key, value and output projections of one multi-head attention block.
#[derive(Debug)]
pub(crate) struct Attention {
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) output: Linear,
    pub(crate) heads: usize,
}

impl Attention {
    /// `softmax(q·kᵀ/√d + bias + mask)·v` over `heads` heads, then the output projection.
    /// `x`: `(batch, seq, hidden)`; `bias`: `(1 or batch, heads, seq, seq)`; `mask`: additive,
    /// `(batch, 1, 1, seq)`.
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        bias: Option<&Tensor>,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (batch, seq, hidden) = x.dims3()?;
        let head_dim = hidden / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            Ok(t.reshape((batch, seq, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        if let Some(bias) = bias {
            scores = scores.broadcast_add(bias)?;
        }
        if let Some(mask) = mask {
            scores = scores.broadcast_add(mask)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch, seq, hidden))?;
        Ok(self.output.forward(&context)?)
    }
}

/// The additive attention mask `(batch, 1, 1, seq)`: 0 where `mask` is 1, a large negative
/// number where it is 0 (padding), so that padded keys get zero attention weight.
pub(crate) fn additive_mask(mask: &Tensor) -> Result<Tensor> {
    let (batch, seq) = mask.dims2()?;
    let blocked = mask.affine(-1.0, 1.0)?; // 1 on padding
    Ok((blocked * f64::from(f32::MIN))?.reshape((batch, 1, 1, seq))?)
}

/// Divides each row of `x` (`(rows, dim)`) by its L2 norm (at least 1e-12, as
/// `torch.nn.functional.normalize`).
pub(crate) fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    Ok(x.broadcast_div(&norm)?)
}
