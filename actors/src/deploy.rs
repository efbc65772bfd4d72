//! A whole deployment in one process: one node per party, talking QUIC over loopback with real
//! certificates (written to a temporary directory and loaded back, as separate processes would)
//! or over the in-process transport. `hetal simulate`, the examples and the tests use it.
//!
//! [`Deployment::start_shared`] starts several client nodes on one trainer, which serves each
//! of them an isolated job ([`TrainerHub`]); [`Deployment::start_shared_parties`] registers
//! them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hetal_learn::pack::UnitShape;
use hetal_learn::train::{EncryptedBatch, SoftmaxRegression, TrainingClient, Verdict};
use hetal_runtime::identity::{Validity, generate_cluster, write_cluster};
use hetal_runtime::transport::MemoryNetwork;
use hetal_runtime::{Node, NodeConfig, NodeIdentity, NodeName};
use ndarray::{ArrayView2, s};
use tokio::sync::mpsc;

use crate::backend::{ClientBackend, ServerBackend, ServerOptions};
use crate::client::{Client, ClientEvent, EncryptedUpload, StopPolicy, upload_with_progress};
use crate::error::{ActorError, Result};
use crate::evaluator::Evaluator;
use crate::messages::TrainingSetup;
use crate::progress::{ProgressEvent, ProgressSink, report};
use crate::roster::{CLIENT_ACTOR, EVALUATOR_ACTOR, Roster, SharedRoster, TRAINER_ACTOR};
use crate::store::checkpoint::CheckpointConfig;
use crate::store::dataset::DatasetConfig;
use crate::tap::Tap;
use crate::trainer::hub::TrainerHub;
use crate::trainer::{
    DEFAULT_UNIT_TIMEOUT, DEFAULT_VERDICT_TIMEOUT, Trainer, TrainerConfig, TrainerHandle,
    TrainerReport,
};
use crate::worker::{WorkerStats, start_worker};

/// How the nodes talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// QUIC with mutual TLS on 127.0.0.1.
    QuicLoopback,
    /// The runtime's in-process transport.
    InMemory,
}

/// The shape of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Workers started with the deployment.
    pub workers: usize,
    /// Extra worker names that may join later.
    pub spare_workers: usize,
    /// Whether validation runs on a separate evaluator node.
    pub evaluator: bool,
    /// Transport.
    pub network: Network,
}

/// The running nodes of a deployment.
pub struct Deployment {
    /// Who is who (the first client's view).
    pub roster: Roster,
    /// The client's node (the first client's, when there are several).
    pub client: Node,
    /// The nodes of the other clients of a shared trainer ([`Deployment::start_shared`]), in
    /// roster order.
    pub other_clients: Vec<Node>,
    /// Every client with the shared parties.
    shared: SharedRoster,
    /// The trainer's node.
    pub trainer: Node,
    /// The evaluator's node.
    pub evaluator: Option<Node>,
    /// Worker nodes, in roster order (spares included; not all need run actors).
    pub workers: Vec<Node>,
    cert_dir: Option<PathBuf>,
    progress: Option<ProgressSink>,
    checkpoint: Option<CheckpointConfig>,
    review_file: Option<PathBuf>,
    dataset: Option<DatasetConfig>,
    memory_network: Option<MemoryNetwork>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("roster", &self.roster)
            .finish_non_exhaustive()
    }
}

fn name(s: &str) -> Result<NodeName> {
    NodeName::new(s).map_err(|e| ActorError::Config(e.to_string()))
}

/// A fresh private directory for certificates.
fn temp_cert_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("hetal-certs-{}-{nanos}", std::process::id()))
}

impl Deployment {
    /// Starts one node per party (inside the current tokio runtime).
    pub async fn start(layout: Layout) -> Result<Self> {
        Self::start_shared(layout, 1).await
    }

