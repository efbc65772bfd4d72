//! The CKKS adapter on `hetal-ckks`'s noise-free level/scale model (`SlotSimulator`) with the real
//! prime chain of the `insecure-test-n12` preset (INSECURE, tests only): every addition in the
//! algorithms meets equal levels and scales, so the same code runs on ciphertexts; results match
//! the plaintext product and the counts and levels match the exact simulator.

mod common;

use common::{col_tiled, level, random, row_tiled};
use hetal_ckks::circuits::simulator::SlotSimulator;
use hetal_ckks::params::context::Context;
use hetal_ckks::params::preset;
use hetal_learn::eval::ckks::SimulatorClient;
use hetal_learn::eval::{CkksSlots, SimConfig, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::matmul::{self, AtbForm, Sharding, baseline};
use hetal_learn::pack::{Layout, UnitShape, append_bias_column, decrypt_matrix, encrypt_matrix};
use ndarray::Array2;

fn model() -> CkksSlots<SlotSimulator, SimulatorClient> {
    let spec = preset("insecure-test-n12").unwrap();
    let ctx = Context::new(&spec, true).unwrap();
    let primes: Vec<f64> = ctx.q_primes().iter().map(|&q| q as f64).collect();
    let max_level = primes.len() - 1;
    let sim = SlotSimulator::new(spec.log_n, primes).unwrap();
    CkksSlots::new(sim, SimulatorClient, max_level, ctx.default_scale()).unwrap()
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn canonical_scales_stay_near_the_nominal_scale() {
    let ev = model();
    let nominal = ev.canonical_scale(0).unwrap();
    for l in 0..=ev.max_level() {
        let s = ev.canonical_scale(l).unwrap();
        assert!((s / nominal - 1.0).abs() < 1e-3, "level {l}: {s}");
    }
    // Mixed levels and an explicit drop keep everything canonical and exact up to rounding.
    let x = ev
        .encrypt(&[num_complex::Complex64::new(0.75, 0.0)])
        .unwrap();
    let y = ev
        .encrypt_at(&[num_complex::Complex64::new(2.0, 0.0)], 3)
        .unwrap();
    let p = ev.mul(&x, &y).unwrap();
    assert_eq!(ev.level(&p), 2);
    let s = ev.add(&p, &x).unwrap();
    assert!((ev.decrypt(&s).unwrap()[0].re - 2.25).abs() < 1e-9);
    let d = ev.drop_to_level(&x, 1).unwrap();
    assert!((ev.decrypt(&d).unwrap()[0].re - 0.75).abs() < 1e-9);
    assert!(ev.bootstrap(&d).is_err(), "no bootstrapping keys");
    // A lazy product sum whose operands arrive at decreasing levels.
    let mut acc = ev.product_sum(&x, &x).unwrap();
    ev.product_sum_add(&mut acc, &x, &y).unwrap();
    ev.product_sum_add(&mut acc, &d, &x).unwrap();
    let s = ev.product_sum_finish(&acc).unwrap();
    assert_eq!(ev.level(&s), 0);
    assert!((ev.decrypt(&s).unwrap()[0].re - (0.5625 + 1.5 + 0.5625)).abs() < 1e-9);
}

#[test]
fn diagonal_algorithms_and_baselines_on_odd_shapes() {
    let ev = model();
    let exact = Simulator::new(SimConfig::with_slots(ev.slots())).unwrap();
    let top = ev.max_level();
    // 45 samples, 20 features + bias, 3 classes: non-power-of-two everywhere.
    let (n, d, c) = (45, 20, 3);
    let unit = UnitShape::hetal(n, c, ev.slots()).unwrap();
    let x = append_bias_column(random(n, d, 1).view());
    let w = random(c, d + 1, 2);
    let p = random(n, c, 3);
    let xe = encrypt_matrix(&ev, x.view(), Layout::RowMajor, unit, top).unwrap();
    let we = encrypt_matrix(&ev, w.view(), row_tiled(c), unit, top).unwrap();
    let pe = encrypt_matrix(&ev, p.view(), col_tiled(c), unit, top).unwrap();
    let xs = encrypt_matrix(&exact, x.view(), Layout::RowMajor, unit, top).unwrap();
    let ws = encrypt_matrix(&exact, w.view(), row_tiled(c), unit, top).unwrap();
    let ps = encrypt_matrix(&exact, p.view(), col_tiled(c), unit, top).unwrap();
    let z = x.dot(&w.t());
    let g = p.t().dot(&x);
    let tol = 1e-8;

    ev.counter().reset();
    exact.counter().reset();
    let got = matmul::diag_abt(&ev, &xe, &we).unwrap();
    let want = matmul::diag_abt(&exact, &xs, &ws).unwrap();
    assert!(max_abs(&decrypt_matrix(&ev, &got).unwrap(), &z) < tol);
    assert_eq!(ev.counts().table_triple(), exact.counts().table_triple());
    assert_eq!(level(&ev, &got), level(&exact, &want));

    for form in [AtbForm::Standard, AtbForm::PRotUp] {
        ev.counter().reset();
        exact.counter().reset();
        let got = matmul::diag_atb_with(&ev, &pe, &xe, 1.0, form).unwrap();
        let want = matmul::diag_atb_with(&exact, &ps, &xs, 1.0, form).unwrap();
        assert!(
            max_abs(&decrypt_matrix(&ev, &got).unwrap(), &g) < tol,
            "{form:?}"
        );
        assert_eq!(ev.counts().table_triple(), exact.counts().table_triple());
        assert_eq!(level(&ev, &got), level(&exact, &want));
    }

    let got = baseline::col_major(&ev, &xe, &we).unwrap();
    assert!(max_abs(&decrypt_matrix(&ev, &got).unwrap(), &z) < tol);
    let got = baseline::row_major(&ev, &pe, &xe).unwrap();
    assert!(max_abs(&decrypt_matrix(&ev, &got).unwrap(), &g) < tol);

    // Inputs at different levels (P − Y after softmax is lower than X): PRotUp is chosen, and the
    // lower input's scale is matched exactly.
    let low = encrypt_matrix(&ev, p.view(), col_tiled(c), unit, top - 2).unwrap();
    let got = matmul::diag_atb(&ev, &low, &xe).unwrap();
    assert_eq!(level(&ev, &got), top - 2 - 3);
    assert!(max_abs(&decrypt_matrix(&ev, &got).unwrap(), &g) < tol);
}

#[test]
fn sharded_equals_unsharded_on_the_model() {
    let ev = model();
    let unit = UnitShape::new(64, 32).unwrap();
    let top = ev.max_level();
    let x = append_bias_column(random(100, 40, 4).view());
    let w = random(5, 41, 5);
    let p = random(100, 5, 6);
    let xe = encrypt_matrix(&ev, x.view(), Layout::RowMajor, unit, top).unwrap();
    let we = encrypt_matrix(&ev, w.view(), row_tiled(5), unit, top).unwrap();
    let pe = encrypt_matrix(&ev, p.view(), col_tiled(5), unit, top).unwrap();
    let sharding = Sharding {
        pair_groups: 4,
        row_groups: 2,
        col_groups: 2,
    };
    let one = decrypt_matrix(&ev, &matmul::diag_abt(&ev, &xe, &we).unwrap()).unwrap();
    let many = decrypt_matrix(
        &ev,
        &matmul::run_sharded_abt(&ev, &xe, &we, 1.0, sharding).unwrap(),
    )
    .unwrap();
    assert!(max_abs(&one, &many) < 1e-9);
    assert!(max_abs(&one, &x.dot(&w.t())) < 1e-8);
    let one = decrypt_matrix(&ev, &matmul::diag_atb(&ev, &pe, &xe).unwrap()).unwrap();
    let many = decrypt_matrix(
        &ev,
        &matmul::run_sharded_atb(&ev, &pe, &xe, 1.0, AtbForm::Auto, sharding).unwrap(),
    )
    .unwrap();
    assert!(max_abs(&one, &many) < 1e-9);
}
