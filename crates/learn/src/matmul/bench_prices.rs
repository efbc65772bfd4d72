//! Per-operation prices for the matmul benchmark: ours, measured in the same process on the
//! inputs' level, and the fastest peer library's, read from a `bench/peers` results file.
//!
//! A count of (CMult, Mult, Rot) priced at per-operation times is what the multiplication would
//! cost done one operation at a time; the measured time relative to it shows what hoisting and
//! lazy rescaling save (< 1) or what overhead costs (> 1).

use super::bench_clock::measure;
use super::cost::Cost;
use crate::eval::SlotCodec;
use crate::{Error, Result};
use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seconds per operation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpPrices {
    /// Ciphertext × ciphertext multiplication with relinearization and rescale.
    pub mult: f64,
    /// Multiplication by a constant slot vector (with its rescale).
    pub cmult: f64,
    /// One rotation (key switch included).
    pub rot: f64,
}

impl OpPrices {
    /// `cost` done one operation at a time at these prices, in seconds.
    pub fn price(&self, cost: Cost) -> f64 {
        cost.cmult as f64 * self.cmult + cost.mult as f64 * self.mult + cost.rot as f64 * self.rot
    }

    fn check(self, what: &str) -> Result<Self> {
        for (name, s) in [
            ("mult", self.mult),
            ("cmult", self.cmult),
            ("rot", self.rot),
        ] {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::InvalidInput(format!(
                    "{what}: `{name}` = {s} is not a positive number of seconds"
                )));
            }
        }
        Ok(self)
    }
}

/// Prices in wall-clock and in CPU seconds (the CPU ones where a CPU clock was read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prices {
    /// Wall-clock seconds per operation.
    pub wall: OpPrices,
    /// CPU seconds per operation.
    pub cpu: Option<OpPrices>,
    /// Where each operation's price comes from (e.g. `rot: desilofhe`), for the report.
    #[serde(default)]
    pub source: BTreeMap<String, String>,
}

