//! Encrypted inference through the actors: after training, the client encrypts test features,
//! the evaluator classifies them with the trained weights (still encrypted: one DiagABT, no
//! bootstrap) and returns encrypted logits, and the client decrypts them and takes the argmax.
//! On the simulator after a whole run over QUIC, and on real CKKS ciphertexts of a small
//! INSECURE chain (`insecure-test-n12`, tests only): the predictions equal the plaintext
//! model's on the same decrypted weights except where a row's top two logits are within the
//! computed error bound; messages from the wrong party are refused.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hetal_actors::backend::ckks::CkksClient;
use hetal_actors::backend::sim::SimServer;
use hetal_actors::backend::{ClientBackend, ServerOptions};
use hetal_actors::client::{EncryptedUpload, Inference, StopPolicy, classify, upload_messages};
use hetal_actors::deploy::{
    Deployment, Layout, Network, Taps, encrypt_dataset, hetal_unit, upload_from_client,
};
use hetal_actors::messages::{
    BlobSink, Classify, ClassifyBody, EncryptedModelQuery, FinalModel, FinalModelBody,
    TrainingSetup, ValidationForm, encode_batch, encode_matrix,
};
use hetal_actors::roster::{CLIENT_ACTOR, EVALUATOR_ACTOR};
use hetal_ckks::params::preset;
use hetal_data::FeaturePack;
use hetal_learn::eval::{OpCounts, SimConfig, SimCt, Simulator, SlotEvaluator};
use hetal_learn::matmul::{compare, diag_abt_scaled};
use hetal_learn::pack::{Layout as BlockLayout, decrypt_matrix, encrypt_matrix};
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{HyperParams, Preset, SoftmaxRegression, TrainingClient, with_bias};
use ndarray::{Array2, s};

const TIMEOUT: Duration = Duration::from_secs(120);

/// The first `rows` rows of the bundled digits' test split.
fn test_features(rows: usize) -> Array2<f64> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/digits");
    let pack = FeaturePack::load_dir(&dir).expect("bundled data/digits");
    let test = pack.test().expect("digits has a test split");
    test.features().slice(s![..rows, ..]).to_owned()
}

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

/// Checks `got` against the plaintext logits of `model` on `x`: every logit within `bound`,
/// and every prediction equal to the plaintext argmax unless that row's top two plaintext
/// logits are within `2·bound` (the only rows noise of that size can flip). Returns how many
/// rows differ.
fn assert_matches_plaintext(
    got: &Inference,
    model: &SoftmaxRegression,
    x: &Array2<f64>,
    bound: f64,
) -> usize {
    let want = model.logits(x.view()).unwrap();
    assert_eq!(got.logits.dim(), want.dim());
    let err = got
        .logits
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    println!("largest logit error {err:.3e} (bound {bound:.3e})");
    assert!(
        err <= bound,
        "logit error {err:e} above the bound {bound:e}"
    );
    let plain = model.predict(x.view()).unwrap();
    let mut differ = 0;
    for (i, (&a, &b)) in got.classes.iter().zip(&plain).enumerate() {
        if a != b {
            let row = want.row(i);
            let mut sorted: Vec<f64> = row.to_vec();
            sorted.sort_by(|p, q| q.total_cmp(p));
            assert!(
                sorted[0] - sorted[1] <= 2.0 * bound,
                "row {i}: class {a} against plaintext {b}, top-2 gap {:e} > 2·{bound:e}",
                sorted[0] - sorted[1]
            );
            differ += 1;
        }
    }
    differ
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_run_over_quic_classifies_like_the_decrypted_model_and_refuses_wrong_senders() {
    let data = digits(96, 48);
    let setup = setup(&data, 2, 3);
    let deployment = Deployment::start(Layout {
        workers: 1,
        spare_workers: 0,
        evaluator: true,
        network: Network::QuicLoopback,
    })
    .await
    .unwrap();
    let (backend, mut parties) = sim_parties(&deployment, &data.val_y, setup.hyper.patience, None);
    deployment
        .start_worker::<SimServer>(0, ServerOptions::default(), None)
        .await
        .unwrap();
    parties
        .wait_for_workers(1, Duration::from_secs(10))
        .await
        .unwrap();
    let x = test_features(100);

    // Before training there is nothing to classify with.
    let early = classify(
        &deployment.client,
        &deployment.roster,
        &backend,
        setup,
        x.view(),
        TIMEOUT,
    )
    .await
    .unwrap_err();
    assert!(early.to_string().contains("no final model"), "{early}");

    let upload: EncryptedUpload<SimCt> = encrypt_dataset(&*backend, &setup, plain(&data)).unwrap();
    upload_from_client(&deployment, &*backend, setup, &upload, None)
        .await
        .unwrap();
    let out = parties.finish(TIMEOUT, |_| {}).await.unwrap();

    let got = classify(
        &deployment.client,
        &deployment.roster,
        &backend,
        setup,
        x.view(),
        TIMEOUT,
    )
    .await
    .unwrap();
    // The simulator is exact: only the order of floating-point additions differs from the
    // plaintext product (at most `slots` terms per slot, each of size ≤ |x̂|·|W|).
    let bound = (setup.dim + 1) as f64
        * max_abs(&with_bias(x.view())).max(1.0)
        * max_abs(out.model.weights()).max(1.0)
        * SLOTS as f64
        * f64::EPSILON
        * 64.0;
    assert_eq!(got.classes.len(), x.nrows());
    let differ = assert_matches_plaintext(&got, &out.model, &x, bound);
    assert_eq!(differ, 0, "exact arithmetic flips no prediction here");

    // The trainer may neither ask the evaluator to classify nor have the client's model back.
    let model = deployment
        .client
        .remote_ref::<EncryptedModelQuery>(&deployment.roster.client, CLIENT_ACTOR)
        .ask(EncryptedModelQuery, TIMEOUT)
        .await
        .unwrap();
    let refused = deployment
        .trainer
        .remote_ref::<EncryptedModelQuery>(&deployment.roster.client, CLIENT_ACTOR)
        .ask(EncryptedModelQuery, TIMEOUT)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("may not come from"),
        "{refused}"
    );
    let request = classify_request(&*backend, &setup, &model, x.view(), false);
    let evaluator = deployment.roster.evaluator.clone().unwrap();
    for node in [&deployment.trainer, &deployment.workers[0]] {
        let refused = node
            .remote_ref::<Classify>(&evaluator, EVALUATOR_ACTOR)
            .ask(request.clone(), TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("may not come from"),
            "{refused}"
        );
    }
    // From the client, the same request is answered; with labels attached it is refused.
    deployment
        .client
        .remote_ref::<Classify>(&evaluator, EVALUATOR_ACTOR)
        .ask(request, TIMEOUT)
        .await
        .unwrap();
    let labelled = classify_request(&*backend, &setup, &model, x.view(), true);
    let refused = deployment
        .client
        .remote_ref::<Classify>(&evaluator, EVALUATOR_ACTOR)
        .ask(labelled, TIMEOUT)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("unlabelled"), "{refused}");
    deployment.shutdown().await;
}

