//! Sharded DiagABT / DiagATB: work units that travel as bytes (serde) and run independently add
//! up to the single-process result; malformed units and partials are refused.

mod common;

use common::{col_tiled, max_slot_error, random, row_tiled};
use hetal_learn::eval::{SimConfig, SimCt, Simulator, SlotCodec, SlotEvaluator};
use hetal_learn::matmul::{self, AbtPlan, AbtUnit, AtbForm, AtbPlan, AtbUnit, Partial, Sharding};
use hetal_learn::pack::{BlockMatrix, Layout, UnitShape, encrypt_matrix};

/// Largest slot-wise distance between two encrypted block matrices.
fn distance(sim: &Simulator, x: &BlockMatrix<SimCt>, y: &BlockMatrix<SimCt>) -> f64 {
    assert_eq!(
        (x.rows(), x.cols(), x.layout()),
        (y.rows(), y.cols(), y.layout())
    );
    let mut worst: f64 = 0.0;
    for (a, b) in x.blocks().iter().zip(y.blocks()) {
        let (a, b) = (sim.decrypt(a).unwrap(), sim.decrypt(b).unwrap());
        worst = a
            .iter()
            .zip(&b)
            .fold(worst, |w, (u, v)| w.max((u - v).norm()));
    }
    worst
}

fn shardings() -> Vec<Sharding> {
    let s = |pair_groups, row_groups, col_groups| Sharding {
        pair_groups,
        row_groups,
        col_groups,
    };
    vec![
        s(4, 1, 1),
        s(2, 1, 3),
        s(1, 3, 1),
        s(3, 2, 2),
        s(9, 9, 9),
        Sharding::for_workers(16, 4, 3),
    ]
}

/// Operands: 300 × 70 data on 128 × 32 units (3 block rows, 3 block columns), 7 classes (period 8).
struct Setup {
    sim: Simulator,
    x: BlockMatrix<SimCt>,
    w: BlockMatrix<SimCt>,
    p: BlockMatrix<SimCt>,
}

fn setup() -> Setup {
    let unit = UnitShape::new(128, 32).unwrap();
    let sim = Simulator::new(SimConfig::with_slots(unit.slots())).unwrap();
    let x = encrypt_matrix(&sim, random(300, 70, 1).view(), Layout::RowMajor, unit, 12).unwrap();
    let w = encrypt_matrix(&sim, random(7, 70, 2).view(), row_tiled(7), unit, 12).unwrap();
    let p = encrypt_matrix(&sim, random(300, 7, 3).view(), col_tiled(7), unit, 10).unwrap();
    Setup { sim, x, w, p }
}

/// Ships a unit through JSON, as a worker would receive it.
fn ship<T: serde::Serialize + serde::de::DeserializeOwned>(t: &T) -> T {
    serde_json::from_str(&serde_json::to_string(t).unwrap()).unwrap()
}

#[test]
fn sharded_abt_equals_single_process() {
    let Setup { sim, x, w, .. } = setup();
    sim.counter().reset();
    let single = matmul::diag_abt_scaled(&sim, &x, &w, 0.5).unwrap();
    let single_mults = sim.counts().mult;
    for sharding in shardings() {
        let plan = AbtPlan::new(&x, &w, 0.5, sharding).unwrap();
        sim.counter().reset();
        let units = plan.units(&sim, &x, &w).unwrap();
        let partials: Vec<Partial<SimCt>> = units
            .iter()
            .map(|u| ship(&ship(u).run(&sim).unwrap()))
            .collect();
        let combined = plan.combine(&sim, &partials).unwrap();
        assert_eq!(
            sim.counts().mult,
            single_mults,
            "sharding duplicates no Mult ({sharding:?})"
        );
        assert!(distance(&sim, &combined, &single) < 1e-12, "{sharding:?}");
        // The units cover every (pair, row block, column block) exactly once.
        let cells: usize = plan
            .shards()
            .iter()
            .map(|s| s.pairs.len() * s.row_blocks.len() * s.col_blocks.len())
            .sum();
        assert_eq!(cells, 4 * 3 * 3);
    }
    let z = random(300, 70, 1).dot(&random(7, 70, 2).t()) * 0.5;
    assert!(max_slot_error(&sim, &single, &z) < 1e-11);
}

