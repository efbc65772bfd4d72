//! The matmul benchmark behind `hetal bench matmul` and `examples/matmul_bench.rs` (one
//! implementation, two front ends): DiagABT, both DiagATB forms and the ColMajor / RowMajor
//! baselines on the same encrypted inputs, each with wall and CPU time, its counted operations,
//! those counts priced at our own per-operation times (measured in the same run) and, given a
//! `bench/peers` file, at the fastest peer library's; then the diagonal algorithms' speed-ups.
//!
//! A baseline left out of the run (they are heavy: ColMajor on (2048, 769, 16) is ~8.7k
//! rotations) still gets a row: its counts are the cost formulas' (equal to the corrected
//! Table 7, a test), priced at our measured per-op times and marked as priced, not measured.

use super::AtbForm;
use super::bench_clock::Stopwatch;
use super::bench_prices::{LevelPrices, Prices, measure_op_prices};
use super::compare::{ALGORITHMS, AlgoReport, compare_only, rotation_steps};
use super::cost::{self, Cost};
use crate::eval::counter::LevelCounts;
use crate::eval::{CkksSession, SimConfig, Simulator, SlotCodec, SlotEvaluator};
use crate::pack::UnitShape;
use crate::{Error, Result};
use hetal_ckks::params::{ParameterSpec, SecurityLevel};
use serde::Serialize;

/// Levels every multiplication here fits in (DiagATB standard has depth 4).
pub const MIN_LEVELS: usize = 4;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `(a, b, c)`: `A·Bᵀ` is (a × b)·(c × b)ᵀ, `Aᵀ·B` is (a × c)ᵀ·(a × b).
    pub shape: (usize, usize, usize),
    /// Seed of the inputs (and, on CKKS, of the keys and encryption randomness).
    pub seed: u64,
    /// Work units the diagonal algorithms are cut into (1 = one piece).
    pub workers: usize,
    /// Algorithms to run (names of [`ALGORITHMS`]); the others are priced only.
    pub algorithms: Vec<String>,
    /// Timed repetitions of each per-operation price (after one warm-up).
    pub op_reps: usize,
    /// Size of the rayon pool to run in (`None`: the global pool).
    pub threads: Option<usize>,
}

/// One algorithm's row.
#[derive(Debug, Clone, Serialize)]
pub struct AlgoRow {
    /// Algorithm name.
    pub name: String,
    /// `A·Bᵀ` or `Aᵀ·B`.
    pub product: String,
    /// Whether it ran (otherwise the counts are the formula's and only priced times exist).
    pub measured: bool,
    /// Wall-clock seconds (measured rows).
    pub wall_s: Option<f64>,
    /// Process CPU seconds (measured rows, where a CPU clock is readable).
    pub cpu_s: Option<f64>,
    /// Counted CMult / Mult / Rot (the formula's for rows not run).
    pub counts: Cost,
    /// Conjugations counted (measured rows).
    pub conj: Option<u64>,
    /// What the cost formulas predict.
    pub predicted: Cost,
    /// `counts` priced at our per-op wall times.
    pub priced_ours_s: f64,
    /// `counts` priced at our per-op CPU times.
    pub priced_ours_cpu_s: Option<f64>,
    /// `counts` priced at the fastest peer's per-op wall times.
    pub priced_peer_s: Option<f64>,
    /// `counts` priced at the fastest peer's per-op CPU times.
    pub priced_peer_cpu_s: Option<f64>,
    /// Level of the inputs.
    pub input_level: usize,
    /// Level of the output (measured rows).
    pub output_level: Option<usize>,
    /// Largest absolute error against the plaintext product (measured rows).
    pub max_abs_error: Option<f64>,
    /// The counted operations split by the level they ran at (measured rows).
    pub levels: Option<LevelCounts>,
    /// `levels` priced at the peer's prices of each level, wall seconds (measured rows, with
    /// per-level peer prices; see [`MatmulBench::apply_level_prices`]).
    pub priced_peer_by_level_s: Option<f64>,
    /// The same in CPU seconds.
    pub priced_peer_by_level_cpu_s: Option<f64>,
}

