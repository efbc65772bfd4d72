//! The registry of named local actors, which is also the transport's inbound handler.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;

use super::NodeError;
use crate::actor::Outcome;
use crate::glue::Mailbox;
use crate::transport::{Answer, Inbound, InboundHandler};
use crate::wire::{FailureCode, RemoteFailure};

/// Named actors of one node.
#[derive(Default)]
pub(crate) struct Registry {
    actors: RwLock<HashMap<String, Arc<dyn Mailbox>>>,
    closed: AtomicBool,
}

impl Registry {
    /// Adds an actor; `spawn` runs only if the name is free.
    pub(crate) fn insert(
        &self,
        name: &str,
        spawn: impl FnOnce() -> Box<dyn Mailbox>,
    ) -> Result<(), NodeError> {
        let mut actors = self
            .actors
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if actors.contains_key(name) {
            return Err(NodeError::DuplicateActor(name.to_owned()));
        }
        actors.insert(name.to_owned(), Arc::from(spawn()));
        Ok(())
    }

    fn get(&self, name: &str) -> Option<Arc<dyn Mailbox>> {
        self.actors
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .cloned()
    }

    /// Every registered actor.
    pub(crate) fn all(&self) -> Vec<Arc<dyn Mailbox>> {
        self.actors
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Refuses local sends from now on (remote ones are refused by the transport).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl InboundHandler for Registry {
    fn handle(&self, msg: Inbound) -> BoxFuture<'static, Result<Answer, RemoteFailure>> {
        let Some(mailbox) = self.get(&msg.actor) else {
            let failure = RemoteFailure::new(
                FailureCode::UnknownActor,
                format!("no actor named {:?}", msg.actor),
            );
            return Box::pin(async move { Err(failure) });
        };
        let delivered = mailbox.deliver(msg);
        Box::pin(async move {
            match delivered.await? {
                Outcome::Handled => Ok(Answer::Ack),
                Outcome::Reply(message, payload) => Ok(Answer::Reply {
                    message: message.to_owned(),
                    payload,
                }),
                Outcome::Deferred(future) => {
                    let (message, payload) = future.await?;
                    Ok(Answer::Reply {
                        message: message.to_owned(),
                        payload,
                    })
                }
            }
        })
    }
}
