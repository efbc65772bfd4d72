//! The configuration of `hetal train`: hyper-parameters, preset, backend, deployment and data
//! options, resolved from four layers, each overriding the one before it, key by key:
//!
//! 1. built-in defaults (hyper-parameters from `hyper_preset`, default `digits`);
//! 2. the TOML file given by `--config` (unknown keys are an error, see `hetal.example.toml`);
//! 3. environment variables `HETAL_<KEY>` (the key upper-cased, e.g. `HETAL_PRESET`,
//!    `HETAL_LEARNING_RATE`, `HETAL_WORKERS`);
//! 4. command-line flags (`--preset`, `--learning-rate`, …).
//!
//! A layer is a [`ConfigLayer`] (every key optional); [`ConfigLayer::resolve`] fills the gaps
//! with the defaults and checks the result.

use std::path::{Path, PathBuf};

use hetal_actors::messages::ValidationForm;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Optimizer, Preset};
use serde::{Deserialize, Serialize};

use crate::model::NormalizeMethod;

/// CKKS preset used when none is configured.
pub const DEFAULT_PRESET: &str = "boot-n16";
/// Hyper-parameter preset used when none is configured.
pub const DEFAULT_HYPER_PRESET: &str = "digits";
/// Prefix of the environment variables read.
pub const ENV_PREFIX: &str = "HETAL_";

/// A bad configuration (exit code 3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a value of the wrong type.
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said (names the key and the line).
        message: String,
    },
    /// An environment variable could not be parsed.
    #[error("environment variable {var}={value:?}: {reason}")]
    Env {
        /// Variable name.
        var: String,
        /// Its value.
        value: String,
        /// Why it does not parse.
        reason: String,
    },
    /// A value that parses but cannot be used.
    #[error("{key} = {value}: {reason}")]
    Value {
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// Which arithmetic runs the training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// Real CKKS ciphertexts with bootstrapping.
    #[default]
    Ckks,
    /// The exact plaintext slot simulator (same packing, levels and message flow; no
    /// encryption): a fast dry run.
    Sim,
}

impl BackendKind {
    /// Name in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ckks => "ckks",
            Self::Sim => "sim",
        }
    }
}

/// How the in-process parties talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkKind {
    /// QUIC with mutual TLS over 127.0.0.1.
    #[default]
    Quic,
    /// The runtime's in-process transport.
    Memory,
}

/// The update rule, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerName {
    /// Nesterov's accelerated gradient (HETAL's).
    Nesterov,
    /// Plain mini-batch gradient descent.
    GradientDescent,
}

impl From<OptimizerName> for Optimizer {
    fn from(o: OptimizerName) -> Self {
        match o {
            OptimizerName::Nesterov => Optimizer::Nesterov,
            OptimizerName::GradientDescent => Optimizer::GradientDescent,
        }
    }
}

/// What validation sends the client after each epoch, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ValidationName {
    /// Encrypted logits (no bootstrap on the server; the client applies the softmax).
    Logits,
    /// Encrypted probabilities (HETAL's way: the approximate softmax under encryption).
    Probabilities,
}

impl From<ValidationName> for ValidationForm {
    fn from(v: ValidationName) -> Self {
        match v {
            ValidationName::Logits => ValidationForm::Logits,
            ValidationName::Probabilities => ValidationForm::Probabilities,
        }
    }
}

