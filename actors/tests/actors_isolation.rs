//! Several clients on one trainer (issue #10 §4): each client's job is reachable only through
//! its own authenticated connection. Two clients train at the same time on one trainer with
//! shared workers and each gets exactly the weights of its solo run; the other client's
//! attempts to reach a job it does not own are refused with errors naming it and the job.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use hetal_actors::backend::ClientBackend;
use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::sim::{SimClient, SimServer};
use hetal_actors::client::{
    EncryptedUpload, ResumableUpload, StopPolicy, resumable_messages, upload,
};
use hetal_actors::deploy::{Deployment, Layout, Network, RunOutcome, Taps, encrypt_dataset};
use hetal_actors::messages::{
    BlobSink, Classify, ClassifyBody, EpochVerdict, EvaluateEpoch, EvaluateEpochBody, JoinPool,
    StartTraining, UploadBatch, UploadManifest, encode_matrix,
};
use hetal_actors::roster::{EVALUATOR_ACTOR, TRAINER_ACTOR};
use hetal_learn::eval::SimCt;
use hetal_learn::train::{Decision, Verdict};
use hetal_runtime::{Node, NodeName, SendError};
use ndarray::s;

const ASK: Duration = Duration::from_secs(10);

/// Rows `train` and `val` of a digits slice: two clients get disjoint data.
fn digits_rows(train: std::ops::Range<usize>, val: std::ops::Range<usize>) -> Digits {
    let all = digits(train.end, val.end);
    Digits {
        train_x: all.train_x.slice(s![train.clone(), ..]).to_owned(),
        train_y: all.train_y[train].to_vec(),
        val_x: all.val_x.slice(s![val.clone(), ..]).to_owned(),
        val_y: all.val_y[val].to_vec(),
        classes: all.classes,
    }
}

