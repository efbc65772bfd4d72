//! One encrypted training step on real CKKS ciphertexts (INSECURE test parameters: N = 2^11 with
//! a modulus chain deep enough for a whole step, no bootstrapping) gives the same weights as the
//! simulator within a bound computed from the parameters and the operations performed.

mod common;

use hetal_learn::eval::ckks_session::CkksSession;
use hetal_learn::eval::{SimConfig, Simulator, SlotEvaluator};
use hetal_learn::matmul::compare::rotation_steps;
use hetal_learn::pack::UnitShape;
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{EncryptedTrainer, Preset, TrainingClient};
use ndarray::Array2;

#[test]
fn one_ckks_step_matches_the_simulator() {
    let (n, d, c) = (24, 5, 2);
    let slots = 1 << 10;
    let unit = UnitShape::hetal(32, c, slots).unwrap();
    let x = Array2::from_shape_fn((n, d), |(i, j)| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.3);
    let labels: Vec<usize> = (0..n).map(|i| (i * 5 / 3) % c).collect();
    let hyper = Preset::FaceMask.hyper();
    let levels = 42;

    let mut steps = rotation_steps((unit.s0(), unit.s1(), c), unit);
    steps.extend([1, -1, -2, -4, -8, -16]);
    let session = CkksSession::new(
        &common::deep_insecure_spec(levels),
        true,
        &steps,
        Some([5; 32]),
    )
    .unwrap();
    let ev = session.slots().unwrap();
    let sim = Simulator::new(SimConfig {
        max_level: levels,
        bootstrap_level: levels,
        ..SimConfig::with_slots(slots)
    })
    .unwrap();

    let client = TrainingClient::new(&ev, unit, c, d, 3).unwrap();
    let batch = client.encrypt_training_set(x.view(), &labels, 32).unwrap();
    let mut server = EncryptedTrainer::new(
        &ev,
        hyper,
        SoftmaxVariant::HetalRs,
        client.initial_weights().unwrap(),
        0,
    )
    .unwrap();
    server.disable_bootstrapping();
    ev.counter().reset();
    server.step(&batch[0]).unwrap();
    let ops = ev.counts();
    let got = client
        .decrypt_model(server.weights(), server.weight_scale())
        .unwrap();

    let sim_client = TrainingClient::new(&sim, unit, c, d, 3).unwrap();
    let sim_batch = sim_client
        .encrypt_training_set(x.view(), &labels, 32)
        .unwrap();
    let mut sim_server = EncryptedTrainer::new(
        &sim,
        hyper,
        SoftmaxVariant::HetalRs,
        sim_client.initial_weights().unwrap(),
        0,
    )
    .unwrap();
    sim_server.disable_bootstrapping();
    sim_server.step(&sim_batch[0]).unwrap();
    let want = sim_client
        .decrypt_model(sim_server.weights(), sim_server.weight_scale())
        .unwrap();

    // Per-operation noise ≤ 16·N/Δ, summed over the operations and amplified by the softmax's
    // squarings (2^8 at range 128: relative errors double with each), reaches the weights
    // through the gradient, scaled by the learning rate, the largest feature and the weight
    // scale the server divides by.
    let ctx = session.context();
    let total_ops = ops.mult + ops.cmult + ops.scalar_mult + ops.rot + ops.add + ops.add_const;
    let max_x = x.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    let bound = 16.0 * ctx.n() as f64 / ctx.default_scale()
        * total_ops as f64
        * 256.0
        * hyper.learning_rate
        * max_x
        * server.weight_scale();
    let diff = (got.weights() - want.weights())
        .mapv(f64::abs)
        .fold(0.0f64, |a, &b| a.max(b));
    let size = want.weights().mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b));
    println!(
        "one CKKS step (N = 2^11, {levels} levels, {total_ops} ops): |W_ckks − W_sim| = {diff:.2e} \
         (bound {bound:.1e}, |W| = {size:.3}), output level {}",
        server
            .weights()
            .blocks()
            .iter()
            .map(|b| ev.level(b))
            .min()
            .unwrap_or(0)
    );
    assert!(size > 1e-3, "the step moved the weights");
    assert!(
        diff < bound && bound < 0.05 * size,
        "diff {diff:e} bound {bound:e}"
    );
}