impl AlgoRow {
    /// Measured CPU seconds where known, else measured wall seconds.
    pub fn time_s(&self) -> Option<f64> {
        self.cpu_s.or(self.wall_s)
    }
}

/// Speed-up of a diagonal algorithm over its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Speedup {
    /// The diagonal algorithm.
    pub fast: String,
    /// The baseline.
    pub slow: String,
    /// Ratio of wall times.
    pub wall: Option<f64>,
    /// Ratio of CPU times.
    pub cpu: Option<f64>,
    /// True when the baseline did not run and its times are its counts priced at our per-op
    /// times (wall and CPU respectively).
    pub baseline_priced: bool,
}

/// The whole benchmark of one shape.
#[derive(Debug, Clone, Serialize)]
pub struct MatmulBench {
    /// `ckks` or `sim`.
    pub backend: String,
    /// Preset name (with `/L<levels>` when cut).
    pub preset: String,
    /// Levels of the chain (inputs are encrypted at the top one).
    pub levels: usize,
    /// Ring degree (0 for the simulator).
    pub ring_degree: usize,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Pool size (`None`: the global pool).
    pub threads: Option<usize>,
    /// Work units of the diagonal algorithms.
    pub workers: usize,
    /// `[a, b, c]`.
    pub shape: [usize; 3],
    /// `[s0, s1]`.
    pub unit: [usize; 2],
    /// Key generation (CKKS), seconds: wall and CPU.
    pub keygen_s: Option<f64>,
    /// Key generation CPU seconds.
    pub keygen_cpu_s: Option<f64>,
    /// Galois keys generated.
    pub rotation_keys: usize,
    /// Encryption of the inputs and decryption of the outputs (wall seconds).
    pub encrypt_decrypt_s: f64,
    /// Our per-op prices, measured at the inputs' level.
    pub ours: Prices,
    /// The fastest peer's per-op prices, when given.
    pub peer: Option<Prices>,
    /// The peer's per-op prices at each level it was measured at, when given.
    pub peer_levels: Option<LevelPrices>,
    /// Every algorithm, run or priced, in [`ALGORITHMS`] order.
    pub algorithms: Vec<AlgoRow>,
    /// Diagonal over baseline.
    pub speedups: Vec<Speedup>,
    /// Caveats (insecure preset, simulator times, …).
    pub notes: Vec<String>,
}

impl MatmulBench {
    /// The row of `name`.
    pub fn row(&self, name: &str) -> Option<&AlgoRow> {
        self.algorithms.iter().find(|a| a.name == name)
    }

    /// Prices every measured row's operations at the peer's prices of the level each ran at
    /// ([`LevelPrices::RULE`]) and keeps `prices` in the report, with the rule in the notes.
    pub fn apply_level_prices(&mut self, prices: LevelPrices) {
        for row in &mut self.algorithms {
            if let Some(levels) = &row.levels {
                let (wall, cpu) = prices.price(levels);
                row.priced_peer_by_level_s = Some(wall);
                row.priced_peer_by_level_cpu_s = cpu;
            }
        }
        self.notes
            .push(format!("priced by level: {}", LevelPrices::RULE));
        for line in prices.describe() {
            self.notes.push(format!("peer prices at {line}"));
        }
        self.peer_levels = Some(prices);
    }
}

/// The pairs compared: each diagonal algorithm and the baseline for the same product.
pub const SPEEDUP_PAIRS: [(&str, &str); 3] = [
    ("DiagABT", "ColMajor"),
    ("DiagATB", "RowMajor"),
    ("DiagATB-PRotUp", "RowMajor"),
];

/// Cost formula and product of `name` for `shape` on `unit`.
fn formula(
    name: &str,
    shape: (usize, usize, usize),
    unit: UnitShape,
) -> Result<(Cost, &'static str)> {
    let (a, b, c) = shape;
    let period = c.next_power_of_two().max(2);
    Ok(match name {
        "DiagABT" => (cost::diag_abt(a, b, period, unit), "A·Bᵀ"),
        "ColMajor" => (cost::col_major(a, b, c, unit), "A·Bᵀ"),
        "DiagATB" => (
            cost::diag_atb(a, b, period, unit, AtbForm::Standard),
            "Aᵀ·B",
        ),
        "DiagATB-PRotUp" => (cost::diag_atb(a, b, period, unit, AtbForm::PRotUp), "Aᵀ·B"),
        "RowMajor" => (cost::row_major(a, b, c, unit), "Aᵀ·B"),
        other => return Err(Error::InvalidInput(format!("unknown algorithm `{other}`"))),
    })
}

