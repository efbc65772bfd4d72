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

use hetal_actors::config::BootstrapOnWorkers;
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

/// Memory budget of the dataset store when a dataset directory is set without one (1 GiB).
pub const DEFAULT_MEMORY_BUDGET_BYTES: u64 = 1 << 30;

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
    /// Where the trainer's bootstrap stages run: `"auto"`, `true` (on the workers) or `false`
    /// (on the trainer).
    pub bootstrap_on_workers: Option<BootstrapOnWorkers>,
    /// Label column of CSV inputs.
    pub label_column: Option<String>,
    /// Number of classes (absent: one more than the largest training label).
    pub classes: Option<usize>,
    /// Feature normalisation fitted on the training set (`none`, `standard`, `max-abs`).
    pub normalize: Option<NormalizeMethod>,
    /// The `[dataset]` table: the trainer keeps the encrypted training set on disk.
    pub dataset: Option<DatasetLayer>,
}

/// The `[dataset]` table: where the trainer keeps the encrypted training set (one file per
/// batch) and how many bytes of it it may hold in memory; each key optional in a layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetLayer {
    /// Directory of the batch files (in a config file, relative to the file's directory).
    pub dir: Option<PathBuf>,
    /// Most bytes of encrypted batches in the trainer's memory at once.
    pub memory_budget_bytes: Option<u64>,
}

impl DatasetLayer {
    fn overridden_by(self, over: Self) -> Self {
        Self {
            dir: over.dir.or(self.dir),
            memory_budget_bytes: over.memory_budget_bytes.or(self.memory_budget_bytes),
        }
    }
}

/// The keys of the `[dataset]` table (environment: `HETAL_DATASET_<KEY>`).
pub const DATASET_KEYS: [&str; 2] = ["dir", "memory_budget_bytes"];

/// Every key, for the environment layer and the docs.
pub const KEYS: [&str; 19] = [
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
    "bootstrap_on_workers",
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
    /// Where the trainer's bootstrap stages run.
    pub bootstrap_on_workers: BootstrapOnWorkers,
    /// CSV label column.
    pub label_column: String,
    /// Class count, if fixed.
    pub classes: Option<usize>,
    /// Normalisation.
    pub normalize: NormalizeMethod,
    /// The trainer's disk-backed training set, if configured.
    pub dataset: Option<DatasetSettings>,
}

/// Where the trainer keeps the encrypted training set and its memory budget (resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetSettings {
    /// Directory of the batch files.
    pub dir: PathBuf,
    /// Most bytes of encrypted batches in memory at once.
    pub memory_budget_bytes: u64,
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

/// The dotted key path of the TOML line holding a byte offset, for error messages (quoted
/// segments such as `"a.b"` stay one segment); shared with `hetal node` configs.
pub use hetal_actors::toml_key::key_path_at;

