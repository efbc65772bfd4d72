//! Who is who in a deployment: which authenticated node plays which party, and the check every
//! actor runs before accepting a message.
//!
//! A [`Roster`] names one client: it is one job's view. A trainer serving several clients holds
//! a [`SharedRoster`] (the shared trainer, evaluator and workers plus every client) and gives
//! each client's job the [`Roster`] of that client alone ([`SharedRoster::for_client`]), so a
//! job only ever talks to, and accepts client messages from, its own client's node.

use hetal_runtime::{MessageContext, NodeName, Rejection};

use crate::error::{ActorError, Result};
use serde::{Deserialize, Serialize};

/// Registered name of the client actor on its node.
pub const CLIENT_ACTOR: &str = "client";
/// Registered name of the trainer actor on its node.
pub const TRAINER_ACTOR: &str = "trainer";
/// Registered name of a worker actor on its node.
pub const WORKER_ACTOR: &str = "worker";
/// Registered name of the evaluator actor on its node.
pub const EVALUATOR_ACTOR: &str = "evaluator";

/// A party of encrypted training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The data owner: the only holder of the secret key.
    Client,
    /// Owns the encrypted model and the epoch loop.
    Trainer,
    /// Computes work units.
    Worker,
    /// Computes encrypted validation outputs.
    Evaluator,
}

impl Role {
    /// Lower-case name (as in configuration files).
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Trainer => "trainer",
            Role::Worker => "worker",
            Role::Evaluator => "evaluator",
        }
    }
}

/// The node names of every party. Names are certificate subjects, so a sender's role follows
/// from its authenticated name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    /// The client's node.
    pub client: NodeName,
    /// The trainer's node.
    pub trainer: NodeName,
    /// The evaluator's node, if validation is not done by the trainer.
    pub evaluator: Option<NodeName>,
    /// Every node allowed to act as a worker (they may join at any time).
    pub workers: Vec<NodeName>,
}

impl Roster {
    /// The role of `node`, if it has one.
    pub fn role_of(&self, node: &NodeName) -> Option<Role> {
        if node == &self.client {
            Some(Role::Client)
        } else if node == &self.trainer {
            Some(Role::Trainer)
        } else if self.evaluator.as_ref() == Some(node) {
            Some(Role::Evaluator)
        } else if self.workers.contains(node) {
            Some(Role::Worker)
        } else {
            None
        }
    }

    /// Every node of the deployment.
    pub fn all_nodes(&self) -> Vec<NodeName> {
        let mut out = vec![self.client.clone(), self.trainer.clone()];
        out.extend(self.evaluator.clone());
        out.extend(self.workers.iter().cloned());
        out
    }

    /// Refuses a message unless its authenticated sender plays one of `allowed`.
    pub fn require(
        &self,
        ctx: &MessageContext,
        message: &str,
        allowed: &[Role],
    ) -> Result<Role, Rejection> {
        match self.role_of(ctx.sender()) {
            Some(role) if allowed.contains(&role) => Ok(role),
            role => Err(Rejection::new(format!(
                "{message} may not come from node {} ({}); allowed: {}",
                ctx.sender(),
                role.map_or("no role", Role::name),
                allowed
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// A roster with one or more clients: one trainer (with its evaluator and workers) serving each
/// client an isolated job. Names are certificate subjects, so which client a message comes
/// from follows from its authenticated sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedRoster {
    /// The shared parties; its `client` is the first client.
    base: Roster,
    /// Every client, `base.client` first.
    clients: Vec<NodeName>,
}

impl From<Roster> for SharedRoster {
    /// The one-client case.
    fn from(base: Roster) -> Self {
        let clients = vec![base.client.clone()];
        Self { base, clients }
    }
}

impl SharedRoster {
    /// `base` with the clients `more` added after `base.client`. A client named twice, or
    /// also playing another party, is refused: its role would be ambiguous.
    pub fn new(base: Roster, more: Vec<NodeName>) -> Result<Self> {
        let mut clients = vec![base.client.clone()];
        for c in more {
            if clients.contains(&c) {
                return Err(ActorError::Config(format!("client {c} is listed twice")));
            }
            if let Some(role) = base.role_of(&c) {
                return Err(ActorError::Config(format!(
                    "client {c} is also the roster's {}",
                    role.name()
                )));
            }
            clients.push(c);
        }
        Ok(Self { base, clients })
    }

    /// Every client, in roster order.
    pub fn clients(&self) -> &[NodeName] {
        &self.clients
    }

    /// The shared parties as a one-job roster whose client is the first client.
    pub fn base(&self) -> &Roster {
        &self.base
    }

    /// The roster `client`'s job sees (the shared parties and that client alone), if `client`
    /// is one of the clients.
    pub fn for_client(&self, client: &NodeName) -> Option<Roster> {
        self.clients.contains(client).then(|| Roster {
            client: client.clone(),
            ..self.base.clone()
        })
    }

    /// The role of `node`, if it has one.
    pub fn role_of(&self, node: &NodeName) -> Option<Role> {
        if self.clients.contains(node) {
            Some(Role::Client)
        } else {
            self.base.role_of(node)
        }
    }

    /// Every node of the deployment, the clients first.
    pub fn all_nodes(&self) -> Vec<NodeName> {
        let mut out = self.clients.clone();
        out.extend(
            self.base
                .all_nodes()
                .into_iter()
                .filter(|n| !self.clients.contains(n)),
        );
        out
    }

    /// Refuses a message unless its authenticated sender plays one of `allowed`.
    pub fn require(
        &self,
        ctx: &MessageContext,
        message: &str,
        allowed: &[Role],
    ) -> Result<Role, Rejection> {
        let sender = ctx.sender();
        // The base roster's check (and wording), as seen from the sender's own job.
        match self.for_client(sender) {
            Some(own) => own.require(ctx, message, allowed),
            None => self.base.require(ctx, message, allowed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> NodeName {
        NodeName::new(s).unwrap()
    }

    fn base() -> Roster {
        Roster {
            client: name("client-a"),
            trainer: name("trainer"),
            evaluator: Some(name("evaluator")),
            workers: vec![name("worker-1")],
        }
    }

    #[test]
    fn each_client_sees_a_roster_of_its_own_and_names_are_unambiguous() {
        let shared = SharedRoster::new(base(), vec![name("client-b")]).unwrap();
        assert_eq!(shared.clients(), &[name("client-a"), name("client-b")]);
        assert_eq!(shared.role_of(&name("client-b")), Some(Role::Client));
        assert_eq!(shared.role_of(&name("worker-1")), Some(Role::Worker));
        assert_eq!(shared.role_of(&name("stranger")), None);
        let b = shared.for_client(&name("client-b")).unwrap();
        assert_eq!(b.client, name("client-b"));
        // In B's view, A is nobody.
        assert_eq!(b.role_of(&name("client-a")), None);
        assert!(shared.for_client(&name("worker-1")).is_none());
        assert_eq!(shared.all_nodes().len(), 5);
        for bad in ["client-a", "worker-1", "trainer"] {
            let e = SharedRoster::new(base(), vec![name(bad)]).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        assert_eq!(SharedRoster::from(base()).clients(), &[name("client-a")]);
    }
}
