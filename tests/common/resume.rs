//! The small simulator job that the restart tests run twice, once uninterrupted in memory and
//! once across processes with a killed trainer, plus the client side of the second run.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::client::{Client, ClientEvent, EncryptedUpload, StopPolicy, upload};
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, RunOutcome, Taps, encrypt_dataset, hetal_unit,
    upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_actors::roster::{CLIENT_ACTOR, Roster};
use hetal_data::FeaturePack;
use hetal_learn::eval::{SimConfig, SimCt};
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Preset, SoftmaxRegression, Verdict};
use hetal_runtime::identity::{Validity, generate_cluster, write_cluster};
use hetal_runtime::{Node, NodeConfig, NodeName};
use ndarray::{Array2, s};
use tokio::sync::mpsc;

/// Slots of the simulated ciphertexts (small: fast).
pub const SLOTS: usize = 1 << 12;
/// Training rows, batch size, epochs: 10 steps per epoch, 3 epochs.
pub const TRAIN_ROWS: usize = 320;
pub const BATCH: usize = 32;
pub const EPOCHS: usize = 3;
pub const STEPS_PER_EPOCH: u64 = (TRAIN_ROWS / BATCH) as u64;
/// Steps of the whole job.
pub const TOTAL_STEPS: u64 = STEPS_PER_EPOCH * EPOCHS as u64;
/// Generous deadlines for a loaded 2-core machine (each is a deadline, never a pause).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// The client's stopping rule: every epoch runs.
pub const POLICY: StopPolicy = StopPolicy {
    patience: 0,
    budget: None,
};

/// `s` as a node name.
pub fn name(s: &str) -> NodeName {
    NodeName::new(s).unwrap()
}

/// Client `client`, trainer `trainer`, no evaluator, and `workers`.
pub fn roster(workers: &[&str]) -> Roster {
    Roster {
        client: name("client"),
        trainer: name("trainer"),
        evaluator: None,
        workers: workers.iter().map(|w| name(w)).collect(),
    }
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Distinct free UDP ports on loopback (held together while picked, then released).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let sockets: Vec<UdpSocket> = (0..N)
        .map(|_| UdpSocket::bind(loopback(0)).unwrap())
        .collect();
    std::array::from_fn(|i| sockets[i].local_addr().unwrap().port())
}

/// A fresh certificate authority and identities for `nodes`, written to `dir`.
pub fn write_certs(dir: &Path, nodes: &[&str]) {
    let names: Vec<NodeName> = nodes.iter().map(|n| name(n)).collect();
    let (ca, identities) = generate_cluster(&names, Validity::default()).unwrap();
    write_cluster(dir, &ca, &identities).unwrap();
}

/// A slice of the bundled digits pack.
pub struct Data {
    pub train_x: Array2<f64>,
    pub train_y: Vec<usize>,
    pub val_x: Array2<f64>,
    pub val_y: Vec<usize>,
    pub classes: usize,
}

/// The first [`TRAIN_ROWS`] training rows and 64 validation rows of `data/digits`.
pub fn data() -> Data {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/digits");
    let pack = FeaturePack::load_dir(&dir).expect("bundled data/digits");
    Data {
        train_x: pack
            .train()
            .features()
            .slice(s![..TRAIN_ROWS, ..])
            .to_owned(),
        train_y: pack.train().labels()[..TRAIN_ROWS].to_vec(),
        val_x: pack.val().features().slice(s![..64, ..]).to_owned(),
        val_y: pack.val().labels()[..64].to_vec(),
        classes: pack.num_classes(),
    }
}

/// What trainers and workers build from the simulator material the client sends.
pub fn sim_config() -> SimConfig {
    SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(SLOTS)
    }
}

/// The job: digits hyper-parameters, [`BATCH`] and [`EPOCHS`], shuffled with `shuffle_seed`.
pub fn setup(d: &Data, shuffle_seed: u64) -> TrainingSetup {
    let hyper = HyperParams {
        batch_size: BATCH,
        max_epochs: EPOCHS,
        patience: 0,
        shuffle_seed: Some(shuffle_seed),
        ..Preset::Digits.hyper()
    };
    TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit: hetal_unit(BATCH, d.classes, SLOTS).unwrap(),
        classes: d.classes,
        dim: d.train_x.ncols(),
        validation: ValidationForm::Probabilities,
    }
}

/// `d` as the client's plaintext.
pub fn plain(d: &Data) -> PlainData<'_> {
    PlainData {
        train_x: d.train_x.view(),
        train_y: &d.train_y,
        val_x: d.val_x.view(),
    }
}

