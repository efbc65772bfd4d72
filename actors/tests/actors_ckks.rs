//! Real CKKS ciphertexts (preset `insecure-test-n12`: N = 2^12, INSECURE, tests only) across
//! QUIC nodes: workers built from the client's public material alone compute a sharded DiagABT
//! that decrypts to the product and matches the single-process one within a computed bound; the
//! second use of the same data re-sends no data ciphertext; and no byte sent by anyone contains
//! the secret key.

use std::sync::Arc;
use std::time::Duration;

use hetal_actors::backend::ckks::{CkksClient, CkksServer};
use hetal_actors::backend::{ClientBackend, KeyScope, ServerBackend, ServerOptions};
use hetal_actors::client::{StopPolicy, upload_messages};
use hetal_actors::deploy::{Deployment, Layout, Network, Taps};
use hetal_actors::messages::{BlobSink, LoadKeysBody, TrainingSetup, ValidationForm};
use hetal_actors::tap::Tap;
use hetal_actors::trainer::scheduler::{Scheduler, Unit};
use hetal_ckks::crypto::Decryptor;
use hetal_ckks::encoding::Encoder;
use hetal_ckks::keys::KeyGenerator;
use hetal_ckks::math::sample::Prng;
use hetal_ckks::params::preset;
use hetal_ckks::serial::save_secret_key_bytes;
use hetal_learn::eval::SlotEvaluator;
use hetal_learn::matmul::{self, AbtPlan, Sharding, compare};
use hetal_learn::pack::{Layout as BlockLayout, UnitShape, decrypt_matrix, encrypt_matrix};
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Preset, TrainingClient};
use ndarray::Array2;

const SEED: [u8; 32] = [11; 32];

