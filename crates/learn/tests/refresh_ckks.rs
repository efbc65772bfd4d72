//! The packed state refresh (`train::refresh`) on real CKKS ciphertexts WITH bootstrapping
//! (INSECURE preset `insecure-boot-n12`, N = 2^12): `W` and `V` (several blocks each) go through
//! a single bootstrap and come back, every slot, within a bound computed from the bootstrap
//! error measured here and the noise of the packing operations. About 30 s in the test profile.

use hetal_ckks::params::preset;
use hetal_ckks::params::presets::INSECURE_BOOT_N12;
use hetal_learn::eval::ckks_boot::BOOTSTRAP_MIN;
use hetal_learn::eval::ckks_session::CkksSession;
use hetal_learn::eval::{SimConfig, Simulator, SlotCodec, SlotEvaluator, bootstrap_params_for};
use hetal_learn::pack::{BlockMatrix, Layout, UnitShape, pack};
use hetal_learn::train::refresh::{PACK_LEVELS, refresh_row_tiled};
use ndarray::Array2;
use num_complex::Complex64;

/// `W` (3 classes, period 4) and `V` in 64 × 32 blocks: 16 tiles per block, 70 columns → 3
/// blocks each, 6 blocks in one packed ciphertext.
fn state() -> (UnitShape, Array2<f64>, Array2<f64>) {
    let unit = UnitShape::new(64, 32).unwrap();
    let w = Array2::from_shape_fn((3, 70), |(i, j)| ((i * 70 + j) % 19) as f64 / 20.0 - 0.45);
    let v = w.mapv(|x| 0.4 - x);
    (unit, w, v)
}

fn encrypt<E: SlotCodec>(ev: &E, m: &Array2<f64>, unit: UnitShape) -> BlockMatrix<E::Ct> {
    pack(m.view(), Layout::RowTiled { period: 4 }, unit)
        .unwrap()
        .try_map(|b| ev.encrypt_at(b, BOOTSTRAP_MIN + PACK_LEVELS))
        .unwrap()
}

fn slots<E: SlotCodec>(ev: &E, m: &BlockMatrix<E::Ct>) -> Vec<Complex64> {
    m.blocks()
        .iter()
        .flat_map(|c| ev.decrypt(c).unwrap())
        .collect()
}

#[test]
fn packed_refresh_on_ckks_matches_the_input_within_the_bootstrap_error() {
    let spec = preset(INSECURE_BOOT_N12).unwrap();
    let params = bootstrap_params_for(&spec).unwrap();
    let n_slots = spec.max_slots();
    let (unit, w, v) = state();
    assert_eq!(unit.slots(), n_slots);

    // The simulator's run of the same refresh names the rotations to generate keys for.
    let session_levels = spec.q_bits.len() - 1;
    let sim = Simulator::new(SimConfig {
        max_level: session_levels,
        bootstrap_level: session_levels - params.depth().unwrap(),
        bootstrap_min_level: BOOTSTRAP_MIN,
        ..SimConfig::with_slots(n_slots)
    })
    .unwrap();
    sim.clear_rotation_steps();
    let (sw, sv) = (encrypt(&sim, &w, unit), encrypt(&sim, &v, unit));
    let sim_out = refresh_row_tiled(&sim, &[&sw, &sv], BOOTSTRAP_MIN).unwrap();
    assert!(sim_out.packed);
    assert_eq!(sim_out.bootstraps, 1);
    let rotations: Vec<isize> = sim
        .rotation_steps_used()
        .into_iter()
        .map(|s| s as isize)
        .collect();

    let session =
        CkksSession::bootstrappable(&spec, true, &rotations, Some([5; 32]), params).unwrap();
    let ev = session.slots().unwrap();

    // The error of one plain bootstrap of values like the packed ones (unit square).
    let probe: Vec<Complex64> = (0..n_slots)
        .map(|i| Complex64::new((i % 7) as f64 / 7.0 - 0.5, (i % 5) as f64 / 5.0 - 0.4))
        .collect();
    let boot = ev
        .bootstrap(&ev.encrypt_at(&probe, BOOTSTRAP_MIN).unwrap())
        .unwrap();
    let boot_err = ev
        .decrypt(&boot)
        .unwrap()
        .iter()
        .zip(&probe)
        .map(|(a, b)| (a - b).norm())
        .fold(0.0, f64::max);

    let (cw, cv) = (encrypt(&ev, &w, unit), encrypt(&ev, &v, unit));
    let before: Vec<Vec<Complex64>> = [&cw, &cv].iter().map(|m| slots(&ev, m)).collect();
    ev.counter().reset();
    let out = refresh_row_tiled(&ev, &[&cw, &cv], BOOTSTRAP_MIN).unwrap();
    assert!(out.packed);
    assert_eq!(out.bootstraps, 1);
    let ops = ev.counts();
    assert_eq!(ops.bootstrap, 1);

    // A slot of the output is (bootstrapped packed slot)/2 + its conjugate: at most one
    // bootstrap error, plus a rounding/key-switch error of at most 16·N/Δ per operation on the
    // path (a safety factor over the typical √N/Δ).
    let ctx = session.context();
    let per_op = 16.0 * ctx.n() as f64 / ctx.default_scale();
    let path_ops = (ops.cmult + ops.rot + ops.conj + ops.add) as f64;
    let bound = boot_err + per_op * path_ops;
    let mut worst: f64 = 0.0;
    for (want, got) in before.iter().zip(&out.matrices) {
        assert_eq!(ev.level(&got.blocks()[0]), ev.bootstrap_level() - 1);
        for (a, b) in want.iter().zip(slots(&ev, got)) {
            worst = worst.max((a.re - b.re).abs());
        }
    }
    println!(
        "packed refresh on CKKS (N = 2^12): 6 blocks in 1 bootstrap, max slot error {worst:.2e} \
         (one bootstrap {boot_err:.2e}, bound {bound:.2e})"
    );
    assert!(worst <= bound && bound < 1e-2, "{worst:e} vs {bound:e}");
}
