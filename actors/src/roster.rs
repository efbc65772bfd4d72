//! Who is who in a deployment: which authenticated node plays which party, and the check every
//! actor runs before accepting a message.

use hetal_runtime::{MessageContext, NodeName, Rejection};
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
