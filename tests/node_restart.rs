//! `hetal node` restarts (issue #10 §2, issue #8 §2): a trainer node with a `[checkpoint]`
//! table and two worker nodes, each its own `hetal node` process on loopback QUIC with real
//! certificates. The trainer is killed with SIGKILL in the middle of epoch 1 and started again
//! with the same configuration file: it finds the saved upload and its newest checkpoint, the
//! workers (which survive) notice the lost connection and re-join its pool, and the job goes on
//! with its units sent to them again. The client (in this test process) gets the very weights
//! of an uninterrupted run with two workers: the simulator backend is deterministic, and the
//! resumed job waits for both workers before its first step, so every multiplication is cut
//! for two workers as in the reference.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::Party;
use common::resume::{
    ClientSide, PATIENCE, TOTAL_STEPS, assert_killed_mid_job, await_checkpoint_in_epoch_1, data,
    free_ports, loopback, max_diff, name, roster, setup, uninterrupted, write_certs,
};
use hetal_runtime::{NodeConfig, NodeIdentity};

/// The nodes' QUIC settings: a killed peer is noticed within the idle timeout.
const TRANSPORT: &str =
    "[transport]\nidle_timeout_ms = 2000\nkeep_alive_ms = 400\nconnect_timeout_ms = 1500\n";
const WORKERS: [&str; 2] = ["worker-1", "worker-2"];
/// The job's shuffle seed.
const SEED: u64 = 5;

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

/// A `hetal node` process started from `config` (its stderr inherited), named by the file.
fn spawn_node(config: &Path) -> Party {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hetal"));
    command
        .args(["node", "--config"])
        .arg(config)
        .stderr(Stdio::inherit());
    let name = config.file_stem().unwrap().to_string_lossy().into_owned();
    Party::spawn(name, command)
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
    let reference = uninterrupted(&d, setup(&d, SEED), WORKERS.len()).await;
    assert_eq!(reference.steps as u64, TOTAL_STEPS);

    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_certs(
        &dir.join("certs"),
        &["client", "trainer", WORKERS[0], WORKERS[1]],
    );
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
    let mut trainer = spawn_node(&trainer_file);
    trainer.expect_line("listening on", PATIENCE);
    trainer.expect_line("checkpoints in", PATIENCE);
    let mut workers: Vec<Party> = WORKERS
        .iter()
        .map(|w| spawn_node(&dir.join(format!("{w}.toml"))))
        .collect();
    for w in &mut workers {
        w.expect_line("joined the trainer's pool", PATIENCE);
    }

    // The client, in this process, on the port the trainer dials.
    let identity = NodeIdentity::load(&dir.join("certs"), &name("client")).unwrap();
    let mut config = NodeConfig::new(identity, loopback(client_port))
        .with_peer(name("trainer"), Some(loopback(trainer_port)));
    config.transport.idle_timeout = Duration::from_secs(2);
    config.transport.keep_alive = Duration::from_millis(400);
    let mut client = ClientSide::start(config, roster(&WORKERS), &d).await;
    let job = setup(&d, SEED);
    let up = client.encrypt(&d, &job);
    client.upload_until_taken(job, &up).await;

    // SIGKILL once a checkpoint inside epoch 1 is on disk.
    let ckpt = dir.join("checkpoints");
    await_checkpoint_in_epoch_1(&ckpt, &mut trainer.child).await;
    trainer.child.kill().unwrap(); // SIGKILL on unix
    let (ok, first_text) = trainer.finish(Instant::now() + PATIENCE);
    assert!(!ok && !first_text.contains("job done"), "{first_text}");
    assert_killed_mid_job(&ckpt);

    // The same file again: the saved job resumes; the workers come back to it.
    let mut trainer = spawn_node(&trainer_file);
    trainer.expect_line("resumed the job saved in", PATIENCE);
    for w in &mut workers {
        w.expect_line("re-joined the trainer's pool", PATIENCE);
    }
    let (model, verdicts) = client.final_model().await;
    let (ok, second_text) =
        tokio::task::spawn_blocking(move || trainer.finish(Instant::now() + PATIENCE))
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
        let (ok, text) = tokio::task::spawn_blocking(move || w.finish(Instant::now() + PATIENCE))
            .await
            .unwrap();
        assert!(
            ok && text.contains("left the pool: the trainer shut down"),
            "{text}"
        );
    }
    // Each epoch decided once, and the uninterrupted run's weights, bit for bit.
    assert_eq!(verdicts, reference.verdicts);
    assert_eq!(max_diff(&model, &reference.model), 0.0);
    client.node.shutdown().await;
}