impl ConfigLayer {
    /// Parses a TOML file's text; `path` names it in errors, and a relative `[dataset] dir` is
    /// taken relative to its directory.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut layer: Self = toml::from_str(text).map_err(|e| {
            let message = e.to_string().trim_end().to_owned();
            let key = e.span().and_then(|span| key_path_at(text, span.start));
            ConfigError::File {
                path: path.to_owned(),
                message: match key {
                    Some(key) => format!("key `{key}`: {message}"),
                    None => message,
                },
            }
        })?;
        if let Some(dir) = layer.dataset.as_mut().and_then(|d| d.dir.as_mut())
            && dir.is_relative()
            && let Some(base) = path.parent()
        {
            *dir = base.join(&*dir);
        }
        Ok(layer)
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
                "bootstrap_on_workers" => layer.bootstrap_on_workers = Some(env_value(var, v)?),
                "label_column" => layer.label_column = Some(v.into()),
                "classes" => layer.classes = Some(env_value(var, v)?),
                "normalize" => layer.normalize = Some(env_enum(var, v)?),
                "dataset_dir" => {
                    layer.dataset.get_or_insert_default().dir = Some(PathBuf::from(v));
                }
                "dataset_memory_budget_bytes" => {
                    layer.dataset.get_or_insert_default().memory_budget_bytes =
                        Some(env_value(var, v)?);
                }
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
            bootstrap_on_workers: over.bootstrap_on_workers.or(self.bootstrap_on_workers),
            label_column: over.label_column.or(self.label_column),
            classes: over.classes.or(self.classes),
            normalize: over.normalize.or(self.normalize),
            dataset: match (self.dataset, over.dataset) {
                (Some(base), Some(over)) => Some(base.overridden_by(over)),
                (base, over) => over.or(base),
            },
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
        let dataset = match self.dataset.unwrap_or_default() {
            DatasetLayer {
                dir: None,
                memory_budget_bytes: None,
            } => None,
            DatasetLayer {
                dir: None,
                memory_budget_bytes: Some(b),
            } => {
                return Err(ConfigError::Value {
                    key: "dataset.memory_budget_bytes",
                    value: b.to_string(),
                    reason: "a memory budget needs a dataset directory (dataset.dir, \
                             --dataset-dir)"
                        .into(),
                });
            }
            DatasetLayer {
                dir: Some(dir),
                memory_budget_bytes,
            } => {
                let memory_budget_bytes =
                    memory_budget_bytes.unwrap_or(DEFAULT_MEMORY_BUDGET_BYTES);
                if memory_budget_bytes == 0 {
                    return Err(ConfigError::Value {
                        key: "dataset.memory_budget_bytes",
                        value: "0".into(),
                        reason: "the budget must hold at least one batch".into(),
                    });
                }
                Some(DatasetSettings {
                    dir,
                    memory_budget_bytes,
                })
            }
        };
        Ok(TrainConfig {
            dataset,
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
            bootstrap_on_workers: self.bootstrap_on_workers.unwrap_or_default(),
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
        for key in KEYS.iter().chain(&DATASET_KEYS) {
            assert!(
                text.lines()
                    .any(|l| l.trim_start_matches("# ").starts_with(&format!("{key} = "))),
                "hetal.example.toml does not document `{key}`"
            );
        }
        assert!(
            text.lines().any(|l| l == "# [dataset]"),
            "no [dataset] table"
        );
    }

    #[test]
    fn errors_deep_in_a_file_name_the_key_path() {
        let path = Path::new("h.toml");
        let cases = [
            // A wrong type in a table, below unrelated keys.
            (
                "workers = 2\n\n[dataset]\ndir = \"d\"\nmemory_budget_bytes = \"lots\"\n",
                "dataset.memory_budget_bytes",
            ),
            // An unknown key in the table.
            ("[dataset]\ndir = \"d\"\nbudget = 5\n", "dataset.budget"),
            // A dotted key nesting deeper than any table hetal reads.
            (
                "[dataset]\ndir.inner.deeper = 1\n",
                "dataset.dir.inner.deeper",
            ),
            // A table nested under the dataset table.
            ("[dataset.a.b.c]\nx = 1\n", "dataset.a.b.c"),
            // A deeply nested inline value, named by its line's key.
            (
                &format!(
                    "[dataset]\ndir = {}1{}\n",
                    "{ a = ".repeat(40),
                    " }".repeat(40)
                ),
                "dataset.dir",
            ),
            // A top-level key keeps its plain name.
            ("learning_rate = \"fast\"\n", "learning_rate"),
            // A quoted key with a dot is one segment, shown quoted.
            ("[dataset]\n\"a.b\" = 1\n", "dataset.\"a.b\""),
            ("\"learning.rate\" = 1\n", "\"learning.rate\""),
        ];
        for (text, key) in cases {
            let e = ConfigLayer::from_toml(text, path).unwrap_err().to_string();
            assert!(
                e.starts_with("h.toml: ") && e.contains(&format!("key `{key}`")),
                "{text:?}: {e}"
            );
        }
        assert_eq!(key_path_at("a = 1\n", 100).as_deref(), Some("a"));
        assert_eq!(key_path_at("# only a comment\n", 3), None);
    }

    #[test]
    fn the_dataset_table_follows_the_precedence_and_is_checked() {
        let file = ConfigLayer::from_toml(
            "[dataset]\ndir = \"enc\"\nmemory_budget_bytes = 4096\n",
            Path::new("/etc/hetal/h.toml"),
        )
        .unwrap();
        // A relative directory is the config file's.
        let c = file.clone().resolve().unwrap();
        let d = c.dataset.unwrap();
        assert_eq!(d.dir, Path::new("/etc/hetal/enc"));
        assert_eq!(d.memory_budget_bytes, 4096);
        // Environment over file, key by key; flags over both.
        let env =
            ConfigLayer::from_env_vars(vars(&[("HETAL_DATASET_MEMORY_BUDGET_BYTES", "8192")]))
                .unwrap();
        let c = file.clone().overridden_by(env.clone()).resolve().unwrap();
        let d = c.dataset.unwrap();
        assert_eq!(
            (d.dir.as_path(), d.memory_budget_bytes),
            (Path::new("/etc/hetal/enc"), 8192)
        );
        let flags = ConfigLayer {
            dataset: Some(DatasetLayer {
                dir: Some("/tmp/x".into()),
                memory_budget_bytes: None,
            }),
            ..ConfigLayer::default()
        };
        let d = file
            .overridden_by(env)
            .overridden_by(flags)
            .resolve()
            .unwrap()
            .dataset
            .unwrap();
        assert_eq!(
            (d.dir.as_path(), d.memory_budget_bytes),
            (Path::new("/tmp/x"), 8192)
        );
        // A directory alone gets the default budget; none at all is no dataset store.
        let dir_only = ConfigLayer::from_env_vars(vars(&[("HETAL_DATASET_DIR", "d")])).unwrap();
        let d = dir_only.resolve().unwrap().dataset.unwrap();
        assert_eq!(d.memory_budget_bytes, DEFAULT_MEMORY_BUDGET_BYTES);
        assert_eq!(ConfigLayer::default().resolve().unwrap().dataset, None);
        // A budget without a directory, a zero budget, an unknown key, a bad number: named.
        for (layer, needle) in [
            (
                ConfigLayer::from_env_vars(vars(&[("HETAL_DATASET_MEMORY_BUDGET_BYTES", "10")]))
                    .unwrap(),
                "needs a dataset directory",
            ),
            (
                ConfigLayer::from_toml(
                    "[dataset]\ndir = \"d\"\nmemory_budget_bytes = 0\n",
                    Path::new("h.toml"),
                )
                .unwrap(),
                "at least one batch",
            ),
        ] {
            let e = layer.resolve().unwrap_err().to_string();
            assert!(
                e.contains("dataset.memory_budget_bytes") && e.contains(needle),
                "{e}"
            );
        }
        let e = ConfigLayer::from_toml("[dataset]\nbudget = 5\n", Path::new("h.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("budget"), "{e}");
        let e = ConfigLayer::from_env_vars(vars(&[("HETAL_DATASET_MEMORY_BUDGET_BYTES", "1GB")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("HETAL_DATASET_MEMORY_BUDGET_BYTES"), "{e}");
    }

    #[test]
    fn every_key_is_listed_and_read_from_the_environment() {
        let all: Vec<(String, String)> = KEYS
            .iter()
            .map(|k| {
                let v = match *k {
                    "backend" => "sim",
                    "preset" => "demo-n15",
                    "allow_insecure" | "evaluator" | "bootstrap_on_workers" => "true",
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
        let dataset = DATASET_KEYS.iter().map(|k| {
            let v = if *k == "dir" { "enc" } else { "4096" };
            (
                format!("HETAL_DATASET_{}", k.to_ascii_uppercase()),
                v.to_owned(),
            )
        });
        let layer = ConfigLayer::from_env_vars(all.into_iter().chain(dataset)).unwrap();
        let toml_text = toml::to_string(&layer).unwrap();
        for key in KEYS.iter().chain(&DATASET_KEYS) {
            assert!(
                toml_text.contains(&format!("{key} = ")),
                "{key} not set from env"
            );
        }
    }
}
