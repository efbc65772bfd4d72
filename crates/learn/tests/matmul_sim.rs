//! DiagABT, DiagATB (both forms) and the baselines on the exact simulator at HETAL's size
//! (2^15 slots): operation counts against the authors' corrected Table 7 and the cost formulas,
//! results against the plaintext product in every slot, and depths.

mod common;

use common::{col_tiled, level, max_slot_error, random, row_tiled};
use hetal_learn::eval::{SimConfig, Simulator, SlotEvaluator};
use hetal_learn::matmul::{self, AtbForm, baseline, cost};
use hetal_learn::pack::{Layout, UnitShape, encrypt_matrix};

/// (CMult, Mult, Rot) from the corrected Table 7: ColMajor, DiagABT, DiagATB standard,
/// DiagATB PRotUp, RowMajor.
type Row = [(u64, u64, u64); 5];
const TABLE7: [((usize, usize, usize), Row); 5] = [
    (
        (128, 128, 4),
        [(8, 4, 63), (4, 2, 34), (4, 2, 18), (4, 2, 18), (8, 4, 63)],
    ),
    (
        (256, 256, 8),
        [
            (24, 16, 191),
            (8, 8, 64),
            (12, 8, 72),
            (15, 8, 75),
            (24, 16, 191),
        ],
    ),
    (
        (512, 769, 4),
        [
            (56, 52, 495),
            (4, 26, 50),
            (28, 26, 238),
            (40, 26, 250),
            (56, 52, 495),
        ],
    ),
    (
        (1024, 769, 8),
        [
            (208, 200, 2047),
            (8, 100, 140),
            (104, 100, 1008),
            (176, 100, 1080),
            (208, 200, 2047),
        ],
    ),
    (
        (2048, 769, 16),
        [
            (800, 784, 8703),
            (16, 392, 456),
            (400, 392, 4328),
            (736, 392, 4664),
            (800, 784, 8703),
        ],
    ),
];

const LEVEL: usize = 12;

/// Counts, levels and results of all five algorithms on one shape; `expect` gives the counts.
fn check_shape(a: usize, b: usize, c: usize, unit: UnitShape, expect: Row) {
    let sim = Simulator::new(SimConfig::with_slots(unit.slots())).unwrap();
    let seed = (a * 31 + b * 7 + c) as u64;
    let tol = 1e-12 * b as f64 * a as f64;

    // A·Bᵀ: A a × b row-major, B c × b row-tiled.
    let x = random(a, b, seed);
    let w = random(c, b, seed + 1);
    let z = x.dot(&w.t());
    let xe = encrypt_matrix(&sim, x.view(), Layout::RowMajor, unit, LEVEL).unwrap();
    let we = encrypt_matrix(&sim, w.view(), row_tiled(c), unit, LEVEL).unwrap();

    sim.counter().reset();
    let got = matmul::diag_abt(&sim, &xe, &we).unwrap();
    assert_eq!(
        sim.counts().table_triple(),
        expect[1],
        "DiagABT counts for {:?}",
        (a, b, c)
    );
    assert_eq!(level(&sim, &got), LEVEL - 3, "DiagABT depth 3");
    assert!(max_slot_error(&sim, &got, &z) < tol, "DiagABT result");

    sim.counter().reset();
    let got = baseline::col_major(&sim, &xe, &we).unwrap();
    assert_eq!(
        sim.counts().table_triple(),
        expect[0],
        "ColMajor counts for {:?}",
        (a, b, c)
    );
    assert!(max_slot_error(&sim, &got, &z) < tol, "ColMajor result");

    // Aᵀ·B: A a × c column-tiled, B a × b row-major.
    let p = random(a, c, seed + 2);
    let g = p.t().dot(&x);
    let pe = encrypt_matrix(&sim, p.view(), col_tiled(c), unit, LEVEL).unwrap();
    let cp = c.next_power_of_two().max(2);
    for (form, idx) in [(AtbForm::Auto, 2), (AtbForm::PRotUp, 3)] {
        let depth = LEVEL - cost::diag_atb_output_level(LEVEL, LEVEL, cp, form).unwrap();
        assert_eq!(
            depth,
            if cp > 2 && form == AtbForm::Auto {
                4
            } else {
                3
            }
        );
        sim.counter().reset();
        let got = matmul::diag_atb_with(&sim, &pe, &xe, 1.0, form).unwrap();
        assert_eq!(
            sim.counts().table_triple(),
            expect[idx],
            "DiagATB {form:?} counts for {:?}",
            (a, b, c)
        );
        assert_eq!(level(&sim, &got), LEVEL - depth, "DiagATB {form:?} depth");
        assert!(
            max_slot_error(&sim, &got, &g) < tol,
            "DiagATB {form:?} result"
        );
        assert_eq!(
            sim.counts().conj,
            got.blocks().len() as u64,
            "one conjugation per output block"
        );
    }

    sim.counter().reset();
    let got = baseline::row_major(&sim, &pe, &xe).unwrap();
    assert_eq!(
        sim.counts().table_triple(),
        expect[4],
        "RowMajor counts for {:?}",
        (a, b, c)
    );
    assert!(max_slot_error(&sim, &got, &g) < tol, "RowMajor result");
}