/// One configuration layer: every key optional. The TOML file deserializes into it directly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// `ckks` or `sim`.
    pub backend: Option<BackendKind>,
    /// CKKS parameter preset (`hetal params` lists them).
    pub preset: Option<String>,
    /// Accept a preset below 128-bit security.
    pub allow_insecure: Option<bool>,
    /// Hyper-parameter preset the individual keys below override.
    pub hyper_preset: Option<String>,
    /// Step size.
    pub learning_rate: Option<f64>,
    /// Rows per mini-batch.
    pub batch_size: Option<usize>,
    /// Upper bound on epochs.
    pub max_epochs: Option<usize>,
    /// Epochs without a better validation loss before the client stops.
    pub patience: Option<usize>,
    /// Update rule.
    pub optimizer: Option<OptimizerName>,
    /// Seed of the per-epoch batch shuffle (absent: batches in order).
    pub shuffle_seed: Option<u64>,
    /// Softmax approximation (`hetal`, `hetal-precise`, `hetal-rs`, `hetal-fast`, `hetal-shallow`; default
    /// [`SoftmaxVariant::TRAINING_DEFAULT`]).
    pub softmax: Option<String>,
    /// What validation returns: `logits` (default) or `probabilities`.
    pub validation: Option<ValidationName>,
    /// Worker nodes.
    pub workers: Option<usize>,
    /// `quic` or `memory`.
    pub network: Option<NetworkKind>,
    /// Validate on a separate evaluator node.
    pub evaluator: Option<bool>,
    /// Label column of CSV inputs.
    pub label_column: Option<String>,
    /// Number of classes (absent: one more than the largest training label).
    pub classes: Option<usize>,
    /// Feature normalisation fitted on the training set (`none`, `standard`, `max-abs`).
    pub normalize: Option<NormalizeMethod>,
}

/// Every key, for the environment layer and the docs.
pub const KEYS: [&str; 18] = [
    "backend",
    "preset",
    "allow_insecure",
    "hyper_preset",
    "learning_rate",
    "batch_size",
    "max_epochs",
    "patience",
    "optimizer",
    "shuffle_seed",
    "softmax",
    "validation",
    "workers",
    "network",
    "evaluator",
    "label_column",
    "classes",
    "normalize",
];

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainConfig {
    /// Backend.
    pub backend: BackendKind,
    /// CKKS preset name.
    pub preset: String,
    /// Whether an insecure preset is accepted.
    pub allow_insecure: bool,
    /// Hyper-parameter preset the values started from.
    pub hyper_preset: String,
    /// Hyper-parameters.
    pub hyper: HyperParams,
    /// Softmax approximation.
    pub softmax: SoftmaxVariant,
    /// What validation returns.
    pub validation: ValidationForm,
    /// Worker nodes.
    pub workers: usize,
    /// Transport.
    pub network: NetworkKind,
    /// Separate evaluator node.
    pub evaluator: bool,
    /// CSV label column.
    pub label_column: String,
    /// Class count, if fixed.
    pub classes: Option<usize>,
    /// Normalisation.
    pub normalize: NormalizeMethod,
}

fn env_value<T: std::str::FromStr>(var: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError::Env {
        var: var.into(),
        value: value.into(),
        reason: e.to_string(),
    })
}

fn env_enum<T: clap::ValueEnum>(var: &str, value: &str) -> Result<T, ConfigError> {
    T::from_str(value.trim(), true).map_err(|reason| ConfigError::Env {
        var: var.into(),
        value: value.into(),
        reason,
    })
}

impl ConfigLayer {
    /// Parses a TOML file's text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// The `HETAL_<KEY>` variables among `vars` (others are ignored).
    pub fn from_env_vars<I>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (String, String)>,
    {
        let mut layer = Self::default();
        for (var, value) in vars {
            let Some(key) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            let v = value.as_str();
            let var = var.as_str();
            match key.as_str() {
                "backend" => layer.backend = Some(env_enum(var, v)?),
                "preset" => layer.preset = Some(v.trim().into()),
                "allow_insecure" => layer.allow_insecure = Some(env_value(var, v)?),
                "hyper_preset" => layer.hyper_preset = Some(v.trim().into()),
                "learning_rate" => layer.learning_rate = Some(env_value(var, v)?),
                "batch_size" => layer.batch_size = Some(env_value(var, v)?),
                "max_epochs" => layer.max_epochs = Some(env_value(var, v)?),
                "patience" => layer.patience = Some(env_value(var, v)?),
                "optimizer" => layer.optimizer = Some(env_enum(var, v)?),
                "shuffle_seed" => layer.shuffle_seed = Some(env_value(var, v)?),
                "softmax" => layer.softmax = Some(v.trim().into()),
                "validation" => layer.validation = Some(env_enum(var, v)?),
                "workers" => layer.workers = Some(env_value(var, v)?),
                "network" => layer.network = Some(env_enum(var, v)?),
                "evaluator" => layer.evaluator = Some(env_value(var, v)?),
                "label_column" => layer.label_column = Some(v.into()),
                "classes" => layer.classes = Some(env_value(var, v)?),
                "normalize" => layer.normalize = Some(env_enum(var, v)?),
                _ => {}
            }
        }
        Ok(layer)
    }

