//! The training protocol between client, trainer and evaluator.

use hetal_learn::pack::{BlockMatrix, UnitShape};
use hetal_learn::softmax::SoftmaxVariant;
pub use hetal_learn::train::client::ValidationForm;
use hetal_learn::train::{HyperParams, Verdict};
use hetal_runtime::serde_message;
use serde::{Deserialize, Serialize};

use super::{BatchBody, Body, Envelope};
use crate::backend::MaterialBody;

/// Wire name of [`UploadTraining`].
pub const UPLOAD_TRAINING: &str = "hetal.actors.UploadTraining/2";
/// Wire name of [`UploadValidation`].
pub const UPLOAD_VALIDATION: &str = "hetal.actors.UploadValidation/2";
/// Wire name of [`EvaluateEpoch`].
pub const EVALUATE_EPOCH: &str = "hetal.actors.EvaluateEpoch/2";
/// Wire name of [`ValidationOutput`].
pub const VALIDATION_OUTPUT: &str = "hetal.actors.ValidationOutput/2";
/// Wire name of [`EpochVerdict`].
pub const EPOCH_VERDICT: &str = "hetal.actors.EpochVerdict/1";
/// Wire name of [`FinalModel`].
pub const FINAL_MODEL: &str = "hetal.actors.FinalModel/1";

/// The public description of a training job (the same on every party).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingSetup {
    /// Hyper-parameters (learning rate, batch size, epochs bound, patience, shuffle seed).
    pub hyper: HyperParams,
    /// Softmax approximation.
    pub variant: SoftmaxVariant,
    /// Block shape.
    pub unit: UnitShape,
    /// Number of classes.
    pub classes: usize,
    /// Number of features (without the bias column).
    pub dim: usize,
    /// What validation sends the client after each epoch: encrypted logits (cheap: no
    /// bootstrap; the client applies the softmax) or encrypted probabilities (HETAL's way).
    pub validation: ValidationForm,
}

/// Body of [`UploadTraining`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadTrainingBody {
    /// The job.
    pub setup: TrainingSetup,
    /// Public evaluation material.
    pub material: MaterialBody,
    /// Encrypted training mini-batches (features and labels).
    pub train: Vec<BatchBody>,
    /// Encrypted initial weights (the server cannot encrypt).
    pub initial_weights: BlockMatrix<u32>,
    /// Encrypted validation features, when the trainer validates itself (no evaluator).
    pub validation: Option<Vec<BatchBody>>,
}
impl Body for UploadTrainingBody {
    const NAME: &'static str = UPLOAD_TRAINING;
}
/// Client → trainer: start a job.
pub type UploadTraining = Envelope<UploadTrainingBody>;

/// Body of [`UploadValidation`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadValidationBody {
    /// The job.
    pub setup: TrainingSetup,
    /// Public evaluation material.
    pub material: MaterialBody,
    /// Encrypted validation features (no labels: they stay with the client).
    pub batches: Vec<BatchBody>,
}
impl Body for UploadValidationBody {
    const NAME: &'static str = UPLOAD_VALIDATION;
}
/// Client → evaluator: the validation set.
pub type UploadValidation = Envelope<UploadValidationBody>;

/// Body of [`EvaluateEpoch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluateEpochBody {
    /// The client whose job this is: the evaluator validates on that client's validation set
    /// and answers that client only (an evaluator may serve several clients of one trainer).
    pub client: hetal_runtime::NodeName,
    /// 0-based epoch.
    pub epoch: usize,
    /// The weights after the epoch (stored divided by `weight_scale`).
    pub weights: BlockMatrix<u32>,
    /// The public factor the weights are divided by.
    pub weight_scale: f64,
}
impl Body for EvaluateEpochBody {
    const NAME: &'static str = EVALUATE_EPOCH;
}
/// Trainer → evaluator: validate these weights.
pub type EvaluateEpoch = Envelope<EvaluateEpochBody>;

/// Body of [`ValidationOutput`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationOutputBody {
    /// 0-based epoch.
    pub epoch: usize,
    /// What `outputs` hold (the job's [`TrainingSetup::validation`]).
    pub form: ValidationForm,
    /// Encrypted validation logits or probabilities, one block matrix per validation batch.
    pub outputs: Vec<BlockMatrix<u32>>,
}
impl Body for ValidationOutputBody {
    const NAME: &'static str = VALIDATION_OUTPUT;
}
/// Evaluator (or trainer, when there is no evaluator) → client.
pub type ValidationOutput = Envelope<ValidationOutputBody>;

/// Client → trainer: the decrypted epoch's verdict (continue or stop, new best).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochVerdict(pub Verdict);
serde_message!(EpochVerdict, EPOCH_VERDICT);

/// Body of [`FinalModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalModelBody {
    /// The best weights (encrypted, divided by `weight_scale`).
    pub best: BlockMatrix<u32>,
    /// The public weight scale.
    pub weight_scale: f64,
    /// Epochs run.
    pub epochs: usize,
    /// Steps taken.
    pub steps: usize,
}
impl Body for FinalModelBody {
    const NAME: &'static str = FINAL_MODEL;
}
/// Trainer → client: training is over.
pub type FinalModel = Envelope<FinalModelBody>;
