//! Offering key material by reference before sending it: the sender announces the digest (and
//! size) of the material it is about to send; a receiver in the same process that already holds
//! it answers "held" and the material then travels as [`crate::backend::MaterialBody::Held`],
//! without a byte of key.

use hetal_runtime::serde_message;
use serde::{Deserialize, Serialize};

use crate::backend::MaterialDigest;

/// Wire name of [`OfferMaterial`].
pub const OFFER_MATERIAL: &str = "hetal.actors.OfferMaterial/1";
/// Wire name of [`MaterialAnswer`].
pub const MATERIAL_ANSWER: &str = "hetal.actors.MaterialAnswer/1";

/// Client → trainer or evaluator, trainer → worker: "do you hold this material?" (asked before
/// the upload or the worker's keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferMaterial {
    /// The material's content digest.
    pub digest: MaterialDigest,
    /// Its size in memory (what the receiver would otherwise deserialize).
    pub resident_bytes: u64,
}
serde_message!(OfferMaterial, OFFER_MATERIAL => MaterialAnswer);

/// The answer to [`OfferMaterial`]. `held` means the receiver has taken a reference to the
/// material and keeps it until the message that uses it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialAnswer {
    /// The offered digest.
    pub digest: MaterialDigest,
    /// Whether the receiver holds it (send it by reference) or not (send it in full).
    pub held: bool,
}
serde_message!(MaterialAnswer, MATERIAL_ANSWER);
