//! The resumable upload and the disk-backed training set (issue #10 §2 and §3), on the simulator
//! backend in memory with the trainer computing locally (deterministic runs): a link dropped
//! after k of n batches costs exactly the n − k batches not yet acknowledged and the run ends
//! with the weights of an uninterrupted one; a restarted trainer finds the batches of its
//! dataset directory and trains on a dataset larger than its memory budget to the same weights,
//! within the budget; batches that differ from the manifest, early starts and wrong senders are
//! refused with errors naming what is wrong.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::SimClient;
use hetal_actors::client::{EncryptedUpload, StopPolicy, resumable_messages, upload_resumable};
use hetal_actors::deploy::{Deployment, Layout, Network, RunOutcome, Taps, encrypt_dataset};
use hetal_actors::messages::{StartTraining, UploadBatch, UploadManifest};
use hetal_actors::progress::{ProgressEvent, ProgressSink};
use hetal_actors::roster::TRAINER_ACTOR;
use hetal_actors::store::dataset::DatasetConfig;
use hetal_learn::eval::SimCt;
use hetal_runtime::SendError;

/// 192 training rows in batches of 32: six batches.
const TRAIN_ROWS: usize = 192;
const BATCHES: usize = 6;

fn in_memory(workers: usize) -> Layout {
    Layout {
        workers,
        spare_workers: 0,
        evaluator: false,
        network: Network::InMemory,
    }
}

/// The client (with `backend`), the trainer and the evaluator if any of `deployment`.
fn start(
    deployment: &Deployment,
    backend: &Arc<SimClient>,
    data: &Digits,
    patience: usize,
) -> hetal_actors::deploy::Parties {
    deployment
        .start_parties(
            Arc::clone(backend),
            data.val_y.clone(),
            StopPolicy {
                patience,
                budget: None,
            },
            ServerOptions::default(),
            &Taps::default(),
        )
        .unwrap()
}

/// [`start`] with a fresh simulator client.
fn parties(
    deployment: &Deployment,
    data: &Digits,
    patience: usize,
) -> (Arc<SimClient>, hetal_actors::deploy::Parties) {
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let parties = start(deployment, &backend, data, patience);
    (backend, parties)
}

