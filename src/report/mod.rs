//! What a training run reports: [`TrainingReport`], written as `report.json` (every figure, for
//! machines) and `report.html` (the same figures with SVG plots, for people). `hetal demo` and
//! `hetal train` both fill one in.
//!
//! * [`metrics`]: the confusion matrix and accuracy helpers.
//! * [`plots`]: the SVG plots (validation loss per epoch, time per stage, confusion matrix).
//! * [`html`]: the self-contained HTML page.

pub mod html;
pub mod metrics;
pub mod plots;

use std::path::{Path, PathBuf};

use hetal_learn::train::{Decision, HyperParams};
use serde::{Deserialize, Serialize};

pub use metrics::ConfusionMatrix;

/// Format version of `report.json` (bumped when a field changes meaning or disappears).
pub const REPORT_VERSION: u32 = 1;

/// Why a report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Inputs that do not fit together (e.g. predictions and labels of different lengths).
    #[error("report: {0}")]
    Invalid(String),
    /// Writing a report file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Serializing to JSON failed.
    #[error("report JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Drawing a plot failed.
    #[error("plot {plot}: {message}")]
    Plot {
        /// Which plot.
        plot: &'static str,
        /// What the drawing backend said.
        message: String,
    },
}

/// Everything one training run measured: configuration, per-epoch validation as the client
/// decrypted it beside the plaintext reference, decisions, accuracies, confusion matrix, times,
/// operation counts and traffic per party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The command that produced it (`demo`, `train`).
    pub command: String,
    /// What was run.
    pub config: RunConfig,
    /// The encryption parameters.
    pub preset: PresetInfo,
    /// One entry per encrypted epoch, in order.
    pub epochs: Vec<EpochReport>,
    /// Final accuracies of the encrypted-trained and the plaintext-trained model.
    pub accuracy: Accuracy,
    /// Confusion matrix of the encrypted-trained model on [`Accuracy::split`].
    pub confusion: ConfusionMatrix,
    /// Wall time per stage, in the order they ran.
    pub stages: Vec<StageTime>,
    /// Steps, bootstraps and homomorphic operations.
    pub operations: Operations,
    /// Bytes each party sent.
    pub traffic: Vec<PartyTraffic>,
    /// Wall time of the whole run, seconds.
    pub total_seconds: f64,
    /// The trainer's disk-backed training set, when it streamed one (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetReport>,
}

/// How the trainer streamed its encrypted training set from disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetReport {
    /// Directory of the batch files.
    pub dir: String,
    /// Bytes of all batch files.
    pub stored_bytes: u64,
    /// The configured memory budget.
    pub memory_budget_bytes: u64,
    /// Most bytes of batches held in memory at once.
    pub peak_resident_bytes: u64,
    /// Batches read from disk.
    pub loads: u64,
    /// Batches served from memory.
    pub hits: u64,
}

/// The configuration of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Data set directory or name.
    pub data: String,
    /// `ckks` (real ciphertexts) or `simulator` (exact slot simulator, no encryption).
    pub backend: String,
    /// Hyper-parameters (shared by the encrypted run and the plaintext reference).
    pub hyper: HyperParams,
    /// Softmax approximation used under encryption.
    pub softmax: String,
    /// Worker nodes.
    pub workers: usize,
    /// Whether validation ran on a separate evaluator node.
    pub evaluator: bool,
    /// Training rows.
    pub train_rows: usize,
    /// Validation rows.
    pub val_rows: usize,
    /// Test rows (0 when the data has no test split).
    pub test_rows: usize,
    /// Feature dimension.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Rows of one packed block (ciphertext).
    pub block_rows: usize,
    /// Columns of one packed block.
    pub block_cols: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Why these values were chosen, one sentence each.
    pub rationale: Vec<String>,
}

/// The encryption parameters of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetInfo {
    /// Preset name (`boot-n16`, `insecure-boot-n12`, …).
    pub name: String,
    /// Ring degree N.
    pub ring_degree: usize,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Total modulus bits log QP, when known.
    pub log_qp: Option<u32>,
    /// Whether the preset meets 128-bit security.
    pub secure: bool,
    /// Whether ciphertexts are refreshed by bootstrapping.
    pub bootstrapping: bool,
}

/// One epoch of the encrypted run, beside the plaintext reference's same epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Validation loss as the client decrypted it.
    pub encrypted_val_loss: f64,
    /// Validation accuracy as the client decrypted it.
    pub encrypted_val_accuracy: f64,
    /// The plaintext reference's validation loss after the same epoch (if it ran that long).
    pub plaintext_val_loss: Option<f64>,
    /// The plaintext reference's validation accuracy after the same epoch.
    pub plaintext_val_accuracy: Option<f64>,
    /// The client's decision after this epoch.
    pub decision: Decision,
    /// Whether this epoch's weights became the best so far.
    pub new_best: bool,
    /// Wall time from the previous verdict (or the upload) to this one, seconds.
    pub seconds: f64,
}

/// Accuracy of both models on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// `test`, or `validation` when the data has no test split.
    pub split: String,
    /// Rows scored.
    pub rows: usize,
    /// The encrypted-trained model (decrypted by the client), in [0, 1].
    pub encrypted: f64,
    /// The plaintext reference model, in [0, 1].
    pub plaintext: f64,
}

