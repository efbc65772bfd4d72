//! Key material held once per process (issue #10 §3), on real CKKS keys of the INSECURE test
//! preset `insecure-test-n12` (N = 2^12, tests only): parties of one process share the client's
//! key-switching keys (pointer-equal, not copies); a worker's or evaluator's view holds only its
//! scope's rotations; material a receiver holds travels by digest (no key byte), material it
//! does not hold (unknown or wrong digest) travels in full; two clients' keys never alias.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use hetal_actors::backend::ckks::{CkksClient, CkksServer};
use hetal_actors::backend::key_registry;
use hetal_actors::backend::shared::{negotiate, with_full_material};
use hetal_actors::backend::{
    ClientBackend, KeyScope, MaterialBody, MaterialDigest, MaterialOffer, ServerBackend,
    ServerOptions,
};
use hetal_actors::client::{
    EncryptedUpload, StopPolicy, offer_material, upload_messages, upload_messages_held,
};
use hetal_actors::deploy::{Deployment, Layout, Network, Taps};
use hetal_actors::messages::{BlobSink, LoadKeys, LoadKeysBody, TrainingSetup, ValidationForm};
use hetal_actors::roster::WORKER_ACTOR;
use hetal_actors::trainer::keys::WorkerKeys;
use hetal_actors::trainer::scheduler::{Scheduler, Unit};
use hetal_ckks::keys::EvaluationKeys;
use hetal_ckks::params::preset;
use hetal_learn::eval::SlotEvaluator;
use hetal_learn::matmul::{AbtPlan, Sharding, compare};
use hetal_learn::pack::{Layout as BlockLayout, UnitShape, encrypt_matrix};
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Preset, TrainingClient};
use ndarray::Array2;

const OPTIONS: ServerOptions = ServerOptions {
    allow_insecure: true,
};
/// Samples, features, classes of the product the workers compute.
const SHAPE: (usize, usize, usize) = (64, 40, 3);

fn unit() -> UnitShape {
    UnitShape::new(64, 32).unwrap()
}

/// A client on the insecure test preset with the rotations of [`SHAPE`]'s products.
fn client(seed: u8) -> Arc<CkksClient> {
    let spec = preset("insecure-test-n12").unwrap();
    let steps = compare::rotation_steps(SHAPE, unit());
    Arc::new(CkksClient::generate(&spec, true, &steps, Some([seed; 32])).unwrap())
}

fn matrix(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17 + salt * 7) % 23) as f64 / 23.0 - 0.5
    })
}

/// The first `count` rotation steps the client has keys for, as a scope.
fn some_rotations(count: usize) -> KeyScope {
    let steps: BTreeSet<isize> = compare::rotation_steps(SHAPE, unit())
        .into_iter()
        .filter(|&s| s != 0)
        .take(count)
        .collect();
    KeyScope::Rotations {
        steps,
        conjugation: false,
    }
}

/// Whether every key of `view` is the very same key-switching key as `full`'s (shared, no copy).
fn shares_every_key(view: &EvaluationKeys, full: &EvaluationKeys) -> bool {
    let relin = match (&view.relin, &full.relin) {
        (Some(v), Some(f)) => Arc::ptr_eq(v.shared_key(), f.shared_key()),
        _ => false,
    };
    relin
        && view.galois.elements().all(|e| {
            let (v, f) = (view.galois.get(e).unwrap(), full.galois.get(e));
            f.is_some_and(|f| Arc::ptr_eq(v.shared_key(), f.shared_key()))
        })
}

#[test]
fn parties_of_one_process_share_the_clients_keys_and_views_hold_only_their_scope() {
    let client = client(41);
    let public = client.public().unwrap();
    let full_keys = public.keys().galois.len();
    assert!(full_keys > 4, "{full_keys} rotation keys");

    // The trainer: the whole set, by digest, is the client's own object.
    let offer = ClientBackend::offer(&*client, &KeyScope::Full)
        .unwrap()
        .expect("CKKS offers");
    assert_eq!(offer.digest, public.material_digest().unwrap());
    let trainer =
        CkksServer::from_material_shared(&MaterialBody::Held(offer.digest), &[], OPTIONS, None)
            .unwrap();
    assert!(Arc::ptr_eq(&trainer, &public), "one copy, not two");

    // A worker / the evaluator: a view of a few rotations, sharing each key with the full set.
    let scope = some_rotations(3);
    let view_offer = ServerBackend::offer(&trainer, &scope).unwrap().unwrap();
    assert!(view_offer.resident_bytes < offer.resident_bytes);
    let worker = CkksServer::from_material_shared(
        &MaterialBody::Held(view_offer.digest),
        &[],
        OPTIONS,
        None,
    )
    .unwrap();
    assert_eq!(worker.keys().galois.len(), 3, "only the scope's rotations");
    assert!(!worker.bootstraps());
    assert!(shares_every_key(worker.keys(), public.keys()));
    // The view's digest is what a receiver of the same subset in full computes.
    let mut sink = BlobSink::default();
    let material = trainer.material(&scope, &mut sink).unwrap();
    let blobs = sink.seal(()).blobs;
    let received = CkksServer::from_material(&material, &blobs, OPTIONS).unwrap();
    assert_eq!(
        received.material_digest().unwrap(),
        view_offer.digest,
        "the digest is of the content, however it travelled"
    );
    // Received in full in a process that already holds it: the live copy is shared.
    let deduplicated = CkksServer::from_material_shared(&material, &blobs, OPTIONS, None).unwrap();
    assert!(Arc::ptr_eq(&deduplicated, &worker));

    // Released by the client, the keys live on with their users, and die with the last one.
    client.release_evaluation_keys();
    drop((public, offer));
    assert!(CkksServer::held(&view_offer.digest).is_some());
    let full_digest = trainer.material_digest().unwrap();
    drop((trainer, worker, deduplicated, view_offer));
    assert!(CkksServer::held(&full_digest).is_none(), "entry died");
}

