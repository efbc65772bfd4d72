//! One trainer node serving several clients, each in its own isolated job.
//!
//! The [`TrainerHub`] is the actor registered as the trainer. It holds one [`Trainer`] per
//! client of its [`SharedRoster`] and routes every client message by its authenticated sender
//! (the certificate's node name, [`MessageContext::sender`]) to that client's trainer, never by
//! anything the message says. A client's messages therefore reach only its own job: its
//! upload, keys, verdicts and the model and validation outputs its job sends back, which go to
//! that client's node alone (each job's roster names only its client). A message naming a job
//! another client uploaded is refused with [`IsolationError::ForeignJob`], a verdict from a
//! client without a running job with [`IsolationError::NoJob`], and a node that is no client
//! with [`IsolationError::NotAClient`]. Workers join every job's pool; each job loads its own
//! keys under its own session on them ([`crate::worker::WorkerJobs`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use hetal_runtime::{
    Actor, Handle, Handlers, MessageContext, Node, NodeName, Rejection, Respond, Response,
};

use super::{Trainer, TrainerConfig, TrainerHandle};
use crate::backend::ServerBackend;
use crate::error::Result;
use crate::messages::{
    EpochVerdict, JoinPool, MaterialAnswer, OfferMaterial, Sha256Digest, StartTraining,
    UploadBatch, UploadHave, UploadManifest, UploadTraining,
};
use crate::roster::{Role, SharedRoster};
use crate::store::dataset::DatasetConfig;

/// Job ids remembered per client (a client re-uploading a recent job is still recognised).
pub const MAX_JOBS_PER_CLIENT: usize = 16;

/// Why the trainer refused a message to keep its clients' jobs apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsolationError {
    /// The sender is not a client of this trainer (another party, or not in the roster).
    #[error("{message} from node {sender}: not a client of this trainer ({role})")]
    NotAClient {
        /// The authenticated sender.
        sender: NodeName,
        /// The refused message.
        message: &'static str,
        /// The sender's role, or "not in the roster".
        role: &'static str,
    },
    /// The message names a job another client uploaded.
    #[error("{message} from node {sender} names job {job}, which is not {sender}'s: refused")]
    ForeignJob {
        /// The authenticated sender.
        sender: NodeName,
        /// The job it named.
        job: Sha256Digest,
        /// The refused message.
        message: &'static str,
    },
    /// A job-scoped message from a client that has no running job here.
    #[error("{message} from node {sender}: {sender} has no training job running on this trainer")]
    NoJob {
        /// The authenticated sender.
        sender: NodeName,
        /// The refused message.
        message: &'static str,
    },
}

impl From<IsolationError> for Rejection {
    fn from(e: IsolationError) -> Self {
        Rejection::new(e.to_string())
    }
}

/// Which client uploaded which job: the first client to send a job's manifest owns it.
#[derive(Debug, Default)]
pub struct JobOwners {
    owner: HashMap<Sha256Digest, NodeName>,
    /// Each client's jobs, oldest first (at most [`MAX_JOBS_PER_CLIENT`]).
    jobs: HashMap<NodeName, VecDeque<Sha256Digest>>,
}

impl JobOwners {
    /// Refuses `message` from `sender` if it names `job` and another client owns that job.
    pub fn check(
        &self,
        sender: &NodeName,
        job: Sha256Digest,
        message: &'static str,
    ) -> Result<(), IsolationError> {
        match self.owner.get(&job) {
            Some(owner) if owner != sender => Err(IsolationError::ForeignJob {
                sender: sender.clone(),
                job,
                message,
            }),
            _ => Ok(()),
        }
    }

    /// [`JobOwners::check`], then records `sender` as the owner of `job` (a manifest).
    pub fn claim(
        &mut self,
        sender: &NodeName,
        job: Sha256Digest,
        message: &'static str,
    ) -> Result<(), IsolationError> {
        self.check(sender, job, message)?;
        if self.owner.insert(job, sender.clone()).is_none() {
            let jobs = self.jobs.entry(sender.clone()).or_default();
            jobs.push_back(job);
            while jobs.len() > MAX_JOBS_PER_CLIENT {
                if let Some(old) = jobs.pop_front() {
                    self.owner.remove(&old);
                }
            }
        }
        Ok(())
    }

    /// The client that owns `job`, if any.
    pub fn owner(&self, job: &Sha256Digest) -> Option<&NodeName> {
        self.owner.get(job)
    }
}

