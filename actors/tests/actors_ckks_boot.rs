//! Encrypted training with bootstrapping across parties, on real CKKS ciphertexts (preset
//! `insecure-boot-n12`: N = 2^12, INSECURE, tests only): a client, a trainer, two workers and an
//! evaluator train one Nesterov step with real bootstraps; the decrypted model equals the
//! single-process `EncryptedTrainer` run within a bound computed from the measured bootstrap
//! error; the workers receive no bootstrapping key (checked on what they loaded and on every byte
//! the trainer sent) when the trainer keeps its bootstraps, and with bootstrap units on the two
//! workers the step equals the trainer bootstrapping itself within the same kind of bound.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{ckks_setup, toy_plain, toy_rows};
use hetal_actors::backend::ckks::{CkksClient, sim_config_for};
use hetal_actors::backend::rotations::matmul_rotations;
use hetal_actors::backend::{ClientBackend, KeyScope, MaterialBody, ServerBackend, ServerOptions};
use hetal_actors::client::StopPolicy;
use hetal_actors::deploy::{
    Deployment, Layout, Network, Taps, encrypt_dataset, upload_from_client,
};
use hetal_actors::messages::{BlobSink, LoadKeysBody, ValidationForm};
use hetal_actors::progress::{ProgressEvent, recorder};
use hetal_actors::tap::Tap;
use hetal_actors::trainer::pool::BootstrapPlacement;
use hetal_ckks::params::preset;
use hetal_ckks::params::presets::INSECURE_BOOT_N12;
use hetal_learn::eval::{SlotCodec, SlotEvaluator};
use hetal_learn::softmax::{ExactSoftmax, RowSoftmax};
use hetal_learn::train::{EncryptedTrainer, TrainingClient, cross_entropy, with_bias};
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: [u8; 32] = [23; 32];
/// Rows, features, classes.
const SHAPE: (usize, usize, usize) = (12, 4, 3);

/// Whether any 32-byte window of `needle` (taken every 16 bytes) occurs in `haystack`.
fn shares_a_window(haystack: &[u8], needle: &[u8]) -> bool {
    let windows: Vec<&[u8]> = needle.windows(32).step_by(16).collect();
    let heads: std::collections::HashSet<[u8; 8]> =
        windows.iter().map(|w| w[..8].try_into().unwrap()).collect();
    haystack.windows(32).any(|h| {
        let head: [u8; 8] = h[..8].try_into().unwrap();
        heads.contains(&head) && windows.contains(&h)
    })
}

