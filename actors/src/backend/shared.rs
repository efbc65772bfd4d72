//! Key material shared by reference between the parties of one process: the sender's
//! [`MaterialOffer`], the receiver's [`Pinned`] answer, and [`negotiate`], the ask that decides
//! whether the material travels in full or as [`super::MaterialBody::Held`].

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use hetal_runtime::{Node, NodeName};

use super::{MaterialDigest, ServerBackend};
use crate::error::Result;
use crate::messages::{
    BlobSink, MaterialAnswer, OfferMaterial, UploadTraining, UploadTrainingBody,
};

/// How long a sender waits for the answer to an offer before sending the material in full.
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Material a sender can hand to a receiver of its own process by digest. It keeps the
/// registered material alive until the receiver has answered (and so taken its own reference).
#[derive(Clone)]
pub struct MaterialOffer {
    /// Content digest of the material.
    pub digest: MaterialDigest,
    /// Its size in memory.
    pub resident_bytes: u64,
    keepalive: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for MaterialOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialOffer")
            .field("digest", &self.digest)
            .field("resident_bytes", &self.resident_bytes)
            .field("holders", &Arc::strong_count(&self.keepalive))
            .finish()
    }
}

impl MaterialOffer {
    /// An offer of `material` (already registered under `digest`).
    pub fn new<T: Send + Sync + 'static>(
        digest: MaterialDigest,
        resident_bytes: u64,
        material: Arc<T>,
    ) -> Self {
        Self {
            digest,
            resident_bytes,
            keepalive: material,
        }
    }

    /// The message announcing it.
    pub fn message(&self) -> OfferMaterial {
        OfferMaterial {
            digest: self.digest,
            resident_bytes: self.resident_bytes,
        }
    }
}

/// What a receiver took when it answered an offer "held": kept until the message using it
/// arrives, so the material cannot die in between.
pub struct Pinned<B> {
    held: Option<(MaterialDigest, Arc<B>)>,
}

impl<B> Default for Pinned<B> {
    fn default() -> Self {
        Self { held: None }
    }
}

impl<B: ServerBackend> Pinned<B> {
    /// Answers `offer`: held (and pinned) when this process holds the material.
    pub fn answer(&mut self, offer: &OfferMaterial) -> MaterialAnswer {
        let found = B::held(&offer.digest);
        let held = found.is_some();
        if let Some(backend) = found {
            self.held = Some((offer.digest, backend));
        }
        MaterialAnswer {
            digest: offer.digest,
            held,
        }
    }

    /// Takes the pinned material if it is `digest`'s (a later offer replaces an unused pin).
    pub fn take(&mut self, digest: Option<&MaterialDigest>) -> Option<Arc<B>> {
        match (&self.held, digest) {
            (Some((pinned, _)), Some(d)) if pinned == d => self.held.take().map(|(_, b)| b),
            _ => None,
        }
    }
}

/// Offers `offer` to `actor` on `to`; `Some(digest)` when the receiver holds it, `None` (send it
/// in full) when there is no offer, the receiver does not hold it, or the ask failed (an older
/// receiver, a lost answer: the full transfer is always correct).
pub async fn negotiate(
    node: &Node,
    to: &NodeName,
    actor: &str,
    offer: Option<&MaterialOffer>,
) -> Option<MaterialDigest> {
    let offer = offer?;
    match node
        .remote_ref::<OfferMaterial>(to, actor)
        .ask(offer.message(), OFFER_TIMEOUT)
        .await
    {
        Ok(answer) if answer.held && answer.digest == offer.digest => Some(offer.digest),
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("offer of material {} to {to}: {e}", offer.digest);
            None
        }
    }
}

/// `msg` with material sent by reference ([`super::MaterialBody::Held`]) replaced by `backend`'s
/// full material, appended to its blobs: what to save of an upload that a later process (a
/// restarted trainer, which holds nothing) must rebuild. Material sent in full is kept as is.
pub fn with_full_material<B: ServerBackend>(
    msg: UploadTraining,
    backend: &B,
) -> Result<UploadTraining> {
    if !matches!(msg.body.material, super::MaterialBody::Held(_)) {
        return Ok(msg);
    }
    let mut sink = BlobSink::default();
    for blob in msg.blobs {
        sink.push(blob);
    }
    let material = backend.material(&super::KeyScope::Full, &mut sink)?;
    Ok(sink.seal(UploadTrainingBody {
        material,
        ..msg.body
    }))
}
