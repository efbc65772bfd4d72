//! `hetal node` restarts (issue #10 §2, issue #8 §2): a trainer node with a `[checkpoint]`
//! table and two worker nodes, each its own `hetal node` process on loopback QUIC with real
//! certificates. The trainer is killed with SIGKILL in the middle of epoch 1 and started again
//! with the same configuration file: it finds the saved upload and its newest checkpoint, the
//! workers (which survive) notice the lost connection and re-join its pool, and the job goes on
//! with its units sent to them again. The client (in this test process) gets the very weights
//! of an uninterrupted run with two workers: the simulator backend is deterministic, and the
//! resumed job waits for both workers before its first step, so every multiplication is cut
//! for two workers as in the reference.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::client::{Client, ClientEvent, StopPolicy, upload};
use hetal_actors::deploy::{
    Deployment, Layout, Network, PlainData, RunOutcome, Taps, encrypt_dataset, hetal_unit,
    upload_from_client,
};
use hetal_actors::messages::{TrainingSetup, ValidationForm};
use hetal_actors::roster::{CLIENT_ACTOR, Roster};
use hetal_data::FeaturePack;
use hetal_learn::eval::SimConfig;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Preset, Verdict};
use hetal_runtime::identity::{Validity, generate_cluster, write_cluster};
use hetal_runtime::{Node, NodeConfig, NodeIdentity, NodeName};
use ndarray::{Array2, s};
use tokio::sync::mpsc;

/// Slots of the simulated ciphertexts (small: fast).
const SLOTS: usize = 1 << 12;
/// Training rows, batch size, epochs: 10 steps per epoch, 3 epochs.
const TRAIN_ROWS: usize = 320;
const BATCH: usize = 32;
const EPOCHS: usize = 3;
const STEPS_PER_EPOCH: u64 = (TRAIN_ROWS / BATCH) as u64;
/// Generous deadlines for a loaded 2-core machine (each is a deadline, never a pause).
const PATIENCE: Duration = Duration::from_secs(120);
/// The nodes' QUIC settings: a killed peer is noticed within the idle timeout.
const TRANSPORT: &str =
    "[transport]\nidle_timeout_ms = 2000\nkeep_alive_ms = 400\nconnect_timeout_ms = 1500\n";
const WORKERS: [&str; 2] = ["worker-1", "worker-2"];

fn name(s: &str) -> NodeName {
    NodeName::new(s).unwrap()
}