fn check_options(opts: &BenchOptions) -> Result<()> {
    let (a, b, c) = opts.shape;
    if a == 0 || b == 0 || c == 0 {
        return Err(Error::Shape(format!(
            "shape {:?}: every size must be ≥ 1",
            opts.shape
        )));
    }
    if opts.workers == 0 {
        return Err(Error::InvalidInput("workers must be ≥ 1".into()));
    }
    if opts.algorithms.is_empty() {
        return Err(Error::InvalidInput("no algorithm to run".into()));
    }
    if let Some(bad) = opts
        .algorithms
        .iter()
        .find(|n| !ALGORITHMS.contains(&n.as_str()))
    {
        return Err(Error::InvalidInput(format!(
            "unknown algorithm `{bad}` (known: {})",
            ALGORITHMS.join(", ")
        )));
    }
    if opts.threads == Some(0) {
        return Err(Error::InvalidInput("threads must be ≥ 1".into()));
    }
    Ok(())
}

/// Runs the selected algorithms on `ev` (inputs at its top level), prices every algorithm and
/// fills the rows and speed-ups of `report`.
fn run_on<E: SlotCodec + Sync>(
    ev: &E,
    unit: UnitShape,
    opts: &BenchOptions,
    peer: Option<Prices>,
    mut report: MatmulBench,
) -> Result<MatmulBench> {
    let steps = rotation_steps(opts.shape, unit);
    report.ours = measure_op_prices(ev, steps.first().copied().unwrap_or(1), opts.op_reps)?;
    report.peer = peer;
    let only: Vec<&str> = opts.algorithms.iter().map(String::as_str).collect();
    let watch = Stopwatch::start();
    let cmp = compare_only(ev, opts.shape, unit, opts.seed, opts.workers, &only)?;
    let total = watch.stop().wall_s;
    report.encrypt_decrypt_s =
        (total - cmp.algorithms.iter().map(|a| a.wall_s).sum::<f64>()).max(0.0);
    for name in ALGORITHMS {
        let ran = cmp.algorithms.iter().find(|a| a.name == name);
        report
            .algorithms
            .push(row(name, ran, opts.shape, unit, ev.max_level(), &report)?);
    }
    report.speedups = SPEEDUP_PAIRS
        .iter()
        .filter_map(|&(fast, slow)| speedup(&report, fast, slow))
        .collect();
    Ok(report)
}

fn row(
    name: &str,
    ran: Option<&AlgoReport>,
    shape: (usize, usize, usize),
    unit: UnitShape,
    input_level: usize,
    report: &MatmulBench,
) -> Result<AlgoRow> {
    let (predicted, product) = formula(name, shape, unit)?;
    let counts = ran.map_or(predicted, |r| Cost {
        cmult: r.counts.cmult,
        mult: r.counts.mult,
        rot: r.counts.rot,
    });
    let (priced_ours_s, priced_ours_cpu_s) = report.ours.price(counts);
    let (priced_peer_s, priced_peer_cpu_s) = match &report.peer {
        Some(p) => {
            let (w, c) = p.price(counts);
            (Some(w), c)
        }
        None => (None, None),
    };
    Ok(AlgoRow {
        name: name.into(),
        product: product.into(),
        measured: ran.is_some(),
        wall_s: ran.map(|r| r.wall_s),
        cpu_s: ran.and_then(|r| r.cpu_s),
        counts,
        conj: ran.map(|r| r.counts.conj),
        predicted,
        priced_ours_s,
        priced_ours_cpu_s,
        priced_peer_s,
        priced_peer_cpu_s,
        input_level,
        output_level: ran.map(|r| r.output_level),
        max_abs_error: ran.map(|r| r.max_abs_error),
        levels: ran.map(|r| r.levels.clone()),
        priced_peer_by_level_s: None,
        priced_peer_by_level_cpu_s: None,
    })
}