    /// Starts one node per party with `clients` client nodes (`client`, `client-2`, …), whom
    /// one trainer serves each in an isolated job.
    pub async fn start_shared(layout: Layout, clients: usize) -> Result<Self> {
        let roster = Roster {
            client: name("client")?,
            trainer: name("trainer")?,
            evaluator: if layout.evaluator {
                Some(name("evaluator")?)
            } else {
                None
            },
            workers: (1..=layout.workers + layout.spare_workers)
                .map(|i| name(&format!("worker-{i}")))
                .collect::<Result<_>>()?,
        };
        let more = (2..=clients.max(1))
            .map(|i| name(&format!("client-{i}")))
            .collect::<Result<_>>()?;
        let shared = SharedRoster::new(roster.clone(), more)?;
        // The clients first, then the trainer, the evaluator and the workers.
        let names = shared.all_nodes();
        let mut memory_network = None;
        let (nodes, cert_dir) = match layout.network {
            Network::InMemory => {
                let net = MemoryNetwork::new();
                let mut nodes = Vec::new();
                for n in &names {
                    nodes.push(Node::in_memory(&net, n.clone()).await?);
                }
                memory_network = Some(net);
                (nodes, None)
            }
            Network::QuicLoopback => {
                let dir = temp_cert_dir();
                let (ca, identities) = generate_cluster(&names, Validity::default())
                    .map_err(|e| ActorError::Config(e.to_string()))?;
                write_cluster(&dir, &ca, &identities)
                    .map_err(|e| ActorError::Config(e.to_string()))?;
                let mut nodes = Vec::new();
                for n in &names {
                    let identity = NodeIdentity::load(&dir, n)
                        .map_err(|e| ActorError::Config(e.to_string()))?;
                    let listen = "127.0.0.1:0"
                        .parse()
                        .map_err(|e: std::net::AddrParseError| ActorError::Config(e.to_string()))?;
                    let mut config = NodeConfig::new(identity, listen);
                    for peer in names.iter().filter(|p| *p != n) {
                        config = config.with_peer(peer.clone(), None);
                    }
                    nodes.push(Node::start(config).await?);
                }
                for a in &nodes {
                    for b in &nodes {
                        if a.name() != b.name()
                            && let Some(addr) = b.local_addr()
                        {
                            a.set_peer_addr(b.name(), addr)?;
                        }
                    }
                }
                (nodes, Some(dir))
            }
        };
        let mut nodes = nodes.into_iter();
        let mut next = || {
            nodes
                .next()
                .ok_or_else(|| ActorError::Config("missing node".into()))
        };
        let client = next()?;
        let other_clients = (1..shared.clients().len())
            .map(|_| next())
            .collect::<Result<_>>()?;
        let trainer = next()?;
        let evaluator = if layout.evaluator {
            Some(next()?)
        } else {
            None
        };
        let workers = (0..roster.workers.len())
            .map(|_| next())
            .collect::<Result<_>>()?;
        Ok(Self {
            roster,
            client,
            other_clients,
            shared,
            trainer,
            evaluator,
            workers,
            cert_dir,
            progress: None,
            checkpoint: None,
            review_file: None,
            dataset: None,
            memory_network,
        })
    }

    /// Has the parties started afterwards (and the client's upload) report to `sink`.
    pub fn with_progress(mut self, sink: ProgressSink) -> Self {
        self.progress = Some(sink);
        self
    }

    /// Has the trainer started afterwards checkpoint its job (and resume) as `config` says.
    pub fn with_checkpoints(mut self, config: CheckpointConfig) -> Self {
        self.checkpoint = Some(config);
        self
    }