impl Prices {
    /// `cost` priced in wall seconds and, where known, CPU seconds.
    pub fn price(&self, cost: Cost) -> (f64, Option<f64>) {
        (self.wall.price(cost), self.cpu.map(|p| p.price(cost)))
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Times one Mult, one CMult and one Rot by `step` at the top level of `ev`: one warm-up, then
/// the median of `reps` runs (wall and CPU medians taken separately).
pub fn measure_op_prices<E: SlotCodec>(ev: &E, step: isize, reps: usize) -> Result<Prices> {
    if reps == 0 {
        return Err(Error::InvalidInput(
            "op price repetitions must be ≥ 1".into(),
        ));
    }
    let x: Vec<Complex64> = (0..ev.slots())
        .map(|i| Complex64::new(((i % 7) as f64 - 3.0) / 4.0, 0.0))
        .collect();
    let a = ev.encrypt(&x)?;
    let time = |f: &dyn Fn() -> Result<()>| -> Result<(f64, Option<f64>)> {
        f()?;
        let mut wall = Vec::with_capacity(reps);
        let mut cpu = Vec::with_capacity(reps);
        for _ in 0..reps {
            let (out, span) = measure(f);
            out?;
            wall.push(span.wall_s);
            cpu.push(span.cpu_s);
        }
        let cpu: Option<Vec<f64>> = cpu.into_iter().collect();
        Ok((median(wall), cpu.map(median)))
    };
    let (mult, mult_cpu) = time(&|| ev.mul(&a, &a).map(|_| ()))?;
    let (cmult, cmult_cpu) = time(&|| ev.mul_const(&a, &x).map(|_| ()))?;
    let (rot, rot_cpu) = time(&|| ev.rotate(&a, step).map(|_| ()))?;
    let cpu = match (mult_cpu, cmult_cpu, rot_cpu) {
        (Some(mult), Some(cmult), Some(rot)) => Some(OpPrices { mult, cmult, rot }),
        _ => None,
    };
    Ok(Prices {
        wall: OpPrices { mult, cmult, rot },
        cpu,
        source: BTreeMap::new(),
    })
}

/// One timed operation of a peer record (`bench/peers/peerlib/measure.py`'s `timed`).
#[derive(Debug, Clone, Deserialize)]
pub struct PeerOp {
    /// Median wall-clock seconds.
    pub median_s: Option<f64>,
    /// Median process CPU seconds.
    #[serde(default)]
    pub median_cpu_s: Option<f64>,
}

/// A `bench/peers/peers.py --out` file (`kind` = `hetal-bench-peers`).
#[derive(Debug, Clone, Deserialize)]
pub struct PeersFile {
    /// Must be `hetal-bench-peers`.
    pub kind: String,
    /// One record per (library, thread count).
    #[serde(default)]
    pub ops: Vec<PeerOpsRecord>,
    /// Bootstrapping records (`peers.py --bootstrap`), one per (library, thread count).
    #[serde(default)]
    pub bootstrap: Vec<PeerBootstrapRecord>,
}

/// One record of [`PeersFile::bootstrap`].
#[derive(Debug, Clone, Deserialize)]
pub struct PeerBootstrapRecord {
    /// Library name.
    pub library: String,
    /// Threads asked for.
    #[serde(default)]
    pub threads_requested: Option<usize>,
    /// Ring degree of the bootstrapped ciphertext.
    #[serde(default)]
    pub ring_degree: Option<usize>,
    /// Levels left after the bootstrap.
    #[serde(default)]
    pub levels_left: Option<usize>,
    /// The timing (absent when the library failed).
    #[serde(default)]
    pub bootstrap: Option<PeerOp>,
}

/// One record of [`PeersFile::ops`], with its timings parsed leniently (non-timing entries and
/// records without timings are skipped, not refused).
#[derive(Debug, Clone, Deserialize)]
pub struct PeerOpsRecord {
    /// Library name.
    pub library: String,
    /// Threads asked for.
    #[serde(default)]
    pub threads_requested: Option<usize>,
    /// Timed operations by name.
    #[serde(default)]
    pub ops: BTreeMap<String, PeerOp>,
    /// The parameters the library ran with (some choose their own ring degree).
    #[serde(default)]
    pub params_used: Option<PeerParams>,
}

/// The part of a peer record's `params_used` that decides whether its times compare with ours.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerParams {
    /// Ring degree N the library used.
    #[serde(default)]
    pub ring_degree: Option<usize>,
    /// Q primes of the ciphertexts it timed (their level is one less).
    #[serde(default)]
    pub q_limbs: Option<usize>,
}

impl PeerOpsRecord {
    fn ring_degree(&self) -> Option<usize> {
        self.params_used.as_ref()?.ring_degree
    }

    /// Level of the ciphertexts the library timed (Q primes − 1), when recorded.
    pub fn level(&self) -> Option<usize> {
        self.params_used.as_ref()?.q_limbs?.checked_sub(1)
    }
}

/// Peer operation standing for each priced operation: Mult = `mul_relin_rescale`, Rot =
/// `rotate`, CMult ≈ `rescale` (the peers time no plaintext multiplication; a CMult is an
/// element-wise product, cheap beside the rescale's NTTs). The same mapping as `hetal bench step
/// --peer-prices`.
const PEER_OPS: [(&str, &str); 3] = [
    ("mult", "mul_relin_rescale"),
    ("cmult", "rescale"),
    ("rot", "rotate"),
];

impl PeersFile {
    /// Every operation at the fastest median any library measured for it, among the records run
    /// with `threads` threads and at ring degree `ring_degree` (a library that picks its own
    /// parameters may run a smaller ring, whose times do not compare; `None`: any record);
    /// wall and CPU fastest chosen separately.
    pub fn fastest(&self, threads: Option<usize>, ring_degree: Option<usize>) -> Result<Prices> {
        self.fastest_at(threads, ring_degree, None)
    }