#[test]
fn two_clients_keys_never_alias_and_an_unknown_digest_is_refused() {
    let (a, b) = (client(51), client(52));
    let da = ClientBackend::offer(&*a, &KeyScope::Full).unwrap().unwrap();
    let db = ClientBackend::offer(&*b, &KeyScope::Full).unwrap().unwrap();
    assert_ne!(da.digest, db.digest);
    let (ha, hb) = (
        CkksServer::held(&da.digest).unwrap(),
        CkksServer::held(&db.digest).unwrap(),
    );
    assert!(Arc::ptr_eq(&ha, &a.public().unwrap()));
    assert!(Arc::ptr_eq(&hb, &b.public().unwrap()));
    assert!(!Arc::ptr_eq(&ha, &hb));
    assert!(!shares_every_key(hb.keys(), ha.keys()));
    // Same scope, different clients: different digests, no shared key.
    let scope = some_rotations(2);
    let (va, vb) = (
        ServerBackend::offer(&ha, &scope).unwrap().unwrap(),
        ServerBackend::offer(&hb, &scope).unwrap().unwrap(),
    );
    assert_ne!(va.digest, vb.digest);
    let (wa, wb) = (
        CkksServer::held(&va.digest).unwrap(),
        CkksServer::held(&vb.digest).unwrap(),
    );
    assert!(shares_every_key(wa.keys(), ha.keys()));
    assert!(!shares_every_key(wb.keys(), ha.keys()));

    let mut unknown = da.digest.0;
    unknown[0] ^= 1;
    let err = CkksServer::from_material_shared(
        &MaterialBody::Held(MaterialDigest(unknown)),
        &[],
        OPTIONS,
        None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not held"), "{err}");
    assert!(key_registry::live_entries() >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_of_the_process_load_keys_by_digest_and_others_get_them_in_full() {
    let (n, d, c) = SHAPE;
    let client = client(61);
    let codec = client.codec().unwrap();
    let top = codec.max_level();
    let x = matrix(n, d, 1);
    let w = matrix(c, d, 2);
    let xe = encrypt_matrix(&codec, x.view(), BlockLayout::RowMajor, unit(), top).unwrap();
    let period = c.next_power_of_two();
    let we = encrypt_matrix(
        &codec,
        w.view(),
        BlockLayout::RowTiled { period },
        unit(),
        top,
    )
    .unwrap();
    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::QuicLoopback,
    })
    .await
    .unwrap();
    let parties = deployment
        .start_parties(
            Arc::clone(&client),
            vec![0],
            StopPolicy {
                patience: 3,
                budget: None,
            },
            OPTIONS,
            &Taps::default(),
        )
        .unwrap();
    let mut workers = Vec::new();
    for i in 0..2 {
        workers.push(
            deployment
                .start_worker::<CkksServer>(i, OPTIONS, None)
                .await
                .unwrap(),
        );
    }
    parties
        .wait_for_workers(2, Duration::from_secs(10))
        .await
        .unwrap();

    // The client's upload: trainer and evaluator hold the material (same process), so the
    // messages carry the ciphertexts and no key.
    let hyper = HyperParams {
        batch_size: 64,
        ..Preset::Digits.hyper()
    };
    let setup = TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit: unit(),
        classes: c,
        dim: d,
        validation: ValidationForm::Logits,
    };
    let tc = TrainingClient::new(&codec, unit(), c, d, 3).unwrap();
    let labels: Vec<usize> = (0..n).map(|i| i % c).collect();
    let data = EncryptedUpload {
        train: tc.encrypt_training_set(x.view(), &labels, 64).unwrap(),
        validation: tc.encrypt_features(x.view()).unwrap(),
        initial_weights: tc.initial_weights().unwrap(),
    };
    let held = offer_material(
        &deployment.client,
        &deployment.roster,
        &*client,
        setup,
        &data,
    )
    .await
    .unwrap();
    let full_digest = client.public().unwrap().material_digest().unwrap();
    assert_eq!(held.trainer, Some(full_digest));
    assert!(held.evaluator.is_some());
    let (val_full, train_full) =
        upload_messages(&deployment.roster, &*client, setup, &data).unwrap();
    let (val_held, train_held) =
        upload_messages_held(&deployment.roster, &*client, setup, &data, held).unwrap();
    let mut sink = BlobSink::default();
    client.material(&KeyScope::Full, &mut sink).unwrap();
    let key_bytes = sink.seal(()).blob_bytes();
    assert_eq!(
        train_full.blob_bytes() - train_held.blob_bytes(),
        key_bytes,
        "the trainer's upload carries no key byte"
    );
    assert!(val_held.unwrap().blob_bytes() < val_full.unwrap().blob_bytes());
    // Saved for a later process, the upload by reference gets its keys back in full.
    let public = client.public().unwrap();
    let saved = with_full_material(train_held, &*public).unwrap();
    assert_eq!(saved.blob_bytes(), train_full.blob_bytes());
    let rebuilt = CkksServer::from_material(&saved.body.material, &saved.blobs, OPTIONS).unwrap();
    assert_eq!(rebuilt.material_digest().unwrap(), full_digest);
    let first_block = |m: &hetal_actors::messages::UploadTraining| {
        m.blobs[m.body.train[0].x.blocks()[0] as usize].clone()
    };
    assert_eq!(first_block(&saved), first_block(&train_full));

    // The trainer's workers: offered by digest, both load without a key byte.
    let server = CkksServer::held(&full_digest).unwrap();
    let ev = server.evaluator().unwrap();
    let plan = AbtPlan::new(&xe, &we, 1.0, Sharding::for_workers(2, period / 2, 2)).unwrap();
    let units: Vec<Unit<_>> = plan
        .units(&ev, &xe, &we)
        .unwrap()
        .into_iter()
        .map(Unit::Abt)
        .collect();
    let steps = plan.rotation_steps();
    let scope = KeyScope::Rotations {
        steps: steps.clone(),
        conjugation: false,
    };
    let keys = WorkerKeys::scoped(1, &server, scope.clone()).unwrap();
    let offered = keys.offer().unwrap().digest;
    let scheduler = Arc::new(Scheduler::new(
        deployment.trainer.clone(),
        parties.trainer.pool(),
        Arc::clone(&server),
        keys,
        Duration::from_secs(120),
        None,
    ));
    let by_digest = scheduler.run(1, units.clone()).await.unwrap();
    for stats in &workers {
        let loaded = stats.loaded_keys().expect("keys loaded");
        assert!(loaded.by_reference && loaded.bytes == 0, "{loaded:?}");
        assert!(!loaded.bootstraps);
    }
    let view = CkksServer::held(&offered).unwrap();
    assert!(shares_every_key(view.keys(), server.keys()));
    assert!(view.keys().galois.len() < server.keys().galois.len());
    let sent_by_digest = scheduler.stats().bytes_sent;

    // An unknown digest is answered "not held" (the sender then sends in full) ...
    let bogus = MaterialOffer::new(MaterialDigest([7; 32]), 1, Arc::new(()));
    let worker_node = deployment.roster.workers[0].clone();
    assert_eq!(
        negotiate(
            &deployment.trainer,
            &worker_node,
            WORKER_ACTOR,
            Some(&bogus)
        )
        .await,
        None
    );
    // ... and keys by an unheld digest are refused, not half-loaded.
    let refused = deployment
        .trainer
        .remote_ref::<LoadKeys>(&worker_node, WORKER_ACTOR)
        .ask(
            BlobSink::default().seal(LoadKeysBody {
                session: 9,
                material: MaterialBody::Held(MaterialDigest([7; 32])),
            }),
            Duration::from_secs(30),
        )
        .await;
    assert!(refused.is_err());

    // Keys given in full (no offer) are sent in full, and counted.
    let mut sink = BlobSink::default();
    let material = server.material(&scope, &mut sink).unwrap();
    let full = sink.seal(LoadKeysBody {
        session: 2,
        material,
    });
    let full_bytes = full.blob_bytes();
    parties.trainer.pool().lock().unwrap().reset_jobs();
    let scheduler = Arc::new(Scheduler::new(
        deployment.trainer.clone(),
        parties.trainer.pool(),
        Arc::clone(&server),
        full,
        Duration::from_secs(120),
        None,
    ));
    let in_full = scheduler.run(1, units).await.unwrap();
    // Workers that got a unit of this job loaded its keys in full.
    let loaded_in_full = workers
        .iter()
        .filter_map(|w| w.loaded_keys())
        .filter(|k| !k.by_reference && k.bytes == full_bytes)
        .count() as u64;
    assert!(loaded_in_full >= 1);
    let sent_in_full = scheduler.stats().bytes_sent;
    println!(
        "bytes to the workers: keys by digest {sent_by_digest}, keys in full {sent_in_full} \
         (keys {full_bytes} per worker)"
    );
    assert!(sent_in_full >= loaded_in_full * full_bytes);
    assert_eq!(by_digest.len(), in_full.len());
    deployment.shutdown().await;
}