fn speedup(report: &MatmulBench, fast: &str, slow: &str) -> Option<Speedup> {
    let f = report.row(fast).filter(|r| r.measured)?;
    let s = report.row(slow)?;
    let (slow_wall, slow_cpu) = if s.measured {
        (s.wall_s, s.cpu_s)
    } else {
        (Some(s.priced_ours_s), s.priced_ours_cpu_s)
    };
    let ratio = |x: Option<f64>, y: Option<f64>| Some(x? / y?).filter(|r| r.is_finite());
    Some(Speedup {
        fast: fast.into(),
        slow: slow.into(),
        wall: ratio(slow_wall, f.wall_s),
        cpu: ratio(slow_cpu, f.cpu_s),
        baseline_priced: !s.measured,
    })
}

fn empty_report(backend: &str, opts: &BenchOptions, unit: UnitShape) -> MatmulBench {
    let (a, b, c) = opts.shape;
    let zero = super::bench_prices::OpPrices {
        mult: 0.0,
        cmult: 0.0,
        rot: 0.0,
    };
    MatmulBench {
        backend: backend.into(),
        preset: String::new(),
        levels: 0,
        ring_degree: 0,
        slots: unit.slots(),
        threads: opts.threads,
        workers: opts.workers,
        shape: [a, b, c],
        unit: [unit.s0(), unit.s1()],
        keygen_s: None,
        keygen_cpu_s: None,
        rotation_keys: 0,
        encrypt_decrypt_s: 0.0,
        ours: Prices {
            wall: zero,
            cpu: None,
            source: Default::default(),
        },
        peer: None,
        peer_levels: None,
        algorithms: Vec::new(),
        speedups: Vec::new(),
        notes: Vec::new(),
    }
}

/// Runs `f` on a pool of `threads` threads (or where it is called when `None`).
fn on_pool<R: Send>(threads: Option<usize>, f: impl FnOnce() -> Result<R> + Send) -> Result<R> {
    match threads {
        Some(t) => hetal_ckks::eval::with_threads(t, f)
            .map_err(|e| Error::InvalidInput(format!("thread pool: {e}")))?,
        None => f(),
    }
}

/// The benchmark on the exact simulator with `slots` slots: counts and levels are those of
/// CKKS, times are not.
pub fn bench_sim(slots: usize, opts: &BenchOptions, peer: Option<Prices>) -> Result<MatmulBench> {
    check_options(opts)?;
    let unit = UnitShape::hetal(opts.shape.0, opts.shape.2, slots)?;
    on_pool(opts.threads, || {
        let sim = Simulator::new(SimConfig::with_slots(slots))?;
        let mut report = empty_report("sim", opts, unit);
        report.preset = "simulator".into();
        report.levels = sim.max_level();
        report.notes.push(
            "exact plaintext simulator: counts and levels are those of CKKS, times are not".into(),
        );
        run_on(&sim, unit, opts, peer, report)
    })
}

/// `spec` with only its bottom `levels + 1` ciphertext primes (fresh ciphertexts then sit at
/// level `levels`; a shorter chain makes keys and operations cheaper and is no less secure).
pub fn cut_levels(mut spec: ParameterSpec, levels: usize) -> Result<ParameterSpec> {
    let have = spec.q_bits.len().saturating_sub(1);
    if levels < MIN_LEVELS || levels > have {
        return Err(Error::InvalidInput(format!(
            "levels {levels}: the preset has {have} levels and the matmuls need {MIN_LEVELS}"
        )));
    }
    spec.q_bits.truncate(levels + 1);
    spec.dnum = spec.dnum.min(spec.q_bits.len());
    spec.name = format!("{}/L{levels}", spec.name);
    Ok(spec)
}

