//! A trainer process killed with SIGKILL mid-epoch and started again: the client (here, in the
//! test process, talking QUIC over loopback with real certificates) keeps its connection
//! attempts up, the restarted trainer finds the saved upload and its newest checkpoint, and the
//! run ends with the very weights of an uninterrupted run (simulator backend, the trainer
//! computing locally: deterministic, so the comparison is exact).
//!
//! The trainer process is this test binary itself, started with `--ignored --exact
//! trainer_process` and the environment variable [`CHILD_DIR`]: no extra binary to build.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::client::{Client, ClientEvent, StopPolicy, upload};
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, RunOutcome, Taps, encrypt_dataset, hetal_unit,
    upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_actors::roster::{CLIENT_ACTOR, Roster, TRAINER_ACTOR};
use hetal_actors::store::checkpoint::CheckpointConfig;
use hetal_actors::trainer::{DEFAULT_UNIT_TIMEOUT, Trainer, TrainerConfig};
use hetal_data::FeaturePack;
use hetal_learn::eval::SimConfig;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Preset, SoftmaxRegression, Verdict};
use hetal_runtime::identity::{Validity, generate_cluster, write_cluster};
use hetal_runtime::{Node, NodeConfig, NodeIdentity, NodeName};
use ndarray::{Array2, s};
use tokio::sync::mpsc;

/// Environment variable naming the work directory of the trainer process (its presence makes
/// [`trainer_process`] run).
const CHILD_DIR: &str = "HETAL_CRASH_RESUME_DIR";
/// Environment variables with the trainer's and the client's UDP ports.
const TRAINER_PORT: &str = "HETAL_CRASH_RESUME_TRAINER_PORT";
const CLIENT_PORT: &str = "HETAL_CRASH_RESUME_CLIENT_PORT";

/// Slots of the simulated ciphertexts (small: fast).
const SLOTS: usize = 1 << 12;
/// Training rows, batch size, epochs: 10 steps per epoch, 3 epochs.
const TRAIN_ROWS: usize = 320;
const BATCH: usize = 32;
const EPOCHS: usize = 3;
const STEPS_PER_EPOCH: u64 = (TRAIN_ROWS / BATCH) as u64;
/// Generous bounds for a loaded 2-core machine (each is a deadline, never a pause).
const PATIENCE: Duration = Duration::from_secs(120);

fn name(s: &str) -> NodeName {
    NodeName::new(s).unwrap()
}