    /// Has the client started afterwards keep its verdicts in `path` (and continue from the
    /// verdicts already there): with [`Deployment::with_checkpoints`], a restarted deployment
    /// resumes in any epoch.
    pub fn with_review_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.review_file = Some(path.into());
        self
    }

    /// Has the trainer started afterwards keep its training set on disk and stream it within
    /// a memory budget ([`Trainer::with_dataset`]).
    pub fn with_dataset(mut self, dataset: DatasetConfig) -> Self {
        self.dataset = Some(dataset);
        self
    }

    /// The in-process network of a [`Network::InMemory`] deployment (tests cut and heal its
    /// links: [`MemoryNetwork::partition`]).
    pub fn memory_network(&self) -> Option<&MemoryNetwork> {
        self.memory_network.as_ref()
    }

    /// The progress sink, if any.
    pub fn progress(&self) -> Option<&ProgressSink> {
        self.progress.as_ref()
    }

    /// Starts a worker actor on worker node `index` (it joins the trainer's pool).
    pub async fn start_worker<S: ServerBackend>(
        &self,
        index: usize,
        options: ServerOptions,
        tap: Option<Tap>,
    ) -> Result<WorkerStats> {
        let node = self
            .workers
            .get(index)
            .ok_or_else(|| ActorError::Config(format!("no worker node {index}")))?;
        start_worker::<S>(
            node,
            self.roster.clone(),
            options,
            tap,
            Duration::from_secs(10),
        )
        .await
    }

    /// Registers the trainer, the evaluator and the client (not the workers).
    pub fn start_parties<K: ClientBackend>(
        &self,
        backend: Arc<K>,
        val_labels: Vec<usize>,
        policy: StopPolicy,
        options: ServerOptions,
        taps: &Taps,
    ) -> Result<Parties> {
        let runtime = tokio::runtime::Handle::current();
        let trainer =
            Trainer::<K::Server>::new(self.trainer.clone(), self.trainer_config(options, taps))
                .with_dataset(self.dataset.clone());
        let handle = trainer.handle();
        self.trainer.register(TRAINER_ACTOR, trainer)?;
        self.register_evaluator::<K::Server>(options, taps, false)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut client = Client::new(
            self.client.clone(),
            self.roster.clone(),
            backend,
            val_labels,
            policy,
            runtime,
            tx,
            taps.client.clone(),
        )
        .with_progress(self.progress.clone());
        if let Some(path) = &self.review_file {
            client = client.with_review_file(path)?;
        }
        self.client.register(CLIENT_ACTOR, client)?;
        Ok(Parties {
            trainer: handle,
            events: rx,
        })
    }

    /// Every client with the shared parties.
    pub fn shared_roster(&self) -> &SharedRoster {
        &self.shared
    }

    /// Client `index`'s node and the roster its job sees (0 is [`Deployment::client`]).
    pub fn client_at(&self, index: usize) -> Result<(&Node, Roster)> {
        let node = match index {
            0 => Some(&self.client),
            i => self.other_clients.get(i - 1),
        }
        .ok_or_else(|| ActorError::Config(format!("no client node {index}")))?;
        let roster = self
            .shared
            .for_client(node.name())
            .ok_or_else(|| ActorError::Config(format!("{} is not a client", node.name())))?;
        Ok((node, roster))
    }

    /// Registers the trainer serving every client (a [`TrainerHub`]), the evaluator (serving
    /// every client) where the layout has one, and one client actor per `clients` entry (its
    /// backend and validation labels, in client order).
    pub fn start_shared_parties<K: ClientBackend>(
        &self,
        clients: Vec<(Arc<K>, Vec<usize>)>,
        policy: StopPolicy,
        options: ServerOptions,
        taps: &Taps,
    ) -> Result<Vec<Parties>> {
        if clients.len() != self.shared.clients().len() {
            return Err(ActorError::Config(format!(
                "{} client backends for {} client nodes",
                clients.len(),
                self.shared.clients().len()
            )));
        }
        let runtime = tokio::runtime::Handle::current();
        let hub = TrainerHub::<K::Server>::new(
            self.trainer.clone(),
            self.shared.clone(),
            self.trainer_config(options, taps),
            self.dataset.clone(),
        );
        let handles = hub.handles();
        self.trainer.register(TRAINER_ACTOR, hub)?;
        self.register_evaluator::<K::Server>(options, taps, true)?;
        let mut parties = Vec::new();
        for (index, ((backend, labels), (_, handle))) in
            clients.into_iter().zip(handles).enumerate()
        {
            let (node, roster) = self.client_at(index)?;
            let (tx, rx) = mpsc::unbounded_channel();
            let client = Client::new(
                node.clone(),
                roster,
                backend,
                labels,
                policy,
                runtime.clone(),
                tx,
                taps.client.clone(),
            )
            .with_progress(self.progress.clone());
            node.register(CLIENT_ACTOR, client)?;
            parties.push(Parties {
                trainer: handle,
                events: rx,
            });
        }
        Ok(parties)
    }

    /// Registers the evaluator where the layout has one; `shared`: serving every client.
    fn register_evaluator<S: ServerBackend>(
        &self,
        options: ServerOptions,
        taps: &Taps,
        shared: bool,
    ) -> Result<()> {
        let Some(node) = &self.evaluator else {
            return Ok(());
        };
        let mut evaluator = Evaluator::<S>::new(
            node.clone(),
            self.roster.clone(),
            options,
            tokio::runtime::Handle::current(),
            taps.evaluator.clone(),
        )
        .with_progress(self.progress.clone());
        if shared {
            evaluator = evaluator.with_clients(self.shared.clone());
        }
        node.register(EVALUATOR_ACTOR, evaluator)?;
        Ok(())
    }

    /// The trainer configuration of this deployment (its first client's roster).
    fn trainer_config(&self, options: ServerOptions, taps: &Taps) -> TrainerConfig {
        TrainerConfig {
            roster: self.roster.clone(),
            options,
            unit_timeout: DEFAULT_UNIT_TIMEOUT,
            verdict_timeout: DEFAULT_VERDICT_TIMEOUT,
            runtime: tokio::runtime::Handle::current(),
            tap: taps.trainer.clone(),
            progress: self.progress.clone(),
            checkpoint: self.checkpoint.clone(),
        }
    }

    /// Shuts every node down.
    pub async fn shutdown(self) {
        let mut nodes = vec![self.client.clone(), self.trainer.clone()];
        nodes.extend(self.other_clients.iter().cloned());
        nodes.extend(self.evaluator.clone());
        nodes.extend(self.workers.iter().cloned());
        for node in nodes {
            node.shutdown().await;
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Some(dir) = &self.cert_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Optional byte recorders per party.
#[derive(Debug, Clone, Default)]
pub struct Taps {
    /// What the client sends.
    pub client: Option<Tap>,
    /// What the trainer sends.
    pub trainer: Option<Tap>,
    /// What the evaluator sends.
    pub evaluator: Option<Tap>,
    /// What the workers send.
    pub workers: Option<Tap>,
}

/// The registered parties of a deployment.
#[derive(Debug)]
pub struct Parties {
    /// The trainer's job outcome.
    pub trainer: TrainerHandle,
    events: mpsc::UnboundedReceiver<ClientEvent>,
}

/// What a run produced, as the client and the trainer saw it.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The client's verdicts, in order.
    pub verdicts: Vec<Verdict>,
    /// The decrypted best model.
    pub model: SoftmaxRegression,
    /// Epochs run.
    pub epochs: usize,
    /// Steps taken.
    pub steps: usize,
    /// The trainer's counters.
    pub trainer: TrainerReport,
    /// Wall time from upload to the decrypted model.
    pub elapsed: Duration,
}

impl Parties {
    /// Waits until `n` workers have joined the trainer's pool.
    pub async fn wait_for_workers(&self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.trainer.workers() < n {
            if Instant::now() > deadline {
                return Err(ActorError::Protocol(format!(
                    "only {} of {n} workers joined in {timeout:?}",
                    self.trainer.workers()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits for the client's verdicts and final model; `on_verdict` sees each verdict.
    pub async fn finish(
        &mut self,
        timeout: Duration,
        mut on_verdict: impl FnMut(&Verdict),
    ) -> Result<RunOutcome> {
        let start = Instant::now();
        let mut verdicts = Vec::new();
        loop {
            if start.elapsed() > timeout {
                return Err(ActorError::Lost(format!(
                    "no final model after {timeout:?}"
                )));
            }
            // A failed trainer job sends nothing more: report its error instead of waiting.
            if let Some(Err(e)) = self.trainer.outcome() {
                return Err(ActorError::Protocol(format!("trainer: {e}")));
            }
            let event =
                match tokio::time::timeout(Duration::from_millis(200), self.events.recv()).await {
                    Err(_) => continue,
                    Ok(None) => return Err(ActorError::Lost("the client stopped".into())),
                    Ok(Some(event)) => event,
                };
            match event {
                ClientEvent::Reviewed(v) => {
                    on_verdict(&v);
                    verdicts.push(v);
                }
                ClientEvent::Failed(e) => return Err(ActorError::Protocol(e)),
                ClientEvent::Finished {
                    model,
                    epochs,
                    steps,
                } => {
                    // The trainer stores its report right after sending the model.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    let trainer = loop {
                        if let Some(outcome) = self.trainer.outcome() {
                            break outcome.map_err(ActorError::Protocol)?;
                        }
                        if Instant::now() > deadline {
                            return Err(ActorError::Lost("trainer report missing".into()));
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    };
                    return Ok(RunOutcome {
                        verdicts,
                        model,
                        epochs,
                        steps,
                        trainer,
                        elapsed: start.elapsed(),
                    });
                }
            }
        }
    }
}

/// A labelled data set as plain arrays (what the client encrypts).
#[derive(Debug, Clone, Copy)]
pub struct PlainData<'a> {
    /// Training features.
    pub train_x: ArrayView2<'a, f64>,
    /// Training labels.
    pub train_y: &'a [usize],
    /// Validation features.
    pub val_x: ArrayView2<'a, f64>,
}

/// Encrypts a data set the way the client uploads it.
pub fn encrypt_dataset<K: ClientBackend>(
    backend: &K,
    setup: &TrainingSetup,
    data: PlainData<'_>,
) -> Result<EncryptedUpload<<K::Server as ServerBackend>::Ct>> {
    encrypt_dataset_with_progress(backend, setup, data, None)
}

/// [`encrypt_dataset`], reporting each encrypted batch (training batches, then validation
/// blocks) to `progress`.
pub fn encrypt_dataset_with_progress<K: ClientBackend>(
    backend: &K,
    setup: &TrainingSetup,
    data: PlainData<'_>,
    progress: Option<&ProgressSink>,
) -> Result<EncryptedUpload<<K::Server as ServerBackend>::Ct>> {
    let mut train = Vec::new();
    let mut upload = encrypt_dataset_each(backend, setup, data, progress, |batches| {
        train.extend(batches);
        Ok(())
    })?;
    upload.train = train;
    Ok(upload)
}

/// The error for training rows, labels and a batch size that do not fit together.
pub(crate) fn batch_mismatch(rows: usize, labels: usize, batch: usize) -> ActorError {
    ActorError::Config(format!(
        "{rows} training rows, {labels} labels, batch size {batch}"
    ))
}

/// Encrypts `data` for `setup` batch by batch (the same consecutive rows
/// `encrypt_training_set` takes), handing each batch's ciphertexts to `on_train` as soon as they
/// exist and reporting every encrypted batch (training batches, then validation blocks) to
/// `progress`. The returned upload holds the validation blocks and the initial weights; its
/// training batches are whatever `on_train` kept (none here). One loop for the in-memory
/// upload ([`encrypt_dataset_with_progress`]) and the client's batch files
/// ([`crate::client::stream::encrypt_to_files`]), so both encrypt exactly the same batches.
pub(crate) fn encrypt_dataset_each<K: ClientBackend>(
    backend: &K,
    setup: &TrainingSetup,
    data: PlainData<'_>,
    progress: Option<&ProgressSink>,
    mut on_train: impl FnMut(Vec<EncryptedBatch<<K::Server as ServerBackend>::Ct>>) -> Result<()>,
) -> Result<EncryptedUpload<<K::Server as ServerBackend>::Ct>> {
    let codec = backend.codec()?;
    let client = TrainingClient::new(
        &codec,
        setup.unit,
        setup.classes,
        setup.dim,
        setup.hyper.patience,
    )?;
    let (rows, batch) = (data.train_x.nrows(), setup.hyper.batch_size);
    if data.train_y.len() != rows || batch == 0 {
        return Err(batch_mismatch(rows, data.train_y.len(), batch));
    }
    let val_block = setup.unit.s0();
    let total = rows.div_ceil(batch) + data.val_x.nrows().div_ceil(val_block);
    let progress = progress.cloned();
    let mut done = 0;
    let tick = |done: &mut usize| {
        *done += 1;
        report(&progress, ProgressEvent::Encrypt { done: *done, total });
    };
    for lo in (0..rows).step_by(batch) {
        let hi = (lo + batch).min(rows);
        on_train(client.encrypt_training_set(
            data.train_x.slice(s![lo..hi, ..]),
            &data.train_y[lo..hi],
            batch,
        )?)?;
        tick(&mut done);
    }
    let mut validation = Vec::new();
    for lo in (0..data.val_x.nrows()).step_by(val_block) {
        let hi = (lo + val_block).min(data.val_x.nrows());
        validation.extend(client.encrypt_features(data.val_x.slice(s![lo..hi, ..]))?);
        tick(&mut done);
    }
    Ok(EncryptedUpload {
        train: Vec::new(),
        validation,
        initial_weights: client.initial_weights()?,
    })
}

/// The block shape HETAL uses for `setup`'s batch size and classes on `slots` slots.
pub fn hetal_unit(batch: usize, classes: usize, slots: usize) -> Result<UnitShape> {
    Ok(UnitShape::hetal(batch, classes, slots)?)
}

/// Uploads `data` from the deployment's client.
pub async fn upload_from_client<K: ClientBackend>(
    deployment: &Deployment,
    backend: &K,
    setup: TrainingSetup,
    data: &EncryptedUpload<<K::Server as ServerBackend>::Ct>,
    tap: Option<&Tap>,
) -> Result<()> {
    upload_with_progress(
        &deployment.client,
        &deployment.roster,
        backend,
        setup,
        data,
        tap,
        deployment.progress.as_ref(),
    )
    .await
}