/// A directory of one client's job under `base` when the trainer has several clients (the
/// configured directory itself when it has one, as before).
fn per_client(base: &Path, client: &NodeName, shared: bool) -> std::path::PathBuf {
    if shared {
        base.join(client.as_str())
    } else {
        base.to_path_buf()
    }
}

/// The trainer actor of a node serving every client of a [`SharedRoster`].
pub struct TrainerHub<B: ServerBackend> {
    roster: SharedRoster,
    jobs: BTreeMap<NodeName, Trainer<B>>,
    owners: JobOwners,
}

impl<B: ServerBackend> TrainerHub<B> {
    /// One trainer per client of `roster` on `node`, each configured as `config` says but with
    /// its own client's roster; with several clients, each job checkpoints in, and keeps its
    /// training set in, a subdirectory named after its client.
    pub fn new(
        node: Node,
        roster: SharedRoster,
        config: TrainerConfig,
        dataset: Option<DatasetConfig>,
    ) -> Self {
        let shared = roster.clients().len() > 1;
        let jobs = roster
            .clients()
            .iter()
            .filter_map(|client| {
                let own = roster.for_client(client)?;
                let mut config = TrainerConfig {
                    roster: own,
                    ..config.clone()
                };
                if let Some(c) = &mut config.checkpoint {
                    c.dir = per_client(&c.dir, client, shared);
                }
                let dataset = dataset.clone().map(|d| DatasetConfig {
                    dir: per_client(&d.dir, client, shared),
                    ..d
                });
                let trainer = Trainer::new(node.clone(), config).with_dataset(dataset);
                Some((client.clone(), trainer))
            })
            .collect();
        Self {
            roster,
            jobs,
            owners: JobOwners::default(),
        }
    }

    /// Each client's job handle, in roster order.
    pub fn handles(&self) -> Vec<(NodeName, TrainerHandle)> {
        self.roster
            .clients()
            .iter()
            .filter_map(|c| Some((c.clone(), self.jobs.get(c)?.handle())))
            .collect()
    }

    /// [`Trainer::set_resume_grace`] for every job.
    pub fn set_resume_grace(&mut self, grace: std::time::Duration) {
        for t in self.jobs.values_mut() {
            t.set_resume_grace(grace);
        }
    }

    /// [`Trainer::resume_saved_job`] for every client: the clients whose saved job resumed.
    pub fn resume_saved_jobs(&mut self) -> Result<Vec<NodeName>> {
        let mut resumed = Vec::new();
        for (client, trainer) in &mut self.jobs {
            if trainer.resume_saved_job()? {
                resumed.push(client.clone());
            }
        }
        Ok(resumed)
    }

    /// The job of the client that sent `message`.
    fn own_job(
        &mut self,
        ctx: &MessageContext,
        message: &'static str,
    ) -> Result<&mut Trainer<B>, IsolationError> {
        let sender = ctx.sender();
        let not_a_client = || IsolationError::NotAClient {
            sender: sender.clone(),
            message,
            role: self
                .roster
                .role_of(sender)
                .map_or("not in the roster", Role::name),
        };
        if self.roster.role_of(sender) != Some(Role::Client) {
            return Err(not_a_client());
        }
        self.jobs.get_mut(sender).ok_or_else(not_a_client)
    }
}

impl<B: ServerBackend> Actor for TrainerHub<B> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .tell::<UploadTraining>()
            .tell::<JoinPool>()
            .tell::<EpochVerdict>()
            .tell::<UploadBatch>()
            .tell::<StartTraining>()
            .ask::<UploadManifest>()
            .ask::<OfferMaterial>();
    }
}

impl<B: ServerBackend> Handle<JoinPool> for TrainerHub<B> {
    fn handle(&mut self, msg: JoinPool, ctx: &MessageContext) -> Result<(), Rejection> {
        self.roster.require(ctx, "JoinPool", &[Role::Worker])?;
        // A worker serves every job; each job sends it its own keys and units.
        for trainer in self.jobs.values_mut() {
            trainer.handle(msg, ctx)?;
        }
        Ok(())
    }
}

impl<B: ServerBackend> Respond<OfferMaterial> for TrainerHub<B> {
    fn respond(&mut self, msg: OfferMaterial, ctx: &MessageContext) -> Response<MaterialAnswer> {
        match self.own_job(ctx, "OfferMaterial") {
            Ok(trainer) => trainer.respond(msg, ctx),
            Err(e) => Response::Ready(Err(e.into())),
        }
    }
}