/// The benchmark on real CKKS ciphertexts of `spec` (insecure presets need `allow_insecure`):
/// keys with every rotation the algorithms use, inputs encrypted at the top level.
pub fn bench_ckks(
    spec: &ParameterSpec,
    allow_insecure: bool,
    opts: &BenchOptions,
    peer: Option<Prices>,
) -> Result<MatmulBench> {
    check_options(opts)?;
    let insecure = spec.security == SecurityLevel::InsecureForTests;
    if insecure && !allow_insecure {
        return Err(Error::InvalidInput(format!(
            "preset `{}` is insecure: it needs allow_insecure",
            spec.name
        )));
    }
    let slots = 1usize << (spec.log_n - 1);
    let unit = UnitShape::hetal(opts.shape.0, opts.shape.2, slots)?;
    let steps = rotation_steps(opts.shape, unit);
    on_pool(opts.threads, || {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&opts.seed.to_le_bytes());
        let watch = Stopwatch::start();
        let session = CkksSession::new(spec, allow_insecure, &steps, Some(seed))?;
        let keygen = watch.stop();
        let ev = session.slots()?;
        let mut report = empty_report("ckks", opts, unit);
        report.preset = spec.name.clone();
        report.levels = ev.max_level();
        report.ring_degree = session.context().n();
        report.keygen_s = Some(keygen.wall_s);
        report.keygen_cpu_s = keygen.cpu_s;
        report.rotation_keys = crate::eval::ckks_session::galois_steps(slots, &steps)?.len();
        if insecure {
            report
                .notes
                .push(format!("INSECURE preset `{}`: for tests only", spec.name));
        }
        run_on(&ev, unit, opts, peer, report)
    })
}