/// The uninterrupted run: the same job with `workers` workers, in one process, in memory.
pub async fn uninterrupted(d: &Data, job: TrainingSetup, workers: usize) -> RunOutcome {
    let deployment = Deployment::start(Layout {
        workers,
        spare_workers: 0,
        evaluator: false,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let mut parties = deployment
        .start_parties(
            Arc::clone(&backend),
            d.val_y.clone(),
            POLICY,
            ServerOptions::default(),
            &Taps::default(),
        )
        .unwrap();
    for i in 0..workers {
        deployment
            .start_worker::<SimServer>(i, ServerOptions::default(), None)
            .await
            .unwrap();
    }
    if workers > 0 {
        parties.wait_for_workers(workers, PATIENCE).await.unwrap();
    }
    let up = encrypt_dataset(&*backend, &job, plain(d)).unwrap();
    upload_from_client(&deployment, &*backend, job, &up, None)
        .await
        .unwrap();
    let out = parties.finish(PATIENCE, |_| {}).await.unwrap();
    deployment.shutdown().await;
    out
}

/// Step counts of the checkpoint files in `dir`, newest first.
pub fn checkpoint_steps(dir: &Path) -> Vec<u64> {
    let mut steps: Vec<u64> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|n| {
                    n.strip_prefix("checkpoint-")?
                        .strip_suffix(".hckp")?
                        .parse()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    steps.sort_unstable_by(|a, b| b.cmp(a));
    steps
}

/// Waits (polling) until a checkpoint inside epoch 1 is in `dir`, asserting that `trainer`
/// is still running meanwhile.
pub async fn await_checkpoint_in_epoch_1(dir: &Path, trainer: &mut Child) {
    let deadline = Instant::now() + PATIENCE;
    while checkpoint_steps(dir)
        .first()
        .is_none_or(|&s| s <= STEPS_PER_EPOCH)
    {
        assert!(
            Instant::now() < deadline,
            "no checkpoint in epoch 1 within {PATIENCE:?}"
        );
        assert!(
            trainer.try_wait().unwrap().is_none(),
            "the trainer exited early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Asserts that the newest checkpoint in `dir` is past epoch 0 and before the job's end.
pub fn assert_killed_mid_job(dir: &Path) {
    let at_kill = checkpoint_steps(dir)[0];
    assert!(
        at_kill > STEPS_PER_EPOCH && at_kill < TOTAL_STEPS,
        "killed after step {at_kill} of {TOTAL_STEPS}"
    );
}

/// The client side of the real run: a node from `config` with the client actor registered.
pub struct ClientSide {
    /// The client's node.
    pub node: Node,
    /// The roster the client runs with.
    pub roster: Roster,
    /// The simulator backend that encrypts the upload.
    pub backend: Arc<SimClient>,
    /// What the client actor reports.
    pub events: mpsc::UnboundedReceiver<ClientEvent>,
}

impl ClientSide {
    /// Starts the node and registers the client actor on it.
    pub async fn start(config: NodeConfig, roster: Roster, d: &Data) -> Self {
        let node = Node::start(config).await.unwrap();
        let backend = Arc::new(SimClient::new(sim_config()).unwrap());
        let (tx, events) = mpsc::unbounded_channel();
        node.register(
            CLIENT_ACTOR,
            Client::new(
                node.clone(),
                roster.clone(),
                Arc::clone(&backend),
                d.val_y.clone(),
                POLICY,
                tokio::runtime::Handle::current(),
                tx,
                None,
            ),
        )
        .unwrap();
        Self {
            node,
            roster,
            backend,
            events,
        }
    }

    /// Encrypts `d` for `job`.
    pub fn encrypt(&self, d: &Data, job: &TrainingSetup) -> EncryptedUpload<SimCt> {
        encrypt_dataset(&*self.backend, job, plain(d)).unwrap()
    }

    /// Uploads until the trainer takes the job (it may not be listening yet).
    pub async fn upload_until_taken(&self, job: TrainingSetup, up: &EncryptedUpload<SimCt>) {
        let deadline = Instant::now() + PATIENCE;
        while let Err(e) = upload(&self.node, &self.roster, &*self.backend, job, up, None).await {
            assert!(
                Instant::now() < deadline,
                "the trainer never took the upload: {e}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The verdicts the client gave and the final model, which must come after [`TOTAL_STEPS`].
    pub async fn final_model(&mut self) -> (SoftmaxRegression, Vec<Verdict>) {
        let mut verdicts: Vec<Verdict> = Vec::new();
        let deadline = Instant::now() + 2 * PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.events.recv()).await {
                Ok(Some(ClientEvent::Reviewed(v))) => verdicts.push(v),
                Ok(Some(ClientEvent::Finished { model, steps, .. })) => {
                    assert_eq!(steps as u64, TOTAL_STEPS);
                    return (model, verdicts);
                }
                Ok(Some(ClientEvent::Failed(e))) => panic!("client: {e}"),
                Ok(None) | Err(_) => panic!("no final model within {:?}", 2 * PATIENCE),
            }
        }
    }
}

/// The largest absolute difference between two models' weights.
pub fn max_diff(a: &SoftmaxRegression, b: &SoftmaxRegression) -> f64 {
    (a.weights() - b.weights())
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Writes the first `train_rows` training rows and `val_rows` validation rows of `d` as
/// `features_{train,val}.npy` (float64) with `labels_{train,val}.npy` (int64) beside them in
/// `dir`; returns the two feature files.
pub fn write_npy_pack(
    d: &Data,
    dir: &Path,
    train_rows: usize,
    val_rows: usize,
) -> (std::path::PathBuf, std::path::PathBuf) {
    use hetal::data::npy::{NpyArray, NpyData, write_npy};
    let write = |name: &str, x: ndarray::ArrayView2<'_, f64>, y: &[usize]| {
        let features = NpyArray {
            shape: vec![x.nrows(), x.ncols()],
            data: NpyData::F64(x.iter().copied().collect()),
        };
        let labels = NpyArray {
            shape: vec![y.len()],
            data: NpyData::I64(y.iter().map(|&l| l as i64).collect()),
        };
        let path = dir.join(format!("features_{name}.npy"));
        std::fs::write(&path, write_npy(&features).unwrap()).unwrap();
        std::fs::write(
            dir.join(format!("labels_{name}.npy")),
            write_npy(&labels).unwrap(),
        )
        .unwrap();
        path
    };
    (
        write(
            "train",
            d.train_x.slice(s![..train_rows, ..]),
            &d.train_y[..train_rows],
        ),
        write(
            "val",
            d.val_x.slice(s![..val_rows, ..]),
            &d.val_y[..val_rows],
        ),
    )
}
