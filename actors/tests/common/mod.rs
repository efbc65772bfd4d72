//! Shared setup: a small slice of the bundled digits pack on the simulator backend.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::client::{EncryptedUpload, StopPolicy};
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, RunOutcome, Taps, encrypt_dataset, hetal_unit,
    upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_data::FeaturePack;
use hetal_learn::eval::{SimConfig, SimCt, Simulator};
use hetal_learn::pack::UnitShape;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{
    EncryptedTrainer, HyperParams, Preset, SoftmaxRegression, TrainingClient, Verdict,
    run_encrypted_training,
};
use hetal_runtime::NodeName;
use hetal_runtime::transport::MemoryNetwork;
use ndarray::{Array2, s};

/// Slots of the simulated ciphertexts (small: fast tests).
pub const SLOTS: usize = 1 << 12;

/// A digits subset: training rows, validation rows and labels.
pub struct Digits {
    pub train_x: Array2<f64>,
    pub train_y: Vec<usize>,
    pub val_x: Array2<f64>,
    pub val_y: Vec<usize>,
    pub classes: usize,
}

pub fn digits(train_rows: usize, val_rows: usize) -> Digits {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits");
    let pack = FeaturePack::load_dir(&dir).expect("bundled data/digits");
    Digits {
        train_x: pack
            .train()
            .features()
            .slice(s![..train_rows, ..])
            .to_owned(),
        train_y: pack.train().labels()[..train_rows].to_vec(),
        val_x: pack.val().features().slice(s![..val_rows, ..]).to_owned(),
        val_y: pack.val().labels()[..val_rows].to_vec(),
        classes: pack.num_classes(),
    }
}

pub fn sim_config() -> SimConfig {
    SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(SLOTS)
    }
}

pub fn setup(data: &Digits, max_epochs: usize, patience: usize) -> TrainingSetup {
    let hyper = HyperParams {
        batch_size: 32,
        max_epochs,
        patience,
        shuffle_seed: Some(5),
        ..Preset::Digits.hyper()
    };
    TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit: hetal_unit(hyper.batch_size, data.classes, SLOTS).unwrap(),
        classes: data.classes,
        dim: data.train_x.ncols(),
        // As the single-process run (`run_encrypted_training`) validates.
        validation: ValidationForm::Probabilities,
    }
}

pub fn plain(data: &Digits) -> PlainData<'_> {
    PlainData {
        train_x: data.train_x.view(),
        train_y: &data.train_y,
        val_x: data.val_x.view(),
    }
}

/// The single-process run of `hetal-learn` on the same inputs: (verdicts, best model).
pub fn single_process(
    data: &Digits,
    setup: &TrainingSetup,
    budget: Option<usize>,
) -> (Vec<Verdict>, SoftmaxRegression) {
    let sim = Simulator::new(sim_config()).unwrap();
    let mut client = TrainingClient::new(
        &sim,
        setup.unit,
        setup.classes,
        setup.dim,
        setup.hyper.patience,
    )
    .unwrap();
    let train = client
        .encrypt_training_set(data.train_x.view(), &data.train_y, setup.hyper.batch_size)
        .unwrap();
    let val = client.encrypt_features(data.val_x.view()).unwrap();
    let mut server = EncryptedTrainer::new(
        &sim,
        setup.hyper,
        setup.variant,
        client.initial_weights().unwrap(),
        sim.config().bootstrap_min_level,
    )
    .unwrap();
    let epochs = budget
        .unwrap_or(setup.hyper.max_epochs)
        .min(setup.hyper.max_epochs);
    let run = run_encrypted_training(
        &mut server,
        &mut client,
        &train,
        &val,
        &data.val_y,
        epochs,
        setup.hyper.shuffle_seed,
    )
    .unwrap();
    let model = client
        .decrypt_model(server.best_weights(), server.weight_scale())
        .unwrap();
    (run.verdicts, model)
}

