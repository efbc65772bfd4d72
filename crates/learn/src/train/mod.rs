//! Training: HETAL's loop (mini-batch Nesterov on a softmax-regression layer, early stopping on
//! validation loss) in plaintext as a reference, with the shared pieces the encrypted trainer
//! reuses (hyper-parameters and presets, the momentum schedule, the early-stopping rule).

pub mod early_stop;
pub mod hyper;
pub mod model;
pub mod nesterov;
pub mod reference;

pub use early_stop::{Decision, EarlyStopping};
pub use hyper::{HyperParams, Optimizer, Preset};
pub use model::{SoftmaxRegression, accuracy, argmax_rows, cross_entropy, with_bias};
pub use nesterov::NesterovSchedule;
pub use reference::{EpochRecord, LabeledView, ReferenceTrainer, TrainOutcome, one_hot};
