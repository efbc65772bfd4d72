//! Side-by-side runs of every multiplication on the same encrypted inputs: wall time, operation
//! counts, levels and accuracy. The `hetal bench matmul` command prints this; tests use it to
//! check that every algorithm agrees with the plaintext product.

use super::atb::AtbForm;
use super::bench_clock::Stopwatch;
use super::{AbtPlan, AtbPlan, Sharding, baseline, cost, diag_abt, diag_atb_with, run_units};
use crate::eval::counter::LevelCounts;
use crate::eval::{OpCounts, SlotCodec};
use crate::pack::{BlockMatrix, Layout, UnitShape, decrypt_matrix, encrypt_matrix};
use crate::{Error, Result};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One algorithm's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgoReport {
    /// Algorithm name (`DiagABT`, `ColMajor`, `DiagATB`, `DiagATB-PRotUp`, `RowMajor`).
    pub name: String,
    /// `A·Bᵀ` or `Aᵀ·B`.
    pub product: String,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds of the process over the same span (`None` where no CPU clock is readable).
    #[serde(default)]
    pub cpu_s: Option<f64>,
    /// Operations performed.
    pub counts: OpCounts,
    /// The same operations split by the level they ran at.
    #[serde(default)]
    pub levels: LevelCounts,
    /// What the cost formulas predict (CMult, Mult, Rot).
    pub predicted: cost::Cost,
    /// Level of the inputs.
    pub input_level: usize,
    /// Level of the output.
    pub output_level: usize,
    /// Largest absolute error of the decrypted logical entries against the plaintext product.
    pub max_abs_error: f64,
}

/// The whole comparison for one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    /// `(a, b, c)`: `A·Bᵀ` is (a × b)·(c × b)ᵀ, `Aᵀ·B` is (a × c)ᵀ·(a × b).
    pub shape: (usize, usize, usize),
    /// Unit shape `(s0, s1)`.
    pub unit: (usize, usize),
    /// Per-algorithm results, in the order DiagABT, ColMajor, DiagATB, DiagATB-PRotUp, RowMajor.
    pub algorithms: Vec<AlgoReport>,
}

impl CompareReport {
    /// Wall-time speed-up of algorithm `fast` over `slow` (by name).
    pub fn speedup(&self, fast: &str, slow: &str) -> Option<f64> {
        let t = |n: &str| {
            self.algorithms
                .iter()
                .find(|a| a.name == n)
                .map(|a| a.wall_s)
        };
        Some(t(slow)? / t(fast)?)
    }
}

/// Every rotation step the comparison needs for `shape` on `unit` (to generate Galois keys).
pub fn rotation_steps(shape: (usize, usize, usize), unit: UnitShape) -> Vec<isize> {
    let (_, _, c) = shape;
    let s1 = unit.s1() as isize;
    let c_pad = c.next_power_of_two().max(2) as isize;
    let mut steps = std::collections::BTreeSet::new();
    for t in 0..unit.log_s1() {
        steps.insert(1isize << t);
        steps.insert(-(1isize << t));
    }
    for t in 0..unit.log_s0() {
        steps.insert(s1 << t);
    }
    steps.insert(s1);
    for k in 1..c_pad {
        steps.insert(k); // RotLeft / Rot by 2m, RowMajor's shift
        steps.insert(k - s1); // RotLeft's wrap
        steps.insert(-k); // ColMajor's shift
        steps.insert(2 * k * s1); // DiagABT's row shifts
    }
    steps
        .into_iter()
        .filter(|&k| k.rem_euclid(unit.slots() as isize) != 0)
        .collect()
}

/// One algorithm to run, with what it should compute.
struct Candidate<'a, E: SlotCodec> {
    name: &'static str,
    product: &'static str,
    predicted: cost::Cost,
    want: &'a Array2<f64>,
    run: Box<dyn Fn() -> Result<BlockMatrix<E::Ct>> + 'a>,
}

fn random(rows: usize, cols: usize, rng: &mut impl Rng) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| rng.gen_range(-1.0..1.0))
}

fn max_err(got: &Array2<f64>, want: &Array2<f64>) -> f64 {
    got.iter()
        .zip(want)
        .fold(0.0, |m, (g, w)| m.max((g - w).abs()))
}

