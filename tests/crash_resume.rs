//! A trainer process killed with SIGKILL mid-epoch and started again: the client (here, in the
//! test process, talking QUIC over loopback with real certificates) keeps its connection
//! attempts up, the restarted trainer finds the saved upload and its newest checkpoint, and the
//! run ends with the very weights of an uninterrupted run (simulator backend, the trainer
//! computing locally: deterministic, so the comparison is exact).
//!
//! The trainer process is this test binary itself, started with `--ignored --exact
//! trainer_process` and the environment variable [`CHILD_DIR`]: no extra binary to build.
//!
//! Then the whole `hetal train` process on real CKKS (the INSECURE small bootstrappable preset
//! `insecure-boot-n12`), killed after its first step and resumed with `--resume`: it continues
//! under the secret key it saved and the very ciphertexts the trainer saved, and ends with the
//! weights of an uninterrupted run up to CKKS noise.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::resume::{
    ClientSide, PATIENCE, TOTAL_STEPS, assert_killed_mid_job, await_checkpoint_in_epoch_1,
    checkpoint_steps, data, free_ports, loopback, max_diff, name, roster, setup, uninterrupted,
    write_certs, write_npy_pack,
};
use hetal::learn::train::SoftmaxRegression;
use hetal::model::ModelFile;
use hetal::report::TrainingReport;
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

/// `hetal train` on `train`/`val` (the small CKKS job of the test below) with `extra` flags.
fn train_command(train: &Path, val: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hetal"));
    command
        .args(["train", "--train"])
        .arg(train)
        .arg("--val")
        .arg(val)
        .arg("--out")
        .arg(out)
        .args([
            "--preset",
            "insecure-boot-n12",
            "--allow-insecure",
            "--batch-size",
            "32",
            "--patience",
            "0",
            "--workers",
            "0",
            "--network",
            "memory",
        ])
        .args(extra)
        .args(if extra.contains(&"--epochs") {
            &[][..]
        } else {
            &["--epochs", "2"][..]
        })
        .env_remove("HETAL_PRESET")
        .env_remove("HETAL_BACKEND");
    command
}

/// Runs `command` to its end; its output, asserting success.
fn run_to_end(mut command: Command) -> String {
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

fn model(out: &Path) -> SoftmaxRegression {
    ModelFile::load(&out.join("model.hetal"))
        .unwrap()
        .regression()
        .clone()
}

/// Real CKKS (three `hetal train` processes with bootstrapping at N = 2^12): minutes of CPU, so
/// ignored in the default suite; run it with `cargo test --test crash_resume -- --ignored
/// a_ckks_train`.
#[test]
#[ignore = "real CKKS, minutes of CPU: cargo test --test crash_resume -- --ignored a_ckks_train"]
fn a_ckks_train_killed_after_a_step_resumes_under_its_saved_key() {
    let work = tempfile::tempdir().unwrap();
    let (train, val) = write_npy_pack(&data(), work.path(), 64, 32);
    let out = |name: &str| work.path().join(name);
    let ckpt = out("ckpt");
    let c = ckpt.to_str().unwrap();
    let started = Instant::now();

    // The exact arithmetic of the same job (the slot simulator), and of one epoch less: how
    // far one epoch of training moves the weights.
    run_to_end(train_command(
        &train,
        &val,
        &out("sim"),
        &["--backend", "sim"],
    ));
    run_to_end(train_command(
        &train,
        &val,
        &out("sim1"),
        &["--backend", "sim", "--epochs", "1"],
    ));
    let (exact, one_epoch_less) = (model(&out("sim")), model(&out("sim1")));
    let epoch_move = max_diff(&exact, &one_epoch_less);

    // The uninterrupted CKKS run: its distance to the exact weights is one run's CKKS noise.
    run_to_end(train_command(
        &train,
        &val,
        &out("whole"),
        &["--backend", "ckks"],
    ));
    let whole = model(&out("whole"));
    let noise = max_diff(&whole, &exact);

    // The checkpointed CKKS run, killed (SIGKILL) once its first step is checkpointed.
    let mut first = train_command(&train, &val, &out("first"), &["--checkpoint-dir", c])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(out("first.log")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while checkpoint_steps(&ckpt).is_empty() {
        assert!(
            Instant::now() < deadline,
            "no checkpoint within {PATIENCE:?}"
        );
        if let Some(status) = first.try_wait().unwrap() {
            let log = std::fs::read_to_string(out("first.log")).unwrap_or_default();
            panic!("the run ended early ({status}): {log}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().unwrap();
    assert!(!first.wait().unwrap().success(), "killed, not finished");
    let at_kill = checkpoint_steps(&ckpt)[0];
    assert!(at_kill < 4, "killed after step {at_kill} of 4");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = ckpt.join("client-secret.key");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }

    // First with a key of another run: refused (exit 3) before anything is sent.
    let other = out("other-key");
    std::fs::create_dir_all(&other).unwrap();
    let foreign = hetal::actors::backend::ckks::CkksClient::generate(
        &hetal::ckks::params::preset("insecure-boot-n12").unwrap(),
        true,
        &[],
        Some([9; 32]),
    )
    .unwrap();
    let key = other.join("other.key");
    hetal::actors::store::client_key::save_client_key(&key, &foreign).unwrap();
    let refused = train_command(
        &train,
        &val,
        &out("refused"),
        &[
            "--checkpoint-dir",
            c,
            "--resume",
            "--keystore",
            key.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&refused.stderr).to_string();
    assert_eq!(refused.status.code(), Some(3), "{text}");
    assert!(text.contains("another run's key"), "{text}");

    // Then resumed in a new process: the saved key, the saved job's ciphertexts, the checkpoint.
    let text = run_to_end(train_command(
        &train,
        &val,
        &out("resumed"),
        &["--checkpoint-dir", c, "--resume"],
    ));
    assert!(text.contains("belongs to the saved job"), "{text}");
    assert!(text.contains("the trainer held 2 of 2 batches"), "{text}");
    let report: TrainingReport =
        TrainingReport::from_json(&std::fs::read_to_string(out("resumed/report.json")).unwrap())
            .unwrap();
    assert_eq!(report.operations.steps, 4, "{report:?}");
    let resumed = model(&out("resumed"));

    // The resumed run is as close to the exact weights as an uninterrupted run (a lost or
    // repeated step would move it by a sizeable part of an epoch's move), hence close to the
    // uninterrupted run's: both within 4x one run's noise (independent keys and noise).
    let bound = 4.0 * noise + 1e-9;
    println!(
        "noise {noise:.3e}, resumed vs exact {:.3e}, resumed vs uninterrupted {:.3e}, one \
         epoch moves {epoch_move:.3e}; {:.1} s",
        max_diff(&resumed, &exact),
        max_diff(&resumed, &whole),
        started.elapsed().as_secs_f64()
    );
    assert!(
        bound < epoch_move / 4.0,
        "noise {noise} vs epoch {epoch_move}"
    );
    assert!(max_diff(&resumed, &exact) <= bound);
    assert!(max_diff(&resumed, &whole) <= 2.0 * bound);
}