/// Largest slot error of one bootstrap of random values in the unit square, from the lowest
/// level that can be bootstrapped: encrypted by the client, bootstrapped by the public half.
fn measured_bootstrap_error(client: &CkksClient) -> f64 {
    let codec = client.codec().unwrap();
    let public = client.public().unwrap();
    let ev = public.evaluator().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let z: Vec<Complex64> = (0..ev.slots())
        .map(|_| Complex64::new(rng.gen_range(-1.0..1.0), rng.gen_range(-1.0..1.0)))
        .collect();
    let ct = codec.encrypt_at(&z, public.bootstrap_min()).unwrap();
    let out = ev.bootstrap(&ct).unwrap();
    let got = codec.decrypt(&out).unwrap();
    got.iter()
        .zip(&z)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapped_ckks_step_across_workers_and_an_evaluator_matches_the_single_process_run() {
    let (n, d, c) = SHAPE;
    let (x, labels) = toy_rows(n, d, c);
    let spec = preset(INSECURE_BOOT_N12).unwrap();
    let setup = ckks_setup(n, c, d, spec.max_slots());
    let hyper = setup.hyper;
    let start = Instant::now();
    let client =
        Arc::new(CkksClient::generate_bootstrappable(&spec, true, &setup, Some(SEED)).unwrap());
    let keygen = start.elapsed();

    // What the trainer receives: everything, the encapsulation keys included.
    let mut sink = BlobSink::default();
    let full = client.material(&KeyScope::Full, &mut sink).unwrap();
    let full = sink.seal(LoadKeysBody {
        session: 0,
        material: full,
    });
    let MaterialBody::Ckks {
        bootstrap: Some(boot),
        ..
    } = full.body.material
    else {
        panic!("the trainer's material must bootstrap");
    };
    let sparse_bytes = full.blob(boot.sparse_keys.unwrap()).unwrap().clone();

    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let (sink, events) = recorder();
    let deployment = deployment.with_progress(sink);
    let options = ServerOptions {
        allow_insecure: true,
    };
    let trainer_tap = Tap::new();
    let mut parties = deployment
        .start_parties(
            Arc::clone(&client),
            labels.clone(),
            StopPolicy {
                patience: 3,
                budget: Some(1),
            },
            options,
            &Taps {
                trainer: Some(trainer_tap.clone()),
                ..Taps::default()
            },
        )
        .unwrap();
    // This run keeps every bootstrap on the trainer: the workers get only their units' keys.
    parties
        .trainer
        .pool()
        .lock()
        .unwrap()
        .set_bootstrap_placement(BootstrapPlacement::Trainer);
    let mut workers = Vec::new();
    for i in 0..2 {
        workers.push(
            deployment
                .start_worker::<hetal_actors::backend::ckks::CkksServer>(i, options, None)
                .await
                .unwrap(),
        );
    }
    parties
        .wait_for_workers(2, Duration::from_secs(10))
        .await
        .unwrap();
    let upload = encrypt_dataset(&*client, &setup, toy_plain(&x, &labels)).unwrap();
    upload_from_client(&deployment, &*client, setup, &upload, None)
        .await
        .unwrap();
    let start = Instant::now();
    let out = parties
        .finish(Duration::from_secs(600), |_| {})
        .await
        .unwrap();
    let trained = start.elapsed();
    deployment.shutdown().await;

    // The single-process run: the same trainer on the exact simulator in the chain's levels.
    let ctx = client.public().unwrap().context().clone();
    let sim = hetal_learn::eval::Simulator::new(sim_config_for(&ctx).unwrap()).unwrap();
    let sim_client = TrainingClient::new(&sim, setup.unit, c, d, 3).unwrap();
    let batch = sim_client
        .encrypt_training_set(x.view(), &labels, n)
        .unwrap();
    let mut single = EncryptedTrainer::new(
        &sim,
        hyper,
        setup.variant,
        sim_client.initial_weights().unwrap(),
        sim.config().bootstrap_min_level,
    )
    .unwrap();
    single.step(&batch[0]).unwrap();
    single.prepare_validation(ValidationForm::Logits).unwrap();
    let ops = sim.counts();
    let want = sim_client
        .decrypt_model(single.weights(), single.weight_scale())
        .unwrap();
    let boots = single.totals().bootstraps();
    assert!(boots > 0, "the step bootstrapped");
    assert_eq!(out.trainer.bootstraps, boots, "the same bootstrap plan");
    assert_eq!((out.epochs, out.steps), (1, 1));

    // Error budget (as in hetal-learn's train_ckks_boot): each bootstrap adds at most twice the
    // measured error, every other operation at most 16·N/Δ; an error reaches the weights through
    // the softmax's squarings and the gradient, or multiplied back by the weight scale.
    let boot_err = measured_bootstrap_error(&client);
    let per_op = 16.0 * ctx.n() as f64 / ctx.default_scale();
    let other_ops = ops.mult + ops.cmult + ops.scalar_mult + ops.rot + ops.add + ops.add_const;
    let events_err = 2.0 * boot_err * boots as f64 + 2.0 * per_op * other_ops as f64;
    let max_x = x.iter().fold(1.0f64, |a, &b| a.max(b.abs()));
    let bound = events_err * (256.0 * hyper.learning_rate * max_x).max(single.weight_scale());
    let diff = common::max_diff(&out.model, &want);
    let size = want.weights().iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    println!(
        "keygen {keygen:.1?}, distributed step + validation {trained:.1?}, {boots} bootstraps \
         (error {boot_err:.2e}): |W − W_single| = {diff:.2e} (bound {bound:.1e}, |W| = {size:.3})"
    );
    assert!(
        boot_err > 0.0 && boot_err < 1e-3,
        "bootstrap error {boot_err:e}"
    );
    assert!(size > 1e-3, "the step moved the weights");
    assert!(
        diff <= bound && bound < 0.05 * size,
        "diff {diff:e} bound {bound:e} size {size}"
    );

    // The client scored the decrypted logits like the plaintext model: cross-entropy moves by
    // at most twice the largest logit error.
    let logits = with_bias(x.view()).dot(&want.weights().t());
    let loss = cross_entropy(&ExactSoftmax.softmax_rows(&logits).unwrap(), &labels).unwrap();
    let logit_err = bound * (d as f64 + 1.0) * max_x + per_op * other_ops as f64;
    let verdict = out.verdicts[0];
    assert!(
        (verdict.val_loss - loss).abs() <= 2.0 * logit_err,
        "validation loss {} vs {loss}",
        verdict.val_loss
    );

    // The workers computed units with relinearization and their units' rotation keys only:
    // exactly the material of that scope, no bootstrapping material.
    let steps = matmul_rotations(
        &client.codec().unwrap(),
        &upload.train[0],
        &upload.initial_weights,
    )
    .unwrap();
    let mut sink = BlobSink::default();
    let scoped = client
        .public()
        .unwrap()
        .material(
            &KeyScope::Rotations {
                steps,
                conjugation: false,
            },
            &mut sink,
        )
        .unwrap();
    let scoped = sink.seal(LoadKeysBody {
        session: 0,
        material: scoped,
    });
    for w in &workers {
        let keys = w.loaded_keys().expect("keys loaded");
        println!(
            "worker: {} units, {} key bytes (trainer: {})",
            w.units(),
            keys.bytes,
            full.blob_bytes()
        );
        assert!(w.units() > 0, "each worker computed units");
        assert!(!keys.bootstraps, "a worker got bootstrapping material");
        // In one process the workers share the trainer's view of their scope (no key byte
        // travels); a worker elsewhere receives exactly that scope's material.
        if keys.by_reference {
            assert_eq!(keys.bytes, 0);
        } else {
            assert_eq!(keys.bytes, scoped.blob_bytes());
        }
        assert!(keys.bytes < full.blob_bytes());
    }
    // Nothing the trainer sent (to workers, evaluator, client) holds the encapsulation keys.
    let sent = trainer_tap.snapshot();
    assert!(!shares_a_window(&sent, &sparse_bytes));
    assert!(shares_a_window(&sparse_bytes, &sparse_bytes[100..]));

    // Progress: one step with its bootstraps, validation by logits, the verdict.
    let events = events.lock().unwrap().clone();
    assert!(events.iter().any(|e| matches!(
        e,
        ProgressEvent::Step { bootstraps, .. } if *bootstraps > 0
    )));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProgressEvent::Verdict { stop: true, .. }))
    );

    // The client can drop its copy of the public keys after the upload.
    client.release_evaluation_keys();
    assert!(
        client
            .material(&KeyScope::Full, &mut BlobSink::default())
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ckks_step_with_bootstrap_units_on_two_workers_matches_the_trainer_bootstrapping_itself()
{
    let (n, d, c) = SHAPE;
    let (x, labels) = toy_rows(n, d, c);
    let spec = preset(INSECURE_BOOT_N12).unwrap();
    let setup = ckks_setup(n, c, d, spec.max_slots());
    let client =
        Arc::new(CkksClient::generate_bootstrappable(&spec, true, &setup, Some(SEED)).unwrap());
    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: true,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let options = ServerOptions {
        allow_insecure: true,
    };
    let mut parties = deployment
        .start_parties(
            Arc::clone(&client),
            labels.clone(),
            StopPolicy {
                patience: 3,
                budget: Some(1),
            },
            options,
            &Taps::default(),
        )
        .unwrap();
    let placement = parties.trainer.pool().lock().unwrap().bootstrap_placement();
    let key_bytes = client.public().unwrap().bootstrap_key_bytes();
    assert!(
        placement.allows(key_bytes),
        "the default places {key_bytes} bytes of N = 2^12 material on the workers"
    );
    let mut workers = Vec::new();
    for i in 0..2 {
        workers.push(
            deployment
                .start_worker::<hetal_actors::backend::ckks::CkksServer>(i, options, None)
                .await
                .unwrap(),
        );
    }
    parties
        .wait_for_workers(2, Duration::from_secs(10))
        .await
        .unwrap();
    let upload = encrypt_dataset(&*client, &setup, toy_plain(&x, &labels)).unwrap();
    upload_from_client(&deployment, &*client, setup, &upload, None)
        .await
        .unwrap();
    let start = Instant::now();
    let out = parties
        .finish(Duration::from_secs(600), |_| {})
        .await
        .unwrap();
    let trained = start.elapsed();
    deployment.shutdown().await;

    // The trainer bootstrapping itself: the same step on the public half in this process
    // (products in one unit each), refreshed for validation by logits as the deployed trainer did.
    let public = client.public().unwrap();
    let ev = public.evaluator().unwrap();
    let mut local = EncryptedTrainer::new(
        &ev,
        setup.hyper,
        setup.variant,
        upload.initial_weights.clone(),
        public.bootstrap_min(),
    )
    .unwrap();
    local.step(&upload.train[0]).unwrap();
    local.prepare_validation(ValidationForm::Logits).unwrap();
    let ops = ev.counts();
    let codec = client.codec().unwrap();
    let want = TrainingClient::new(&codec, setup.unit, c, d, 3)
        .unwrap()
        .decrypt_model(local.weights(), local.weight_scale())
        .unwrap();
    let boots = local.totals().bootstraps();
    assert!(boots > 0);
    assert_eq!(out.trainer.bootstraps, boots, "the same bootstrap plan");

    // Every bootstrap ran on a worker, each worker took some, with the bootstrapping material
    // shared by reference (one process: no key byte crossed).
    let stats = &out.trainer.scheduler;
    assert_eq!(stats.bootstraps_remote, boots);
    assert_eq!(stats.bootstraps_local, 0);
    for w in &workers {
        let keys = w.loaded_keys().expect("keys loaded");
        println!(
            "worker: {} units, {} bootstraps, {keys:?}",
            w.units(),
            w.bootstraps()
        );
        assert!(keys.bootstraps && keys.by_reference && keys.bytes == 0);
    }
    let per_worker: Vec<usize> = workers.iter().map(|w| w.bootstraps()).collect();
    assert_eq!(per_worker.iter().sum::<usize>(), boots);
    assert!(per_worker.iter().all(|&b| b > 0), "{per_worker:?}");
    // Each worker's keys were upgraded to the bootstrapping material after its first matrix
    // units; it kept the job's cached operands (the training batch), so no later unit came
    // back for a missing operand and none was sent twice.
    assert_eq!((stats.resent, stats.keys_reloaded), (0, 0), "{stats:?}");

    // Bound (as in the test above): each bootstrap at most twice the measured error, every other
    // operation 16·N/Δ, amplified into the weights by the gradient or the weight scale.
    let boot_err = measured_bootstrap_error(&client);
    let ctx = public.context().clone();
    let per_op = 16.0 * ctx.n() as f64 / ctx.default_scale();
    let other_ops = ops.mult + ops.cmult + ops.scalar_mult + ops.rot + ops.add + ops.add_const;
    let events_err = 2.0 * boot_err * boots as f64 + 2.0 * per_op * other_ops as f64;
    let max_x = x.iter().fold(1.0f64, |a, &b| a.max(b.abs()));
    let bound = events_err * (256.0 * setup.hyper.learning_rate * max_x).max(local.weight_scale());
    let diff = common::max_diff(&out.model, &want);
    let size = want.weights().iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    println!(
        "distributed step with {boots} bootstrap units {trained:.1?}: |W − W_trainer| = \
         {diff:.2e} (bound {bound:.1e}, |W| = {size:.3}), {stats:?}"
    );
    assert!(size > 1e-3, "the step moved the weights");
    assert!(
        diff <= bound && bound < 0.05 * size,
        "diff {diff:e} bound {bound:e} size {size}"
    );
}