#[test]
fn sharded_atb_equals_single_process() {
    let Setup { sim, x, p, .. } = setup();
    for form in [AtbForm::Standard, AtbForm::PRotUp] {
        let single = matmul::diag_atb_with(&sim, &p, &x, -0.1, form).unwrap();
        for sharding in shardings() {
            let plan = AtbPlan::new(&sim, &p, &x, -0.1, form, sharding).unwrap();
            let units = plan.units(&sim, &p, &x).unwrap();
            let partials: Vec<_> = units.iter().map(|u| ship(u).run(&sim).unwrap()).collect();
            let combined = plan.combine(&sim, &partials).unwrap();
            assert!(
                distance(&sim, &combined, &single) < 1e-12,
                "{form:?} {sharding:?}"
            );
        }
        let g = random(300, 7, 3).t().dot(&random(300, 70, 1)) * -0.1;
        assert!(max_slot_error(&sim, &single, &g) < 1e-11);
    }
}

#[test]
fn units_can_carry_references() {
    // The actors crate may ship ciphertext ids and resolve them on the worker.
    let Setup { sim, x, w, .. } = setup();
    let plan = AbtPlan::new(&x, &w, 1.0, Sharding::for_workers(2, 4, 3)).unwrap();
    let units = plan.units(&sim, &x, &w).unwrap();
    let mut store: Vec<SimCt> = Vec::new();
    let refs: Vec<AbtUnit<usize>> = units
        .iter()
        .map(|u| {
            u.try_map(|ct| {
                store.push(ct.clone());
                Ok(store.len() - 1)
            })
            .unwrap()
        })
        .collect();
    let partials: Vec<_> = refs
        .iter()
        .map(|r| {
            r.try_map(|&id| Ok(store[id].clone()))
                .unwrap()
                .run(&sim)
                .unwrap()
        })
        .collect();
    let direct = matmul::diag_abt(&sim, &x, &w).unwrap();
    assert!(distance(&sim, &plan.combine(&sim, &partials).unwrap(), &direct) < 1e-12);
    assert!(
        refs[0]
            .try_map(|&id| store
                .get(id + 10_000)
                .cloned()
                .ok_or(hetal_learn::Error::InvalidInput("unknown id".into())))
            .is_err()
    );
}

#[test]
fn malformed_units_and_partials_are_refused() {
    let Setup { sim, x, w, p } = setup();
    let plan = AbtPlan::new(
        &x,
        &w,
        1.0,
        Sharding {
            pair_groups: 2,
            row_groups: 1,
            col_groups: 1,
        },
    )
    .unwrap();
    let units = plan.units(&sim, &x, &w).unwrap();

    let mut bad = units[0].clone();
    bad.rotations.push(12345);
    assert!(bad.run(&sim).is_err(), "wrong rotation list");
    let mut bad = units[0].clone();
    bad.spec.pairs = 0..9;
    assert!(bad.run(&sim).is_err(), "pairs beyond c/2");
    let mut bad = units[0].clone();
    bad.a.pop();
    assert!(bad.run(&sim).is_err(), "missing A block");
    let mut bad = units[0].clone();
    bad.factor = f64::NAN;
    assert!(bad.run(&sim).is_err(), "non-finite factor");

    let partials: Vec<_> = units.iter().map(|u| u.run(&sim).unwrap()).collect();
    assert!(
        plan.combine(&sim, &partials[..1]).is_err(),
        "missing partial"
    );
    let swapped = vec![partials[1].clone(), partials[0].clone()];
    assert!(
        plan.combine(&sim, &swapped).is_err(),
        "partials out of order"
    );
    let mut short = partials.clone();
    short[0].blocks.pop();
    assert!(
        plan.combine(&sim, &short).is_err(),
        "partial with a missing block"
    );

    let atb = AtbPlan::new(&sim, &p, &x, 1.0, AtbForm::Auto, Sharding::single()).unwrap();
    let mut unit: AtbUnit<SimCt> = atb.units(&sim, &p, &x).unwrap().remove(0);
    unit.form = AtbForm::Auto;
    assert!(unit.run(&sim).is_err(), "unresolved form");
    // A plan refuses operands that are not the ones it was made for.
    assert!(
        plan.units(
            &sim,
            &x,
            &encrypt_matrix(&sim, random(3, 70, 9).view(), row_tiled(3), x.unit(), 12).unwrap()
        )
        .is_err()
    );
}