/// Largest absolute difference of two weight matrices.
pub fn max_diff(a: &SoftmaxRegression, b: &SoftmaxRegression) -> f64 {
    a.weights()
        .iter()
        .zip(b.weights())
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

/// Bound on the difference between a sharded and an unsharded run on the simulator: the only
/// difference is the order of floating-point additions inside each matmul (at most `slots`
/// terms per slot, each reordering moving a sum by at most `terms·ε·|sum|`), compounded over
/// the steps and scaled by the weights' magnitude.
pub fn float_reorder_bound(steps: usize, reference: &SoftmaxRegression) -> f64 {
    let w_max = reference
        .weights()
        .iter()
        .fold(1.0f64, |m, x| m.max(x.abs()));
    (steps.max(1) as f64) * SLOTS as f64 * f64::EPSILON * w_max * 64.0
}

/// Runs a deployment with `workers` workers on the simulator backend.
pub async fn run_sim(
    network: Network,
    workers: usize,
    evaluator: bool,
    data: &Digits,
    setup: TrainingSetup,
    budget: Option<usize>,
) -> RunOutcome {
    let deployment = Deployment::start(Layout {
        workers,
        spare_workers: 0,
        evaluator,
        network,
    })
    .await
    .unwrap();
    let (backend, mut parties) =
        sim_parties(&deployment, &data.val_y, setup.hyper.patience, budget);
    for i in 0..workers {
        deployment
            .start_worker::<SimServer>(i, ServerOptions::default(), None)
            .await
            .unwrap();
    }
    parties
        .wait_for_workers(workers, Duration::from_secs(10))
        .await
        .unwrap();
    let upload: EncryptedUpload<SimCt> = encrypt_dataset(&*backend, &setup, plain(data)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &upload, None)
        .await
        .unwrap();
    let out = parties
        .finish(Duration::from_secs(120), |_| {})
        .await
        .unwrap();
    deployment.shutdown().await;
    out
}

/// The client's simulator backend and the parties of `deployment` (client, trainer, evaluator
/// where the layout has one), stopping by `patience` and an optional epoch `budget`.
pub fn sim_parties(
    deployment: &Deployment,
    val_y: &[usize],
    patience: usize,
    budget: Option<usize>,
) -> (Arc<SimClient>, hetal_actors::deploy::Parties) {
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let parties = deployment
        .start_parties(
            Arc::clone(&backend),
            val_y.to_vec(),
            StopPolicy { patience, budget },
            ServerOptions::default(),
            &Taps::default(),
        )
        .unwrap();
    (backend, parties)
}

/// The client and a trainer alone (no worker, no evaluator) in memory, the network joining
/// them (to cut and heal their link) and their names.
pub async fn lone_trainer_in_memory() -> (Deployment, MemoryNetwork, NodeName, NodeName) {
    let deployment = Deployment::start(Layout {
        workers: 0,
        spare_workers: 0,
        evaluator: false,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let net = deployment.memory_network().unwrap().clone();
    let (client, trainer) = (
        deployment.roster.client.clone(),
        deployment.roster.trainer.clone(),
    );
    (deployment, net, client, trainer)
}

/// `n` synthetic rows of `d` features in [-0.3, 0.7) and labels over `c` classes.
pub fn toy_rows(n: usize, d: usize, c: usize) -> (Array2<f64>, Vec<usize>) {
    let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.3);
    let labels = (0..n).map(|i| (i * 5 / 3) % c).collect();
    (x, labels)
}

/// [`toy_rows`] as the client's plaintext, the training rows doubling as the validation set.
pub fn toy_plain<'a>(x: &'a Array2<f64>, labels: &'a [usize]) -> PlainData<'a> {
    PlainData {
        train_x: x.view(),
        train_y: labels,
        val_x: x.view(),
    }
}

/// One epoch of unshuffled face-mask hyper-parameters in batches of `batch` rows, packed for
/// `slots` slots, validated by logits: the CKKS tests' job.
pub fn ckks_setup(batch: usize, classes: usize, dim: usize, slots: usize) -> TrainingSetup {
    let hyper = HyperParams {
        batch_size: batch,
        max_epochs: 1,
        shuffle_seed: None,
        ..Preset::FaceMask.hyper()
    };
    TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit: UnitShape::hetal(batch, classes, slots).unwrap(),
        classes,
        dim,
        validation: ValidationForm::Logits,
    }
}

/// A fresh directory `hetal-actors-{name}-…` under the system's temporary one, removed when
/// dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates the directory (unique per process and call).
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "hetal-actors-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
