//! Checkpoint and resume on the simulator backend (in memory, the trainer computing locally:
//! the run is deterministic). A crash after step `k` leaves the checkpoint files of steps up
//! to `k`; a fresh deployment given only those resumes and ends with the very weights of the
//! uninterrupted run.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::SimClient;
use hetal_actors::client::{EncryptedUpload, StopPolicy};
use hetal_actors::deploy::{
    Deployment, Layout, Network, RunOutcome, Taps, encrypt_dataset, upload_from_client,
};
use hetal_actors::messages::TrainingSetup;
use hetal_actors::store::checkpoint::CheckpointConfig;
use hetal_learn::eval::SimCt;

fn checkpoints_in(dir: &Path, keep: usize) -> CheckpointConfig {
    CheckpointConfig {
        keep,
        ..CheckpointConfig::new(dir)
    }
}

/// One run with no workers and no evaluator, checkpointing as `checkpoint` says.
async fn run(
    data: &Digits,
    setup: TrainingSetup,
    checkpoint: CheckpointConfig,
) -> hetal_actors::error::Result<RunOutcome> {
    run_with_budget(data, setup, checkpoint, None).await
}

/// As [`run`], the client stopping after `budget` epochs.
async fn run_with_budget(
    data: &Digits,
    setup: TrainingSetup,
    checkpoint: CheckpointConfig,
    budget: Option<usize>,
) -> hetal_actors::error::Result<RunOutcome> {
    run_with_review(data, setup, checkpoint, budget, None).await
}

/// As [`run_with_budget`], the client keeping its verdicts in `review` (when given).
async fn run_with_review(
    data: &Digits,
    setup: TrainingSetup,
    checkpoint: CheckpointConfig,
    budget: Option<usize>,
    review: Option<&Path>,
) -> hetal_actors::error::Result<RunOutcome> {
    let mut deployment = Deployment::start(Layout {
        workers: 0,
        spare_workers: 0,
        evaluator: false,
        network: Network::InMemory,
    })
    .await?
    .with_checkpoints(checkpoint);
    if let Some(path) = review {
        deployment = deployment.with_review_file(path);
    }
    let backend = Arc::new(SimClient::new(sim_config())?);
    let mut parties = deployment.start_parties(
        Arc::clone(&backend),
        data.val_y.clone(),
        StopPolicy {
            patience: setup.hyper.patience,
            budget,
        },
        ServerOptions::default(),
        &Taps::default(),
    )?;
    let upload: EncryptedUpload<SimCt> = encrypt_dataset(&*backend, &setup, plain(data))?;
    upload_from_client(&deployment, &*backend, setup, &upload, None).await?;
    let out = parties.finish(Duration::from_secs(60), |_| {}).await;
    deployment.shutdown().await;
    out
}

/// How many checkpoint files `dir` holds.
fn checkpoint_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("checkpoint-")
        })
        .count()
}

