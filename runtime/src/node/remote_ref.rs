//! Typed references to actors, local or remote.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::{Node, SendError};
use crate::message::{Message, Request};
use crate::name::NodeName;
use crate::transport::{Answer, Delivery, Inbound, InboundHandler, Outbound, SendOptions};
use crate::wire::{FailureCode, RemoteFailure};

/// A reference to actor `actor` on node `node` that accepts messages of type `M`. Clone it
/// freely; it is `Send` and can be used from any tokio task or actor.
///
/// The reference does not hide that the actor may be remote: every send can fail with a
/// [`SendError`] (peer gone, timeout, refusal).
pub struct RemoteRef<M> {
    node: Node,
    target: NodeName,
    actor: Arc<str>,
    _message: PhantomData<fn(M)>,
}

impl<M> Clone for RemoteRef<M> {
    fn clone(&self) -> Self {
        Self {
            node: self.node.clone(),
            target: self.target.clone(),
            actor: self.actor.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for RemoteRef<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteRef({}/{})", self.target, self.actor)
    }
}

impl<M: Message> RemoteRef<M> {
    pub(crate) fn new(node: Node, target: NodeName, actor: &str) -> Self {
        Self {
            node,
            target,
            actor: Arc::from(actor),
            _message: PhantomData,
        }
    }

    /// The node the actor lives on.
    pub fn target(&self) -> &NodeName {
        &self.target
    }

    /// The actor's registered name.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Sends `msg` and returns once the target actor has handled it.
    pub async fn tell(&self, msg: M) -> Result<(), SendError> {
        self.tell_with(msg, SendOptions::default()).await
    }

    /// [`RemoteRef::tell`] with a progress callback and/or an acknowledgement timeout.
    pub async fn tell_with(&self, msg: M, options: SendOptions) -> Result<(), SendError> {
        self.send(msg, Delivery::Tell, options).await.map(|_| ())
    }

    /// Sends `msg` on a unidirectional stream and returns once the peer's transport has every
    /// byte; nothing confirms that an actor handled it. For bulk uploads whose outcome is
    /// reported later by other messages.
    pub async fn cast(&self, msg: M, options: SendOptions) -> Result<(), SendError> {
        self.send(msg, Delivery::Cast, options).await.map(|_| ())
    }

    async fn send(
        &self,
        msg: M,
        delivery: Delivery,
        options: SendOptions,
    ) -> Result<Answer, SendError> {
        let payload = msg.into_payload().map_err(|source| SendError::Encode {
            message: M::NAME,
            source,
        })?;
        let inner = &self.node.inner;
        if self.target == inner.name {
            return self.send_local(payload, delivery, options).await;
        }
        let outbound = Outbound {
            actor: self.actor.to_string(),
            message: M::NAME.to_owned(),
            payload,
            delivery,
        };
        inner
            .transport
            .send(&self.target, outbound, options)
            .await
            .map_err(|e| SendError::from_transport(&self.target, &self.actor, e))
    }

    /// Delivers to an actor on this node without the network, through the same encode/decode
    /// path as a remote send.
    async fn send_local(
        &self,
        payload: crate::message::Payload,
        delivery: Delivery,
        options: SendOptions,
    ) -> Result<Answer, SendError> {
        let inner = &self.node.inner;
        let failure = |failure: RemoteFailure| match failure.code {
            FailureCode::Rejected => SendError::Rejected {
                node: self.target.clone(),
                actor: self.actor.to_string(),
                reason: failure.reason,
            },
            _ => SendError::Undeliverable {
                node: self.target.clone(),
                actor: self.actor.to_string(),
                failure,
            },
        };
        if inner.registry.is_closed() {
            return Err(failure(RemoteFailure::new(
                FailureCode::ShuttingDown,
                "node is shutting down",
            )));
        }
        let inbound = Inbound {
            from: inner.name.clone(),
            request_id: 0,
            actor: self.actor.to_string(),
            message: M::NAME.to_owned(),
            payload,
            expects_reply: delivery == Delivery::Ask,
        };
        let after = options.reply_timeout.unwrap_or(inner.local_timeout);
        match tokio::time::timeout(after, inner.registry.handle(inbound)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(failure(e)),
            Err(_) => Err(SendError::Timeout {
                node: self.target.clone(),
                actor: self.actor.to_string(),
                after,
            }),
        }
    }
}

impl<M: Request> RemoteRef<M> {
    /// Sends a request and waits up to `timeout` for the answer once the request has been sent
    /// (sending itself is bounded by the transport's progress timeout, so large requests are
    /// not cut short by a timeout sized for the handler).
    pub async fn ask(&self, msg: M, timeout: Duration) -> Result<M::Reply, SendError> {
        self.ask_with(msg, timeout, SendOptions::default()).await
    }

    /// [`RemoteRef::ask`] with a progress callback.
    pub async fn ask_with(
        &self,
        msg: M,
        timeout: Duration,
        mut options: SendOptions,
    ) -> Result<M::Reply, SendError> {
        options.reply_timeout = Some(timeout);
        match self.send(msg, Delivery::Ask, options).await? {
            Answer::Reply { message, payload } => {
                if message != <M::Reply as Message>::NAME {
                    return Err(SendError::UnexpectedReply {
                        expected: <M::Reply as Message>::NAME,
                        got: message,
                    });
                }
                M::Reply::from_payload(payload).map_err(|source| SendError::Decode {
                    message: <M::Reply as Message>::NAME,
                    source,
                })
            }
            Answer::Ack => Err(SendError::UnexpectedReply {
                expected: <M::Reply as Message>::NAME,
                got: "ack".to_owned(),
            }),
        }
    }
}