/// The reason of a refusal, or a panic naming what came instead.
fn rejected<T: std::fmt::Debug>(result: Result<T, SendError>) -> String {
    match result {
        Err(SendError::Rejected { reason, .. }) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Client B (`node`) replays client A's own upload messages (`a`'s manifest, a batch, the
/// start): each names A's job and is refused, naming B and the job. B also sends a verdict
/// while it has no job of its own.
async fn attack_from(node: &Node, trainer: &NodeName, a: &ResumableUpload) {
    let me = node.name().as_str();
    let job = a.manifest.job.to_string();
    let manifest = node
        .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
        .ask(a.manifest.clone(), ASK)
        .await;
    let batch = node
        .remote_ref::<UploadBatch>(trainer, TRAINER_ACTOR)
        .tell(a.batch_message(0).unwrap())
        .await;
    let start = node
        .remote_ref::<StartTraining>(trainer, TRAINER_ACTOR)
        .tell(a.start.clone())
        .await;
    for (what, reason) in [
        ("UploadManifest", rejected(manifest)),
        ("UploadBatch", rejected(batch)),
        ("StartTraining", rejected(start)),
    ] {
        assert!(
            reason.contains(what) && reason.contains(me) && reason.contains(&job),
            "{what}: {reason}"
        );
        assert!(reason.contains("not"), "{reason}");
    }
    // A's job waits for A's verdict; B's verdict cannot reach it.
    let verdict = Verdict {
        epoch: 0,
        val_loss: 0.0,
        val_accuracy: 1.0,
        decision: Decision::Stop,
        new_best: true,
    };
    let reason = rejected(
        node.remote_ref::<EpochVerdict>(trainer, TRAINER_ACTOR)
            .tell(EpochVerdict(verdict))
            .await,
    );
    assert!(
        reason.contains("EpochVerdict")
            && reason.contains(me)
            && reason.contains("no training job"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_share_a_trainer_and_get_their_solo_weights_while_refused_each_others_job() {
    let data = [digits_rows(0..64, 0..32), digits_rows(64..160, 32..64)];
    let setups = [setup(&data[0], 2, 3), setup(&data[1], 2, 3)];
    // Each client alone, on the same layout (two workers and an evaluator).
    let mut solo: Vec<RunOutcome> = Vec::new();
    for (d, s) in data.iter().zip(&setups) {
        solo.push(run_sim(Network::InMemory, 2, true, d, *s, None).await);
    }

    // Both on one trainer over QUIC with certificates, sharing the two workers.
    let layout = Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::QuicLoopback,
    };
    let deployment = Deployment::start_shared(layout, 2).await.unwrap();
    let backends: Vec<Arc<SimClient>> = (0..2)
        .map(|_| Arc::new(SimClient::new(sim_config()).unwrap()))
        .collect();
    let mut parties = deployment
        .start_shared_parties(
            backends
                .iter()
                .zip(&data)
                .map(|(b, d)| (Arc::clone(b), d.val_y.clone()))
                .collect(),
            StopPolicy {
                patience: 3,
                budget: None,
            },
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
    for p in &parties {
        p.wait_for_workers(2, Duration::from_secs(10))
            .await
            .unwrap();
    }
    let uploads: Vec<EncryptedUpload<SimCt>> = backends
        .iter()
        .zip(&data)
        .zip(&setups)
        .map(|((b, d), s)| encrypt_dataset(&**b, s, plain(d)).unwrap())
        .collect();
    let (a_node, a_roster) = deployment.client_at(0).unwrap();
    let (b_node, b_roster) = deployment.client_at(1).unwrap();
    upload(
        a_node,
        &a_roster,
        &*backends[0],
        setups[0],
        &uploads[0],
        None,
    )
    .await
    .unwrap();
    // While A trains, B (no job yet) replays A's upload messages and sends a verdict.
    let a_messages =
        resumable_messages(&a_roster, &*backends[0], setups[0], &uploads[0], None).unwrap();
    attack_from(b_node, &deployment.roster.trainer, &a_messages).await;
    // Nor can B have the evaluator validate A's weights for it, or classify with A's job.
    let mut sink = BlobSink::default();
    let weights =
        encode_matrix(backends[1].server(), &uploads[1].initial_weights, &mut sink).unwrap();
    let evaluate = sink.seal(EvaluateEpochBody {
        client: a_node.name().clone(),
        epoch: 0,
        weights,
        weight_scale: 1.0,
    });
    let evaluator = deployment.roster.evaluator.clone().unwrap();
    let reason = rejected(
        b_node
            .remote_ref::<EvaluateEpoch>(&evaluator, EVALUATOR_ACTOR)
            .tell(evaluate)
            .await,
    );
    assert!(
        reason.contains("EvaluateEpoch") && reason.contains(b_node.name().as_str()),
        "{reason}"
    );
    let mut sink = BlobSink::default();
    let weights =
        encode_matrix(backends[1].server(), &uploads[1].initial_weights, &mut sink).unwrap();
    let classify = sink.seal(ClassifyBody {
        weights,
        weight_scale: 1.0,
        batches: Vec::new(),
    });
    let reason = rejected(
        b_node
            .remote_ref::<Classify>(&evaluator, EVALUATOR_ACTOR)
            .ask(classify, ASK)
            .await,
    );
    assert!(
        reason.contains(b_node.name().as_str()) && reason.contains("no job"),
        "{reason}"
    );
    // Then B trains its own job beside A's.
    upload(
        b_node,
        &b_roster,
        &*backends[1],
        setups[1],
        &uploads[1],
        None,
    )
    .await
    .unwrap();
    let (first, rest) = parties.split_at_mut(1);
    let (a, b) = tokio::join!(
        first[0].finish(Duration::from_secs(120), |_| {}),
        rest[0].finish(Duration::from_secs(120), |_| {})
    );
    deployment.shutdown().await;
    for (shared, alone) in [a.unwrap(), b.unwrap()].iter().zip(&solo) {
        // Bit-identical on the simulator: the same units, combined in the same order.
        assert_eq!(max_diff(&shared.model, &alone.model), 0.0);
        assert_eq!(shared.model.weights(), alone.model.weights());
        assert_eq!(shared.verdicts, alone.verdicts);
        assert_eq!((shared.epochs, shared.steps), (alone.epochs, alone.steps));
        // The shared workers computed units of both jobs.
        assert!(shared.trainer.scheduler.units_remote > 0);
        assert_eq!(shared.trainer.scheduler.units_local, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_are_no_client_of_the_shared_trainer_are_refused() {
    let layout = Layout {
        workers: 1,
        spare_workers: 0,
        evaluator: false,
        network: Network::InMemory,
    };
    let deployment = Deployment::start_shared(layout, 2).await.unwrap();
    let backend = Arc::new(SimClient::new(sim_config()).unwrap());
    let _parties = deployment
        .start_shared_parties(
            vec![
                (Arc::clone(&backend), vec![0]),
                (Arc::clone(&backend), vec![0]),
            ],
            StopPolicy {
                patience: 1,
                budget: None,
            },
            ServerOptions::default(),
            &Taps::default(),
        )
        .unwrap();
    let data = digits(32, 16);
    let setup = setup(&data, 1, 1);
    let upload_data = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    let (_, roster) = deployment.client_at(0).unwrap();
    let messages = resumable_messages(&roster, &*backend, setup, &upload_data, None).unwrap();
    let trainer = &deployment.roster.trainer;
    // A node outside the roster (the in-memory network names senders as certificates do).
    let net = deployment.memory_network().unwrap();
    let mallory = Node::in_memory(net, NodeName::new("mallory").unwrap())
        .await
        .unwrap();
    let reason = rejected(
        mallory
            .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
            .ask(messages.manifest.clone(), ASK)
            .await,
    );
    assert!(
        reason.contains("mallory") && reason.contains("not in the roster"),
        "{reason}"
    );
    let reason = rejected(
        mallory
            .remote_ref::<JoinPool>(trainer, TRAINER_ACTOR)
            .tell(JoinPool)
            .await,
    );
    assert!(reason.contains("mallory"), "{reason}");
    // A worker is in the roster but is no client.
    let worker = &deployment.workers[0];
    let reason = rejected(
        worker
            .remote_ref::<UploadManifest>(trainer, TRAINER_ACTOR)
            .ask(messages.manifest.clone(), ASK)
            .await,
    );
    assert!(
        reason.contains("worker-1") && reason.contains("not a client") && reason.contains("worker"),
        "{reason}"
    );
    mallory.shutdown().await;
    deployment.shutdown().await;
}