/// Names of the compared algorithms, in the order they run.
pub const ALGORITHMS: [&str; 5] = [
    "DiagABT",
    "ColMajor",
    "DiagATB",
    "DiagATB-PRotUp",
    "RowMajor",
];

/// Runs DiagABT, ColMajor, DiagATB (standard and PRotUp) and RowMajor on random inputs of
/// `shape`, encrypted once at the backend's top level. With `workers > 1` the diagonal
/// algorithms run as that many work units (split as [`Sharding::for_workers`] does) in parallel
/// on the current rayon pool; the baselines always run in one piece.
pub fn compare<E: SlotCodec + Sync>(
    ev: &E,
    shape: (usize, usize, usize),
    unit: UnitShape,
    seed: u64,
    workers: usize,
) -> Result<CompareReport> {
    compare_only(ev, shape, unit, seed, workers, &ALGORITHMS)
}

/// [`compare`] restricted to the algorithms named in `only` (names of [`ALGORITHMS`]; the
/// report keeps their order): the heavy baselines can be left out of a large shape.
pub fn compare_only<E: SlotCodec + Sync>(
    ev: &E,
    shape: (usize, usize, usize),
    unit: UnitShape,
    seed: u64,
    workers: usize,
    only: &[&str],
) -> Result<CompareReport> {
    if let Some(bad) = only.iter().find(|n| !ALGORITHMS.contains(n)) {
        return Err(Error::InvalidInput(format!(
            "unknown algorithm `{bad}` (known: {})",
            ALGORITHMS.join(", ")
        )));
    }
    let (a, b, c) = shape;
    if a == 0 || b == 0 || c == 0 {
        return Err(Error::Shape(format!("shape {shape:?}")));
    }
    let period = c.next_power_of_two().max(2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let x = random(a, b, &mut rng);
    let w = random(c, b, &mut rng);
    let p = random(a, c, &mut rng);
    let level = ev.max_level();
    let xe = encrypt_matrix(ev, x.view(), Layout::RowMajor, unit, level)?;
    let we = encrypt_matrix(ev, w.view(), Layout::RowTiled { period }, unit, level)?;
    let pe = encrypt_matrix(ev, p.view(), Layout::ColTiled { period }, unit, level)?;
    let z = x.dot(&w.t());
    let g = p.t().dot(&x);
    let atb = |form: AtbForm| -> Result<BlockMatrix<E::Ct>> {
        if workers > 1 {
            let sharding = Sharding::for_workers(workers, period / 2, xe.block_cols());
            let plan = AtbPlan::new(ev, &pe, &xe, 1.0, form, sharding)?;
            let units = plan.units(ev, &pe, &xe)?;
            plan.combine(ev, &run_units(ev, &units, true)?)
        } else {
            diag_atb_with(ev, &pe, &xe, 1.0, form)
        }
    };

    let runs: Vec<Candidate<'_, E>> = vec![
        Candidate {
            name: "DiagABT",
            product: "A·Bᵀ",
            predicted: cost::diag_abt(a, b, period, unit),
            want: &z,
            run: Box::new(|| {
                if workers > 1 {
                    let sharding = Sharding::for_workers(workers, period / 2, xe.block_cols());
                    let plan = AbtPlan::new(&xe, &we, 1.0, sharding)?;
                    let units = plan.units(ev, &xe, &we)?;
                    plan.combine(ev, &run_units(ev, &units, true)?)
                } else {
                    diag_abt(ev, &xe, &we)
                }
            }),
        },
        Candidate {
            name: "ColMajor",
            product: "A·Bᵀ",
            predicted: cost::col_major(a, b, c, unit),
            want: &z,
            run: Box::new(|| baseline::col_major(ev, &xe, &we)),
        },
        Candidate {
            name: "DiagATB",
            product: "Aᵀ·B",
            predicted: cost::diag_atb(a, b, period, unit, AtbForm::Standard),
            want: &g,
            run: Box::new(|| atb(AtbForm::Standard)),
        },
        Candidate {
            name: "DiagATB-PRotUp",
            product: "Aᵀ·B",
            predicted: cost::diag_atb(a, b, period, unit, AtbForm::PRotUp),
            want: &g,
            run: Box::new(|| atb(AtbForm::PRotUp)),
        },
        Candidate {
            name: "RowMajor",
            product: "Aᵀ·B",
            predicted: cost::row_major(a, b, c, unit),
            want: &g,
            run: Box::new(|| baseline::row_major(ev, &pe, &xe)),
        },
    ];
    let mut algorithms = Vec::new();
    for Candidate {
        name,
        product,
        predicted,
        want,
        run,
    } in runs
    {
        if !only.contains(&name) {
            continue;
        }
        ev.counter().reset();
        let watch = Stopwatch::start();
        let out = run()?;
        let span = watch.stop();
        let counts = ev.counts();
        let levels = ev.counter().by_level();
        let output_level = out.blocks().iter().map(|b| ev.level(b)).min().unwrap_or(0);
        let got = decrypt_matrix(ev, &out)?;
        algorithms.push(AlgoReport {
            name: name.into(),
            product: product.into(),
            wall_s: span.wall_s,
            cpu_s: span.cpu_s,
            counts,
            levels,
            predicted,
            input_level: level,
            output_level,
            max_abs_error: max_err(&got, want),
        });
    }
    Ok(CompareReport {
        shape,
        unit: (unit.s0(), unit.s1()),
        algorithms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator};

    #[test]
    fn every_algorithm_agrees_and_matches_its_formula() {
        let unit = UnitShape::hetal(50, 5, 1 << 10).unwrap();
        let sim = Simulator::new(SimConfig::with_slots(1 << 10)).unwrap();
        let r = compare(&sim, (50, 37, 5), unit, 7, 1).unwrap();
        // Sharded over 3 workers: the same products (duplicated work only adds Rot/CMult).
        let sharded = compare(&sim, (50, 37, 5), unit, 7, 3).unwrap();
        for (one, many) in r.algorithms.iter().zip(&sharded.algorithms) {
            assert!(many.max_abs_error < 1e-10, "{}", many.name);
            assert_eq!(one.counts.mult, many.counts.mult, "{}", one.name);
        }
        assert_eq!(r.algorithms.len(), 5);
        for a in &r.algorithms {
            assert!(a.max_abs_error < 1e-10, "{}: {}", a.name, a.max_abs_error);
            assert_eq!(a.counts.table_triple(), a.predicted.triple(), "{}", a.name);
        }
        assert!(r.speedup("DiagABT", "ColMajor").is_some_and(|s| s > 0.0));
    }

    #[test]
    fn a_selection_runs_only_the_named_algorithms() {
        let unit = UnitShape::hetal(50, 5, 1 << 10).unwrap();
        let sim = Simulator::new(SimConfig::with_slots(1 << 10)).unwrap();
        let r = compare_only(&sim, (50, 37, 5), unit, 7, 1, &["DiagATB", "DiagABT"]).unwrap();
        let names: Vec<&str> = r.algorithms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["DiagABT", "DiagATB"]);
        assert!(r.speedup("DiagABT", "ColMajor").is_none());
        assert!(compare_only(&sim, (50, 37, 5), unit, 7, 1, &["Jin"]).is_err());
    }

    #[test]
    fn rotation_steps_cover_every_rotation_performed() {
        for (shape, slots) in [
            ((50, 37, 5), 1 << 10),
            ((128, 128, 4), 1 << 15),
            ((300, 70, 16), 1 << 12),
        ] {
            let unit = UnitShape::hetal(shape.0, shape.2, slots).unwrap();
            let sim = Simulator::new(SimConfig::with_slots(slots)).unwrap();
            compare(&sim, shape, unit, 1, 1).unwrap();
            let listed: std::collections::BTreeSet<usize> = rotation_steps(shape, unit)
                .into_iter()
                .map(|k| k.rem_euclid(slots as isize) as usize)
                .collect();
            let used = sim.rotation_steps_used();
            assert!(
                used.is_subset(&listed),
                "{shape:?}: missing {:?}",
                used.difference(&listed).collect::<Vec<_>>()
            );
        }
    }
}
