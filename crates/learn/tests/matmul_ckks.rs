//! DiagABT and DiagATB on real CKKS ciphertexts (preset `insecure-test-n12`: N = 2^12, INSECURE,
//! tests only) with odd shapes — non-power-of-two samples, features and classes, a bias column,
//! several block rows and columns: decryptions match the plaintext product within a bound
//! computed from the parameters and the operations performed, and sharded runs match unsharded.

mod common;

use common::{col_tiled, random, row_tiled};
use hetal_ckks::params::preset;
use hetal_learn::eval::ckks_session::CkksSession;
use hetal_learn::eval::{SlotCodec, SlotEvaluator};
use hetal_learn::matmul::{self, AtbForm, Sharding, baseline, compare};
use hetal_learn::pack::{Layout, UnitShape, append_bias_column, decrypt_matrix, encrypt_matrix};
use ndarray::Array2;

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Error bound: every rescale, key switch and encryption adds at most `16·N/Δ` to a slot (the
/// rounding of N coefficients, with a safety factor over the typical `√(N·h)/Δ`); errors add up
/// over the operations performed and are amplified by at most the inner dimension times the
/// operands' magnitude (≤ 1 here).
fn bound(n: usize, scale: f64, ops: u64, inner: usize) -> f64 {
    16.0 * n as f64 / scale * ops as f64 * (inner as f64 + 1.0)
}

fn session(unit: UnitShape, c: usize) -> CkksSession {
    let spec = preset("insecure-test-n12").unwrap();
    let steps = compare::rotation_steps((unit.s0(), unit.s1(), c), unit);
    CkksSession::new(&spec, true, &steps, Some([7; 32])).unwrap()
}

#[test]
fn diagonal_algorithms_on_odd_shapes_decrypt_to_the_product() {
    // 100 samples (two block rows of 64), 40 features + bias (two block columns of 32), 3 classes.
    let (n, d, c) = (100, 40, 3);
    let unit = UnitShape::new(64, 32).unwrap();
    let s = session(unit, c);
    let ev = s.slots().unwrap();
    let (ring_n, scale, top) = (s.context().n(), s.context().default_scale(), ev.max_level());
    let x = append_bias_column(random(n, d, 11).view());
    let w = random(c, d + 1, 12);
    let p = random(n, c, 13);
    let xe = encrypt_matrix(&ev, x.view(), Layout::RowMajor, unit, top).unwrap();
    let we = encrypt_matrix(&ev, w.view(), row_tiled(c), unit, top).unwrap();
    let pe = encrypt_matrix(&ev, p.view(), col_tiled(c), unit, top).unwrap();

    ev.counter().reset();
    let z = matmul::diag_abt(&ev, &xe, &we).unwrap();
    let ops = ev.counts();
    let err = max_abs(&decrypt_matrix(&ev, &z).unwrap(), &x.dot(&w.t()));
    let tol = bound(
        ring_n,
        scale,
        ops.cmult + ops.mult + ops.rot + ops.add,
        d + 1,
    );
    eprintln!("DiagABT error {err:e} bound {tol:e}");
    assert!(
        err < tol && tol < 1e-3,
        "DiagABT error {err:e} vs bound {tol:e}"
    );
    assert_eq!(z.blocks().iter().map(|b| ev.level(b)).min(), Some(top - 3));

    let g_plain = p.t().dot(&x);
    for form in [AtbForm::Standard, AtbForm::PRotUp] {
        ev.counter().reset();
        let g = matmul::diag_atb_with(&ev, &pe, &xe, 1.0, form).unwrap();
        let ops = ev.counts();
        let err = max_abs(&decrypt_matrix(&ev, &g).unwrap(), &g_plain);
        let tol = bound(ring_n, scale, ops.cmult + ops.mult + ops.rot + ops.add, n);
        eprintln!("DiagATB {form:?} error {err:e} bound {tol:e}");
        assert!(
            err < tol && tol < 1e-3,
            "DiagATB {form:?} error {err:e} vs bound {tol:e}"
        );
    }

    // The baselines on the same ciphertexts.
    let zc = baseline::col_major(&ev, &xe, &we).unwrap();
    assert!(max_abs(&decrypt_matrix(&ev, &zc).unwrap(), &x.dot(&w.t())) < 1e-3);
    let gr = baseline::row_major(&ev, &pe, &xe).unwrap();
    assert!(max_abs(&decrypt_matrix(&ev, &gr).unwrap(), &g_plain) < 1e-3);
}

#[test]
fn sharded_equals_unsharded_on_ciphertexts() {
    let (n, d, c) = (45, 20, 5);
    let unit = UnitShape::hetal(n, c, 1 << 11).unwrap();
    let s = session(unit, c);
    let ev = s.slots().unwrap();
    let top = ev.max_level();
    let x = append_bias_column(random(n, d, 21).view());
    let w = random(c, d + 1, 22);
    let p = random(n, c, 23);
    let xe = encrypt_matrix(&ev, x.view(), Layout::RowMajor, unit, top).unwrap();
    let we = encrypt_matrix(&ev, w.view(), row_tiled(c), unit, top).unwrap();
    // P − Y after softmax sits lower than X: the PRotUp form is chosen.
    let pe = encrypt_matrix(&ev, p.view(), col_tiled(c), unit, top - 1).unwrap();
    let sharding = Sharding::for_workers(3, 4, 1);

    let one = decrypt_matrix(&ev, &matmul::diag_abt(&ev, &xe, &we).unwrap()).unwrap();
    let plan = matmul::AbtPlan::new(&xe, &we, 1.0, sharding).unwrap();
    let units = plan.units(&ev, &xe, &we).unwrap();
    assert!(units.len() > 1);
    let partials = matmul::run_units(&ev, &units, true).unwrap();
    let many = decrypt_matrix(&ev, &plan.combine(&ev, &partials).unwrap()).unwrap();
    assert!(max_abs(&one, &many) < 1e-6, "{:e}", max_abs(&one, &many));
    assert!(max_abs(&one, &x.dot(&w.t())) < 1e-4);

    let lr = -0.05;
    let one = decrypt_matrix(
        &ev,
        &matmul::diag_atb_with(&ev, &pe, &xe, lr, AtbForm::Auto).unwrap(),
    )
    .unwrap();
    let many = decrypt_matrix(
        &ev,
        &matmul::run_sharded_atb(&ev, &pe, &xe, lr, AtbForm::Auto, sharding).unwrap(),
    )
    .unwrap();
    assert!(max_abs(&one, &many) < 1e-6);
    assert!(max_abs(&one, &(p.t().dot(&x) * lr)) < 1e-4);
    let _ = ev.decrypt(&xe.blocks()[0]).unwrap();
}