fn roster() -> Roster {
    Roster {
        client: name("client"),
        trainer: name("trainer"),
        evaluator: None,
        workers: Vec::new(),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Data {
    train_x: Array2<f64>,
    train_y: Vec<usize>,
    val_x: Array2<f64>,
    val_y: Vec<usize>,
    classes: usize,
}

fn data() -> Data {
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

fn sim_config() -> SimConfig {
    SimConfig {
        bootstrap_max_abs: Some(1.0),
        ..SimConfig::with_slots(SLOTS)
    }
}

fn setup(d: &Data) -> TrainingSetup {
    let hyper = HyperParams {
        batch_size: BATCH,
        max_epochs: EPOCHS,
        patience: 0,
        shuffle_seed: Some(11),
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

fn plain(d: &Data) -> PlainData<'_> {
    PlainData {
        train_x: d.train_x.view(),
        train_y: &d.train_y,
        val_x: d.val_x.view(),
    }
}

const POLICY: StopPolicy = StopPolicy {
    patience: 0,
    budget: None,
};

/// The trainer process: a QUIC node from the certificates in `$HETAL_CRASH_RESUME_DIR/certs`,
/// checkpointing every step into `.../checkpoints`, resuming the job saved there if any.
#[test]
#[ignore = "the trainer process of `a_trainer_killed_mid_epoch_resumes_to_the_same_weights`, \
            which starts it with the environment it needs"]
fn trainer_process() {
    let Some(dir) = std::env::var_os(CHILD_DIR).map(PathBuf::from) else {
        eprintln!("{CHILD_DIR} is not set: nothing to do (started by the crash test only)");
        return;
    };
    let port = |var: &str| -> u16 { std::env::var(var).unwrap().parse().unwrap() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let identity = NodeIdentity::load(&dir.join("certs"), &name("trainer")).unwrap();
        let config = NodeConfig::new(identity, loopback(port(TRAINER_PORT)))
            .with_peer(name("client"), Some(loopback(port(CLIENT_PORT))));
        let node = Node::start(config).await.unwrap();
        let mut trainer = Trainer::<SimServer>::new(
            node.clone(),
            TrainerConfig {
                roster: roster(),
                options: ServerOptions::default(),
                unit_timeout: DEFAULT_UNIT_TIMEOUT,
                verdict_timeout: PATIENCE,
                runtime: tokio::runtime::Handle::current(),
                tap: None,
                progress: None,
                checkpoint: Some(CheckpointConfig {
                    keep: 3,
                    ..CheckpointConfig::new(dir.join("checkpoints"))
                }),
            },
        );
        let resumed = trainer.resume_saved_job().unwrap();
        println!("trainer: resumed a saved job: {resumed}");
        let handle = trainer.handle();
        node.register(TRAINER_ACTOR, trainer).unwrap();
        let deadline = Instant::now() + 2 * PATIENCE;
        let report = loop {
            if let Some(outcome) = handle.outcome() {
                break outcome.unwrap();
            }
            assert!(Instant::now() < deadline, "the job did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!(
            "trainer: job done, {} steps, {} units computed here",
            report.steps, report.scheduler.units_local
        );
        node.shutdown().await;
    });
}

/// Two distinct free UDP ports on loopback (held together while picked, then released).
fn free_ports() -> (u16, u16) {
    let a = UdpSocket::bind(loopback(0)).unwrap();
    let b = UdpSocket::bind(loopback(0)).unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

fn start_trainer(dir: &Path, trainer_port: u16, client_port: u16) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "trainer_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(TRAINER_PORT, trainer_port.to_string())
        .env(CLIENT_PORT, client_port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Step counts of the checkpoint files in `dir`, newest first.
fn checkpoint_steps(dir: &Path) -> Vec<u64> {
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

/// The uninterrupted run: the same job in one process on the in-memory transport.
async fn uninterrupted(d: &Data) -> RunOutcome {
    let deployment = Deployment::start(Layout {
        workers: 0,
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
    let setup = setup(d);
    let up = encrypt_dataset(&*backend, &setup, plain(d)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &up, None)
        .await
        .unwrap();
    let out = parties.finish(PATIENCE, |_| {}).await.unwrap();
    deployment.shutdown().await;
    out
}

fn max_diff(a: &SoftmaxRegression, b: &SoftmaxRegression) -> f64 {
    (a.weights() - b.weights())
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Reads the child's output to its end (on a thread: it is a pipe).
fn collect_output(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trainer_killed_mid_epoch_resumes_to_the_same_weights() {
    let d = data();
    let reference = uninterrupted(&d).await;
    let total_steps = STEPS_PER_EPOCH * EPOCHS as u64;
    assert_eq!(reference.steps as u64, total_steps);

    let work = tempfile::tempdir().unwrap();
    let names = [name("client"), name("trainer")];
    let (ca, identities) = generate_cluster(&names, Validity::default()).unwrap();
    write_cluster(&work.path().join("certs"), &ca, &identities).unwrap();
    let (trainer_port, client_port) = free_ports();

    // The client, in this process, on a fixed port the trainer dials.
    let identity = NodeIdentity::load(&work.path().join("certs"), &name("client")).unwrap();
    let node = Node::start(
        NodeConfig::new(identity, loopback(client_port))
            .with_peer(name("trainer"), Some(loopback(trainer_port))),
    )
    .await
    .unwrap();
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let (tx, mut events) = mpsc::unbounded_channel();
    node.register(
        CLIENT_ACTOR,
        Client::new(
            node.clone(),
            roster(),
            Arc::clone(&backend),
            d.val_y.clone(),
            POLICY,
            tokio::runtime::Handle::current(),
            tx,
            None,
        ),
    )
    .unwrap();

    let mut first = start_trainer(work.path(), trainer_port, client_port);
    let first_out = collect_output(&mut first);
    let setup = setup(&d);
    let up = encrypt_dataset(&*backend, &setup, plain(&d)).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while let Err(e) = upload(&node, &roster(), &*backend, setup, &up, None).await {
        assert!(
            Instant::now() < deadline,
            "the trainer never took the upload: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Kill the trainer once a checkpoint inside epoch 1 is on disk (after the client's first
    // verdict, before the run can have ended).
    let ckpt = work.path().join("checkpoints");
    let deadline = Instant::now() + PATIENCE;
    while checkpoint_steps(&ckpt)
        .first()
        .is_none_or(|&s| s <= STEPS_PER_EPOCH)
    {
        assert!(
            Instant::now() < deadline,
            "no checkpoint in epoch 1 within {PATIENCE:?}"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the trainer exited early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill().unwrap(); // SIGKILL on unix
    let status = first.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
    let first_text = first_out.join().unwrap();
    assert!(!first_text.contains("job done"), "{first_text}");
    let at_kill = checkpoint_steps(&ckpt)[0];
    assert!(
        at_kill > STEPS_PER_EPOCH && at_kill < total_steps,
        "killed after step {at_kill} of {total_steps}"
    );

    // The same configuration again: the trainer resumes the saved job on its own.
    let mut second = start_trainer(work.path(), trainer_port, client_port);
    let second_out = collect_output(&mut second);
    let mut verdicts: Vec<Verdict> = Vec::new();
    let deadline = Instant::now() + 2 * PATIENCE;
    let model = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(ClientEvent::Reviewed(v))) => verdicts.push(v),
            Ok(Some(ClientEvent::Finished { model, steps, .. })) => {
                assert_eq!(steps as u64, total_steps);
                break model;
            }
            Ok(Some(ClientEvent::Failed(e))) => panic!("client: {e}"),
            Ok(None) | Err(_) => panic!("no final model within {:?}", 2 * PATIENCE),
        }
    };
    let status = tokio::task::spawn_blocking(move || second.wait())
        .await
        .unwrap()
        .unwrap();
    let second_text = second_out.join().unwrap();
    assert!(status.success(), "{second_text}");
    assert!(
        second_text.contains("resumed a saved job: true"),
        "{second_text}"
    );
    // The restarted trainer computed fewer units than the whole run needs: it resumed.
    let units: usize = second_text
        .lines()
        .find_map(|l| l.split(" steps, ").nth(1)?.split(' ').next()?.parse().ok())
        .expect("units line");
    assert!(
        units < reference.trainer.scheduler.units_local,
        "{units} units after the restart, {} for the whole run",
        reference.trainer.scheduler.units_local
    );
    // Same verdicts (each epoch decided once) and bit-identical weights.
    assert_eq!(verdicts, reference.verdicts);
    assert_eq!(max_diff(&model, &reference.model), 0.0);
    node.shutdown().await;
}