impl Accuracy {
    /// `plaintext − encrypted`, in percentage points.
    pub fn gap_points(&self) -> f64 {
        100.0 * (self.plaintext - self.encrypted)
    }
}

/// Wall time of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// Stage name (`key generation`, `encryption`, `upload`, `training`, …).
    pub name: String,
    /// Seconds.
    pub seconds: f64,
}

/// Operation counts of the encrypted run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operations {
    /// Epochs run.
    pub epochs: usize,
    /// Training steps.
    pub steps: usize,
    /// Ciphertexts bootstrapped by the trainer.
    pub bootstraps: usize,
    /// Work units computed by workers.
    pub units_on_workers: usize,
    /// Work units the trainer computed itself.
    pub units_on_trainer: usize,
    /// Units sent again after a worker failed.
    pub units_resent: usize,
}

/// Bytes one party sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyTraffic {
    /// `client`, `trainer`, `workers`, `evaluator`.
    pub party: String,
    /// Bytes on the wire (message payloads).
    pub bytes: u64,
    /// What those bytes were.
    pub what: String,
}

impl TrainingReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> Result<String, ReportError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parses a `report.json`.
    pub fn from_json(text: &str) -> Result<Self, ReportError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Writes `report.json` and `report.html` into `dir` (created if missing); returns both paths.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(PathBuf, PathBuf), ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let json_path = dir.join("report.json");
        let html_path = dir.join("report.html");
        let html = html::render(self)?;
        write_file(&json_path, self.to_json()?.as_bytes())?;
        write_file(&html_path, html.as_bytes())?;
        Ok((json_path, html_path))
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hetal_learn::train::Preset;

    /// A small but complete report (3 classes, 3 epochs) for the module tests.
    pub(crate) fn sample() -> TrainingReport {
        let truth = [0, 0, 1, 1, 2, 2, 2];
        let predicted = [0, 1, 1, 1, 2, 2, 0];
        TrainingReport {
            version: REPORT_VERSION,
            command: "demo".into(),
            config: RunConfig {
                data: "data/digits".into(),
                backend: "simulator".into(),
                hyper: Preset::Digits.hyper(),
                softmax: "hetal-rs".into(),
                workers: 2,
                evaluator: true,
                train_rows: 20,
                val_rows: 7,
                test_rows: 7,
                features: 4,
                classes: 3,
                block_rows: 32,
                block_cols: 4,
                steps_per_epoch: 1,
                rationale: vec!["full batch <one block> & \"quotes\"".into()],
            },
            preset: PresetInfo {
                name: "insecure-boot-n12".into(),
                ring_degree: 1 << 12,
                slots: 1 << 11,
                log_qp: None,
                secure: false,
                bootstrapping: true,
            },
            epochs: (0..3)
                .map(|e| EpochReport {
                    epoch: e + 1,
                    encrypted_val_loss: 1.0 / (e as f64 + 1.0),
                    encrypted_val_accuracy: 0.5 + 0.1 * e as f64,
                    plaintext_val_loss: Some(0.9 / (e as f64 + 1.0)),
                    plaintext_val_accuracy: Some(0.55 + 0.1 * e as f64),
                    decision: if e == 2 {
                        Decision::Stop
                    } else {
                        Decision::Continue
                    },
                    new_best: true,
                    seconds: 1.5,
                })
                .collect(),
            accuracy: Accuracy {
                split: "test".into(),
                rows: truth.len(),
                encrypted: 5.0 / 7.0,
                plaintext: 6.0 / 7.0,
            },
            confusion: ConfusionMatrix::from_predictions(&truth, &predicted, 3).unwrap(),
            stages: vec![
                StageTime {
                    name: "key generation".into(),
                    seconds: 2.0,
                },
                StageTime {
                    name: "training".into(),
                    seconds: 10.0,
                },
            ],
            operations: Operations {
                epochs: 3,
                steps: 3,
                bootstraps: 27,
                units_on_workers: 12,
                units_on_trainer: 0,
                units_resent: 0,
            },
            traffic: vec![PartyTraffic {
                party: "client".into(),
                bytes: 12345,
                what: "keys and encrypted data".into(),
            }],
            total_seconds: 14.0,
            dataset: None,
        }
    }

    #[test]
    fn json_round_trips_and_names_the_issue_fields() {
        let report = sample();
        let json = report.to_json().unwrap();
        assert_eq!(TrainingReport::from_json(&json).unwrap(), report);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        for field in [
            "config",
            "preset",
            "epochs",
            "accuracy",
            "confusion",
            "stages",
            "operations",
            "traffic",
        ] {
            assert!(value.get(field).is_some(), "missing {field}");
        }
        assert_eq!(value["epochs"][2]["decision"], "Stop");
        assert!((report.accuracy.gap_points() - 100.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn writes_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let (json, html) = sample().write_to_dir(&dir.path().join("out")).unwrap();
        let text = std::fs::read_to_string(json).unwrap();
        assert!(TrainingReport::from_json(&text).is_ok());
        let page = std::fs::read_to_string(html).unwrap();
        assert_eq!(page.matches("<svg").count(), 3);
    }
}
