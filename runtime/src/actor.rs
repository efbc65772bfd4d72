//! The actor model of hetal, in its own types: an [`Actor`] declares which messages it handles
//! ([`Handle`] for one-way messages, [`Respond`] for requests), and every handler learns which
//! authenticated node sent the message. Which actor framework runs the actors is hidden in the
//! crate's glue module.

use std::collections::HashMap;
use std::fmt;

use futures::future::BoxFuture;

use crate::message::{Message, Payload, Request};
use crate::name::NodeName;
use crate::wire::{FailureCode, RemoteFailure};

/// Facts about one received message that a handler may use to decide whether to accept it.
#[derive(Debug, Clone)]
pub struct MessageContext {
    pub(crate) sender: NodeName,
    pub(crate) local: NodeName,
    pub(crate) request_id: u64,
}

impl MessageContext {
    /// The node that sent the message, as proven by its certificate (or this node, for local
    /// sends). Actors use it to refuse messages from parties that must not send them.
    pub fn sender(&self) -> &NodeName {
        &self.sender
    }

    /// Whether the sender is this node.
    pub fn is_local(&self) -> bool {
        self.sender == self.local
    }

    /// Correlation id of the message, for logs.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// Refuses the message unless its sender is one of `allowed`.
    pub fn require_sender(&self, allowed: &[&NodeName]) -> Result<(), Rejection> {
        if allowed.contains(&&self.sender) {
            Ok(())
        } else {
            Err(Rejection::new(format!(
                "node {} may not send this message",
                self.sender
            )))
        }
    }
}

/// An actor's refusal of a message; the sender receives it as a typed error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why the message was refused.
    pub reason: String,
}

impl Rejection {
    /// A refusal with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Rejection {}

/// A request handler's answer: ready now, or computed later (e.g. by a rayon job the handler
/// started). A deferred answer runs off the actor's thread and cannot touch the actor's state;
/// to update state afterwards, the future can send the actor a message.
pub enum Response<R> {
    /// The answer is ready.
    Ready(Result<R, Rejection>),
    /// The answer will come from this future.
    Deferred(BoxFuture<'static, Result<R, Rejection>>),
}

impl<R> Response<R> {
    /// A ready answer.
    pub fn ok(reply: R) -> Self {
        Self::Ready(Ok(reply))
    }

    /// A refusal.
    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Ready(Err(Rejection::new(reason)))
    }

    /// An answer computed by `future`.
    pub fn later(future: impl Future<Output = Result<R, Rejection>> + Send + 'static) -> Self {
        Self::Deferred(Box::pin(future))
    }
}

/// A stateful unit that receives messages one at a time.
pub trait Actor: Send + Sized + 'static {
    /// Declares the messages this actor accepts, e.g.
    /// `handlers.tell::<Shutdown>().ask::<ComputeShard>();`.
    fn handlers(handlers: &mut Handlers<Self>);
}

/// Handles a one-way message. The sender's `tell` returns once this has run.
pub trait Handle<M: Message>: Actor {
    /// Processes `msg`. Must not block for long: CPU-heavy work belongs on rayon.
    fn handle(&mut self, msg: M, ctx: &MessageContext) -> Result<(), Rejection>;
}

/// Answers a request.
pub trait Respond<M: Request>: Actor {
    /// Produces the reply to `msg`. Must not block for long: return [`Response::later`] for
    /// CPU-heavy work.
    fn respond(&mut self, msg: M, ctx: &MessageContext) -> Response<M::Reply>;
}

/// The result of running a handler, before a deferred answer completes.
pub(crate) enum Outcome {
    /// A tell was handled.
    Handled,
    /// An ask was answered: (reply message name, payload).
    Reply(&'static str, Payload),
    /// An ask will be answered by this future.
    Deferred(BoxFuture<'static, Result<(&'static str, Payload), RemoteFailure>>),
}

type Route<A> =
    Box<dyn Fn(&mut A, Payload, &MessageContext) -> Result<Outcome, RemoteFailure> + Send + Sync>;

/// The table of messages an actor accepts, keyed by message name and mode (tell or ask).
pub struct Handlers<A> {
    tells: HashMap<&'static str, Route<A>>,
    asks: HashMap<&'static str, Route<A>>,
}

impl<A: Actor> Handlers<A> {
    pub(crate) fn build() -> Self {
        let mut handlers = Self {
            tells: HashMap::new(),
            asks: HashMap::new(),
        };
        A::handlers(&mut handlers);
        handlers
    }

    /// Accepts `M` as a one-way message.
    pub fn tell<M: Message>(&mut self) -> &mut Self
    where
        A: Handle<M>,
    {
        self.tells.insert(
            M::NAME,
            Box::new(|actor: &mut A, payload, ctx| {
                let msg = decode::<M>(payload)?;
                actor
                    .handle(msg, ctx)
                    .map(|()| Outcome::Handled)
                    .map_err(rejected)
            }),
        );
        self
    }

    /// Accepts `M` as a request.
    pub fn ask<M: Request>(&mut self) -> &mut Self
    where
        A: Respond<M>,
    {
        self.asks.insert(
            M::NAME,
            Box::new(|actor: &mut A, payload, ctx| {
                let msg = decode::<M>(payload)?;
                match actor.respond(msg, ctx) {
                    Response::Ready(result) => {
                        let payload = encode_reply(result)?;
                        Ok(Outcome::Reply(M::Reply::NAME, payload))
                    }
                    Response::Deferred(future) => Ok(Outcome::Deferred(Box::pin(async move {
                        let payload = encode_reply(future.await)?;
                        Ok((M::Reply::NAME, payload))
                    }))),
                }
            }),
        );
        self
    }

    /// Runs the handler registered for `message` in the given mode.
    pub(crate) fn dispatch(
        &self,
        actor: &mut A,
        message: &str,
        expects_reply: bool,
        payload: Payload,
        ctx: &MessageContext,
    ) -> Result<Outcome, RemoteFailure> {
        let (table, other, mode) = if expects_reply {
            (&self.asks, &self.tells, "ask")
        } else {
            (&self.tells, &self.asks, "tell")
        };
        match table.get(message) {
            Some(route) => route(actor, payload, ctx),
            None if other.contains_key(message) => Err(RemoteFailure::new(
                FailureCode::UnknownMessage,
                format!("{message} is not accepted as {mode}"),
            )),
            None => Err(RemoteFailure::new(
                FailureCode::UnknownMessage,
                format!("unknown message {message}"),
            )),
        }
    }
}

fn decode<M: Message>(payload: Payload) -> Result<M, RemoteFailure> {
    M::from_payload(payload)
        .map_err(|e| RemoteFailure::new(FailureCode::Decode, format!("{}: {e}", M::NAME)))
}

fn rejected(rejection: Rejection) -> RemoteFailure {
    RemoteFailure::new(FailureCode::Rejected, rejection.reason)
}

fn encode_reply<R: Message>(result: Result<R, Rejection>) -> Result<Payload, RemoteFailure> {
    result
        .map_err(rejected)?
        .into_payload()
        .map_err(|e| RemoteFailure::new(FailureCode::Decode, format!("encoding {}: {e}", R::NAME)))
}