    /// [`PeersFile::fastest`] among the records timed at `level` only (`None`: any level).
    pub fn fastest_at(
        &self,
        threads: Option<usize>,
        ring_degree: Option<usize>,
        level: Option<usize>,
    ) -> Result<Prices> {
        if self.kind != "hetal-bench-peers" {
            return Err(Error::InvalidInput(format!(
                "peer prices: `kind` is `{}`, expected `hetal-bench-peers`",
                self.kind
            )));
        }
        let records: Vec<&PeerOpsRecord> = self
            .ops
            .iter()
            .filter(|r| threads.is_none() || r.threads_requested.is_none_or(|t| Some(t) == threads))
            .filter(|r| ring_degree.is_none() || r.ring_degree() == ring_degree)
            .filter(|r| level.is_none() || r.level() == level)
            .collect();
        let mut wall = [0.0; 3];
        let mut cpu = [None; 3];
        let mut source = BTreeMap::new();
        for (i, (ours, theirs)) in PEER_OPS.iter().enumerate() {
            let positive = |x: Option<f64>| x.filter(|s| s.is_finite() && *s > 0.0);
            let best = records
                .iter()
                .filter_map(|r| Some((positive(r.ops.get(*theirs)?.median_s)?, r)))
                .min_by(|x, y| x.0.total_cmp(&y.0))
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "peer prices: no library timed `{theirs}`{}{}{}",
                        threads.map_or(String::new(), |t| format!(" with {t} thread(s)")),
                        ring_degree.map_or(String::new(), |n| format!(" at N = {n}")),
                        level.map_or(String::new(), |l| format!(" at level {l}"))
                    ))
                })?;
            wall[i] = best.0;
            let ring = best
                .1
                .ring_degree()
                .map_or(String::new(), |n| format!(" (N = {n})"));
            source.insert(
                (*ours).to_string(),
                format!("{} {theirs}{ring}", best.1.library),
            );
            cpu[i] = records
                .iter()
                .filter_map(|r| positive(r.ops.get(*theirs)?.median_cpu_s))
                .reduce(f64::min);
        }
        let cpu = match cpu {
            [Some(mult), Some(cmult), Some(rot)] => Some(OpPrices { mult, cmult, rot }),
            _ => None,
        };
        Ok(Prices {
            wall: OpPrices {
                mult: wall[0],
                cmult: wall[1],
                rot: wall[2],
            }
            .check("peer prices")?,
            cpu,
            source,
        })
    }

    /// All records of `files` in one file (each must be a `bench/peers` results file).
    pub fn merged(files: &[PeersFile]) -> Result<PeersFile> {
        let mut all = PeersFile {
            kind: "hetal-bench-peers".into(),
            ops: Vec::new(),
            bootstrap: Vec::new(),
        };
        for f in files {
            if f.kind != all.kind {
                return Err(Error::InvalidInput(format!(
                    "peer prices: `kind` is `{}`, expected `hetal-bench-peers`",
                    f.kind
                )));
            }
            all.ops.extend(f.ops.iter().cloned());
            all.bootstrap.extend(f.bootstrap.iter().cloned());
        }
        Ok(all)
    }

    /// Of the levels the operation records at ring degree `ring_degree` were timed at, the one
    /// closest to `level` (the higher on a tie: it over-prices the peer less often than it
    /// under-prices); `None` when no record says its level.
    pub fn closest_level(&self, ring_degree: Option<usize>, level: usize) -> Option<usize> {
        self.ops
            .iter()
            .filter(|r| ring_degree.is_none() || r.ring_degree() == ring_degree)
            .filter_map(PeerOpsRecord::level)
            .min_by_key(|&l| (l.abs_diff(level), std::cmp::Reverse(l)))
    }

    /// The fastest bootstrap any library timed at ring degree `ring_degree` (`None`: any), wall
    /// and CPU chosen separately; `None` when none did.
    pub fn fastest_bootstrap(&self, ring_degree: Option<usize>) -> Option<BootstrapPrice> {
        let positive = |x: Option<f64>| x.filter(|s| s.is_finite() && *s > 0.0);
        let records: Vec<&PeerBootstrapRecord> = self
            .bootstrap
            .iter()
            .filter(|r| ring_degree.is_none() || r.ring_degree == ring_degree)
            .collect();
        let (wall, best) = records
            .iter()
            .filter_map(|r| Some((positive(r.bootstrap.as_ref()?.median_s)?, r)))
            .min_by(|x, y| x.0.total_cmp(&y.0))?;
        let cpu = records
            .iter()
            .filter_map(|r| positive(r.bootstrap.as_ref()?.median_cpu_s))
            .reduce(f64::min);
        let threads = best
            .threads_requested
            .map_or(String::new(), |t| format!(", T = {t}"));
        let left = best
            .levels_left
            .map_or(String::new(), |l| format!(", {l} levels left"));
        Some(BootstrapPrice {
            wall,
            cpu,
            source: format!("{} bootstrap{threads}{left}", best.library),
        })
    }
}