/// A [`Classify`] request built by hand from the client's encrypted model (optionally with
/// labels attached to the features, which the evaluator must refuse).
fn classify_request<K: ClientBackend>(
    backend: &K,
    setup: &TrainingSetup,
    model: &FinalModel,
    x: ndarray::ArrayView2<'_, f64>,
    labelled: bool,
) -> Classify {
    let codec = backend.codec().unwrap();
    let client = TrainingClient::new(&codec, setup.unit, setup.classes, setup.dim, 1).unwrap();
    let batches = if labelled {
        let labels = vec![0; x.nrows()];
        client
            .encrypt_training_set(x, &labels, setup.unit.s0())
            .unwrap()
    } else {
        client.encrypt_features(x).unwrap()
    };
    let mut sink = BlobSink::default();
    let weights =
        hetal_actors::messages::forward_matrix(&model.body.best, &model.blobs, &mut sink).unwrap();
    let batches = batches
        .iter()
        .map(|b| encode_batch(backend.server(), b, &mut sink).unwrap())
        .collect();
    sink.seal(ClassifyBody {
        weights,
        weight_scale: model.body.weight_scale,
        batches,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckks_inference_on_the_evaluator_matches_the_decrypted_weights_within_the_noise_bound() {
    // A small INSECURE chain without bootstrapping: 6 levels hold DiagABT's 3.
    let spec = preset("insecure-test-n12").unwrap();
    let data = digits(64, 64);
    let (classes, dim) = (data.classes, data.train_x.ncols());
    let hyper = HyperParams {
        batch_size: 128,
        max_epochs: 1,
        ..Preset::Digits.hyper()
    };
    let unit = hetal_unit(hyper.batch_size, classes, spec.max_slots()).unwrap();
    let setup = TrainingSetup {
        hyper,
        variant: SoftmaxVariant::TRAINING_DEFAULT,
        unit,
        classes,
        dim,
        // Logits: the evaluator gets DiagABT's rotation keys only, no bootstrapping material.
        validation: ValidationForm::Logits,
    };
    let steps = compare::rotation_steps((unit.s0(), dim + 1, classes), unit);
    let client = Arc::new(CkksClient::generate(&spec, true, &steps, Some([7; 32])).unwrap());
    let deployment = Deployment::start(Layout {
        workers: 0,
        spare_workers: 0,
        evaluator: true,
        network: Network::InMemory,
    })
    .await
    .unwrap();
    let options = ServerOptions {
        allow_insecure: true,
    };
    let _parties = deployment
        .start_parties(
            Arc::clone(&client),
            data.val_y.clone(),
            StopPolicy {
                patience: 1,
                budget: Some(1),
            },
            options,
            &Taps::default(),
        )
        .unwrap();
    // The evaluator's part of the client's upload (validation features and the logits'
    // evaluation keys); no training job is started.
    let upload = encrypt_dataset(&*client, &setup, plain(&data)).unwrap();
    let (validation, _) = upload_messages(&deployment.roster, &*client, setup, &upload).unwrap();
    let evaluator = deployment.roster.evaluator.clone().unwrap();
    deployment
        .client
        .remote_ref(&evaluator, EVALUATOR_ACTOR)
        .tell(validation.unwrap())
        .await
        .unwrap();

    // The trainer's final message: weights stored divided by the weight scale, at the level
    // DiagABT needs, as the trainer's validated best weights are.
    let weight_scale = 8.0;
    let w = Array2::from_shape_fn((classes, dim + 1), |(i, j)| {
        ((i * 37 + j * 11) % 29) as f64 / 29.0 - 0.5
    });
    let codec = client.codec().unwrap();
    let period = classes.next_power_of_two();
    let encrypted = encrypt_matrix(
        &codec,
        (&w / weight_scale).view(),
        BlockLayout::RowTiled { period },
        unit,
        3,
    )
    .unwrap();
    let mut sink = BlobSink::default();
    let best = encode_matrix(client.server(), &encrypted, &mut sink).unwrap();
    deployment
        .trainer
        .remote_ref::<FinalModel>(&deployment.roster.client, CLIENT_ACTOR)
        .tell(sink.seal(FinalModelBody {
            best,
            weight_scale,
            epochs: 1,
            steps: 1,
        }))
        .await
        .unwrap();

    let x = test_features(300); // three blocks of 128 rows, the last one partial
    let got = classify(
        &deployment.client,
        &deployment.roster,
        &client,
        setup,
        x.view(),
        TIMEOUT,
    )
    .await
    .unwrap();
    // The plaintext model on the same weights, as the client decrypts them.
    let decrypted = decrypt_matrix(&codec, &encrypted).unwrap() * weight_scale;
    let model = SoftmaxRegression::from_weights(decrypted).unwrap();

    // Error budget: the encryption noise of x̂ and W and every operation of DiagABT each add at
    // most 16·N/Δ to a slot, then multiplied by at most |x̂|·|W|·(d+1) on the way to a logit
    // (the weight scale folded back in).
    let ctx = client.public().unwrap().context().clone();
    let per_op = 16.0 * ctx.n() as f64 / ctx.default_scale();
    let ops = diag_abt_operations(&ctx, &setup, &x, &w, weight_scale);
    let magnitude = max_abs(&with_bias(x.view())).max(1.0) * max_abs(&w).max(1.0);
    let bound = per_op * (ops + 2 * (dim + 1)) as f64 * magnitude * weight_scale;
    assert!(bound < 1e-3, "the bound {bound:e} must be able to fail");
    let differ = assert_matches_plaintext(&got, &model, &x, bound);
    println!(
        "{differ} of {} predictions differ from plaintext",
        x.nrows()
    );
    deployment.shutdown().await;
}

/// Ciphertext operations of the evaluator's DiagABTs on `x` and `w` (every block), counted by
/// the exact simulator in the levels of `ctx`.
fn diag_abt_operations(
    ctx: &hetal_ckks::params::context::Context,
    setup: &TrainingSetup,
    x: &Array2<f64>,
    w: &Array2<f64>,
    weight_scale: f64,
) -> usize {
    let sim = Simulator::new(SimConfig {
        slots: ctx.max_slots(),
        max_level: ctx.max_level(),
        bootstrap_level: ctx.max_level(),
        bootstrap_min_level: 1,
        bootstrap_max_abs: None,
        scale: ctx.default_scale(),
    })
    .unwrap();
    let client = TrainingClient::new(&sim, setup.unit, setup.classes, setup.dim, 1).unwrap();
    let batches = client.encrypt_features(x.view()).unwrap();
    let period = setup.classes.next_power_of_two();
    let we = encrypt_matrix(
        &sim,
        (w / weight_scale).view(),
        BlockLayout::RowTiled { period },
        setup.unit,
        3,
    )
    .unwrap();
    let before = sim.counts();
    for b in &batches {
        diag_abt_scaled(&sim, &b.x, &we, weight_scale).unwrap();
    }
    let after = sim.counts();
    let total = |c: &OpCounts| {
        c.add + c.add_const + c.cmult + c.scalar_mult + c.mult + c.rot + c.conj + c.mul_i
    };
    let ops = total(&after) - total(&before);
    assert!(ops > 0);
    ops as usize
}