impl<B: ServerBackend> Respond<UploadManifest> for TrainerHub<B> {
    fn respond(&mut self, msg: UploadManifest, ctx: &MessageContext) -> Response<UploadHave> {
        const MESSAGE: &str = "UploadManifest";
        if let Err(e) = self.own_job(ctx, MESSAGE) {
            return Response::Ready(Err(e.into()));
        }
        if let Err(e) = self.owners.claim(ctx.sender(), msg.job, MESSAGE) {
            return Response::Ready(Err(e.into()));
        }
        match self.own_job(ctx, MESSAGE) {
            Ok(trainer) => trainer.respond(msg, ctx),
            Err(e) => Response::Ready(Err(e.into())),
        }
    }
}

impl<B: ServerBackend> Handle<UploadBatch> for TrainerHub<B> {
    fn handle(&mut self, msg: UploadBatch, ctx: &MessageContext) -> Result<(), Rejection> {
        const MESSAGE: &str = "UploadBatch";
        self.own_job(ctx, MESSAGE)?;
        self.owners.check(ctx.sender(), msg.body.job, MESSAGE)?;
        self.own_job(ctx, MESSAGE)?.handle(msg, ctx)
    }
}

impl<B: ServerBackend> Handle<StartTraining> for TrainerHub<B> {
    fn handle(&mut self, msg: StartTraining, ctx: &MessageContext) -> Result<(), Rejection> {
        const MESSAGE: &str = "StartTraining";
        self.own_job(ctx, MESSAGE)?;
        self.owners.check(ctx.sender(), msg.body.job, MESSAGE)?;
        self.own_job(ctx, MESSAGE)?.handle(msg, ctx)
    }
}

impl<B: ServerBackend> Handle<UploadTraining> for TrainerHub<B> {
    fn handle(&mut self, msg: UploadTraining, ctx: &MessageContext) -> Result<(), Rejection> {
        self.own_job(ctx, "UploadTraining")?.handle(msg, ctx)
    }
}

impl<B: ServerBackend> Handle<EpochVerdict> for TrainerHub<B> {
    fn handle(&mut self, msg: EpochVerdict, ctx: &MessageContext) -> Result<(), Rejection> {
        const MESSAGE: &str = "EpochVerdict";
        let trainer = self.own_job(ctx, MESSAGE)?;
        if trainer.running().is_none() {
            return Err(IsolationError::NoJob {
                sender: ctx.sender().clone(),
                message: MESSAGE,
            }
            .into());
        }
        trainer.handle(msg, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> NodeName {
        NodeName::new(s).unwrap()
    }

    #[test]
    fn a_job_belongs_to_the_client_that_sent_its_manifest() {
        let (a, b) = (name("client-a"), name("client-b"));
        let job = Sha256Digest([7; 32]);
        let mut owners = JobOwners::default();
        owners.claim(&a, job, "UploadManifest").unwrap();
        // A again (a reconnect) is fine; B naming A's job is refused, naming B and the job.
        owners.claim(&a, job, "UploadManifest").unwrap();
        owners.check(&a, job, "UploadBatch").unwrap();
        let e = owners.check(&b, job, "UploadBatch").unwrap_err();
        assert_eq!(
            e,
            IsolationError::ForeignJob {
                sender: b.clone(),
                job,
                message: "UploadBatch"
            }
        );
        let text = e.to_string();
        assert!(
            text.contains("client-b") && text.contains(&job.to_string()),
            "{text}"
        );
        assert!(owners.claim(&b, job, "UploadManifest").is_err());
        assert_eq!(owners.owner(&job), Some(&a));
        // Unknown jobs pass the check (the client's own trainer answers them).
        owners
            .check(&b, Sha256Digest([1; 32]), "StartTraining")
            .unwrap();
        // Each client's memory of jobs is bounded; the oldest is forgotten first.
        for i in 0..MAX_JOBS_PER_CLIENT {
            owners
                .claim(&a, Sha256Digest([100 + i as u8; 32]), "UploadManifest")
                .unwrap();
        }
        assert_eq!(owners.owner(&job), None);
        assert_eq!(owners.owner.len(), MAX_JOBS_PER_CLIENT);
    }

    #[test]
    fn only_a_hub_of_several_clients_splits_directories() {
        let base = Path::new("/srv/ckpt");
        assert_eq!(per_client(base, &name("client-a"), false), base);
        assert_eq!(
            per_client(base, &name("client-a"), true),
            base.join("client-a")
        );
    }
}
