//! Training: HETAL's loop (mini-batch Nesterov on a softmax-regression layer, early stopping on
//! validation loss), in plaintext as a reference and encrypted, split between a server that holds
//! only an evaluator ([`EncryptedTrainer`]) and the client that holds the key
//! ([`TrainingClient`]); plus the shared pieces (hyper-parameters and presets, the momentum
//! schedule, the early-stopping rule, the level policy for the state).

pub mod bench;
pub mod checkpoint;
pub mod client;
pub mod early_stop;
pub mod hyper;
pub mod levels;
pub mod model;
pub mod nesterov;
pub mod reference;
pub mod refresh;
pub mod server;
pub mod session;

pub use bench::{StepCounts, step_counts};
pub use client::{EncryptedBatch, TrainingClient, ValidationForm, Verdict};
pub use early_stop::{Decision, EarlyStopping};
pub use hyper::{HyperParams, Optimizer, Preset};
pub use levels::{LevelPolicy, Refresh};
pub use model::{SoftmaxRegression, accuracy, argmax_rows, cross_entropy, with_bias};
pub use nesterov::NesterovSchedule;
pub use reference::{EpochRecord, LabeledView, ReferenceTrainer, TrainOutcome, one_hot};
pub use server::{EncryptedTrainer, LocalMatmul, MatmulExecutor, StepReport, TrainerTotals};
pub use session::{EncryptedRun, run_encrypted_training};
