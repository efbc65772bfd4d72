//! Jin et al.'s column-packing baseline: results and operation counts against its formulas (the
//! Table 7 sizes would take minutes of simulated rotations, so a reduced slot count is used).

mod common;

use common::random;
use hetal_learn::eval::{SimConfig, Simulator, SlotEvaluator};
use hetal_learn::matmul::baseline::{ColumnPacked, Replicated, jin_abt, jin_atb};
use hetal_learn::matmul::cost;

#[test]
fn jin_products_and_counts() {
    let sim = Simulator::new(SimConfig::with_slots(256)).unwrap();
    for (a, b, c) in [(200, 13, 3), (256, 9, 4)] {
        let x = random(a, b, 1);
        let w = random(c, b, 2);
        let xe = ColumnPacked::encrypt(&sim, x.view(), 12).unwrap();
        let we = Replicated::encrypt(&sim, w.view(), 12).unwrap();
        sim.counter().reset();
        let z = jin_abt(&sim, &xe, &we).unwrap();
        assert_eq!(sim.counts().table_triple(), cost::jin_abt(b, c).triple());
        let err = (&z.decrypt(&sim).unwrap() - &x.dot(&w.t()))
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < 1e-12 * b as f64);

        let p = random(a, c, 3);
        let pe = ColumnPacked::encrypt(&sim, p.view(), 12).unwrap();
        sim.counter().reset();
        let g = jin_atb(&sim, &pe, &xe).unwrap();
        assert_eq!(
            sim.counts().table_triple(),
            cost::jin_atb(b, c, 256).triple()
        );
        let err = (&g.decrypt(&sim).unwrap() - &p.t().dot(&x))
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < 1e-12 * a as f64);
    }
    // Table 7's Jin columns are these formulas at 2^15 slots.
    assert_eq!(cost::jin_abt(769, 16).triple(), (0, 12304, 0));
    assert_eq!(cost::jin_atb(769, 16, 1 << 15).triple(), (0, 12304, 184560));
    assert_eq!(cost::jin_atb(128, 4, 1 << 15).triple(), (0, 512, 7680));
    assert!(ColumnPacked::encrypt(&sim, random(300, 2, 1).view(), 12).is_err());
}
