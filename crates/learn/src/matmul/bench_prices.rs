//! Per-operation prices for the matmul benchmark: ours, measured in the same process on the
//! inputs' level, and the fastest peer library's, read from a `bench/peers` results file.
//!
//! A count of (CMult, Mult, Rot) priced at per-operation times is what the multiplication would
//! cost done one operation at a time; the measured time relative to it shows what hoisting and
//! lazy rescaling save (< 1) or what overhead costs (> 1).

use super::bench_clock::measure;
use super::cost::Cost;
use crate::eval::SlotCodec;
use crate::eval::counter::LevelCounts;
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

/// The fastest peer's prices at one level of the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelPrice {
    /// Level the operations were timed at (the record's Q primes − 1).
    pub level: usize,
    /// The prices measured there.
    pub prices: Prices,
}

/// Per-operation prices at several levels, to price operations at the level they ran at.
///
/// The rule ([`LevelPrices::RULE`]): an operation at a measured level takes that level's
/// prices; between two measured levels, the prices are interpolated linearly in the number of
/// limbs (level + 1); outside the measured range, the nearest measured level's prices are scaled
/// in proportion to the limbs. Wall and CPU prices are interpolated separately.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelPrices {
    /// The measured levels, ascending.
    pub measured: Vec<LevelPrice>,
}

impl LevelPrices {
    /// How prices at unmeasured levels are obtained (for reports).
    pub const RULE: &'static str = "each operation priced at the level of the ciphertext it \
        consumed: at a measured level, that level's fastest peer prices; between measured \
        levels, interpolated linearly in the number of limbs (level + 1); below or above the \
        measured range, the nearest measured level's prices scaled by the ratio of limbs";

    /// Prices at every level any record at ring degree `ring_degree` (`None`: any) run with
    /// `threads` threads (`None`: any) was timed at, each the fastest per operation there
    /// ([`PeersFile::fastest_at`]). Levels where no library timed all three operations are left
    /// out; an error when none is left.
    pub fn from_peers(
        file: &PeersFile,
        threads: Option<usize>,
        ring_degree: Option<usize>,
    ) -> Result<Self> {
        let levels: std::collections::BTreeSet<usize> = file
            .ops
            .iter()
            .filter(|r| ring_degree.is_none() || r.ring_degree() == ring_degree)
            .filter_map(PeerOpsRecord::level)
            .collect();
        let measured: Vec<LevelPrice> = levels
            .into_iter()
            .filter_map(|level| {
                let prices = file.fastest_at(threads, ring_degree, Some(level)).ok()?;
                Some(LevelPrice { level, prices })
            })
            .collect();
        Self::new(measured)
    }

    /// Prices measured at the given levels (at least one; distinct levels).
    pub fn new(mut measured: Vec<LevelPrice>) -> Result<Self> {
        if measured.is_empty() {
            return Err(Error::InvalidInput(
                "peer prices: no level with every operation timed (mul_relin_rescale, rescale, \
                 rotate) at this ring degree"
                    .into(),
            ));
        }
        measured.sort_by_key(|m| m.level);
        if measured.windows(2).any(|w| w[0].level == w[1].level) {
            return Err(Error::InvalidInput(
                "peer prices: one level given twice".into(),
            ));
        }
        for m in &measured {
            m.prices.wall.check("peer prices")?;
            if let Some(cpu) = m.prices.cpu {
                cpu.check("peer prices")?;
            }
        }
        Ok(LevelPrices { measured })
    }

    /// Wall and (where every level involved has them) CPU prices at `level`, by [`Self::RULE`].
    pub fn at(&self, level: usize) -> (OpPrices, Option<OpPrices>) {
        let limbs = |l: usize| (l + 1) as f64;
        let scaled = |p: OpPrices, f: f64| OpPrices {
            mult: p.mult * f,
            cmult: p.cmult * f,
            rot: p.rot * f,
        };
        let mix = |a: OpPrices, b: OpPrices, t: f64| OpPrices {
            mult: a.mult + (b.mult - a.mult) * t,
            cmult: a.cmult + (b.cmult - a.cmult) * t,
            rot: a.rot + (b.rot - a.rot) * t,
        };
        let above = self.measured.iter().position(|m| m.level >= level);
        match above {
            Some(i) if self.measured[i].level == level => {
                let p = &self.measured[i].prices;
                (p.wall, p.cpu)
            }
            Some(0) | None => {
                let m = match above {
                    Some(_) => &self.measured[0],
                    None => &self.measured[self.measured.len() - 1],
                };
                let f = limbs(level) / limbs(m.level);
                (scaled(m.prices.wall, f), m.prices.cpu.map(|c| scaled(c, f)))
            }
            Some(i) => {
                let (lo, hi) = (&self.measured[i - 1], &self.measured[i]);
                let t = (limbs(level) - limbs(lo.level)) / (limbs(hi.level) - limbs(lo.level));
                let cpu = match (lo.prices.cpu, hi.prices.cpu) {
                    (Some(a), Some(b)) => Some(mix(a, b, t)),
                    _ => None,
                };
                (mix(lo.prices.wall, hi.prices.wall, t), cpu)
            }
        }
    }

