//! The resumable upload on real CKKS ciphertexts (preset `insecure-boot-n12`: N = 2^12,
//! INSECURE, tests only): the link dropped after the first of two batches costs the second
//! only, and the job trains (two bootstrapped steps, trainer computing locally) to the model of
//! the uninterrupted upload of the same ciphertexts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{ckks_setup, lone_trainer_in_memory, toy_plain, toy_rows};
use hetal_actors::backend::ServerOptions;
use hetal_actors::backend::ckks::CkksClient;
use hetal_actors::client::{EncryptedUpload, StopPolicy, UploadReport, upload_resumable};
use hetal_actors::deploy::{RunOutcome, Taps, encrypt_dataset};
use hetal_actors::messages::TrainingSetup;
use hetal_actors::progress::{ProgressEvent, ProgressSink};
use hetal_ckks::params::preset;
use hetal_ckks::params::presets::INSECURE_BOOT_N12;

const SEED: [u8; 32] = [29; 32];
/// Rows, features, classes; two batches of 12 rows.
const SHAPE: (usize, usize, usize) = (24, 4, 3);
const BATCH: usize = 12;

/// One run: the client uploads `upload` (the link cut once the trainer acknowledged `cut_after`
/// batches, and healed after three refused sends) and the trainer trains it alone.
async fn run(
    client: &Arc<CkksClient>,
    setup: TrainingSetup,
    upload: &EncryptedUpload<
        <hetal_actors::backend::ckks::CkksServer as hetal_actors::backend::ServerBackend>::Ct,
    >,
    labels: &[usize],
    cut_after: Option<usize>,
) -> (RunOutcome, UploadReport) {
    let (deployment, net, client_node, trainer_node) = lone_trainer_in_memory().await;
    let cut = Arc::new(AtomicBool::new(false));
    let sink: ProgressSink = {
        let (net, cut) = (net.clone(), Arc::clone(&cut));
        let (a, b) = (client_node.clone(), trainer_node.clone());
        let acknowledged = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Arc::new(move |event| {
            if let ProgressEvent::Upload { bytes, total } = event
                && bytes > 0
                && bytes < total
                && Some(acknowledged.fetch_add(1, Ordering::SeqCst) + 1) == cut_after
            {
                net.partition(&a, &b);
                cut.store(true, Ordering::SeqCst);
            }
        })
    };
    let deployment = deployment.with_progress(sink);
    let healer = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if cut.load(Ordering::SeqCst) && net.refused_sends() >= 3 {
                net.heal(&client_node, &trainer_node);
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let options = ServerOptions {
        allow_insecure: true,
    };
    let mut parties = deployment
        .start_parties(
            Arc::clone(client),
            labels.to_vec(),
            StopPolicy {
                patience: 3,
                budget: Some(1),
            },
            options,
            &Taps::default(),
        )
        .unwrap();
    let report = upload_resumable(
        &deployment.client,
        &deployment.roster,
        &**client,
        setup,
        upload,
        None,
        deployment.progress(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let out = parties
        .finish(Duration::from_secs(600), |_| {})
        .await
        .unwrap();
    healer.abort();
    deployment.shutdown().await;
    (out, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_ckks_upload_trains_the_model_of_the_uninterrupted_one() {
    let (n, d, c) = SHAPE;
    let (x, labels) = toy_rows(n, d, c);
    let spec = preset(INSECURE_BOOT_N12).unwrap();
    let setup = ckks_setup(BATCH, c, d, spec.max_slots());
    let client =
        Arc::new(CkksClient::generate_bootstrappable(&spec, true, &setup, Some(SEED)).unwrap());
    let upload = encrypt_dataset(&*client, &setup, toy_plain(&x, &labels)).unwrap();
    assert_eq!(upload.train.len(), n / BATCH);

    let start = Instant::now();
    let (whole, _) = run(&client, setup, &upload, &labels, None).await;
    let (resumed, report) = run(&client, setup, &upload, &labels, Some(1)).await;
    println!("{report:?}; two runs in {:.1?}", start.elapsed());
    let rounds = report.sent_per_round.len();
    assert!(rounds >= 2, "{report:?}");
    assert_eq!(report.sent_per_round[0], 1);
    assert_eq!(report.held_per_round[rounds - 1], 1);
    assert_eq!(report.sent_per_round[rounds - 1], 1);
    assert_eq!(resumed.steps, whole.steps);
    // The trainer's evaluation is deterministic (integer arithmetic modulo the chain's primes,
    // no randomness on the server side): the same ciphertexts, stored through two rounds or
    // one, give the same ciphertexts out, hence the same decrypted weights. The bound is 0.
    let diff = resumed
        .model
        .weights()
        .iter()
        .zip(whole.model.weights())
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert_eq!(diff, 0.0, "resumed and whole runs differ by {diff:e}");
    assert!(whole.model.weights().iter().all(|w| w.is_finite()));
}
