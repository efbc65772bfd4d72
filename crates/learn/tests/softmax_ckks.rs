//! Spot check on real CKKS ciphertexts (INSECURE test parameters: N = 2^11 with a deep modulus
//! chain so the whole approximation runs without bootstrapping): the decrypted probabilities
//! match the simulator's (the same arithmetic, exact) within CKKS noise, for HETAL's variant and
//! for `hetal-rs`.

mod common;

use std::time::Instant;

use hetal_learn::eval::ckks_session::CkksSession;
use hetal_learn::eval::{SimConfig, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::softmax::{SoftmaxApprox, SoftmaxVariant, TiledRows, softmax_exact};
use num_complex::Complex64;

#[test]
fn ckks_softmax_matches_the_simulator() {
    // Two classes tiled over four columns, logits in [-8, 8] (range 8 keeps the depth small).
    let (classes, cols, range) = (2, 4, 8.0);
    let slots = 1 << 10;
    let rows = TiledRows::new(slots, cols, classes).unwrap();
    let logits: Vec<[f64; 2]> = (0..rows.rows())
        .map(|r| {
            let a = ((r * 37) % 161) as f64 / 10.0 - 8.0;
            let b = ((r * 91 + 17) % 161) as f64 / 10.0 - 8.0;
            [a, b]
        })
        .collect();
    let mut values = vec![Complex64::new(0.0, 0.0); slots];
    for (r, row) in logits.iter().enumerate() {
        for col in 0..cols {
            values[r * cols + col] = Complex64::new(row[col % 2], 0.0);
        }
    }
    for variant in [SoftmaxVariant::Hetal, SoftmaxVariant::HetalRs] {
        let approx = SoftmaxApprox::new(variant, rows, range).unwrap();
        let depth = approx.depth();
        let session = CkksSession::new(
            &common::deep_insecure_spec(depth + 1),
            true,
            &[1, -1, -2],
            Some([3; 32]),
        )
        .unwrap();
        let ev = session.slots().unwrap();
        let ct = ev.encrypt(&values).unwrap();
        ev.counter().reset();
        let start = Instant::now();
        let run = approx.apply(&ev, &ct, 1, 1).unwrap();
        let elapsed = start.elapsed();
        let ops = ev.counts();
        assert_eq!(run.bootstraps, 0, "the chain is deep enough");
        // Each rescale, key switch or rounding adds at most ~16·N/Δ to a slot (safety factor
        // over the typical √(N·h)/Δ); errors add up over the operations and are amplified by
        // the final squarings of the exponential (a relative error doubles with each).
        let ctx = session.context();
        let squarings = match variant {
            SoftmaxVariant::HetalRs => (2.0 * range).log2() as i32,
            _ => 3,
        };
        let bound = 16.0 * ctx.n() as f64 / ctx.default_scale()
            * (ops.mult + ops.cmult + ops.scalar_mult + ops.rot + ops.add + ops.add_const) as f64
            * 2f64.powi(squarings);
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
        let (mut noise, mut error) = (0.0f64, 0.0f64);
        for (r, row) in logits.iter().enumerate() {
            let exact = softmax_exact(row);
            for col in 0..cols {
                let s = r * cols + col;
                noise = noise.max((got[s] - want[s]).norm());
                let target = if col % 2 < classes {
                    exact[col % 2]
                } else {
                    0.0
                };
                error = error.max((got[s].re - target).abs());
            }
        }
        println!(
            "{}: depth {depth}, {:.2?} per ciphertext (N = 2^11, {} rows); CKKS − simulator {noise:.2e} (bound {bound:.1e}), \
             max error vs exact softmax {error:.2e}",
            variant.name(),
            elapsed,
            rows.rows()
        );
        assert!(
            noise < bound && bound < 1e-4,
            "{variant:?}: CKKS noise {noise:e}, bound {bound:e}"
        );
        let tolerance = match variant {
            SoftmaxVariant::HetalRs => 1e-6,
            _ => 2e-2,
        };
        assert!(error < tolerance, "{variant:?}: error {error:e}");
    }
}
