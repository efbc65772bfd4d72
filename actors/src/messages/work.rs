//! The work protocol between the trainer and its workers.

use hetal_learn::matmul::{AbtUnit, AtbUnit, ShardSpec};
use hetal_runtime::{Request, serde_message};
use serde::{Deserialize, Serialize};

use super::{Body, Envelope};
use crate::backend::MaterialBody;

/// Wire name of [`JoinPool`].
pub const JOIN_POOL: &str = "hetal.actors.JoinPool/1";
/// Wire name of [`LoadKeys`].
pub const LOAD_KEYS: &str = "hetal.actors.LoadKeys/1";
/// Wire name of [`KeysLoaded`].
pub const KEYS_LOADED: &str = "hetal.actors.KeysLoaded/1";
/// Wire name of [`ComputeUnit`].
pub const COMPUTE_UNIT: &str = "hetal.actors.ComputeUnit/1";
/// Wire name of [`UnitOutcome`].
pub const UNIT_OUTCOME: &str = "hetal.actors.UnitOutcome/1";

/// Worker → trainer: "I am up; send me work". Workers may join at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPool;
serde_message!(JoinPool, JOIN_POOL);

/// Body of [`LoadKeys`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadKeysBody {
    /// Job id (units name it; a worker serves one job at a time).
    pub session: u64,
    /// Public evaluation material.
    pub material: MaterialBody,
}
impl Body for LoadKeysBody {
    const NAME: &'static str = LOAD_KEYS;
}
/// Trainer → worker: the evaluation keys of a job (sent once per worker and job).
pub type LoadKeys = Envelope<LoadKeysBody>;
impl Request for LoadKeys {
    type Reply = KeysLoaded;
}

/// Worker → trainer: the keys of `session` are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysLoaded {
    /// The job.
    pub session: u64,
}
serde_message!(KeysLoaded, KEYS_LOADED);

/// A work unit whose ciphertexts are operand ids (resolved from the worker's cache or from the
/// operands sent inline with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkItem {
    /// A DiagABT unit.
    Abt(AbtUnit<u64>),
    /// A DiagATB unit.
    Atb(AtbUnit<u64>),
    /// One bootstrap of a stage of independent ones (only to a worker that loaded the job's
    /// bootstrapping material).
    Bootstrap(BootstrapItem),
}

/// One ciphertext of a bootstrap stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapItem {
    /// Its position in the stage (echoed in the answer).
    pub index: u32,
    /// The operand to bootstrap (sent inline: it is used once, so it is not cached).
    pub ct: u64,
}

impl WorkItem {
    /// The unit's index ranges (`None` for a bootstrap).
    pub fn spec(&self) -> Option<&ShardSpec> {
        match self {
            WorkItem::Abt(u) => Some(&u.spec),
            WorkItem::Atb(u) => Some(&u.spec),
            WorkItem::Bootstrap(_) => None,
        }
    }

    /// Every operand id the unit refers to.
    pub fn operand_ids(&self) -> Vec<u64> {
        match self {
            WorkItem::Abt(u) => u.a.iter().chain(&u.c).copied().collect(),
            WorkItem::Atb(u) => u.c.iter().chain(&u.b).copied().collect(),
            WorkItem::Bootstrap(b) => vec![b.ct],
        }
    }
}

/// An operand sent with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineOperand {
    /// Its id (a hash of its serialized bytes).
    pub id: u64,
    /// Blob index.
    pub blob: u32,
    /// Whether it is only needed during this step (derived from the weights or the residual)
    /// rather than for the whole job (the training data).
    pub step_scoped: bool,
}

/// Body of [`ComputeUnit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputeBody {
    /// The job.
    pub session: u64,
    /// Training step the unit belongs to (step-scoped operands of older steps are dropped).
    pub step: u64,
    /// The unit.
    pub work: WorkItem,
    /// Operands the worker does not have yet.
    pub inline: Vec<InlineOperand>,
}
impl Body for ComputeBody {
    const NAME: &'static str = COMPUTE_UNIT;
}
/// Trainer → worker: compute one unit.
pub type ComputeUnit = Envelope<ComputeBody>;
impl Request for ComputeUnit {
    type Reply = UnitOutcome;
}

/// Body of [`UnitOutcome`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OutcomeBody {
    /// The partial result: one blob per output block.
    Done {
        /// The unit's ranges (echoed).
        spec: ShardSpec,
        /// Blob indices of the partial blocks.
        blocks: Vec<u32>,
    },
    /// The worker no longer holds these operands: resend the unit with them inline.
    Missing(Vec<u64>),
    /// A bootstrap unit's result.
    Refreshed {
        /// The unit's position in its stage (echoed).
        index: u32,
        /// Blob index of the bootstrapped ciphertext.
        block: u32,
    },
    /// The worker holds no keys for the unit's job (never loaded, or dropped for newer jobs):
    /// send the job's keys again with the unit.
    UnknownJob {
        /// The job's session id (echoed).
        session: u64,
    },
}
impl Body for OutcomeBody {
    const NAME: &'static str = UNIT_OUTCOME;
}
/// Worker → trainer: the answer to [`ComputeUnit`].
pub type UnitOutcome = Envelope<OutcomeBody>;