fn roster() -> Roster {
    Roster {
        client: name("client"),
        trainer: name("trainer"),
        evaluator: None,
        workers: WORKERS.iter().map(|w| name(w)).collect(),
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

/// What `hetal node` workers and trainers build from the simulator material the client sends.
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
        shuffle_seed: Some(5),
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

/// The uninterrupted run: the same job with two workers, in one process, in memory.
async fn uninterrupted(d: &Data) -> RunOutcome {
    let deployment = Deployment::start(Layout {
        workers: 2,
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
    for i in 0..2 {
        deployment
            .start_worker::<SimServer>(i, ServerOptions::default(), None)
            .await
            .unwrap();
    }
    parties.wait_for_workers(2, PATIENCE).await.unwrap();
    let setup = setup(d);
    let up = encrypt_dataset(&*backend, &setup, plain(d)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &up, None)
        .await
        .unwrap();
    let out = parties.finish(PATIENCE, |_| {}).await.unwrap();
    deployment.shutdown().await;
    out
}

/// Distinct free UDP ports on loopback (held together while picked, then released).
fn free_ports<const N: usize>() -> [u16; N] {
    let sockets: Vec<UdpSocket> = (0..N)
        .map(|_| UdpSocket::bind(loopback(0)).unwrap())
        .collect();
    std::array::from_fn(|i| sockets[i].local_addr().unwrap().port())
}

/// The node file of `node` (role `role`) listening on `port`, dialling `peers`.
fn node_file(role: &str, node: &str, port: u16, peers: &[(&str, u16)], extra: &str) -> String {
    let mut text = format!(
        "role = \"{role}\"\nname = \"{node}\"\nlisten = \"127.0.0.1:{port}\"\ncert_dir = \"certs\"\n\n[peers]\n"
    );
    for (peer, port) in peers {
        text += &format!("{peer} = \"127.0.0.1:{port}\"\n");
    }
    text += "\n[roster]\nclient = \"client\"\ntrainer = \"trainer\"\nworkers = [\"worker-1\", \"worker-2\"]\n\n";
    text += TRANSPORT;
    text += extra;
    text
}

/// A `hetal node` process and the lines it printed.
struct Party {
    name: String,
    child: Child,
    lines: Receiver<String>,
    output: String,
}

impl Party {
    fn spawn(config: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hetal"))
            .args(["node", "--config"])
            .arg(config)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let name = config.file_stem().unwrap().to_string_lossy().into_owned();
        Self {
            name,
            child,
            lines,
            output: String::new(),
        }
    }

    /// Waits until the process prints a line containing `needle`.
    fn wait_for(&mut self, needle: &str, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(needle);
                    self.output += &line;
                    self.output.push('\n');
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{} did not print {needle:?} within {patience:?}:\n{}",
                    self.name, self.output
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{} exited before printing {needle:?}:\n{}",
                    self.name, self.output
                ),
            }
        }
    }

    /// Waits for the process to exit (killing it after `patience`); its status and output.
    fn finish(mut self, patience: Duration) -> (bool, String) {
        let deadline = Instant::now() + patience;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => break None,
            }
        };
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.output += "(killed at the deadline)\n";
        }
        // The reader ends with the pipe.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.output += &line;
            self.output.push('\n');
        }
        (
            status.is_some_and(|s| s.success()),
            std::mem::take(&mut self.output),
        )
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The `R` and `L` of the trainer's "units R remote / L local" line.
fn units(trainer_output: &str) -> (usize, usize) {
    let line = trainer_output
        .lines()
        .find(|l| l.contains("job done"))
        .unwrap_or_else(|| panic!("no job report:\n{trainer_output}"));
    let after = line.split("units ").nth(1).unwrap();
    let mut words = after.split_whitespace();
    let remote = words.next().unwrap().parse().unwrap();
    let local = words.nth(2).unwrap().trim_end_matches(',').parse().unwrap();
    (remote, local)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_trainer_node_resumes_and_its_workers_rejoin() {
    let d = data();
    let reference = uninterrupted(&d).await;
    let total_steps = STEPS_PER_EPOCH * EPOCHS as u64;
    assert_eq!(reference.steps as u64, total_steps);

    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let names: Vec<NodeName> = ["client", "trainer", WORKERS[0], WORKERS[1]]
        .iter()
        .map(|n| name(n))
        .collect();
    let (ca, identities) = generate_cluster(&names, Validity::default()).unwrap();
    write_cluster(&dir.join("certs"), &ca, &identities).unwrap();
    let [client_port, trainer_port, w1_port, w2_port] = free_ports::<4>();
    let trainer_file = dir.join("trainer.toml");
    std::fs::write(
        &trainer_file,
        node_file(
            "trainer",
            "trainer",
            trainer_port,
            &[("client", client_port)],
            "\n[checkpoint]\ndir = \"checkpoints\"\nkeep = 3\n",
        ),
    )
    .unwrap();
    for (worker, port) in WORKERS.iter().zip([w1_port, w2_port]) {
        let text = node_file("worker", worker, port, &[("trainer", trainer_port)], "");
        std::fs::write(dir.join(format!("{worker}.toml")), text).unwrap();
    }

    // The trainer, then its two workers (each joins the pool before the client uploads).
    let mut trainer = Party::spawn(&trainer_file);
    trainer.wait_for("listening on", PATIENCE);
    trainer.wait_for("checkpoints in", PATIENCE);
    let mut workers: Vec<Party> = WORKERS
        .iter()
        .map(|w| Party::spawn(&dir.join(format!("{w}.toml"))))
        .collect();
    for w in &mut workers {
        w.wait_for("joined the trainer's pool", PATIENCE);
    }

    // The client, in this process, on the port the trainer dials.
    let identity = NodeIdentity::load(&dir.join("certs"), &name("client")).unwrap();
    let mut config = NodeConfig::new(identity, loopback(client_port))
        .with_peer(name("trainer"), Some(loopback(trainer_port)));
    config.transport.idle_timeout = Duration::from_secs(2);
    config.transport.keep_alive = Duration::from_millis(400);
    let node = Node::start(config).await.unwrap();
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

    // SIGKILL once a checkpoint inside epoch 1 is on disk.
    let ckpt = dir.join("checkpoints");
    let deadline = Instant::now() + PATIENCE;
    while checkpoint_steps(&ckpt)
        .first()
        .is_none_or(|&s| s <= STEPS_PER_EPOCH)
    {
        assert!(
            Instant::now() < deadline,
            "no checkpoint in epoch 1 in time"
        );
        assert!(
            trainer.child.try_wait().unwrap().is_none(),
            "the trainer exited early"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    trainer.child.kill().unwrap(); // SIGKILL on unix
    let (ok, first_text) = trainer.finish(PATIENCE);
    assert!(!ok && !first_text.contains("job done"), "{first_text}");
    let at_kill = checkpoint_steps(&ckpt)[0];
    assert!(
        at_kill > STEPS_PER_EPOCH && at_kill < total_steps,
        "killed after step {at_kill} of {total_steps}"
    );

    // The same file again: the saved job resumes; the workers come back to it.
    let mut trainer = Party::spawn(&trainer_file);
    trainer.wait_for("resumed the job saved in", PATIENCE);
    for w in &mut workers {
        w.wait_for("re-joined the trainer's pool", PATIENCE);
    }
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
    let (ok, second_text) = tokio::task::spawn_blocking(move || trainer.finish(PATIENCE))
        .await
        .unwrap();
    assert!(ok, "{second_text}");
    // After the restart every unit went to the re-joined workers, none was computed locally,
    // and fewer than the whole run's: the job resumed.
    let (remote, local) = units(&second_text);
    assert_eq!(local, 0, "{second_text}");
    assert!(
        remote > 0 && remote < reference.trainer.scheduler.units_remote,
        "{remote} units after the restart, {} in the whole run:\n{second_text}",
        reference.trainer.scheduler.units_remote
    );
    for w in WORKERS {
        assert!(
            second_text.contains(&format!("(\"{w}\", "))
                && !second_text.contains(&format!("(\"{w}\", 0)")),
            "{w} took no unit after the restart:\n{second_text}"
        );
    }
    // The workers leave once the trainer has shut down, on their own.
    for w in workers {
        let (ok, text) = tokio::task::spawn_blocking(move || w.finish(PATIENCE))
            .await
            .unwrap();
        assert!(
            ok && text.contains("left the pool: the trainer shut down"),
            "{text}"
        );
    }
    // Each epoch decided once, and the uninterrupted run's weights, bit for bit.
    assert_eq!(verdicts, reference.verdicts);
    let diff = (model.weights() - reference.model.weights())
        .iter()
        .fold(0.0f64, |m, x| m.max(x.abs()));
    assert_eq!(diff, 0.0);
    node.shutdown().await;
}