fn table7_row(i: usize) {
    let ((a, b, c), expect) = TABLE7[i];
    let unit = UnitShape::new(a, (1 << 15) / a).unwrap();
    // The table is what the cost formulas give, too.
    let u = unit;
    assert_eq!(
        [
            cost::col_major(a, b, c, u).triple(),
            cost::diag_abt(a, b, c, u).triple(),
            cost::diag_atb(a, b, c, u, AtbForm::Standard).triple(),
            cost::diag_atb(a, b, c, u, AtbForm::PRotUp).triple(),
            cost::row_major(a, b, c, u).triple(),
        ],
        expect
    );
    check_shape(a, b, c, unit, expect);
}

#[test]
fn table7_128_128_4() {
    table7_row(0);
}

#[test]
fn table7_256_256_8() {
    table7_row(1);
}

#[test]
fn table7_512_769_4() {
    table7_row(2);
}

#[test]
fn table7_1024_769_8() {
    table7_row(3);
}

#[test]
fn table7_2048_769_16() {
    table7_row(4);
}

/// Shapes outside the table: counts equal the formulas (with the padded class count for the
/// diagonal algorithms, the logical one for Crockett's).
fn formula_shape(a: usize, b: usize, c: usize, unit: UnitShape) {
    let cp = c.next_power_of_two().max(2);
    let expect = [
        cost::col_major(a, b, c, unit).triple(),
        cost::diag_abt(a, b, cp, unit).triple(),
        cost::diag_atb(a, b, cp, unit, AtbForm::Standard).triple(),
        cost::diag_atb(a, b, cp, unit, AtbForm::PRotUp).triple(),
        cost::row_major(a, b, c, unit).triple(),
    ];
    check_shape(a, b, c, unit, expect);
}

#[test]
fn mnist_shape_matches_the_formulas() {
    // MNIST: batch 1024, 768 features + bias, 10 classes (padded to 16).
    let unit = UnitShape::hetal(1024, 10, 1 << 15).unwrap();
    assert_eq!((unit.s0(), unit.s1()), (1024, 32));
    formula_shape(1024, 769, 10, unit);
    assert_eq!(cost::diag_abt(1024, 769, 16, unit).triple(), (16, 200, 280));
}

#[test]
fn odd_shapes_match_the_formulas() {
    // HETAL's unit rule with non-power-of-two batch, features and classes.
    formula_shape(100, 51, 3, UnitShape::hetal(100, 3, 1 << 12).unwrap());
    formula_shape(37, 300, 7, UnitShape::hetal(37, 7, 1 << 10).unwrap());
    // Several block rows (P > 1) and block columns.
    formula_shape(300, 70, 5, UnitShape::new(128, 32).unwrap());
    formula_shape(65, 9, 2, UnitShape::new(16, 4).unwrap());
}

#[test]
fn auto_form_follows_the_levels() {
    let unit = UnitShape::new(64, 16).unwrap();
    let sim = Simulator::new(SimConfig::with_slots(unit.slots())).unwrap();
    let p = random(50, 6, 1);
    let x = random(50, 20, 2);
    let pe = encrypt_matrix(&sim, p.view(), col_tiled(6), unit, 9).unwrap();
    let xe = encrypt_matrix(&sim, x.view(), Layout::RowMajor, unit, 12).unwrap();
    // level(A) < level(B): PRotUp, depth 3 → 6 (the standard form would give 5).
    let got = matmul::diag_atb(&sim, &pe, &xe).unwrap();
    assert_eq!(level(&sim, &got), 6);
    assert_eq!(
        cost::diag_atb_output_level(9, 12, 8, AtbForm::Auto),
        Some(6)
    );
    let plan =
        matmul::AtbPlan::new(&sim, &pe, &xe, 1.0, AtbForm::Auto, Default::default()).unwrap();
    assert_eq!(plan.form(), AtbForm::PRotUp);
    // Scaled output (−η/n folded into the masks).
    let got = matmul::diag_atb_with(&sim, &pe, &xe, -0.25, AtbForm::Auto).unwrap();
    assert!(max_slot_error(&sim, &got, &(p.t().dot(&x) * -0.25)) < 1e-12);
    // Too few levels: a clear error, not a panic.
    let low = encrypt_matrix(&sim, p.view(), col_tiled(6), unit, 2).unwrap();
    assert!(matmul::diag_atb(&sim, &low, &xe).is_err());
}

#[test]
fn mismatched_operands_are_rejected() {
    let unit = UnitShape::new(16, 16).unwrap();
    let sim = Simulator::new(SimConfig::with_slots(256)).unwrap();
    let x = encrypt_matrix(&sim, random(10, 20, 1).view(), Layout::RowMajor, unit, 12).unwrap();
    let w = encrypt_matrix(&sim, random(3, 21, 2).view(), row_tiled(3), unit, 12).unwrap();
    assert!(matmul::diag_abt(&sim, &x, &w).is_err());
    assert!(matmul::diag_abt(&sim, &x, &x).is_err());
    assert!(matmul::diag_atb(&sim, &x, &x).is_err());
    let one = encrypt_matrix(
        &sim,
        random(1, 20, 2).view(),
        Layout::RowTiled { period: 1 },
        unit,
        12,
    )
    .unwrap();
    assert!(
        matmul::diag_abt(&sim, &x, &one).is_err(),
        "period 1 is refused"
    );
}