/// The checkpoint file written after `steps` steps in `dir`.
fn file_after(dir: &Path, steps: u64) -> PathBuf {
    dir.join(format!("checkpoint-{steps:020}.hckp"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_ends_with_the_weights_of_the_uninterrupted_run() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let full_dir = TempDir::new("ckpt-full");
    let full = run(&data, setup, checkpoints_in(&full_dir.0, 100))
        .await
        .unwrap();
    let steps_per_epoch = 3;
    assert_eq!(full.epochs, 2);
    assert_eq!(full.steps, steps_per_epoch * full.epochs);
    // One checkpoint per step (the epoch's last step's replaced by the one after its verdict).
    assert_eq!(checkpoint_count(&full_dir.0), full.steps);
    // The job finished: the upload a restarted trainer process would resume is gone.
    assert!(!full_dir.0.join("upload.hupl").exists());

    // A crash after step k (mid-epoch, or after the last verdict): only files up to k remain.
    for k in [1u64, 2, full.steps as u64] {
        let dir = TempDir::new("ckpt-resume");
        for s in 1..=k {
            std::fs::copy(file_after(&full_dir.0, s), file_after(&dir.0, s)).unwrap();
        }
        let resumed = run(&data, setup, checkpoints_in(&dir.0, 100))
            .await
            .unwrap();
        // The simulator is deterministic and the trainer computes locally: bit-identical.
        assert_eq!(
            max_diff(&resumed.model, &full.model),
            0.0,
            "resumed after {k}"
        );
        assert_eq!(resumed.steps, full.steps);
        assert_eq!(resumed.epochs, full.epochs);
        // The trainer took only the steps the checkpoint had not.
        let remaining = full.steps as u64 - k;
        assert_eq!(
            resumed.trainer.scheduler.units_local == 0,
            remaining == 0,
            "after {k}: {:?}",
            resumed.trainer.scheduler
        );
        // Its checkpoints continued where the copied ones stopped.
        assert_eq!(checkpoint_count(&dir.0), full.steps, "after {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_client_stopped_resumes_straight_to_its_final_model() {
    use hetal_learn::train::Decision;
    let data = digits(64, 32);
    let setup = setup(&data, 3, 3);
    let dir = TempDir::new("ckpt-stopped");
    let stopped = run_with_budget(&data, setup, checkpoints_in(&dir.0, 2), Some(1))
        .await
        .unwrap();
    assert_eq!(stopped.epochs, 1);
    assert_eq!(
        stopped.verdicts.last().map(|v| v.decision),
        Some(Decision::Stop)
    );
    // Restarted on the same directory (the client would now train on): the checkpoint taken
    // after the Stop verdict ends the job with no step and no validation.
    let resumed = run(&data, setup, checkpoints_in(&dir.0, 2)).await.unwrap();
    assert_eq!(resumed.epochs, 1);
    assert_eq!(resumed.steps, stopped.steps);
    assert!(resumed.verdicts.is_empty());
    assert_eq!(resumed.trainer.scheduler.units_local, 0);
    assert_eq!(resumed.trainer.verdicts, stopped.trainer.verdicts);
    assert_eq!(max_diff(&resumed.model, &stopped.model), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_of_another_configuration_is_refused() {
    let data = digits(64, 32);
    let setup = setup(&data, 1, 3);
    let dir = TempDir::new("ckpt-foreign");
    run(&data, setup, checkpoints_in(&dir.0, 2)).await.unwrap();
    let mut other = setup;
    other.hyper.learning_rate *= 0.5;
    let err = run(&data, other, checkpoints_in(&dir.0, 2))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another training configuration") && err.contains("checkpoint-"),
        "{err}"
    );
    // With resuming off the same directory is simply overwritten by the new run.
    let fresh = CheckpointConfig {
        resume: false,
        ..checkpoints_in(&dir.0, 2)
    };
    let out = run(&data, other, fresh).await.unwrap();
    assert_eq!(out.epochs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_resumed_after_a_verdict_continues_the_clients_early_stopping() {
    use hetal_actors::store::review::{ReviewPolicy, ReviewState, ReviewStore};
    use hetal_learn::train::Decision;
    let data = digits(96, 48);
    // Four epochs at most; the client's budget stops the run after the third.
    let setup = setup(&data, 4, 1);
    let budget = Some(3);
    let policy = ReviewPolicy {
        patience: setup.hyper.patience,
        budget,
    };
    let full_dir = TempDir::new("ckpt-review-full");
    let full_review = full_dir.0.join("client/review.hcrv");
    let full = run_with_review(
        &data,
        setup,
        checkpoints_in(&full_dir.0, 100),
        budget,
        Some(&full_review),
    )
    .await
    .unwrap();
    let steps_per_epoch = 3u64;
    let stop_epoch = full.verdicts.len();
    assert!(
        stop_epoch >= 2,
        "the run reaches epoch 1: {:?}",
        full.verdicts
    );
    assert_eq!(
        full.verdicts.last().map(|v| v.decision),
        Some(Decision::Stop)
    );
    // The file the client wrote holds exactly the verdicts it sent.
    let written = ReviewStore::new(&full_review, policy, &data.val_y)
        .load()
        .unwrap();
    assert_eq!(written.verdicts(), &full.verdicts[..]);

    // A crash in epoch 1, after the client's verdict on epoch 0: the trainer's files up to
    // `k` steps remain, the client's file holds its first `decided` verdicts. The second case
    // is a trainer that lost the verdict on epoch 1 (its checkpoint is from before it): the
    // client answers the repeated validation with the verdict it recorded.
    for (k, decided) in [(steps_per_epoch + 1, 1), (2 * steps_per_epoch - 1, 2)] {
        let dir = TempDir::new("ckpt-review-resume");
        for s in 1..=k {
            std::fs::copy(file_after(&full_dir.0, s), file_after(&dir.0, s)).unwrap();
        }
        let review = dir.0.join("client/review.hcrv");
        let before = ReviewState::replay(policy, &full.verdicts[..decided]).unwrap();
        ReviewStore::new(&review, policy, &data.val_y)
            .save(&before)
            .unwrap();
        let resumed = run_with_review(
            &data,
            setup,
            checkpoints_in(&dir.0, 100),
            budget,
            Some(&review),
        )
        .await
        .unwrap();
        assert_eq!(
            max_diff(&resumed.model, &full.model),
            0.0,
            "resumed after step {k}"
        );
        assert_eq!(resumed.epochs, full.epochs, "after step {k}");
        assert_eq!(resumed.steps, full.steps, "after step {k}");
        // The trainer saw every verdict of the uninterrupted run; the client decided only the
        // epochs it had not decided before the crash, the same way.
        assert_eq!(resumed.trainer.verdicts, full.verdicts, "after step {k}");
        assert_eq!(resumed.verdicts, full.verdicts[decided..], "after step {k}");
        let after = ReviewStore::new(&review, policy, &data.val_y)
            .load()
            .unwrap();
        assert_eq!(after.verdicts(), &full.verdicts[..], "after step {k}");
    }

    // Without the client's file the resumed client would start at epoch 0 while the trainer
    // asks about epoch 1: refused, not silently mis-numbered.
    let dir = TempDir::new("ckpt-review-missing");
    for s in 1..=steps_per_epoch + 1 {
        std::fs::copy(file_after(&full_dir.0, s), file_after(&dir.0, s)).unwrap();
    }
    let err = run_with_budget(&data, setup, checkpoints_in(&dir.0, 100), budget)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected epoch 0"), "{err}");
}