/// Seconds per bootstrap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapPrice {
    /// Wall-clock seconds.
    pub wall: f64,
    /// CPU seconds, where measured.
    pub cpu: Option<f64>,
    /// Where the price comes from.
    pub source: String,
}

/// Explicit prices in seconds, taken as both wall and CPU prices; the bootstrap optional.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct FlatPrices {
    /// Ciphertext × ciphertext multiplication with relinearization and rescale.
    pub mult: f64,
    /// Multiplication by a constant slot vector.
    pub cmult: f64,
    /// One rotation.
    pub rot: f64,
    /// One bootstrap.
    #[serde(default)]
    pub bootstrap: Option<f64>,
}

impl FlatPrices {
    fn ops(&self) -> OpPrices {
        OpPrices {
            mult: self.mult,
            cmult: self.cmult,
            rot: self.rot,
        }
    }
}

/// A prices file: a `bench/peers` results file, or a flat `{mult, cmult, rot[, bootstrap]}`
/// object (seconds, taken as both wall and CPU prices).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PriceFile {
    /// `bench/peers/peers.py --out` output.
    Peers(PeersFile),
    /// Explicit prices.
    Flat(FlatPrices),
}

impl PriceFile {
    /// The prices to use (peers: the fastest library's per operation among those run with
    /// `threads` threads at ring degree `ring_degree`, see [`PeersFile::fastest`]).
    pub fn prices(&self, threads: Option<usize>, ring_degree: Option<usize>) -> Result<Prices> {
        match self {
            PriceFile::Peers(p) => p.fastest(threads, ring_degree),
            PriceFile::Flat(p) => {
                let p = p.ops().check("prices")?;
                Ok(Prices {
                    wall: p,
                    cpu: Some(p),
                    source: BTreeMap::new(),
                })
            }
        }
    }
}

/// Counts of one training step (averages allowed), as priced by [`StepPrices::price`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StepTally {
    /// Constant multiplications.
    pub cmult: f64,
    /// Ciphertext multiplications.
    pub mult: f64,
    /// Rotations.
    pub rot: f64,
    /// Multiplications by a scalar (priced as a CMult: both are a rescale after a cheap
    /// product).
    pub scalar_mult: f64,
    /// Conjugations (priced as a rotation: both are one automorphism and key switch).
    pub conj: f64,
    /// Bootstraps.
    pub bootstraps: f64,
}

/// Per-operation and per-bootstrap prices of a training step: the fastest peer's, or flat ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepPrices {
    /// Per-operation prices.
    pub ops: Prices,
    /// Level the per-operation prices were timed at (`None`: not recorded, flat prices).
    pub ops_level: Option<usize>,
    /// Per-bootstrap price (`None`: bootstraps go unpriced).
    pub bootstrap: Option<BootstrapPrice>,
}