    /// `counts` (operations by the level they ran at) priced at each level's prices, wall and,
    /// where every level has CPU prices, CPU seconds. CMult and scalar multiplications are
    /// priced as a CMult, rotations and conjugations as a rotation, as [`StepPrices::price`]
    /// does; bootstraps are not priced here.
    pub fn price(&self, counts: &LevelCounts) -> (f64, Option<f64>) {
        let mut wall = 0.0;
        let mut cpu = Some(0.0);
        for (&level, c) in &counts.by_level {
            let (w, p) = self.at(level);
            let ops = |p: &OpPrices| {
                (c.cmult + c.scalar_mult) as f64 * p.cmult
                    + c.mult as f64 * p.mult
                    + (c.rot + c.conj) as f64 * p.rot
            };
            wall += ops(&w);
            cpu = cpu.zip(p).map(|(sum, p)| sum + ops(&p));
        }
        (wall, cpu)
    }

    /// One line per measured level: level, libraries and CPU prices, for reports.
    pub fn describe(&self) -> Vec<String> {
        self.measured
            .iter()
            .map(|m| {
                let src: Vec<String> = m
                    .prices
                    .source
                    .iter()
                    .map(|(op, from)| format!("{op}: {from}"))
                    .collect();
                let cpu = m.prices.cpu.map_or("no CPU prices".into(), |c| {
                    format!(
                        "CPU mult {:.4} s, cmult {:.4} s, rot {:.4} s",
                        c.mult, c.cmult, c.rot
                    )
                });
                format!("level {}: {cpu} ({})", m.level, src.join(", "))
            })
            .collect()
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

/// The matmul benchmark's peer prices from one flat file or any number of `bench/peers` files
/// (their records merged): per-op prices of the records run with `threads` threads (`None`: any)
/// at ring degree `ring_degree`, timed at the level closest to `level` (the inputs' level; any
/// level when no record says its own), and, where the records say their levels, the prices at
/// each of them for [`LevelPrices::price`].
pub fn load_peer_prices(
    files: &[PriceFile],
    threads: Option<usize>,
    ring_degree: Option<usize>,
    level: usize,
) -> Result<(Prices, Option<LevelPrices>)> {
    match files {
        [] => Err(Error::InvalidInput("no prices file given".into())),
        [flat @ PriceFile::Flat(_)] => Ok((flat.prices(threads, ring_degree)?, None)),
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
            let closest = all.closest_level(ring_degree, level);
            let prices = all.fastest_at(threads, ring_degree, closest)?;
            Ok((
                prices,
                LevelPrices::from_peers(&all, threads, ring_degree).ok(),
            ))
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
    /// Per-operation prices at every level the files measured (`None`: flat prices, no level).
    pub levels: Option<LevelPrices>,
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
                    levels: None,
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
                    // Records that do not say their level leave the level prices out.
                    levels: LevelPrices::from_peers(&all, None, ring_degree).ok(),
                })
            }
        }
    }

    /// `counts` (operations by level, e.g. of several steps) plus `bootstraps` priced with each
    /// operation at its level's prices ([`LevelPrices::RULE`]; flat prices: the same at every
    /// level) and bootstraps as in [`StepPrices::price`].
    pub fn price_by_level(&self, counts: &LevelCounts, bootstraps: f64) -> (f64, Option<f64>) {
        let (ops_wall, ops_cpu) = match &self.levels {
            Some(levels) => levels.price(counts),
            None => {
                let t = counts.total();
                self.price(&StepTally {
                    cmult: t.cmult as f64,
                    mult: t.mult as f64,
                    rot: t.rot as f64,
                    scalar_mult: t.scalar_mult as f64,
                    conj: t.conj as f64,
                    bootstraps: 0.0,
                })
            }
        };
        let boot = self.price(&StepTally {
            bootstraps,
            ..StepTally::default()
        });
        (ops_wall + boot.0, ops_cpu.zip(boot.1).map(|(a, b)| a + b))
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
    use crate::eval::{OpCounts, SimConfig, Simulator};

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
    fn level_prices_interpolate_in_limbs_and_price_a_level_histogram() {
        let prices =
            StepPrices::load(&files(&[L12_OPS, L24_OPS, BOOT]), Some(1 << 16), 12).unwrap();
        let lp = prices.levels.as_ref().unwrap();
        // desilofhe's N = 2^15 record prices nothing at our ring degree.
        let levels: Vec<usize> = lp.measured.iter().map(|m| m.level).collect();
        assert_eq!(levels, [12, 24]);
        let (seal12_mult, seal12_rot) = (0.32249774299999956, 0.2662079569999989);
        let seal12_cmult = 0.03361890200000062;
        let (seal24_mult, seal24_cmult, seal24_rot) = (0.6, 0.06, 0.5);
        let cpu = |level| lp.at(level).1.unwrap();
        assert_eq!(cpu(12).mult, seal12_mult);
        assert_eq!(lp.at(24).0.rot, 4.0);
        // Level 18 has 19 limbs, halfway between 13 and 25.
        let mid = cpu(18);
        assert!((mid.rot - (seal12_rot + seal24_rot) / 2.0).abs() < 1e-12);
        assert!((lp.at(18).0.mult - (2.879315605001466 + 5.0) / 2.0).abs() < 1e-12);
        // Level 3 (4 limbs) scales level 12's prices by 4/13; level 26 scales level 24's by 27/25.
        assert!((cpu(3).mult - seal12_mult * 4.0 / 13.0).abs() < 1e-12);
        assert!((cpu(26).cmult - seal24_cmult * 27.0 / 25.0).abs() < 1e-12);

        // A known histogram: operations at levels 3, 12 and 18.
        let mut counts = LevelCounts::default();
        let at = |cmult, scalar_mult, mult, rot, conj| OpCounts {
            cmult,
            scalar_mult,
            mult,
            rot,
            conj,
            add: 99,
            ..OpCounts::default()
        };
        counts.by_level.insert(3, at(2, 1, 1, 5, 1));
        counts.by_level.insert(12, at(0, 0, 3, 0, 0));
        counts.by_level.insert(18, at(4, 0, 2, 10, 2));
        let (_, cpu_s) = lp.price(&counts);
        let f3 = 4.0 / 13.0;
        let want = 3.0 * seal12_cmult * f3
            + seal12_mult * f3
            + 6.0 * seal12_rot * f3
            + 3.0 * seal12_mult
            + 4.0 * (seal12_cmult + seal24_cmult) / 2.0
            + 2.0 * (seal12_mult + seal24_mult) / 2.0
            + 12.0 * (seal12_rot + seal24_rot) / 2.0;
        let cpu_s = cpu_s.unwrap();
        assert!((cpu_s - want).abs() < 1e-12 * want, "{cpu_s} vs {want}");
        // With bootstraps: the level-priced operations plus desilofhe's bootstrap.
        let (_, with_boot) = prices.price_by_level(&counts, 2.0);
        let boot_cpu = 168.31010188999997;
        assert!((with_boot.unwrap() - (want + 2.0 * boot_cpu)).abs() < 1e-9);
        // Flat prices know no level: the histogram is priced as its total.
        let flat = StepPrices::load(
            &files(&[r#"{"mult":0.5,"cmult":0.1,"rot":0.25,"bootstrap":20.0}"#]),
            None,
            12,
        )
        .unwrap();
        let t = counts.total();
        let by_total = flat.price(&StepTally {
            cmult: t.cmult as f64,
            mult: t.mult as f64,
            rot: t.rot as f64,
            scalar_mult: t.scalar_mult as f64,
            conj: t.conj as f64,
            bootstraps: 1.0,
        });
        assert_eq!(flat.price_by_level(&counts, 1.0), by_total);
        assert!(LevelPrices::new(Vec::new()).is_err());

        // The matmul bench: per-op prices at the level closest to its inputs', and all levels.
        let ops = files(&[L12_OPS, L24_OPS]);
        let (near12, levels) = load_peer_prices(&ops, Some(1), Some(1 << 16), 13).unwrap();
        assert_eq!(near12.cpu.unwrap().mult, seal12_mult);
        assert_eq!(levels.unwrap().measured.len(), 2);
        let (near24, _) = load_peer_prices(&ops, None, Some(1 << 16), 22).unwrap();
        assert_eq!(near24.wall.rot, 4.0);
        assert!(load_peer_prices(&[], None, None, 12).is_err());
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