#[test]
fn parallel_units_match_sequential_units() {
    let Setup { sim, x, p, .. } = setup();
    let plan = AtbPlan::new(
        &sim,
        &p,
        &x,
        1.0,
        AtbForm::Auto,
        Sharding::for_workers(6, 4, 3),
    )
    .unwrap();
    let units = plan.units(&sim, &p, &x).unwrap();
    let seq = matmul::run_units(&sim, &units, false).unwrap();
    let par = matmul::run_units(&sim, &units, true).unwrap();
    assert_eq!(seq, par);
}

#[test]
fn plans_list_every_rotation_their_units_perform() {
    let Setup { sim, x, w, p } = setup();
    let slots = sim.slots() as isize;
    let norm = |s: std::collections::BTreeSet<isize>| -> std::collections::BTreeSet<usize> {
        s.into_iter()
            .map(|k| k.rem_euclid(slots) as usize)
            .collect()
    };
    sim.clear_rotation_steps();
    let plan = AbtPlan::new(&x, &w, 1.0, Sharding::for_workers(3, 4, 3)).unwrap();
    let units = plan.units(&sim, &x, &w).unwrap();
    plan.combine(&sim, &matmul::run_units(&sim, &units, false).unwrap())
        .unwrap();
    assert!(
        sim.rotation_steps_used()
            .is_subset(&norm(plan.rotation_steps()))
    );
    for form in [AtbForm::Standard, AtbForm::PRotUp] {
        sim.clear_rotation_steps();
        let plan = AtbPlan::new(&sim, &p, &x, 1.0, form, Sharding::single()).unwrap();
        let units = plan.units(&sim, &p, &x).unwrap();
        plan.combine(&sim, &matmul::run_units(&sim, &units, false).unwrap())
            .unwrap();
        assert!(
            sim.rotation_steps_used()
                .is_subset(&norm(plan.rotation_steps())),
            "{form:?}"
        );
        // Each unit's own list covers what it does.
        for u in &units {
            sim.clear_rotation_steps();
            u.run(&sim).unwrap();
            let listed: std::collections::BTreeSet<isize> = u.rotations.iter().copied().collect();
            assert!(sim.rotation_steps_used().is_subset(&norm(listed)));
        }
    }
}

#[test]
fn units_for_another_slot_count_are_refused_before_allocating() {
    let Setup { sim, x, w, .. } = setup();
    let plan = AbtPlan::new(&x, &w, 1.0, Sharding::single()).unwrap();
    let mut unit = plan.units(&sim, &x, &w).unwrap().remove(0);
    // A forged unit claiming a 2^20 × 2^20 block must fail on the shape check, not try to build
    // 2^40-slot masks.
    unit.unit = UnitShape::new(1 << 20, 1 << 20).unwrap();
    assert!(unit.run(&sim).is_err());
    let small = Simulator::new(SimConfig::with_slots(1024)).unwrap();
    assert!(plan.units(&small, &x, &w).is_err());
}