impl StepPrices {
    /// Prices from one flat file or any number of `bench/peers` results files (their records
    /// merged): each operation at the fastest median among the records at ring degree
    /// `ring_degree` timed at the level closest to `level` (see [`PeersFile::closest_level`]),
    /// any thread count; the bootstrap at the fastest at that ring degree.
    pub fn load(files: &[PriceFile], ring_degree: Option<usize>, level: usize) -> Result<Self> {
        match files {
            [] => Err(Error::InvalidInput("no prices file given".into())),
            [PriceFile::Flat(p)] => {
                let ops = p.ops().check("prices")?;
                let bootstrap = match p.bootstrap {
                    Some(s) if s.is_finite() && s > 0.0 => Some(BootstrapPrice {
                        wall: s,
                        cpu: Some(s),
                        source: "given".into(),
                    }),
                    Some(s) => {
                        return Err(Error::InvalidInput(format!(
                            "prices: `bootstrap` = {s} is not a positive number of seconds"
                        )));
                    }
                    None => None,
                };
                Ok(StepPrices {
                    ops: Prices {
                        wall: ops,
                        cpu: Some(ops),
                        source: BTreeMap::new(),
                    },
                    ops_level: None,
                    bootstrap,
                })
            }
            _ => {
                let peers = files
                    .iter()
                    .map(|f| match f {
                        PriceFile::Peers(p) => Ok(p.clone()),
                        PriceFile::Flat(_) => Err(Error::InvalidInput(
                            "flat prices cannot be combined with other prices files".into(),
                        )),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let all = PeersFile::merged(&peers)?;
                let ops_level = all.closest_level(ring_degree, level);
                Ok(StepPrices {
                    ops: all.fastest_at(None, ring_degree, ops_level)?,
                    ops_level,
                    bootstrap: all.fastest_bootstrap(ring_degree),
                })
            }
        }
    }

    /// `tally` priced in wall seconds and, where every price has a CPU figure, CPU seconds;
    /// bootstraps count nothing when no bootstrap price is known.
    pub fn price(&self, tally: &StepTally) -> (f64, Option<f64>) {
        let ops = |p: &OpPrices| {
            (tally.cmult + tally.scalar_mult) * p.cmult
                + tally.mult * p.mult
                + (tally.rot + tally.conj) * p.rot
        };
        let boot = self.bootstrap.as_ref();
        let wall = ops(&self.ops.wall) + tally.bootstraps * boot.map_or(0.0, |b| b.wall);
        let boot_cpu = match boot {
            Some(b) => b.cpu,
            None => Some(0.0),
        };
        let cpu = match (self.ops.cpu.as_ref(), boot_cpu) {
            (Some(p), Some(b)) => Some(ops(p) + tally.bootstraps * b),
            _ => None,
        };
        (wall, cpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{SimConfig, Simulator};

    fn op(wall: f64, cpu: f64) -> PeerOp {
        PeerOp {
            median_s: Some(wall),
            median_cpu_s: Some(cpu),
        }
    }

    fn record(library: &str, threads: usize, ops: &[(&str, PeerOp)]) -> PeerOpsRecord {
        PeerOpsRecord {
            library: library.into(),
            threads_requested: Some(threads),
            ops: ops
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            params_used: Some(PeerParams {
                ring_degree: Some(1 << 16),
                q_limbs: Some(13),
            }),
        }
    }

    #[test]
    fn fastest_peer_is_chosen_per_operation_and_thread_count() {
        let file = PeersFile {
            kind: "hetal-bench-peers".into(),
            ops: vec![
                record(
                    "SEAL",
                    1,
                    &[
                        ("mul_relin_rescale", op(4.0, 1.0)),
                        ("rescale", op(0.4, 0.3)),
                        ("rotate", op(9.0, 1.1)),
                    ],
                ),
                record(
                    "desilofhe",
                    1,
                    &[
                        ("mul_relin_rescale", op(2.0, 2.1)),
                        ("rotate", op(1.8, 1.7)),
                    ],
                ),
                record("desilofhe", 2, &[("rotate", op(0.1, 0.1))]),
            ],
            bootstrap: Vec::new(),
        };
        let p = file.fastest(Some(1), Some(1 << 16)).unwrap();
        assert_eq!(
            p.wall,
            OpPrices {
                mult: 2.0,
                cmult: 0.4,
                rot: 1.8
            }
        );
        // CPU prices are the fastest CPU medians, whichever library they come from.
        assert_eq!(
            p.cpu,
            Some(OpPrices {
                mult: 1.0,
                cmult: 0.3,
                rot: 1.1
            })
        );
        assert_eq!(p.source["rot"], "desilofhe rotate (N = 65536)");
        assert_eq!(file.fastest(None, None).unwrap().wall.rot, 0.1);
        assert!(file.fastest(Some(4), None).is_err());
        // A library that ran a smaller ring does not price ours.
        let mut smaller = file.clone();
        smaller.ops[1].params_used = Some(PeerParams {
            ring_degree: Some(1 << 15),
            q_limbs: Some(13),
        });
        let p = smaller.fastest(Some(1), Some(1 << 16)).unwrap();
        assert_eq!((p.wall.mult, p.wall.cmult, p.wall.rot), (4.0, 0.4, 9.0));
        assert_eq!(smaller.fastest(Some(1), None).unwrap().wall.rot, 1.8);
        let other = PeersFile {
            kind: "hetal-bench-ops".into(),
            ops: Vec::new(),
            bootstrap: Vec::new(),
        };
        assert!(other.fastest(None, None).is_err());
    }

    #[test]
    fn flat_prices_must_be_positive_and_price_counts_linearly() {
        let flat = PriceFile::Flat(FlatPrices {
            mult: 0.5,
            cmult: 0.1,
            rot: 0.25,
            bootstrap: None,
        });
        let p = flat.prices(None, None).unwrap();
        let cost = Cost {
            cmult: 4,
            mult: 2,
            rot: 34,
        };
        assert_eq!(p.price(cost), (0.4 + 1.0 + 8.5, Some(0.4 + 1.0 + 8.5)));
        let bad = PriceFile::Flat(FlatPrices {
            mult: 0.0,
            cmult: 0.1,
            rot: 0.25,
            bootstrap: None,
        });
        assert!(bad.prices(None, None).is_err());
    }

    #[test]
    fn measured_prices_are_positive_and_zero_reps_refused() {
        let sim = Simulator::new(SimConfig::with_slots(1 << 6)).unwrap();
        let p = measure_op_prices(&sim, 1, 3).unwrap();
        for s in [p.wall.mult, p.wall.cmult, p.wall.rot] {
            assert!(s.is_finite() && s >= 0.0);
        }
        assert!(measure_op_prices(&sim, 1, 0).is_err());
    }

    /// Trimmed from `peers-n16-L12-T1.json` (SEAL at N = 2^16, 13 Q primes; desilofhe picked
    /// N = 2^15) and `2026-11-26-boot-s4/desilofhe-bootstrap-T1-T2.json`, plus a made-up SEAL
    /// record at 25 Q primes to check the level choice.
    const L12_OPS: &str = r#"{"kind":"hetal-bench-peers","ops":[
        {"library":"SEAL","threads_requested":1,"params_used":{"ring_degree":65536,"q_limbs":13},
         "ops":{"mul_relin_rescale":{"median_s":2.879315605001466,"median_cpu_s":0.32249774299999956},
                "rescale":{"median_s":0.305188130994793,"median_cpu_s":0.03361890200000062},
                "rotate":{"median_s":2.4399500340005034,"median_cpu_s":0.2662079569999989}}},
        {"library":"desilofhe","threads_requested":1,"params_used":{"ring_degree":32768,"q_limbs":13},
         "ops":{"mul_relin_rescale":{"median_s":0.25585235999460565,"median_cpu_s":0.10435699599999992},
                "rotate":{"median_s":0.21072496700071497,"median_cpu_s":0.08264325900000014}}}],
        "bootstrap":[]}"#;
    const L24_OPS: &str = r#"{"kind":"hetal-bench-peers","ops":[
        {"library":"SEAL","threads_requested":1,"params_used":{"ring_degree":65536,"q_limbs":25},
         "ops":{"mul_relin_rescale":{"median_s":5.0,"median_cpu_s":0.6},
                "rescale":{"median_s":0.5,"median_cpu_s":0.06},
                "rotate":{"median_s":4.0,"median_cpu_s":0.5}}}]}"#;
    const BOOT: &str = r#"{"kind":"hetal-bench-peers","ops":[],"bootstrap":[
        {"library":"desilofhe","threads_requested":1,"ring_degree":65536,"levels_left":17,
         "bootstrap":{"median_s":209.3506249380007,"median_cpu_s":174.99728571700004}},
        {"library":"desilofhe","threads_requested":2,"ring_degree":65536,"levels_left":17,
         "bootstrap":{"median_s":178.85927846399863,"median_cpu_s":168.31010188999997}}]}"#;

    fn files(texts: &[&str]) -> Vec<PriceFile> {
        texts
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect()
    }

    #[test]
    fn step_tally_is_priced_at_the_peer_files_numbers() {
        let prices =
            StepPrices::load(&files(&[L12_OPS, L24_OPS, BOOT]), Some(1 << 16), 12).unwrap();
        assert_eq!(prices.ops_level, Some(12));
        assert_eq!(prices.ops.source["rot"], "SEAL rotate (N = 65536)");
        let boot = prices.bootstrap.as_ref().unwrap();
        assert_eq!(boot.source, "desilofhe bootstrap, T = 2, 17 levels left");
        let tally = StepTally {
            cmult: 460.0,
            mult: 510.0,
            rot: 2595.0,
            scalar_mult: 83.0,
            conj: 47.0,
            bootstraps: 5.0,
        };
        let (wall, cpu) = prices.price(&tally);
        // By hand: (CMult + scalar) at SEAL's rescale, Mult at its mul_relin_rescale,
        // (Rot + conj) at its rotate, bootstraps at desilofhe's fastest (T = 2; its CPU
        // median is also the lower one).
        let want_wall = 543.0 * 0.305188130994793
            + 510.0 * 2.879315605001466
            + 2642.0 * 2.4399500340005034
            + 5.0 * 178.85927846399863;
        let want_cpu = 543.0 * 0.03361890200000062
            + 510.0 * 0.32249774299999956
            + 2642.0 * 0.2662079569999989
            + 5.0 * 168.31010188999997;
        assert!(
            (wall - want_wall).abs() < 1e-9 * want_wall,
            "{wall} vs {want_wall}"
        );
        let cpu = cpu.unwrap();
        assert!(
            (cpu - want_cpu).abs() < 1e-9 * want_cpu,
            "{cpu} vs {want_cpu}"
        );

        // A step whose operations sit nearer level 24 is priced at the 25-prime record.
        let high = StepPrices::load(&files(&[L12_OPS, L24_OPS]), Some(1 << 16), 20).unwrap();
        assert_eq!(high.ops_level, Some(24));
        assert_eq!(high.bootstrap, None);
        let (wall, _) = high.price(&tally);
        assert!((wall - (543.0 * 0.5 + 510.0 * 5.0 + 2642.0 * 4.0)).abs() < 1e-9);
    }

    #[test]
    fn step_price_files_are_checked() {
        assert!(StepPrices::load(&[], None, 12).is_err());
        // Bootstraps alone price no operation.
        assert!(StepPrices::load(&files(&[BOOT]), Some(1 << 16), 12).is_err());
        let flat = files(&[r#"{"mult":0.5,"cmult":0.1,"rot":0.25,"bootstrap":20.0}"#]);
        let p = StepPrices::load(&flat, None, 12).unwrap();
        let tally = StepTally {
            cmult: 1.0,
            mult: 2.0,
            rot: 3.0,
            bootstraps: 1.5,
            ..StepTally::default()
        };
        let (wall, cpu) = p.price(&tally);
        let want = 0.1 + 2.0 * 0.5 + 3.0 * 0.25 + 1.5 * 20.0;
        assert!((wall - want).abs() < 1e-12 && cpu.is_some_and(|c| (c - want).abs() < 1e-12));
        let negative = files(&[r#"{"mult":0.5,"cmult":0.1,"rot":0.25,"bootstrap":-1}"#]);
        assert!(StepPrices::load(&negative, None, 12).is_err());
        let mixed = files(&[L12_OPS, r#"{"mult":0.5,"cmult":0.1,"rot":0.25}"#]);
        assert!(StepPrices::load(&mixed, None, 12).is_err());
    }
}
