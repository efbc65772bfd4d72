//! Plain float64 forward passes of the tiny models, written from the architecture's definition
//! without candle, to check the candle implementation against.

use std::collections::HashMap;
use std::path::Path;

/// Every tensor of a safetensors file as float64, with its shape.
pub struct Weights(HashMap<String, (Vec<usize>, Vec<f64>)>);

impl Weights {
    pub fn load(path: &Path) -> Self {
        let tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu).unwrap();
        Self(
            tensors
                .into_iter()
                .map(|(name, t)| {
                    let shape = t.dims().to_vec();
                    let values = t
                        .flatten_all()
                        .unwrap()
                        .to_dtype(candle_core::DType::F64)
                        .unwrap()
                        .to_vec1::<f64>()
                        .unwrap();
                    (name, (shape, values))
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> &[f64] {
        &self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
            .1
    }

    /// Row `r` of matrix `name`.
    fn row(&self, name: &str, r: usize) -> &[f64] {
        let (shape, values) = self.0.get(name).unwrap();
        let cols = shape[1];
        &values[r * cols..(r + 1) * cols]
    }

    /// `x·Wᵀ + b` for the dense layer `name`.
    fn dense(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let w = &self.0[&format!("{name}.weight")];
        let b = self.get(&format!("{name}.bias"));
        let (out, input) = (w.0[0], w.0[1]);
        assert_eq!(x.len(), input);
        (0..out)
            .map(|o| b[o] + (0..input).map(|i| w.1[o * input + i] * x[i]).sum::<f64>())
            .collect()
    }

    fn layer_norm(&self, name: &str, x: &[f64], eps: f64) -> Vec<f64> {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let w = self.get(&format!("{name}.weight"));
        let b = self.get(&format!("{name}.bias"));
        x.iter()
            .enumerate()
            .map(|(i, v)| (v - mean) / (var + eps).sqrt() * w[i] + b[i])
            .collect()
    }
}

/// erf by its Maclaurin series (|x| ≤ 6; beyond, ±1 to 1e-17).
fn erf(x: f64) -> f64 {
    if x.abs() > 6.0 {
        return x.signum();
    }
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// MPNet's relative-position bucket in float64 (the definition; tests keep distances away from
/// the logarithmic buckets' exact boundaries).
fn bucket(relative: i64, buckets: usize) -> usize {
    let half = buckets / 2;
    let n = -relative;
    let base = if n < 0 { half } else { 0 };
    let n = n.unsigned_abs() as f64;
    let exact = (half / 2) as f64;
    if n < exact {
        base + n as usize
    } else {
        let large = exact + ((n / exact).ln() / (128.0 / exact).ln() * (half as f64 - exact));
        base + (large.floor() as usize).min(half - 1)
    }
}

/// The sentence embedding of `ids` by a one-layer, one-head encoder with mean pooling and L2
/// normalisation, in float64: MPNet when `relative_buckets` is given (positions from 2,
/// relative-position bias), BERT otherwise (positions from 0, token type 0).
pub fn one_head(
    w: &Weights,
    ids: &[u32],
    hidden: usize,
    relative_buckets: Option<usize>,
) -> Vec<f64> {
    let eps = 1e-5;
    let first_position = if relative_buckets.is_some() { 2 } else { 0 };
    let s = ids.len();
    let x: Vec<Vec<f64>> = ids
        .iter()
        .enumerate()
        .map(|(j, &id)| {
            let word = w.row("embeddings.word_embeddings.weight", id as usize);
            let pos = w.row("embeddings.position_embeddings.weight", first_position + j);
            let mut sum: Vec<f64> = word.iter().zip(pos).map(|(a, b)| a + b).collect();
            if relative_buckets.is_none() {
                let token_type = w.row("embeddings.token_type_embeddings.weight", 0);
                sum.iter_mut().zip(token_type).for_each(|(a, b)| *a += b);
            }
            w.layer_norm("embeddings.LayerNorm", &sum, eps)
        })
        .collect();
    let p = "encoder.layer.0";
    let [qn, kn, vn, on, norm] = if relative_buckets.is_some() {
        ["attn.q", "attn.k", "attn.v", "attn.o", "LayerNorm"]
    } else {
        [
            "self.query",
            "self.key",
            "self.value",
            "output.dense",
            "output.LayerNorm",
        ]
    };
    let project = |n: &str| -> Vec<Vec<f64>> {
        x.iter()
            .map(|t| w.dense(&format!("{p}.attention.{n}"), t))
            .collect()
    };
    let (q, k, v) = (project(qn), project(kn), project(vn));
    let mut out = vec![0.0; hidden];
    for i in 0..s {
        let scores: Vec<f64> = (0..s)
            .map(|j| {
                let dot: f64 = q[i].iter().zip(&k[j]).map(|(a, b)| a * b).sum();
                let bias = relative_buckets.map_or(0.0, |b| {
                    w.get("encoder.relative_attention_bias.weight")[bucket(j as i64 - i as i64, b)]
                });
                dot / (hidden as f64).sqrt() + bias
            })
            .collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = scores.iter().map(|c| (c - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let context: Vec<f64> = (0..hidden)
            .map(|d| (0..s).map(|j| exps[j] / total * v[j][d]).sum())
            .collect();
        let attended = w.dense(&format!("{p}.attention.{on}"), &context);
        let res: Vec<f64> = attended.iter().zip(&x[i]).map(|(a, b)| a + b).collect();
        let x1 = w.layer_norm(&format!("{p}.attention.{norm}"), &res, eps);
        let inner: Vec<f64> = w
            .dense(&format!("{p}.intermediate.dense"), &x1)
            .into_iter()
            .map(gelu)
            .collect();
        let ff = w.dense(&format!("{p}.output.dense"), &inner);
        let res: Vec<f64> = ff.iter().zip(&x1).map(|(a, b)| a + b).collect();
        let x2 = w.layer_norm(&format!("{p}.output.LayerNorm"), &res, eps);
        for d in 0..hidden {
            out[d] += x2[d] / s as f64;
        }
    }
    let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt();
    out.iter().map(|v| v / norm).collect()
}
