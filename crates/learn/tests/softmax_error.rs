//! Softmax approximation error on HETAL's sampling scheme (simulator), for every variant:
//! the HETAL variants reproduce the published maxima, `hetal-rs` beats them with fewer levels
//! and bootstraps, `hetal-fast` stays within a 1e-3 budget on fewer levels still, and
//! `hetal-shallow` stays within the same budget on fewer levels and bootstraps than `hetal-fast`.
//! Run with `--nocapture` to see the table.

use hetal_learn::eval::{OpCounts, SimConfig, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::softmax::constants::PUBLISHED_MAX_ERROR;
use hetal_learn::softmax::{
    SoftmaxApprox, SoftmaxVariant, TiledRows, error_stats, error_stats_in_window,
};
use num_complex::Complex64;

const ROWS_PER_RANGE: usize = 2_000;
/// The error budget `hetal-fast` is designed for.
const FAST_MAX_ERROR: f64 = 1e-3;

/// Levels, bootstraps and operations of one evaluation in HETAL's setting (fresh input at level
/// 12, bootstrap to 12 from level ≥ 3).
fn levels_and_bootstraps(variant: SoftmaxVariant, c: usize) -> (usize, usize, OpCounts) {
    let slots = 1 << 8;
    let rows = TiledRows::new(slots, c.next_power_of_two(), c).unwrap();
    let approx = SoftmaxApprox::new(variant, rows, 128.0).unwrap();
    let sim = Simulator::new(SimConfig::with_slots(slots)).unwrap();
    let ct = sim.encrypt(&vec![Complex64::new(0.0, 0.0); slots]).unwrap();
    let run = approx
        .apply(&sim, &ct, sim.config().bootstrap_min_level, 0)
        .unwrap();
    assert_eq!(sim.counts().bootstrap as usize, run.bootstraps);
    (run.levels, run.bootstraps, sim.counts())
}

#[test]
fn error_table_at_range_128() {
    println!(
        "| c | variant | max error | mean error | HETAL max (normal / precise) | levels | bootstraps | inverse (R, k) | Mult | scalar/CMult | Rot |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (c, hetal_normal, hetal_precise) in PUBLISHED_MAX_ERROR {
        let mut results = Vec::new();
        for variant in SoftmaxVariant::ALL {
            let s = error_stats(variant, c, 128.0, ROWS_PER_RANGE, 7).unwrap();
            let (levels, boots, ops) = levels_and_bootstraps(variant, c);
            let rows = TiledRows::new(256, c.next_power_of_two(), c).unwrap();
            let params = SoftmaxApprox::new(variant, rows, 128.0)
                .unwrap()
                .inverse_params();
            println!(
                "| {c} | {} | {:.2e} | {:.2e} | {hetal_normal:.2e} / {hetal_precise:.2e} | {levels} | {boots} | ({:.1}, {}) | {} | {} | {} |",
                variant.name(),
                s.max,
                s.mean,
                params.0,
                params.1,
                ops.mult,
                ops.scalar_mult + ops.cmult,
                ops.rot
            );
            assert_eq!(s.rows, 6 * ROWS_PER_RANGE);
            results.push((variant, s, levels, boots));
        }
        let [
            (_, hetal, hl, hb),
            (_, precise, _, _),
            (_, rs, rl, rb),
            (_, fast, fl, fb),
            (_, shallow, sl, sb),
        ] = results[..]
        else {
            unreachable!("five variants")
        };
        // Reproduction: our sample is smaller than the reference's 10^6 rows, so the maxima may
        // only be a little lower than the published ones, never higher (same arithmetic).
        assert!(
            hetal.max <= hetal_normal * 1.02 && hetal.max >= hetal_normal * 0.6,
            "c={c}"
        );
        assert!(
            precise.max <= hetal_precise * 1.02 && precise.max >= hetal_precise * 0.6,
            "c={c}"
        );
        // Improvement: far lower error with fewer levels and bootstraps.
        assert!(rs.max < hetal_precise / 1000.0, "c={c}: {}", rs.max);
        assert!(
            rl < hl && rb < hb,
            "c={c}: levels {rl} vs {hl}, bootstraps {rb} vs {hb}"
        );
        // The training configuration: within its 1e-3 budget, still below HETAL's precise
        // variant, on fewer levels than `hetal-rs` and no more bootstraps.
        assert!(
            fast.max <= FAST_MAX_ERROR && fast.max < hetal_precise / 2.0,
            "c={c}: {}",
            fast.max
        );
        assert!(
            fl < rl && fb <= rb,
            "c={c}: levels {fl} vs {rl}, bootstraps {fb} vs {rb}"
        );
        // The shallow maximum and polynomial inverse: same budget, fewer levels, and no more
        // bootstraps than `hetal-fast`.
        assert!(
            shallow.max <= FAST_MAX_ERROR && shallow.max < hetal_precise / 2.0,
            "c={c}: {}",
            shallow.max
        );
        assert!(
            sl < fl && sb <= fb,
            "c={c}: levels {sl} vs {fl}, bootstraps {sb} vs {fb}"
        );
        // With 12 levels between bootstraps `hetal-shallow` takes the coarser 6-level rounds:
        // still within the budget.
        let wide = error_stats_in_window(
            SoftmaxVariant::HetalShallow,
            c,
            128.0,
            ROWS_PER_RANGE,
            7,
            12,
        )
        .unwrap();
        let rows = TiledRows::new(256, c.next_power_of_two(), c).unwrap();
        let wide_levels = SoftmaxApprox::for_window(SoftmaxVariant::HetalShallow, rows, 128.0, 12)
            .unwrap()
            .depth();
        println!(
            "| {c} | hetal-shallow, 12-level window | {:.2e} | {:.2e} | | {wide_levels} | | | | | |",
            wide.max, wide.mean
        );
        assert!(wide.max <= FAST_MAX_ERROR, "c={c}: {}", wide.max);
    }
}

/// Bootstraps per training step at HETAL's shapes (simulator, HETAL's 12/3 level setting), per
/// softmax variant. Heavy (2^15-slot blocks, 769 features): run with
/// `cargo test -p hetal-learn --release --test softmax_error -- --ignored --nocapture`.
#[test]
#[ignore = "full-size shapes; run explicitly to print the table"]
fn bootstraps_per_step_at_hetal_shapes() {
    use hetal_learn::train::step_counts;
    println!("| shape | variant | softmax | residual | state | total |");
    println!("|---|---|---|---|---|---|");
    for (batch, features, classes) in [
        (1024, 769, 10),
        (2048, 769, 10),
        (1024, 769, 7),
        (512, 769, 3),
        (2048, 64, 10),
        (1024, 64, 10),
    ] {
        for variant in [
            SoftmaxVariant::HetalRs,
            SoftmaxVariant::HetalFast,
            SoftmaxVariant::HetalShallow,
        ] {
            let c = step_counts(batch, features, classes, variant, 8).unwrap();
            let total = c.softmax_bootstraps_per_step
                + c.residual_bootstraps_per_step
                + c.state_bootstraps_per_step;
            println!(
                "| ({batch},{features},{classes}) | {} | {:.2} | {:.2} | {:.2} | {total:.2} |",
                variant.name(),
                c.softmax_bootstraps_per_step,
                c.residual_bootstraps_per_step,
                c.state_bootstraps_per_step
            );
            // The packed refresh: the whole state (W and V, 13–49 blocks each) in one
            // bootstrap, at most one refresh per step.
            assert!(c.state_bootstraps_per_step <= 1.0, "{c:?}");
            assert!(c.residual_bootstraps_per_step <= 1.0, "{c:?}");
        }
    }
}

/// Bootstraps per training step when a bootstrap leaves 12 or 13 usable levels instead of
/// HETAL's 9 (what a deeper bootstrapping circuit would give), for `hetal-fast` and
/// `hetal-shallow` (which then takes two 6-level maximum rounds per window). Heavy: run with
/// `cargo test -p hetal-learn --release --test softmax_error -- --ignored --nocapture`.
#[test]
#[ignore = "full-size shapes; run explicitly to print the table"]
fn bootstraps_per_step_with_wider_windows() {
    use hetal_learn::train::bench::step_counts_with_window;
    println!("| window | shape | variant | softmax | residual | state | total |");
    println!("|---|---|---|---|---|---|---|");
    for window in [9, 12, 13] {
        for (batch, features, classes) in [(1024, 769, 10), (1024, 769, 7), (512, 769, 3)] {
            for variant in [SoftmaxVariant::HetalFast, SoftmaxVariant::HetalShallow] {
                let c =
                    step_counts_with_window(batch, features, classes, variant, 8, window).unwrap();
                let total = c.softmax_bootstraps_per_step
                    + c.residual_bootstraps_per_step
                    + c.state_bootstraps_per_step;
                println!(
                    "| {window} | ({batch},{features},{classes}) | {} | {:.2} | {:.2} | {:.2} | {total:.2} |",
                    variant.name(),
                    c.softmax_bootstraps_per_step,
                    c.residual_bootstraps_per_step,
                    c.state_bootstraps_per_step
                );
                assert!(c.state_bootstraps_per_step <= 1.0, "{c:?}");
            }
        }
    }
}
