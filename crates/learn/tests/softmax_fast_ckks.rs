//! `hetal-fast` and `hetal-shallow` on real CKKS ciphertexts (INSECURE test parameters: N = 2^11
//! with a modulus chain deep enough for the whole approximation without bootstrapping): the
//! decrypted probabilities match the simulator's within a noise bound computed from the
//! operation count, and the exact softmax within the variants' 1e-3 budget.

mod common;

use hetal_learn::eval::ckks_session::CkksSession;
use hetal_learn::eval::{SimConfig, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::softmax::approx::FAST_EXP_SQUARINGS;
use hetal_learn::softmax::{SoftmaxApprox, SoftmaxVariant, TiledRows, softmax_exact};
use num_complex::Complex64;

#[test]
fn ckks_hetal_fast_matches_the_simulator_and_the_exact_softmax() {
    matches_the_simulator_and_the_exact_softmax(SoftmaxVariant::HetalFast);
}

#[test]
fn ckks_hetal_shallow_matches_the_simulator_and_the_exact_softmax() {
    matches_the_simulator_and_the_exact_softmax(SoftmaxVariant::HetalShallow);
}

fn matches_the_simulator_and_the_exact_softmax(variant: SoftmaxVariant) {
    // Three classes in a period of four, logits in [-8, 8] (range 8 keeps the chain short).
    let (classes, cols, range) = (3, 4, 8.0);
    let slots = 1 << 10;
    let rows = TiledRows::new(slots, cols, classes).unwrap();
    let logits: Vec<Vec<f64>> = (0..rows.rows())
        .map(|r| {
            (0..classes)
                .map(|j| ((r * 37 + j * 53) % 161) as f64 / 10.0 - 8.0)
                .collect()
        })
        .collect();
    let mut values = vec![Complex64::new(0.0, 0.0); slots];
    for (r, row) in logits.iter().enumerate() {
        for (j, &x) in row.iter().enumerate() {
            values[rows.slot(r, j)] = Complex64::new(x, 0.0);
        }
    }
    let approx = SoftmaxApprox::new(variant, rows, range).unwrap();
    let depth = approx.depth();
    let session = CkksSession::new(
        &common::deep_insecure_spec(depth + 1),
        true,
        &[1, 2, -1, -2],
        Some([4; 32]),
    )
    .unwrap();
    let ev = session.slots().unwrap();
    let ct = ev.encrypt(&values).unwrap();
    ev.counter().reset();
    let run = approx.apply(&ev, &ct, 1, 1).unwrap();
    assert_eq!(run.bootstraps, 0, "the chain is deep enough");
    let ops = ev.counts();
    let got = ev.decrypt(&run.output).unwrap();

    let sim = Simulator::new(SimConfig {
        max_level: depth + 1,
        bootstrap_level: depth + 1,
        ..SimConfig::with_slots(slots)
    })
    .unwrap();
    let want = sim
        .decrypt(
            &approx
                .apply(&sim, &sim.encrypt(&values).unwrap(), 1, 1)
                .unwrap()
                .output,
        )
        .unwrap();

    // Each rescale, key switch or rounding adds at most ~16·N/Δ to a slot; errors add up over
    // the operations and the exponential's squarings amplify a relative error 2^squarings-fold.
    let ctx = session.context();
    let bound = 16.0 * ctx.n() as f64 / ctx.default_scale()
        * (ops.mult + ops.cmult + ops.scalar_mult + ops.rot + ops.add + ops.add_const) as f64
        * (1u64 << FAST_EXP_SQUARINGS) as f64;
    let (mut noise, mut error) = (0.0f64, 0.0f64);
    for (r, row) in logits.iter().enumerate() {
        let exact = softmax_exact(row);
        for (j, p) in exact.iter().enumerate() {
            let s = rows.slot(r, j);
            noise = noise.max((got[s] - want[s]).norm());
            error = error.max((got[s].re - p).abs());
        }
    }
    println!(
        "{} on CKKS (N = 2^11): depth {depth}, CKKS − simulator {noise:.2e} (bound \
         {bound:.1e}), max error vs exact softmax {error:.2e}",
        variant.name()
    );
    assert!(
        noise < bound && bound < 1e-4,
        "noise {noise:e}, bound {bound:e}"
    );
    assert!(error < 1e-3, "error {error:e}");
}
