//! `hetal predict`: encrypted inference with a trained model.
//!
//! ```text
//! hetal predict --model DIR/model.hetal --data features_test.npy [--labels labels_test.npy]
//!               [--out preds.npy|preds.csv] [--backend ckks|sim] [--preset NAME]
//! ```
//!
//! The client normalises the features as in training, encrypts them and the weights; the
//! server's key-less evaluator computes the encrypted logits `X̂·Wᵀ` by DiagABT; the client
//! decrypts and takes the argmax of each row. With labels it prints the accuracy, and always how
//! many rows agree with the plaintext model's own predictions (encryption noise can only flip
//! near-ties). Everything runs in this process: this is the data owner scoring its own data.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use hetal_actors::backend::ckks::CkksClient;
use hetal_actors::backend::sim::SimClient;
use hetal_actors::backend::{ClientBackend, ServerBackend};
use hetal_data::npy::{NpyArray, NpyData, write_npy};
use hetal_data::source::load_unlabelled;
use hetal_data::split::check_labels;
use hetal_learn::eval::SlotEvaluator;
use hetal_learn::matmul::{compare, diag_abt};
use hetal_learn::pack::{Layout, UnitShape, encrypt_matrix};
use hetal_learn::train::{TrainingClient, accuracy};
use ndarray::ArrayView2;

use super::config::BackendKind;
use super::exit::Refusal;
use super::train::{checked_preset, sim_config};
use crate::model::ModelFile;

/// Examples shown by `hetal predict --help`.
pub const EXAMPLES: &str = "\
Examples:
  hetal predict --model runs/digits/model.hetal --data data/digits/features_test.npy \\
                --labels data/digits/labels_test.npy --out preds.npy
  hetal predict --model model.hetal --data new.csv --out preds.csv --backend sim";

/// Arguments of `hetal predict`.
#[derive(Debug, Clone, Args)]
#[command(after_help = EXAMPLES)]
pub struct PredictArgs {
    /// The trained model (`model.hetal` written by `hetal train`).
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Features to classify: a `.npy` matrix or a CSV file (its label column, if present, is
    /// used as the labels).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// True labels (`.npy`), to print the accuracy.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Label column of a CSV `--data` (default `label`).
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// Write the predicted classes here: `.npy` (int64) or `.csv` (one `prediction` column).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Arithmetic for the inference (default: the one the model was trained with).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// CKKS preset (default: the model's).
    #[arg(long)]
    pub preset: Option<String>,
    /// Accept a preset below 128-bit security (tests only).
    #[arg(long)]
    pub allow_insecure: bool,
}

/// What a prediction run found.
#[derive(Debug, Clone, PartialEq)]
pub struct Predictions {
    /// Predicted class per row (from the decrypted encrypted logits).
    pub classes: Vec<usize>,
    /// Rows whose prediction equals the plaintext model's.
    pub agree_with_plaintext: usize,
    /// Accuracy against the labels, when given.
    pub accuracy: Option<f64>,
}

/// Encrypted logits of `x` (already normalised) under `model`'s weights, decrypted and argmaxed.
pub fn encrypted_classes<K: ClientBackend>(
    backend: &K,
    server: &K::Server,
    model: &ModelFile,
    x: ArrayView2<'_, f64>,
    unit: UnitShape,
) -> anyhow::Result<Vec<usize>> {
    let body = model.body();
    let codec = backend.codec()?;
    // The client: encrypt the features (blocks of up to s0 rows) and the weights.
    let client = TrainingClient::new(&codec, unit, body.classes, body.dim, 1)?;
    let batches = client.encrypt_features(x)?;
    let weights = encrypt_matrix(
        &codec,
        model.regression().weights().view(),
        Layout::RowTiled {
            period: body.classes.next_power_of_two(),
        },
        unit,
        codec.max_level(),
    )?;
    // The server: key-less evaluator holding the evaluation keys, DiagABT per block.
    let server = server.evaluator()?;
    let logits = batches
        .iter()
        .map(|b| diag_abt(&server, &b.x, &weights))
        .collect::<Result<Vec<_>, _>>()?;
    // The client again: decrypt and argmax.
    Ok(client.decrypt_predictions(&logits)?)
}

fn write_predictions(path: &Path, classes: &[usize]) -> anyhow::Result<()> {
    let is_csv = hetal_data::source::is_csv(path);
    let bytes = if is_csv {
        let mut text = String::from("prediction\n");
        for c in classes {
            text.push_str(&c.to_string());
            text.push('\n');
        }
        text.into_bytes()
    } else {
        write_npy(&NpyArray {
            shape: vec![classes.len()],
            data: NpyData::I64(classes.iter().map(|&c| c as i64).collect()),
        })?
    };
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// Runs the prediction (without printing).
pub fn predict(args: &PredictArgs) -> anyhow::Result<Predictions> {
    let model = ModelFile::load(&args.model)
        .with_context(|| format!("reading model {}", args.model.display()))?;
    let body = model.body();
    let (raw_x, raw_labels) =
        load_unlabelled(&args.data, args.labels.as_deref(), &args.label_column)?;
    let x = model
        .prepare(raw_x.view())
        .map_err(|e| Refusal::BadInput(format!("{}: {e}", args.data.display())))?;
    let labels = raw_labels
        .map(|raw| {
            check_labels(
                &raw,
                body.classes,
                args.labels.as_deref().unwrap_or(&args.data),
            )
        })
        .transpose()?;
    let preset = args.preset.clone().unwrap_or_else(|| body.preset.clone());
    let spec = checked_preset(&preset, args.allow_insecure)?;
    let slots = 1usize << (spec.log_n - 1);
    let unit = UnitShape::hetal(body.batch_size, body.classes, slots)
        .map_err(|e| Refusal::BadInput(format!("model {}: {e}", args.model.display())))?;
    let backend = match (args.backend, body.backend.as_str()) {
        (Some(b), _) => b,
        (None, "sim") => BackendKind::Sim,
        (None, _) => BackendKind::Ckks,
    };
    let classes = match backend {
        BackendKind::Sim => {
            let client = SimClient::new(sim_config(slots))?;
            encrypted_classes(&client, client.server(), &model, x.view(), unit)?
        }
        BackendKind::Ckks => {
            let steps = compare::rotation_steps((unit.s0(), body.dim + 1, body.classes), unit);
            let client = CkksClient::generate(&spec, args.allow_insecure, &steps, None)?;
            // The public half (evaluation keys) as a server would rebuild it.
            let server = client.public()?;
            encrypted_classes(&client, &server, &model, x.view(), unit)?
        }
    };
    let plain = model.regression().predict(x.view())?;
    Ok(Predictions {
        agree_with_plaintext: classes.iter().zip(&plain).filter(|(a, b)| a == b).count(),
        accuracy: labels.as_deref().map(|l| accuracy(&classes, l)),
        classes,
    })
}

/// Runs `hetal predict`.
pub fn run(args: &PredictArgs) -> anyhow::Result<()> {
    let p = predict(args)?;
    let n = p.classes.len();
    println!(
        "predicted {n} rows by encrypted inference; {} of {n} agree with the plaintext model",
        p.agree_with_plaintext
    );
    if let Some(acc) = p.accuracy {
        println!("accuracy: {:.2} %", 100.0 * acc);
    }
    if let Some(out) = &args.out {
        write_predictions(out, &p.classes)?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