async fn finish(mut parties: hetal_actors::deploy::Parties) -> RunOutcome {
    parties
        .finish(Duration::from_secs(120), |_| {})
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_dropped_after_k_of_n_batches_costs_the_n_minus_k_and_the_run_is_unchanged() {
    const K: usize = 2;
    let data = digits(TRAIN_ROWS, 48);
    let setup = setup(&data, 2, 3);
    let reference = run_sim(Network::InMemory, 0, false, &data, setup, None).await;

    let (deployment, net, client, trainer) = lone_trainer_in_memory().await;
    // The link is cut once the trainer has acknowledged K batches (the client reports each
    // acknowledged batch), and healed after three sends were refused through it.
    let cut = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let sink: ProgressSink = {
        let (net, cut, acknowledged) = (net.clone(), Arc::clone(&cut), Arc::clone(&acknowledged));
        let (client, trainer) = (client.clone(), trainer.clone());
        Arc::new(move |event| {
            if let ProgressEvent::Upload { bytes, total } = event
                && bytes > 0
                && bytes < total
                && acknowledged.fetch_add(1, Ordering::SeqCst) + 1 == K
            {
                net.partition(&client, &trainer);
                cut.store(true, Ordering::SeqCst);
            }
        })
    };
    let deployment = deployment.with_progress(sink);
    let healer = {
        let (net, cut) = (net.clone(), Arc::clone(&cut));
        tokio::spawn(async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if cut.load(Ordering::SeqCst) && net.refused_sends() >= 3 {
                    net.heal(&client, &trainer);
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        })
    };
    let (backend, parties) = parties(&deployment, &data, setup.hyper.patience);
    let upload: EncryptedUpload<SimCt> = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    let entries = resumable_messages(&deployment.roster, &*backend, setup, &upload, None)
        .unwrap()
        .manifest
        .batches;
    assert_eq!(entries.len(), BATCHES);
    let report = upload_resumable(
        &deployment.client,
        &deployment.roster,
        &*backend,
        setup,
        &upload,
        None,
        deployment.progress(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(healer.await.unwrap(), "the link was healed");
    let out = finish(parties).await;
    println!(
        "{report:?}; {} sends refused while cut",
        net.refused_sends()
    );
    // The first round got K batches through; the rounds while cut got nothing; the last round
    // found the K held and sent exactly the other n − K, each batch acknowledged once.
    let rounds = report.sent_per_round.len();
    assert!(rounds >= 2, "{report:?}");
    assert_eq!(report.sent_per_round[0], K);
    assert_eq!(report.held_per_round[rounds - 1], K);
    assert_eq!(report.sent_per_round[rounds - 1], BATCHES - K);
    assert_eq!(report.sent_per_round.iter().sum::<usize>(), BATCHES);
    let resent_bytes: u64 = entries[K..].iter().map(|e| e.bytes).sum();
    assert_eq!(report.bytes_per_round[rounds - 1], resent_bytes);
    // The same run as the uninterrupted one, bit for bit (simulator, computing locally).
    assert_eq!(out.verdicts, reference.verdicts);
    assert_eq!(out.steps, reference.steps);
    assert_eq!(max_diff(&out.model, &reference.model), 0.0);
    deployment.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_trainer_finds_its_batches_and_streams_a_dataset_larger_than_its_budget() {
    const K: usize = 4;
    let data = digits(TRAIN_ROWS, 48);
    let setup = setup(&data, 2, 3);
    let reference = run_sim(Network::InMemory, 0, false, &data, setup, None).await;
    let dir = TempDir::new("upload-dataset");

    // The client's data; the budget has room for two and a half of the six batches.
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let upload: EncryptedUpload<SimCt> = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    let first = Deployment::start(in_memory(0)).await.unwrap();
    let job = resumable_messages(&first.roster, &*backend, setup, &upload, None).unwrap();
    let entries = job.manifest.batches.clone();
    let batch_bytes = entries[0].bytes;
    assert!(
        entries.iter().all(|e| e.bytes == batch_bytes),
        "equal batches"
    );
    let stored: u64 = entries.iter().map(|e| e.bytes).sum();
    let budget = batch_bytes * 5 / 2;
    let dataset = DatasetConfig {
        dir: dir.0.clone(),
        memory_budget: budget,
    };

    // First trainer: the client's upload stops after K batches (its host went away).
    let first = first.with_dataset(dataset.clone());
    let _first_parties = start(&first, &backend, &data, setup.hyper.patience);
    let manifests = first
        .client
        .remote_ref::<UploadManifest>(&first.roster.trainer, TRAINER_ACTOR);
    let have = manifests
        .ask(job.manifest.clone(), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(have.held.is_empty() && !have.started, "{have:?}");
    let batches = first
        .client
        .remote_ref::<UploadBatch>(&first.roster.trainer, TRAINER_ACTOR);
    for i in 0..K {
        batches.tell(job.batch_message(i).unwrap()).await.unwrap();
    }
    first.shutdown().await;

    // Second trainer on the same directory: the K batches are found; the client sends the rest.
    let second = Deployment::start(in_memory(0))
        .await
        .unwrap()
        .with_dataset(dataset);
    let parties2 = start(&second, &backend, &data, setup.hyper.patience);
    let report = upload_resumable(
        &second.client,
        &second.roster,
        &*backend,
        setup,
        &upload,
        None,
        None,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(report.held_per_round, vec![K]);
    assert_eq!(report.sent_per_round, vec![BATCHES - K]);
    let out = finish(parties2).await;
    assert_eq!(out.verdicts, reference.verdicts);
    assert_eq!(max_diff(&out.model, &reference.model), 0.0);
    // Streamed within the budget although the dataset is larger than it.
    let stats = out
        .trainer
        .dataset
        .expect("the trainer streamed its dataset");
    println!("{stats:?} (budget {budget}, batches of {batch_bytes} bytes)");
    assert_eq!(stats.stored_bytes, stored);
    assert!(stats.stored_bytes > budget, "{stats:?}");
    assert!(stats.peak_resident_bytes <= budget, "{stats:?}");
    assert!(stats.peak_resident_bytes >= 2 * batch_bytes, "{stats:?}");
    let steps = out.steps as u64;
    assert_eq!(
        stats.loads + stats.hits,
        steps + 1,
        "one read per step and one at start"
    );
    assert!(
        stats.loads > BATCHES as u64,
        "batches were evicted and read again: {stats:?}"
    );
    // The job ended well: its batch files are gone.
    let left = std::fs::read_dir(&dir.0).unwrap().count();
    assert_eq!(left, 0, "batch files left in {}", dir.0.display());
    second.shutdown().await;
}

/// The reason of a refused send.
fn refusal(result: Result<(), SendError>) -> String {
    match result {
        Err(SendError::Rejected { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_that_differ_from_the_manifest_and_wrong_senders_are_refused() {
    let data = digits(96, 32);
    let setup = setup(&data, 2, 3);
    let deployment = Deployment::start(in_memory(1)).await.unwrap();
    let (backend, _parties) = parties(&deployment, &data, setup.hyper.patience);
    let upload: EncryptedUpload<SimCt> = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    let job = resumable_messages(&deployment.roster, &*backend, setup, &upload, None).unwrap();
    let trainer = &deployment.roster.trainer;
    let client = &deployment.client;
    let worker = &deployment.workers[0];

    // Only the client may upload.
    let asked = worker
        .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
        .ask(job.manifest.clone(), Duration::from_secs(10))
        .await;
    match asked {
        Err(SendError::Rejected { reason, .. }) => {
            assert!(reason.contains("may not come from"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let reason = refusal(
        worker
            .remote_ref::<UploadBatch>(trainer, TRAINER_ACTOR)
            .tell(job.batch_message(0).unwrap())
            .await,
    );
    assert!(reason.contains("may not come from"), "{reason}");
    let reason = refusal(
        worker
            .remote_ref::<StartTraining>(trainer, TRAINER_ACTOR)
            .tell(job.start.clone())
            .await,
    );
    assert!(reason.contains("may not come from"), "{reason}");

    // A batch before its manifest.
    let batches = client.remote_ref::<UploadBatch>(trainer, TRAINER_ACTOR);
    let reason = refusal(batches.tell(job.batch_message(0).unwrap()).await);
    assert!(reason.contains("manifest first"), "{reason}");
    // A forged manifest (its id is not its content's digest).
    let mut forged = job.manifest.clone();
    forged.batches.swap(0, 1);
    let asked = client
        .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
        .ask(forged, Duration::from_secs(10))
        .await;
    assert!(
        matches!(asked, Err(SendError::Rejected { .. })),
        "{asked:?}"
    );

    let have = client
        .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
        .ask(job.manifest.clone(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(have.job, job.manifest.job);
    assert!(have.held.is_empty());
    // Batch 1's content as batch 0: refused by digest, naming batch 0.
    let mut swapped = job.batch_message(1).unwrap();
    swapped.body.index = 0;
    let reason = refusal(batches.tell(swapped).await);
    assert!(
        reason.contains("batch 0") && reason.contains("digest"),
        "{reason}"
    );
    // A ciphertext cut short: refused by size before anything is hashed.
    let mut short = job.batch_message(1).unwrap();
    let last = short.blobs.len() - 1;
    short.blobs[last] = short.blobs[last].slice(1..);
    let reason = refusal(batches.tell(short).await);
    assert!(
        reason.contains("batch 1") && reason.contains("bytes"),
        "{reason}"
    );
    // Starting with a batch missing names it.
    batches.tell(job.batch_message(0).unwrap()).await.unwrap();
    let starts = client.remote_ref::<StartTraining>(trainer, TRAINER_ACTOR);
    let reason = refusal(starts.tell(job.start.clone()).await);
    assert!(
        reason.contains("missing") && reason.contains("batch 1"),
        "{reason}"
    );
    // With every batch the job starts; a repeated start (a lost acknowledgement) is accepted,
    // and a repeated manifest is told the job runs.
    for i in 1..job.manifest.batches.len() {
        batches.tell(job.batch_message(i).unwrap()).await.unwrap();
    }
    starts.tell(job.start.clone()).await.unwrap();
    starts.tell(job.start.clone()).await.unwrap();
    let have = client
        .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
        .ask(job.manifest.clone(), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(have.started, "{have:?}");
    deployment.shutdown().await;
}
