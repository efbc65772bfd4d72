//! Every message the parties exchange. Each type's documentation says who sends it to whom; the
//! receiving actor checks the authenticated sender against that (see [`crate::roster`]).
//!
//! Ciphertexts travel as `hetal-ckks` serialized bytes in the bulk part of a frame
//! ([`envelope`]). Message bodies hold shapes, indices, public hyper-parameters and the client's
//! decisions; the only key material that can appear is [`crate::backend::MaterialBody`], which is
//! public by construction.

pub mod envelope;
pub mod inference;
pub mod material;
pub mod matrix;
pub mod training;
pub mod upload;
pub mod work;

pub use envelope::{BlobSink, Body, Envelope};
pub use inference::{
    Classify, ClassifyBody, EncryptedLogits, EncryptedLogitsBody, EncryptedModelQuery,
    forward_matrix,
};
pub use material::{MaterialAnswer, OfferMaterial};
pub use matrix::{BatchBody, decode_batch, decode_matrix, encode_batch, encode_matrix};
pub use training::{
    EpochVerdict, EvaluateEpoch, EvaluateEpochBody, FinalModel, FinalModelBody, TrainingSetup,
    UploadTraining, UploadTrainingBody, UploadValidation, UploadValidationBody, ValidationForm,
    ValidationOutput, ValidationOutputBody,
};
pub use upload::{
    BatchEntry, Sha256Digest, StartTraining, StartTrainingBody, UploadBatch, UploadBatchBody,
    UploadHave, UploadManifest, WireBatch,
};
pub use work::{
    BootstrapItem, ComputeBody, ComputeUnit, InlineOperand, JoinPool, KeysLoaded, LoadKeys,
    LoadKeysBody, OutcomeBody, UnitOutcome, WorkItem,
};

/// Wire names of every message type, for tests that enumerate them.
pub const ALL_MESSAGE_NAMES: [&str; 20] = [
    training::UPLOAD_TRAINING,
    training::UPLOAD_VALIDATION,
    training::EVALUATE_EPOCH,
    training::VALIDATION_OUTPUT,
    training::EPOCH_VERDICT,
    training::FINAL_MODEL,
    work::JOIN_POOL,
    work::LOAD_KEYS,
    work::KEYS_LOADED,
    work::COMPUTE_UNIT,
    work::UNIT_OUTCOME,
    material::OFFER_MATERIAL,
    material::MATERIAL_ANSWER,
    inference::ENCRYPTED_MODEL_QUERY,
    inference::CLASSIFY,
    inference::ENCRYPTED_LOGITS,
    upload::UPLOAD_MANIFEST,
    upload::UPLOAD_HAVE,
    upload::UPLOAD_BATCH,
    upload::START_TRAINING,
];