fn matrix(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17 + salt * 7) % 23) as f64 / 23.0 - 0.5
    })
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Whether any 32-byte window of `needle` (taken every 16 bytes) occurs in `haystack`: one pass
/// over the haystack, its 8-byte words looked up among the windows' first words.
fn shares_a_window(haystack: &[u8], needle: &[u8]) -> bool {
    let windows: Vec<&[u8]> = needle.windows(32).step_by(16).collect();
    let heads: std::collections::HashSet<[u8; 8]> =
        windows.iter().map(|w| w[..8].try_into().unwrap()).collect();
    haystack.windows(32).any(|h| {
        let head: [u8; 8] = h[..8].try_into().unwrap();
        heads.contains(&head) && windows.contains(&h)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckks_units_on_quic_workers_decrypt_to_the_product_and_never_carry_the_secret_key() {
    // 64 samples, 40 features (+ bias after packing below), 3 classes on 64×32 blocks.
    let (n, d, c) = (64, 40, 3);
    let unit = UnitShape::new(64, 32).unwrap();
    let spec = preset("insecure-test-n12").unwrap();
    let steps = compare::rotation_steps((n, d, c), unit);
    let client = Arc::new(CkksClient::generate(&spec, true, &steps, Some(SEED)).unwrap());
    let codec = client.codec().unwrap();
    let top = codec.max_level();
    let x = matrix(n, d, 1);
    let w = matrix(c, d, 2);
    let xe = encrypt_matrix(&codec, x.view(), BlockLayout::RowMajor, unit, top).unwrap();
    let period = c.next_power_of_two();
    let we = encrypt_matrix(
        &codec,
        w.view(),
        BlockLayout::RowTiled { period },
        unit,
        top,
    )
    .unwrap();

    let deployment = Deployment::start(Layout {
        workers: 2,
        spare_workers: 0,
        evaluator: false,
        network: Network::QuicLoopback,
    })
    .await
    .unwrap();
    let options = ServerOptions {
        allow_insecure: true,
    };
    let parties = deployment
        .start_parties(
            Arc::clone(&client),
            vec![0],
            StopPolicy {
                patience: 3,
                budget: None,
            },
            options,
            &Taps::default(),
        )
        .unwrap();
    let (trainer_tap, worker_tap, client_tap) = (Tap::new(), Tap::new(), Tap::new());
    let mut workers = Vec::new();
    for i in 0..2 {
        workers.push(
            deployment
                .start_worker::<CkksServer>(i, options, Some(worker_tap.clone()))
                .await
                .unwrap(),
        );
    }
    parties
        .wait_for_workers(2, Duration::from_secs(10))
        .await
        .unwrap();

    // The trainer's side is built from the public material only.
    let mut sink = BlobSink::default();
    let material = client.material(&KeyScope::Full, &mut sink).unwrap();
    let keys = sink.seal(LoadKeysBody {
        session: 1,
        material: material.clone(),
    });
    let server = Arc::new(CkksServer::from_material(&material, &keys.blobs, options).unwrap());
    let scheduler = Arc::new(Scheduler::new(
        deployment.trainer.clone(),
        parties.trainer.pool(),
        Arc::clone(&server),
        keys,
        Duration::from_secs(120),
        Some(trainer_tap.clone()),
    ));
    let ev = server.evaluator().unwrap();
    let plan = AbtPlan::new(&xe, &we, 1.0, Sharding::for_workers(2, period / 2, 2)).unwrap();
    let units: Vec<Unit<_>> = plan
        .units(&ev, &xe, &we)
        .unwrap()
        .into_iter()
        .map(Unit::Abt)
        .collect();
    assert!(units.len() >= 2);
    let partials = scheduler.run(1, units.clone()).await.unwrap();
    let z = plan.combine(&ev, &partials).unwrap();
    let first = scheduler.stats();

    ev.counter().reset();
    let z_local = matmul::diag_abt(&ev, &xe, &we).unwrap();
    let ops = ev.counts();
    let exact = x.dot(&w.t());
    let got = decrypt_matrix(&codec, &z).unwrap();
    let local = decrypt_matrix(&codec, &z_local).unwrap();
    // Every rescale, key switch and encryption adds at most 16·N/Δ per slot; errors add up over
    // the operations and are amplified by at most the inner dimension (operands ≤ 1/2).
    let ctx = server.context();
    let bound = 16.0 * ctx.n() as f64 / ctx.default_scale()
        * (ops.mult + ops.cmult + ops.rot + ops.add) as f64
        * (d as f64 + 1.0);
    let (err, gap) = (max_abs(&got, &exact), max_abs(&got, &local));
    println!("distributed DiagABT error {err:e}, vs single process {gap:e}, bound {bound:e}");
    assert!(
        err <= bound && gap <= 2.0 * bound,
        "{err} / {gap} > {bound}"
    );
    assert!(
        workers.iter().all(|w| w.units() > 0),
        "both workers computed"
    );

    // Same data, next step: the data ciphertexts are cached on the workers.
    scheduler.run(2, units).await.unwrap();
    let second = scheduler.stats();
    let first_bytes = first.bytes_sent;
    let second_bytes = second.bytes_sent - first.bytes_sent;
    println!("bytes to workers: first use {first_bytes}, second use {second_bytes}");
    assert!(
        2 * second_bytes < first_bytes,
        "data was sent again: {second_bytes} vs {first_bytes}"
    );

    // What the client would upload for a training job (encrypted data and public material).
    let hyper = HyperParams {
        batch_size: 64,
        ..Preset::Digits.hyper()
    };
    let setup = TrainingSetup {
        hyper,
        variant: SoftmaxVariant::HetalRs,
        unit,
        classes: c,
        dim: d,
        validation: ValidationForm::Logits,
    };
    let tc = TrainingClient::new(&codec, unit, c, d, 3).unwrap();
    let labels: Vec<usize> = (0..n).map(|i| i % c).collect();
    let data = hetal_actors::client::EncryptedUpload {
        train: tc.encrypt_training_set(x.view(), &labels, 64).unwrap(),
        validation: tc.encrypt_features(x.view()).unwrap(),
        initial_weights: tc.initial_weights().unwrap(),
    };
    let (_, training) = upload_messages(&deployment.roster, &*client, setup, &data).unwrap();
    client_tap.record(&training);

    // The secret key, re-derived from the same seed (the generator samples it first) and
    // checked to be the client's by decrypting one of its ciphertexts.
    let secret = KeyGenerator::new(ctx, Prng::from_seed(SEED)).into_secret_key();
    let decrypted = Encoder::new(ctx)
        .decode(
            &Decryptor::new(ctx, &secret)
                .unwrap()
                .decrypt(&xe.blocks()[0])
                .unwrap(),
        )
        .unwrap();
    assert!(
        (decrypted[0].re - x[[0, 0]]).abs() < 1e-3,
        "re-derived key decrypts"
    );
    let stored = save_secret_key_bytes(&secret, ctx).unwrap();
    let ntt_words: Vec<u8> = secret
        .poly()
        .limb(0)
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .collect();
    // The scanner finds the key where it is.
    let mut planted = vec![0u8; 1000];
    planted.extend_from_slice(&ntt_words);
    assert!(shares_a_window(&planted, &ntt_words));
    assert!(shares_a_window(&stored, &stored[stored.len() / 2..]));
    for (who, tap) in [
        ("client", &client_tap),
        ("trainer", &trainer_tap),
        ("workers", &worker_tap),
    ] {
        let sent = tap.snapshot();
        assert!(sent.len() > 10_000, "{who} sent {} bytes", sent.len());
        assert!(
            !shares_a_window(&sent, &stored[stored.len() / 2..]),
            "{who} sent the stored secret key"
        );
        assert!(
            !shares_a_window(&sent, &ntt_words),
            "{who} sent the secret key's limb"
        );
        println!(
            "{who}: {} bytes scanned, no secret key material",
            sent.len()
        );
    }
    deployment.shutdown().await;
}
