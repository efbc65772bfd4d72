//! A trainer process killed with SIGKILL mid-epoch and started again: the client (here, in the
//! test process, talking QUIC over loopback with real certificates) keeps its connection
//! attempts up, the restarted trainer finds the saved upload and its newest checkpoint, and the
//! run ends with the very weights of an uninterrupted run (simulator backend, the trainer
//! computing locally: deterministic, so the comparison is exact).
//!
//! The trainer process is this test binary itself, started with `--ignored --exact
//! trainer_process` and the environment variable [`CHILD_DIR`]: no extra binary to build.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::resume::{
    ClientSide, PATIENCE, TOTAL_STEPS, assert_killed_mid_job, await_checkpoint_in_epoch_1, data,
    free_ports, loopback, max_diff, name, roster, setup, uninterrupted, write_certs,
};
use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::SimServer;
use hetal_actors::roster::TRAINER_ACTOR;
use hetal_actors::store::checkpoint::CheckpointConfig;
use hetal_actors::trainer::{DEFAULT_UNIT_TIMEOUT, Trainer, TrainerConfig};
use hetal_runtime::{Node, NodeConfig, NodeIdentity};

/// Environment variable naming the work directory of the trainer process (its presence makes
/// [`trainer_process`] run).
const CHILD_DIR: &str = "HETAL_CRASH_RESUME_DIR";
/// Environment variables with the trainer's and the client's UDP ports.
const TRAINER_PORT: &str = "HETAL_CRASH_RESUME_TRAINER_PORT";
const CLIENT_PORT: &str = "HETAL_CRASH_RESUME_CLIENT_PORT";

/// The job's shuffle seed.
const SEED: u64 = 11;

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
                roster: roster(&[]),
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
    let reference = uninterrupted(&d, setup(&d, SEED), 0).await;
    assert_eq!(reference.steps as u64, TOTAL_STEPS);

    let work = tempfile::tempdir().unwrap();
    write_certs(&work.path().join("certs"), &["client", "trainer"]);
    let [trainer_port, client_port] = free_ports::<2>();

    // The client, in this process, on a fixed port the trainer dials.
    let identity = NodeIdentity::load(&work.path().join("certs"), &name("client")).unwrap();
    let config = NodeConfig::new(identity, loopback(client_port))
        .with_peer(name("trainer"), Some(loopback(trainer_port)));
    let mut client = ClientSide::start(config, roster(&[]), &d).await;

    let mut first = start_trainer(work.path(), trainer_port, client_port);
    let first_out = collect_output(&mut first);
    let job = setup(&d, SEED);
    let up = client.encrypt(&d, &job);
    client.upload_until_taken(job, &up).await;

    // Kill the trainer once a checkpoint inside epoch 1 is on disk (after the client's first
    // verdict, before the run can have ended).
    let ckpt = work.path().join("checkpoints");
    await_checkpoint_in_epoch_1(&ckpt, &mut first).await;
    first.kill().unwrap(); // SIGKILL on unix
    let status = first.wait().unwrap();
    assert!(!status.success(), "killed, not finished: {status}");
    let first_text = first_out.join().unwrap();
    assert!(!first_text.contains("job done"), "{first_text}");
    assert_killed_mid_job(&ckpt);

    // The same configuration again: the trainer resumes the saved job on its own.
    let mut second = start_trainer(work.path(), trainer_port, client_port);
    let second_out = collect_output(&mut second);
    let (model, verdicts) = client.final_model().await;
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
    client.node.shutdown().await;
}