/// Every algorithm's name, owned (the default selection).
pub fn all_algorithms() -> Vec<String> {
    ALGORITHMS.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::bench_prices::{LevelPrice, OpPrices};

    fn opts(algorithms: &[&str]) -> BenchOptions {
        BenchOptions {
            shape: (50, 37, 5),
            seed: 3,
            workers: 1,
            algorithms: algorithms.iter().map(|s| s.to_string()).collect(),
            op_reps: 1,
            threads: Some(1),
        }
    }

    #[test]
    fn rows_cover_every_algorithm_and_unrun_baselines_are_priced_from_formulas() {
        let peer = Prices {
            wall: OpPrices {
                mult: 2.0,
                cmult: 0.5,
                rot: 1.0,
            },
            cpu: None,
            source: Default::default(),
        };
        let r = bench_sim(1 << 10, &opts(&["DiagABT", "DiagATB"]), Some(peer.clone())).unwrap();
        let names: Vec<&str> = r.algorithms.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ALGORITHMS);
        for a in &r.algorithms {
            assert_eq!(
                a.measured,
                a.name == "DiagABT" || a.name == "DiagATB",
                "{}",
                a.name
            );
            // Counted (run) or formula (priced) counts: equal on the simulator.
            assert_eq!(a.counts, a.predicted, "{}", a.name);
            assert_eq!(
                a.priced_peer_s,
                Some(peer.wall.price(a.counts)),
                "{}",
                a.name
            );
            assert_eq!(a.priced_ours_s, r.ours.wall.price(a.counts), "{}", a.name);
            if a.measured {
                assert!(a.max_abs_error.is_some_and(|e| e < 1e-10), "{}", a.name);
                assert!(a.wall_s.is_some());
            } else {
                assert!(a.wall_s.is_none() && a.max_abs_error.is_none());
            }
        }
        let abt = r.speedups.iter().find(|s| s.fast == "DiagABT").unwrap();
        assert!(abt.baseline_priced);
        // PRotUp did not run: no speed-up for it.
        assert!(r.speedups.iter().all(|s| s.fast != "DiagATB-PRotUp"));
    }

    #[test]
    fn measured_rows_carry_their_level_split_and_are_priced_by_level() {
        let mut r = bench_sim(1 << 10, &opts(&["DiagABT", "DiagATB"]), None).unwrap();
        let at = |m: f64| LevelPrice {
            level: if m == 1.0 { 4 } else { 12 },
            prices: Prices {
                wall: OpPrices {
                    mult: 2.0 * m,
                    cmult: 0.5 * m,
                    rot: m,
                },
                cpu: None,
                source: Default::default(),
            },
        };
        r.apply_level_prices(LevelPrices::new(vec![at(3.0), at(1.0)]).unwrap());
        assert!(r.notes.iter().any(|n| n.contains("interpolated linearly")));
        for a in &r.algorithms {
            let Some(levels) = &a.levels else {
                assert!(
                    !a.measured && a.priced_peer_by_level_s.is_none(),
                    "{}",
                    a.name
                );
                continue;
            };
            let t = levels.total();
            assert_eq!(
                Cost {
                    cmult: t.cmult,
                    mult: t.mult,
                    rot: t.rot
                },
                a.counts
            );
            assert_eq!(Some(t.conj), a.conj);
            // Inputs at the simulator's level 12; outputs at most 4 levels below.
            let (lo, hi) = levels.range().unwrap();
            assert!(hi == 12 && lo >= 8, "{}: levels {lo}..{hi}", a.name);
            // Prices at level ℓ: 1 + 2·(ℓ − 4)/8 times those of level 4 (linear in limbs).
            let want: f64 = levels
                .by_level
                .iter()
                .map(|(&l, c)| {
                    let m = 1.0 + 2.0 * (l as f64 - 4.0) / 8.0;
                    m * ((c.cmult + c.scalar_mult) as f64 * 0.5
                        + c.mult as f64 * 2.0
                        + (c.rot + c.conj) as f64)
                })
                .sum();
            let got = a.priced_peer_by_level_s.unwrap();
            assert!(
                want > 0.0 && (got - want).abs() < 1e-9 * want,
                "{got} vs {want}"
            );
            assert_eq!(a.priced_peer_by_level_cpu_s, None);
        }
    }

    #[test]
    fn measured_baselines_give_measured_speedups() {
        let r = bench_sim(1 << 10, &opts(&ALGORITHMS), None).unwrap();
        assert_eq!(r.speedups.len(), SPEEDUP_PAIRS.len());
        for s in &r.speedups {
            assert!(!s.baseline_priced);
            let want =
                r.row(&s.slow).unwrap().wall_s.unwrap() / r.row(&s.fast).unwrap().wall_s.unwrap();
            if let Some(w) = s.wall {
                assert!((w - want).abs() <= 1e-12 * want.abs().max(1.0));
            }
        }
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(bench_sim(1 << 10, &opts(&["Jin"]), None).is_err());
        assert!(bench_sim(1 << 10, &opts(&[]), None).is_err());
        let mut o = opts(&["DiagABT"]);
        o.workers = 0;
        assert!(bench_sim(1 << 10, &o, None).is_err());
        o.workers = 1;
        o.shape = (0, 3, 2);
        assert!(bench_sim(1 << 10, &o, None).is_err());
        let spec = hetal_ckks::params::preset("insecure-test-n12").unwrap();
        assert!(cut_levels(spec.clone(), 3).is_err());
        assert!(cut_levels(spec.clone(), 100).is_err());
        assert!(bench_ckks(&spec, false, &opts(&["DiagABT"]), None).is_err());
    }

    #[test]
    fn ckks_small_insecure_run_agrees_with_the_plaintext_product() {
        // INSECURE test parameters (N = 2^12): DiagABT and DiagATB on real ciphertexts.
        let spec = hetal_ckks::params::preset("insecure-test-n12").unwrap();
        let mut o = opts(&["DiagABT", "DiagATB-PRotUp"]);
        o.shape = (20, 9, 3);
        let r = bench_ckks(&spec, true, &o, None).unwrap();
        assert_eq!(r.ring_degree, 1 << 12);
        assert!(r.keygen_s.is_some_and(|s| s > 0.0));
        // Each rescale, key switch and encryption adds at most 16·N/Δ to a slot; errors add up
        // over the operations and grow by at most the inner dimension (inputs in [−1, 1]).
        let per_op = 16.0 * r.ring_degree as f64 / 2f64.powi(spec.log_scale as i32);
        for (name, inner) in [("DiagABT", o.shape.1), ("DiagATB-PRotUp", o.shape.0)] {
            let a = r.row(name).unwrap();
            let ops = a.counts.cmult + a.counts.mult + a.counts.rot + a.conj.unwrap() + 1;
            let tol = per_op * ops as f64 * (inner as f64 + 1.0);
            let err = a.max_abs_error.unwrap();
            assert!(
                err < tol && tol < 1e-3,
                "{name}: error {err:e}, bound {tol:e}"
            );
            assert_eq!(a.counts, a.predicted, "{name}");
            assert!(a.cpu_s.is_none_or(|c| c > 0.0));
        }
    }
}