    /// The process environment's layer.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_vars(std::env::vars())
    }

    /// `over`'s keys replace this layer's, key by key.
    pub fn overridden_by(self, over: Self) -> Self {
        Self {
            backend: over.backend.or(self.backend),
            preset: over.preset.or(self.preset),
            allow_insecure: over.allow_insecure.or(self.allow_insecure),
            hyper_preset: over.hyper_preset.or(self.hyper_preset),
            learning_rate: over.learning_rate.or(self.learning_rate),
            batch_size: over.batch_size.or(self.batch_size),
            max_epochs: over.max_epochs.or(self.max_epochs),
            patience: over.patience.or(self.patience),
            optimizer: over.optimizer.or(self.optimizer),
            shuffle_seed: over.shuffle_seed.or(self.shuffle_seed),
            softmax: over.softmax.or(self.softmax),
            validation: over.validation.or(self.validation),
            workers: over.workers.or(self.workers),
            network: over.network.or(self.network),
            evaluator: over.evaluator.or(self.evaluator),
            label_column: over.label_column.or(self.label_column),
            classes: over.classes.or(self.classes),
            normalize: over.normalize.or(self.normalize),
        }
    }

    /// Fills the gaps with the defaults and checks the values.
    pub fn resolve(self) -> Result<TrainConfig, ConfigError> {
        let hyper_preset = self
            .hyper_preset
            .unwrap_or_else(|| DEFAULT_HYPER_PRESET.into());
        let base = Preset::from_name(&hyper_preset).ok_or_else(|| ConfigError::Value {
            key: "hyper_preset",
            value: hyper_preset.clone(),
            reason: format!(
                "unknown; known: {}",
                Preset::ALL.map(|p| p.name()).join(", ")
            ),
        })?;
        let mut hyper = base.hyper();
        if let Some(v) = self.learning_rate {
            hyper.learning_rate = v;
        }
        if let Some(v) = self.batch_size {
            hyper.batch_size = v;
        }
        if let Some(v) = self.max_epochs {
            hyper.max_epochs = v;
        }
        if let Some(v) = self.patience {
            hyper.patience = v;
        }
        if let Some(v) = self.optimizer {
            hyper.optimizer = v.into();
        }
        if self.shuffle_seed.is_some() {
            hyper.shuffle_seed = self.shuffle_seed;
        }
        hyper.validate().map_err(|e| ConfigError::Value {
            key: "hyper-parameters",
            value: format!(
                "learning_rate {}, batch_size {}, max_epochs {}",
                hyper.learning_rate, hyper.batch_size, hyper.max_epochs
            ),
            reason: e.to_string(),
        })?;
        let softmax_name = self
            .softmax
            .unwrap_or_else(|| SoftmaxVariant::TRAINING_DEFAULT.name().into());
        let softmax =
            SoftmaxVariant::from_name(&softmax_name).ok_or_else(|| ConfigError::Value {
                key: "softmax",
                value: softmax_name.clone(),
                reason: format!(
                    "unknown; known: {}",
                    SoftmaxVariant::ALL.map(|v| v.name()).join(", ")
                ),
            })?;
        let preset = self.preset.unwrap_or_else(|| DEFAULT_PRESET.into());
        hetal_ckks::params::preset(&preset).map_err(|e| ConfigError::Value {
            key: "preset",
            value: preset.clone(),
            reason: e.to_string(),
        })?;
        if self.classes.is_some_and(|c| c < 2) {
            return Err(ConfigError::Value {
                key: "classes",
                value: format!("{:?}", self.classes),
                reason: "a classifier needs at least 2".into(),
            });
        }
        Ok(TrainConfig {
            backend: self.backend.unwrap_or_default(),
            preset,
            allow_insecure: self.allow_insecure.unwrap_or(false),
            hyper_preset,
            hyper,
            softmax,
            validation: self
                .validation
                .map_or(ValidationForm::default(), Into::into),
            workers: self.workers.unwrap_or(2),
            network: self.network.unwrap_or_default(),
            evaluator: self.evaluator.unwrap_or(true),
            label_column: self.label_column.unwrap_or_else(|| "label".into()),
            classes: self.classes,
            normalize: self.normalize.unwrap_or(NormalizeMethod::None),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn layers_override_key_by_key() {
        let file = ConfigLayer::from_toml(
            "preset = \"demo-n15\"\nlearning_rate = 0.5\nbatch_size = 64\n",
            Path::new("h.toml"),
        )
        .unwrap();
        let env = ConfigLayer::from_env_vars(vars(&[
            ("HETAL_LEARNING_RATE", "0.25"),
            ("HETAL_BACKEND", "sim"),
            ("PATH", "/bin"),
            ("HETAL_SOMETHING_ELSE", "x"),
        ]))
        .unwrap();
        let flags = ConfigLayer {
            batch_size: Some(32),
            ..ConfigLayer::default()
        };
        let c = ConfigLayer::default()
            .overridden_by(file)
            .overridden_by(env)
            .overridden_by(flags)
            .resolve()
            .unwrap();
        assert_eq!(c.preset, "demo-n15"); // file
        assert_eq!(c.hyper.learning_rate, 0.25); // env over file
        assert_eq!(c.hyper.batch_size, 32); // flag over file
        assert_eq!(c.backend, BackendKind::Sim); // env
        assert_eq!(c.hyper.max_epochs, Preset::Digits.hyper().max_epochs); // default
        assert_eq!((c.workers, c.evaluator), (2, true));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = ConfigLayer::from_toml("learnig_rate = 1.0\n", Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("h.toml: ") && e.contains("learnig_rate"),
            "{e}"
        );
        let e = ConfigLayer::from_env_vars(vars(&[("HETAL_WORKERS", "two")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("HETAL_WORKERS"), "{e}");
        let e = ConfigLayer {
            preset: Some("boot-n99".into()),
            ..ConfigLayer::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(e.contains("preset") && e.contains("boot-n99"), "{e}");
        let e = ConfigLayer {
            learning_rate: Some(-1.0),
            ..ConfigLayer::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(e.contains("learning rate"), "{e}");
    }

    #[test]
    fn the_example_file_parses_and_states_the_defaults() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hetal.example.toml"));
        let text = std::fs::read_to_string(path).unwrap();
        let layer = ConfigLayer::from_toml(&text, path).unwrap();
        assert_eq!(
            layer.clone().resolve().unwrap(),
            ConfigLayer::default().resolve().unwrap()
        );
        for key in KEYS {
            assert!(
                text.lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = "))),
                "hetal.example.toml does not document `{key}`"
            );
        }
    }

    #[test]
    fn every_key_is_listed_and_read_from_the_environment() {
        let all: Vec<(String, String)> = KEYS
            .iter()
            .map(|k| {
                let v = match *k {
                    "backend" => "sim",
                    "preset" => "demo-n15",
                    "allow_insecure" | "evaluator" => "true",
                    "hyper_preset" => "mnist",
                    "optimizer" => "gradient-descent",
                    "softmax" => "hetal",
                    "network" => "memory",
                    "validation" => "probabilities",
                    "label_column" => "y",
                    "normalize" => "max-abs",
                    "learning_rate" => "0.5",
                    _ => "7",
                };
                (format!("HETAL_{}", k.to_ascii_uppercase()), v.to_owned())
            })
            .collect();
        let layer = ConfigLayer::from_env_vars(all).unwrap();
        let toml_text = toml::to_string(&layer).unwrap();
        for key in KEYS {
            assert!(
                toml_text.contains(&format!("{key} = ")),
                "{key} not set from env"
            );
        }
    }
}
