//! The only module that names actix (passive maintenance upstream; see the runtime notes): a
//! move to another actor framework touches this file and nothing else.
//!
//! The actix `System` runs on a dedicated OS thread, because `System::new` panics inside an
//! existing tokio runtime, which is where host applications call us from. Each registered hetal
//! [`Actor`] lives in a `Host` actix actor with a bounded mailbox; the transport awaits
//! `Addr::send`, so a full mailbox stops reading from the network and QUIC flow control pushes
//! back on the sender.

use std::sync::Mutex;
use std::thread::JoinHandle;

use futures::future::BoxFuture;

use crate::actor::{Actor, Handlers, MessageContext, Outcome};
use crate::name::NodeName;
use crate::transport::Inbound;
use crate::wire::{FailureCode, RemoteFailure};

/// A registered actor as the dispatcher sees it.
pub(crate) trait Mailbox: Send + Sync {
    /// Queues `msg` (waiting while the mailbox is full) and resolves once the actor handled it.
    fn deliver(&self, msg: Inbound) -> BoxFuture<'static, Result<Outcome, RemoteFailure>>;
    /// Resolves once every message queued before this call has been handled.
    fn drain(&self) -> BoxFuture<'static, ()>;
}

/// The actix system thread of one node.
pub(crate) struct ActorSystem {
    system: actix::System,
    arbiter: actix::ArbiterHandle,
    thread: Mutex<Option<JoinHandle<std::io::Result<()>>>>,
}

impl ActorSystem {
    /// Starts the actix system on its own thread.
    pub(crate) async fn start(node: &NodeName) -> std::io::Result<Self> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("hetal-actors-{node}"))
            .spawn(move || {
                let system = actix::System::new();
                let _ = tx.send((actix::System::current(), actix::Arbiter::current()));
                system.run()
            })?;
        let (system, arbiter) = rx
            .await
            .map_err(|_| std::io::Error::other("the actor system thread exited during startup"))?;
        Ok(Self {
            system,
            arbiter,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Starts `actor` on the system thread with a mailbox of `capacity` messages.
    pub(crate) fn spawn<A: Actor>(
        &self,
        actor: A,
        local: NodeName,
        capacity: usize,
    ) -> Box<dyn Mailbox> {
        let addr = <Host<A> as actix::Actor>::start_in_arbiter(&self.arbiter, move |ctx| {
            ctx.set_mailbox_capacity(capacity.max(1));
            Host {
                actor: Box::new(actor),
                handlers: Handlers::build(),
                local,
            }
        });
        Box::new(ActixMailbox(addr))
    }

    /// Stops the system without waiting for its thread.
    pub(crate) fn stop(&self) {
        self.system.stop();
    }

    /// Stops the system and waits for its thread (blocking; call off the async workers).
    pub(crate) fn stop_and_join(&self) {
        self.system.stop();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

struct Host<A: Actor> {
    /// Boxed so that the host is `Unpin` (actix requires it) whatever the actor type.
    actor: Box<A>,
    handlers: Handlers<A>,
    local: NodeName,
}

impl<A: Actor> actix::Actor for Host<A> {
    type Context = actix::Context<Self>;
}

struct Deliver(Inbound);

impl actix::Message for Deliver {
    type Result = Result<Outcome, RemoteFailure>;
}

impl<A: Actor> actix::Handler<Deliver> for Host<A> {
    type Result = Result<Outcome, RemoteFailure>;

    fn handle(&mut self, Deliver(msg): Deliver, _: &mut Self::Context) -> Self::Result {
        let ctx = MessageContext {
            sender: msg.from,
            local: self.local.clone(),
            request_id: msg.request_id,
        };
        self.handlers.dispatch(
            &mut *self.actor,
            &msg.message,
            msg.expects_reply,
            msg.payload,
            &ctx,
        )
    }
}

struct Drain;

impl actix::Message for Drain {
    type Result = ();
}

impl<A: Actor> actix::Handler<Drain> for Host<A> {
    type Result = ();

    fn handle(&mut self, _: Drain, _: &mut Self::Context) {}
}

struct ActixMailbox<A: Actor>(actix::Addr<Host<A>>);

impl<A: Actor> Mailbox for ActixMailbox<A> {
    fn deliver(&self, msg: Inbound) -> BoxFuture<'static, Result<Outcome, RemoteFailure>> {
        let sent = self.0.send(Deliver(msg));
        Box::pin(async move {
            sent.await.map_err(|e| {
                RemoteFailure::new(FailureCode::ActorStopped, format!("actor unavailable: {e}"))
            })?
        })
    }

    fn drain(&self) -> BoxFuture<'static, ()> {
        let sent = self.0.send(Drain);
        Box::pin(async move {
            let _ = sent.await;
        })
    }
}
