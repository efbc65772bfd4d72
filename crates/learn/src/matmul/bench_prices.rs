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
}

impl PeerOpsRecord {
    fn ring_degree(&self) -> Option<usize> {
        self.params_used.as_ref()?.ring_degree
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
                        "peer prices: no library timed `{theirs}`{}{}",
                        threads.map_or(String::new(), |t| format!(" with {t} thread(s)")),
                        ring_degree.map_or(String::new(), |n| format!(" at N = {n}"))
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
}

/// A prices file: a `bench/peers` results file, or a flat `{mult, cmult, rot}` object (seconds,
/// taken as both wall and CPU prices).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PriceFile {
    /// `bench/peers/peers.py --out` output.
    Peers(PeersFile),
    /// Explicit prices.
    Flat(OpPrices),
}

impl PriceFile {
    /// The prices to use (peers: the fastest library's per operation among those run with
    /// `threads` threads at ring degree `ring_degree`, see [`PeersFile::fastest`]).
    pub fn prices(&self, threads: Option<usize>, ring_degree: Option<usize>) -> Result<Prices> {
        match self {
            PriceFile::Peers(p) => p.fastest(threads, ring_degree),
            PriceFile::Flat(p) => {
                let p = p.check("prices")?;
                Ok(Prices {
                    wall: p,
                    cpu: Some(p),
                    source: BTreeMap::new(),
                })
            }
        }
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
        });
        let p = smaller.fastest(Some(1), Some(1 << 16)).unwrap();
        assert_eq!((p.wall.mult, p.wall.cmult, p.wall.rot), (4.0, 0.4, 9.0));
        assert_eq!(smaller.fastest(Some(1), None).unwrap().wall.rot, 1.8);
        let other = PeersFile {
            kind: "hetal-bench-ops".into(),
            ops: Vec::new(),
        };
        assert!(other.fastest(None, None).is_err());
    }

    #[test]
    fn flat_prices_must_be_positive_and_price_counts_linearly() {
        let flat = PriceFile::Flat(OpPrices {
            mult: 0.5,
            cmult: 0.1,
            rot: 0.25,
        });
        let p = flat.prices(None, None).unwrap();
        let cost = Cost {
            cmult: 4,
            mult: 2,
            rot: 34,
        };
        assert_eq!(p.price(cost), (0.4 + 1.0 + 8.5, Some(0.4 + 1.0 + 8.5)));
        let bad = PriceFile::Flat(OpPrices {
            mult: 0.0,
            cmult: 0.1,
            rot: 0.25,
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
}
