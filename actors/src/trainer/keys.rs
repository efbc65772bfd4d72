//! How a job's workers get its keys ([`WorkerKeys`]): offered by digest first, so a worker in
//! the trainer's own process (or one that kept them from an earlier connection) shares the
//! trainer's copy and receives no key byte; otherwise sent in full, serialized on first need
//! and once for all workers.

use std::sync::{Arc, Mutex};

use hetal_runtime::{Node, NodeName};

use crate::backend::shared::negotiate;
use crate::backend::{KeyScope, MaterialBody, MaterialOffer, ServerBackend};
use crate::error::{ActorError, Result};
use crate::messages::{BlobSink, LoadKeys, LoadKeysBody};
use crate::roster::WORKER_ACTOR;

type BuildKeys = Box<dyn Fn() -> Result<LoadKeys> + Send + Sync>;

/// The keys of one job for its workers.
pub struct WorkerKeys {
    session: u64,
    offer: Option<MaterialOffer>,
    /// Builds the full message (serializes the keys) when a worker does not hold them.
    build: Option<BuildKeys>,
    full: Mutex<Option<LoadKeys>>,
}

impl std::fmt::Debug for WorkerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerKeys")
            .field("session", &self.session)
            .field("offer", &self.offer)
            .finish_non_exhaustive()
    }
}

impl From<LoadKeys> for WorkerKeys {
    /// Keys always sent in full, as given.
    fn from(keys: LoadKeys) -> Self {
        Self {
            session: keys.body.session,
            offer: None,
            build: None,
            full: Mutex::new(Some(keys)),
        }
    }
}

impl WorkerKeys {
    /// The `scope` subset of `backend`'s keys for job `session`: offered by reference where
    /// the backend shares, serialized only for a worker that does not hold it.
    pub fn scoped<B: ServerBackend>(
        session: u64,
        backend: &Arc<B>,
        scope: KeyScope,
    ) -> Result<Self> {
        let offer = backend.offer(&scope)?;
        let source = Arc::clone(backend);
        let build: BuildKeys = Box::new(move || {
            let mut sink = BlobSink::default();
            let material = source.material(&scope, &mut sink)?;
            Ok(sink.seal(LoadKeysBody { session, material }))
        });
        Ok(Self {
            session,
            offer,
            build: Some(build),
            full: Mutex::new(None),
        })
    }

    /// The job.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The digest offered to the workers, if the keys are offered by reference.
    pub fn offer(&self) -> Option<&MaterialOffer> {
        self.offer.as_ref()
    }

    /// The message that loads the keys on `worker`: by reference when it answers the offer
    /// "held", else in full.
    pub async fn message_for(self: &Arc<Self>, node: &Node, worker: &NodeName) -> Result<LoadKeys> {
        if let Some(digest) = negotiate(node, worker, WORKER_ACTOR, self.offer.as_ref()).await {
            return Ok(BlobSink::default().seal(LoadKeysBody {
                session: self.session,
                material: MaterialBody::Held(digest),
            }));
        }
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.full())
            .await
            .map_err(|e| ActorError::Lost(e.to_string()))?
    }

    /// The full message, built once.
    fn full(&self) -> Result<LoadKeys> {
        let mut full = self
            .full
            .lock()
            .map_err(|_| ActorError::Lost("worker keys poisoned".into()))?;
        if let Some(keys) = full.as_ref() {
            return Ok(keys.clone());
        }
        let build = self
            .build
            .as_ref()
            .ok_or_else(|| ActorError::Config("no worker keys to send".into()))?;
        let keys = build()?;
        *full = Some(keys.clone());
        Ok(keys)
    }
}
