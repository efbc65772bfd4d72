//! `hetal bench scale`: how the encrypted work spreads over workers. For each worker count it
//! measures (a) one DiagABT and one DiagATB on real CKKS ciphertexts and (b) one full training
//! step (trainer and workers, bootstrapping included) when the preset bootstraps, each beside
//! the single-process time (the trainer computing the products itself on all cores). Workers
//! are processes on this machine pinned to their share of the cores, or nodes inside this
//! process ([`WorkerMode`]); every node has its own certificate and they talk QUIC with mutual
//! TLS on loopback ([`crate::bench::procs`]).
//!
//! Every measured thing runs twice on the same workers: the first use ships the evaluation keys
//! and the data; the second (steady state, what a training run sees after its first step)
//! re-sends only the operands derived from the weights. For each it reports the wall time, the
//! units per worker, the message bytes each worker received and sent (meta and bulk, counted
//! by the worker: [`crate::bench::worker`]), the operands served from the workers' caches and
//! the workers' compute time; the products are decrypted and compared with the single-process
//! ones and with the plaintext within a computed CKKS bound. From these the projection to many
//! worker machines is computed ([`crate::bench::projection`]).

pub mod procs;
pub mod projection;
pub mod worker;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hetal_ckks::crypto::Ciphertext;
use hetal_ckks::params::preset;
use hetal_learn::eval::{BootstrapVia, SlotCodec, SlotEvaluator};
use hetal_learn::matmul::{self, AbtPlan, AtbForm, AtbPlan, Sharding, compare};
use hetal_learn::pack::{
    BlockMatrix, Layout as BlockLayout, UnitShape, decrypt_matrix, encrypt_matrix,
};
use hetal_learn::softmax::SoftmaxVariant;
use hetal_learn::train::{EncryptedBatch, EncryptedTrainer, Preset, TrainingClient};
use ndarray::Array2;
use num_complex::Complex64;
use serde::Serialize;

use crate::backend::ServerOptions;
use crate::backend::ckks::{CkksClient, CkksServer};
use crate::backend::rotations::matmul_rotations;
use crate::backend::{ClientBackend, KeyScope, ServerBackend};
use crate::error::{ActorError, Result};
use crate::messages::{TrainingSetup, ValidationForm};
use crate::trainer::keys::WorkerKeys;
use crate::trainer::pool::BootstrapPlacement;
use crate::trainer::scheduler::{Scheduler, Unit};
use crate::trainer::step::DistributedMatmul;
pub use procs::WorkerLaunch;
use procs::{ProcessWorkers, Workers, allowed_cpus};
use projection::{Projected, ProjectedPart, ProjectionBase, model_text, project};
use worker::MeterSnapshot;

/// How long one unit may take before the scheduler gives up on its worker.
const UNIT_TIMEOUT: Duration = Duration::from_secs(3600);

/// A scheduler over `workers`' pool whose keys carry just the rotations by `steps` (fresh key
/// set id each time); with `boot`, bootstrap stages go to the workers too, whatever the size of
/// the bootstrapping material (which they then receive), else they stay on the trainer.
fn rotation_scheduler(
    server: &Arc<CkksServer>,
    steps: &BTreeSet<isize>,
    workers: &Workers,
    boot: bool,
) -> Result<Arc<Scheduler<CkksServer>>> {
    let keys = WorkerKeys::scoped(
        rand::random(),
        server,
        KeyScope::Rotations {
            steps: steps.clone(),
            conjugation: false,
        },
    )?;
    let scheduler = Scheduler::new(
        workers.trainer_node().clone(),
        workers.pool(),
        Arc::clone(server),
        keys,
        UNIT_TIMEOUT,
        None,
    );
    let placement = if boot {
        BootstrapPlacement::Workers {
            max_key_bytes: u64::MAX,
        }
    } else {
        BootstrapPlacement::Trainer
    };
    workers
        .pool()
        .lock()
        .map_err(|_| ActorError::Lost("worker pool poisoned".into()))?
        .set_bootstrap_placement(placement);
    Ok(Arc::new(if boot {
        scheduler.with_job_bootstrap_keys()?
    } else {
        scheduler
    }))
}

/// Where the workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerMode {
    /// Worker nodes inside this process.
    InProcess,
    /// Worker processes started as the launch says.
    Processes(WorkerLaunch),
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct ScaleSettings {
    /// (batch rows, features, classes).
    pub shape: (usize, usize, usize),
    /// Worker counts to try.
    pub workers: Vec<usize>,
    /// CKKS parameter preset.
    pub preset: String,
    /// Accept a preset below 128-bit security.
    pub allow_insecure: bool,
    /// Where the workers run.
    pub mode: WorkerMode,
    /// Also measure a training step (needs a preset that bootstraps).
    pub step: bool,
    /// Link speed of the projection, Gbit/s.
    pub link_gbps: f64,
    /// Worker machine counts to project to.
    pub project_to: Vec<usize>,
}

/// One measured configuration: a multiplication or a step with `workers` workers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleRow {
    /// "DiagABT", "DiagATB", "step" (bootstraps on the trainer) or "step+boot" (bootstrap
    /// units on the workers).
    pub op: &'static str,
    /// Workers.
    pub workers: usize,
    /// Where each worker ran (pinning).
    pub placement: Vec<String>,
    /// Work units computed by workers in the steady-state run.
    pub units: u64,
    /// Units computed by the trainer itself (none while workers are live), both runs.
    pub units_local: usize,
    /// Units sent again (a worker failed or lacked operands), both runs.
    pub units_resent: usize,
    /// Steady state: wall seconds.
    pub wall_s: f64,
    /// First use (keys and data shipped): wall seconds.
    pub first_wall_s: f64,
    /// The single-process time of the same thing, seconds.
    pub local_s: f64,
    /// Steady state: each worker's counters over the run.
    pub per_worker: Vec<MeterSnapshot>,
    /// First use: each worker's counters over the run.
    pub first_per_worker: Vec<MeterSnapshot>,
    /// Largest slot difference to the single-process result.
    pub max_diff: f64,
    /// Largest slot difference to the plaintext product (multiplications only).
    pub max_error: Option<f64>,
    /// The computed CKKS bound `max_error` must stay within (`max_diff` within twice it).
    pub bound: Option<f64>,
    /// Steady state: CPU seconds of the benchmark's process (the trainer; the workers too when
    /// they are nodes in it), where readable (steps only).
    pub trainer_cpu_s: Option<f64>,
    /// Steady state: CPU seconds of the worker processes together (steps with worker
    /// processes only).
    pub workers_cpu_s: Option<f64>,
}

/// Min, max and mean of a list of counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Balance {
    /// Smallest.
    pub min: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl ScaleRow {
    /// Units per worker, steady state.
    pub fn balance(&self) -> Balance {
        let units: Vec<u64> = self.per_worker.iter().map(|s| s.units).collect();
        Balance {
            min: units.iter().copied().min().unwrap_or(0),
            max: units.iter().copied().max().unwrap_or(0),
            mean: units.iter().sum::<u64>() as f64 / units.len().max(1) as f64,
        }
    }

    /// Bytes the trainer sent (what the workers received), steady state.
    pub fn trainer_sent(&self) -> u64 {
        self.per_worker.iter().map(|s| s.bytes_received).sum()
    }

    /// Bytes the trainer received (what the workers sent), steady state.
    pub fn trainer_received(&self) -> u64 {
        self.per_worker.iter().map(|s| s.bytes_sent).sum()
    }

    /// Bytes the trainer sent in the first use (evaluation keys and data included).
    pub fn first_trainer_sent(&self) -> u64 {
        self.first_per_worker.iter().map(|s| s.bytes_received).sum()
    }

    /// Bytes of key material the workers received in the first use.
    pub fn first_key_bytes(&self) -> u64 {
        self.first_per_worker.iter().map(|s| s.key_bytes).sum()
    }

    /// Bootstrap units the workers computed, steady state.
    pub fn bootstrap_units(&self) -> u64 {
        self.per_worker.iter().map(|s| s.boot_units).sum()
    }

    /// Operand uses served from the workers' caches, steady state.
    pub fn operands_cached(&self) -> u64 {
        self.per_worker.iter().map(|s| s.operands_cached).sum()
    }

    /// Operands that crossed the network, steady state.
    pub fn operands_inline(&self) -> u64 {
        self.per_worker.iter().map(|s| s.operands_inline).sum()
    }

    /// Ratio of the single-process time to the distributed steady-state time.
    pub fn speedup(&self) -> f64 {
        self.local_s / self.wall_s
    }
}

/// Sizes of the operands of the multiplications.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperandSizes {
    /// Serialized bytes of one ciphertext at the top level.
    pub ct_bytes_top: u64,
    /// Serialized bytes of one ciphertext at level 0 (the smallest).
    pub ct_bytes_bottom: u64,
    /// Ciphertexts of `X` (batch × features).
    pub x_blocks: usize,
    /// Ciphertexts of `W` (classes × features, row-tiled).
    pub w_blocks: usize,
    /// Ciphertexts of `P` (batch × classes, column-tiled).
    pub p_blocks: usize,
}

/// Everything one `hetal bench scale` run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleReport {
    /// (batch, features, classes).
    pub shape: [usize; 3],
    /// The preset.
    pub preset: String,
    /// Slots per ciphertext.
    pub slots: usize,
    /// Block shape (s0, s1).
    pub unit: [usize; 2],
    /// "processes" or "in-process".
    pub mode: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// Operand sizes of the multiplications.
    pub operands: OperandSizes,
    /// Single-process seconds: DiagABT, DiagATB, and a step when measured.
    pub local_s: Vec<(String, f64)>,
    /// Measured rows.
    pub rows: Vec<ScaleRow>,
    /// What each projection starts from.
    pub projection_bases: Vec<ProjectionBase>,
    /// Projected times.
    pub projection: Vec<Projected>,
    /// The projection's model.
    pub model: String,
    /// Link speed of the projection, Gbit/s.
    pub link_gbps: f64,
    /// Remarks (skipped parts, insecure preset).
    pub notes: Vec<String>,
}

fn matrix(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17 + salt * 7) % 23) as f64 / 23.0 - 0.5
    })
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

fn sum_since(after: &[MeterSnapshot], before: &[MeterSnapshot]) -> Vec<MeterSnapshot> {
    after
        .iter()
        .zip(
            before
                .iter()
                .chain(std::iter::repeat(&MeterSnapshot::default())),
        )
        .map(|(a, b)| a.since(b))
        .collect()
}

/// Starts `k` workers as `mode` says.
async fn start_workers(mode: &WorkerMode, k: usize, options: ServerOptions) -> Result<Workers> {
    match mode {
        WorkerMode::InProcess => Workers::in_process(k, options).await,
        WorkerMode::Processes(launch) => Ok(Workers::Processes(
            ProcessWorkers::start(k, launch, options).await?,
        )),
    }
}

/// The operands and single-process results of the two multiplications.
struct OpsBench {
    client: Arc<CkksClient>,
    server: Arc<CkksServer>,
    steps: BTreeSet<isize>,
    period: usize,
    x: BlockMatrix<Ciphertext>,
    w: BlockMatrix<Ciphertext>,
    p: BlockMatrix<Ciphertext>,
    /// Per op: local seconds, decrypted local result, plaintext product, bound.
    abt: (f64, Array2<f64>, Array2<f64>, f64),
    atb: (f64, Array2<f64>, Array2<f64>, f64),
    sizes: OperandSizes,
}

impl OpsBench {
    fn new(settings: &ScaleSettings) -> Result<Self> {
        let (a, b, c) = settings.shape;
        let spec = preset(&settings.preset)?;
        let slots = spec.n() / 2;
        let unit = UnitShape::hetal(a, c, slots)?;
        let steps = compare::rotation_steps((a, b, c), unit);
        let client = Arc::new(CkksClient::generate(
            &spec,
            settings.allow_insecure,
            &steps,
            None,
        )?);
        let server = client.public()?;
        let codec = client.codec()?;
        let top = codec.max_level();
        let period = c.next_power_of_two();
        let (xp, wp, pp) = (matrix(a, b, 1), matrix(c, b, 2), matrix(a, c, 3));
        let x = encrypt_matrix(&codec, xp.view(), BlockLayout::RowMajor, unit, top)?;
        let w = encrypt_matrix(
            &codec,
            wp.view(),
            BlockLayout::RowTiled { period },
            unit,
            top,
        )?;
        let p = encrypt_matrix(
            &codec,
            pp.view(),
            BlockLayout::ColTiled { period },
            unit,
            top,
        )?;
        let zero = vec![Complex64::new(0.0, 0.0); slots];
        let sizes = OperandSizes {
            ct_bytes_top: server.encode_ct(&codec.encrypt_at(&zero, top)?)?.len() as u64,
            ct_bytes_bottom: server.encode_ct(&codec.encrypt_at(&zero, 0)?)?.len() as u64,
            x_blocks: x.blocks().len(),
            w_blocks: w.blocks().len(),
            p_blocks: p.blocks().len(),
        };
        let (abt, atb) = {
            let ev = server.evaluator()?;
            // Every rescale, key switch and encryption adds at most 16·N/Δ per slot; errors add up
            // over the operations and are amplified by at most the inner dimension (operands ≤ 1/2).
            let ctx = server.context();
            let per_op = 16.0 * ctx.n() as f64 / ctx.default_scale();
            let timed = |f: &dyn Fn() -> hetal_learn::Result<BlockMatrix<Ciphertext>>,
                         inner: usize|
             -> Result<(f64, BlockMatrix<Ciphertext>, f64)> {
                ev.counter().reset();
                let t = Instant::now();
                let out = f()?;
                let secs = t.elapsed().as_secs_f64();
                let ops = ev.counts();
                let bound = per_op
                    * (ops.mult + ops.cmult + ops.rot + ops.add) as f64
                    * (inner as f64 + 1.0);
                Ok((secs, out, bound))
            };
            let (abt_s, z, abt_bound) = timed(&|| matmul::diag_abt(&ev, &x, &w), b)?;
            let (atb_s, g, atb_bound) = timed(&|| matmul::diag_atb(&ev, &p, &x), a)?;
            let abt = (
                abt_s,
                decrypt_matrix(&codec, &z)?,
                xp.dot(&wp.t()),
                abt_bound,
            );
            let atb = (
                atb_s,
                decrypt_matrix(&codec, &g)?,
                pp.t().dot(&xp),
                atb_bound,
            );
            (abt, atb)
        };
        drop(codec);
        Ok(Self {
            client,
            server,
            steps: steps.into_iter().collect(),
            period,
            x,
            w,
            p,
            abt,
            atb,
            sizes,
        })
    }

    /// Both multiplications, twice each, on `workers`.
    async fn measure(&self, workers: &Workers, k: usize) -> Result<Vec<ScaleRow>> {
        let scheduler = rotation_scheduler(&self.server, &self.steps, workers, false)?;
        let ev = self.server.evaluator()?;
        let sharding = Sharding::for_workers(k, self.period / 2, self.x.block_cols());
        let codec = self.client.codec()?;
        let mut rows = Vec::new();
        let mut step = 0;
        for op in ["DiagABT", "DiagATB"] {
            let start = scheduler.stats();
            let mut runs = Vec::new();
            let mut out = None;
            for _ in 0..2 {
                step += 1;
                let before = workers
                    .counters(scheduler.stats().units_remote as u64)
                    .await?;
                let t = Instant::now();
                let result = if op == "DiagABT" {
                    let plan = AbtPlan::new(&self.x, &self.w, 1.0, sharding)?;
                    let units = plan.units(&ev, &self.x, &self.w)?;
                    let partials = scheduler
                        .run(step, units.into_iter().map(Unit::Abt).collect())
                        .await?;
                    plan.combine(&ev, &partials)?
                } else {
                    let plan = AtbPlan::new(&ev, &self.p, &self.x, 1.0, AtbForm::Auto, sharding)?;
                    let units = plan.units(&ev, &self.p, &self.x)?;
                    let partials = scheduler
                        .run(step, units.into_iter().map(Unit::Atb).collect())
                        .await?;
                    plan.combine(&ev, &partials)?
                };
                let wall = t.elapsed().as_secs_f64();
                let after = workers
                    .counters(scheduler.stats().units_remote as u64)
                    .await?;
                runs.push((wall, sum_since(&after, &before)));
                out = Some(result);
            }
            let out = out.ok_or_else(|| ActorError::Lost("no result".into()))?;
            let (local_s, local, exact, bound) = if op == "DiagABT" {
                &self.abt
            } else {
                &self.atb
            };
            let got = decrypt_matrix(&codec, &out)?;
            let stats = scheduler.stats();
            let (first, steady) = (&runs[0], &runs[1]);
            rows.push(ScaleRow {
                op,
                workers: k,
                placement: workers.placement(),
                units: steady.1.iter().map(|s| s.units).sum(),
                units_local: stats.units_local - start.units_local,
                units_resent: stats.resent - start.resent,
                wall_s: steady.0,
                first_wall_s: first.0,
                local_s: *local_s,
                per_worker: steady.1.clone(),
                first_per_worker: first.1.clone(),
                max_diff: max_abs(&got, local),
                max_error: Some(max_abs(&got, exact)),
                bound: Some(*bound),
                trainer_cpu_s: None,
                workers_cpu_s: None,
            });
        }
        Ok(rows)
    }
}

/// A training step's inputs and its single-process run.
struct StepBench {
    client: Arc<CkksClient>,
    server: Arc<CkksServer>,
    setup: TrainingSetup,
    batch: EncryptedBatch<Ciphertext>,
    w0: BlockMatrix<Ciphertext>,
    worker_steps: BTreeSet<isize>,
    /// Seconds of the second single-process step (the first: `local_first_s`).
    local_s: f64,
    local_first_s: f64,
    /// Decrypted weights after two single-process steps.
    local_weights: Array2<f64>,
}

impl StepBench {
    fn new(settings: &ScaleSettings) -> Result<Self> {
        let (a, b, c) = settings.shape;
        let spec = preset(&settings.preset)?;
        let slots = spec.n() / 2;
        let setup = TrainingSetup {
            hyper: hetal_learn::train::HyperParams {
                batch_size: a,
                ..Preset::Digits.hyper()
            },
            variant: SoftmaxVariant::TRAINING_DEFAULT,
            unit: UnitShape::hetal(a, c, slots)?,
            classes: c,
            dim: b,
            validation: ValidationForm::Logits,
        };
        let client = Arc::new(CkksClient::generate_bootstrappable(
            &spec,
            settings.allow_insecure,
            &setup,
            None,
        )?);
        let server = client.public()?;
        let (batch, w0) = {
            let codec = client.codec()?;
            let encryptor = TrainingClient::new(&codec, setup.unit, c, b, 1)?;
            let labels: Vec<usize> = (0..a).map(|i| (i * 7 + i / 3) % c).collect();
            let batch = encryptor
                .encrypt_training_set(matrix(a, b, 4).view(), &labels, a)?
                .into_iter()
                .next()
                .ok_or_else(|| ActorError::Config("empty batch".into()))?;
            (batch, encryptor.initial_weights()?)
        };
        let ev = server.evaluator()?;
        let worker_steps = matmul_rotations(&ev, &batch, &w0)?;
        let mut trainer = EncryptedTrainer::new(
            &ev,
            setup.hyper,
            setup.variant,
            w0.clone(),
            server.bootstrap_min(),
        )?;
        let mut walls = Vec::new();
        for _ in 0..2 {
            let t = Instant::now();
            tokio::task::block_in_place(|| trainer.step(&batch))?;
            walls.push(t.elapsed().as_secs_f64());
        }
        let local_weights = decrypt_matrix(&client.codec()?, trainer.weights())?;
        drop(trainer);
        drop(ev);
        Ok(Self {
            client,
            server,
            setup,
            batch,
            w0,
            worker_steps,
            local_s: walls[1],
            local_first_s: walls[0],
            local_weights,
        })
    }

    /// Two steps on `workers`, their bootstraps as units on the workers with `boot`.
    async fn measure(&self, workers: &Workers, k: usize, boot: bool) -> Result<ScaleRow> {
        let scheduler = rotation_scheduler(&self.server, &self.worker_steps, workers, boot)?;
        let matmul =
            DistributedMatmul::new(Arc::clone(&scheduler), tokio::runtime::Handle::current());
        let ev = BootstrapVia::new(self.server.evaluator()?, &matmul);
        let mut trainer = EncryptedTrainer::with_executor(
            &ev,
            self.setup.hyper,
            self.setup.variant,
            self.w0.clone(),
            self.server.bootstrap_min(),
            &matmul,
        )?;
        let mut runs = Vec::new();
        for _ in 0..2 {
            let before = workers
                .counters(scheduler.stats().units_remote as u64)
                .await?;
            let cpu = (procs::process_cpu_s("self"), workers.worker_cpu_s());
            let t = Instant::now();
            tokio::task::block_in_place(|| trainer.step(&self.batch))
                .map_err(|e| matmul.take_failure().unwrap_or(e.into()))?;
            let wall = t.elapsed().as_secs_f64();
            let after = workers
                .counters(scheduler.stats().units_remote as u64)
                .await?;
            let used = |before: Option<f64>, now: Option<f64>| Some(now? - before?);
            let cpu = (
                used(cpu.0, procs::process_cpu_s("self")),
                used(cpu.1, workers.worker_cpu_s()),
            );
            runs.push((wall, sum_since(&after, &before), cpu));
        }
        let got = decrypt_matrix(&self.client.codec()?, trainer.weights())?;
        let stats = scheduler.stats();
        let (first, steady) = (&runs[0], &runs[1]);
        Ok(ScaleRow {
            op: if boot { "step+boot" } else { "step" },
            workers: k,
            placement: workers.placement(),
            units: steady.1.iter().map(|s| s.units).sum(),
            units_local: stats.units_local,
            units_resent: stats.resent,
            wall_s: steady.0,
            first_wall_s: first.0,
            local_s: self.local_s,
            per_worker: steady.1.clone(),
            first_per_worker: first.1.clone(),
            max_diff: max_abs(&got, &self.local_weights),
            max_error: None,
            bound: None,
            trainer_cpu_s: steady.2.0,
            workers_cpu_s: steady.2.1,
        })
    }
}

/// Units of one multiplication at each machine count.
fn units_at(machines: &[usize], pairs: usize, rows: usize, cols: usize) -> Vec<(usize, usize)> {
    machines
        .iter()
        .map(|&m| {
            let n = Sharding::for_workers(m, pairs, cols)
                .specs(pairs, rows, cols)
                .map_or(0, |s| s.len());
            (m, n)
        })
        .collect()
}

/// The projection bases of one op (or the step) from its rows.
fn projection_base(
    op: &str,
    rows: &[&ScaleRow],
    parts: Vec<(&str, Vec<(usize, usize)>)>,
) -> Option<ProjectionBase> {
    let base = rows.iter().min_by_key(|r| r.workers)?;
    let big = rows.iter().max_by_key(|r| r.workers)?;
    let busiest = base
        .per_worker
        .iter()
        .map(MeterSnapshot::compute_s)
        .fold(0.0, f64::max);
    let compute = |which: &str| -> f64 {
        base.per_worker
            .iter()
            .map(|s| match which {
                "DiagABT" => s.abt_compute_s,
                _ => s.atb_compute_s,
            })
            .sum()
    };
    Some(ProjectionBase {
        op: op.into(),
        base_workers: base.workers,
        serial_s: (base.wall_s - busiest).max(0.0),
        parts: parts
            .into_iter()
            .map(|(part, units_at)| ProjectedPart {
                op: part.into(),
                compute_s: compute(part),
                units_at,
            })
            .collect(),
        bytes_per_unit: (big.trainer_sent() + big.trainer_received()) as f64
            / big.units.max(1) as f64,
    })
}

/// Runs the measurement.
pub async fn bench_scale(settings: &ScaleSettings) -> Result<ScaleReport> {
    let (a, b, c) = settings.shape;
    if settings.workers.is_empty() || settings.workers.contains(&0) {
        return Err(ActorError::Config(
            "worker counts must be positive (the single-process time is always measured)".into(),
        ));
    }
    if !(settings.link_gbps.is_finite() && settings.link_gbps > 0.0) {
        return Err(ActorError::Config(format!(
            "link speed {} Gbit/s is not a positive number",
            settings.link_gbps
        )));
    }
    let spec = preset(&settings.preset)?;
    let slots = spec.n() / 2;
    let unit = UnitShape::hetal(a, c, slots)?;
    let options = ServerOptions {
        allow_insecure: settings.allow_insecure,
    };
    let mut notes = Vec::new();
    if spec.security == hetal_ckks::params::SecurityLevel::InsecureForTests {
        notes.push(format!(
            "INSECURE preset `{}`: for tests and timing only",
            spec.name
        ));
    }
    let ops = tokio::task::block_in_place(|| OpsBench::new(settings))?;
    let mut local_s = vec![
        ("DiagABT".to_string(), ops.abt.0),
        ("DiagATB".to_string(), ops.atb.0),
    ];
    let mut rows = Vec::new();
    for &k in &settings.workers {
        let workers = start_workers(&settings.mode, k, options).await?;
        let measured = ops.measure(&workers, k).await;
        workers.shutdown().await;
        rows.extend(measured?);
    }
    let ops_sizes = ops.sizes;
    let x_blocks = (ops.x.block_rows(), ops.x.block_cols(), ops.period / 2);
    drop(ops);

    let step = if !settings.step {
        None
    } else if hetal_learn::eval::bootstrap_params_for(&spec).is_err() {
        notes.push(format!(
            "no training step measured: preset `{}` cannot bootstrap (use insecure-boot-n12 or \
             boot-n16)",
            spec.name
        ));
        None
    } else {
        let step = tokio::task::block_in_place(|| StepBench::new(settings))?;
        local_s.push(("step".into(), step.local_s));
        notes.push(format!(
            "single-process step: {:.3} s first, {:.3} s second (the second is compared)",
            step.local_first_s, step.local_s
        ));
        notes.push(format!(
            "step+boot: the step's bootstrap stages as units on the workers, which first receive \
             the bootstrapping material ({} bytes in memory per worker)",
            step.server.bootstrap_key_bytes()
        ));
        for &k in &settings.workers {
            for boot in [false, true] {
                let workers = start_workers(&settings.mode, k, options).await?;
                let measured = step.measure(&workers, k, boot).await;
                workers.shutdown().await;
                rows.push(measured?);
            }
        }
        Some((step.batch.x.block_rows(), step.batch.x.block_cols()))
    };

    let machines = &settings.project_to;
    let (rows_x, cols_x, pairs) = x_blocks;
    let mut bases = Vec::new();
    for op in ["DiagABT", "DiagATB"] {
        let of_op: Vec<&ScaleRow> = rows.iter().filter(|r| r.op == op).collect();
        bases.extend(projection_base(
            op,
            &of_op,
            vec![(op, units_at(machines, pairs, rows_x, cols_x))],
        ));
    }
    if let Some((r, cols)) = step {
        let of_step: Vec<&ScaleRow> = rows.iter().filter(|r| r.op == "step").collect();
        let at = units_at(machines, pairs, r, cols);
        bases.extend(projection_base(
            "step",
            &of_step,
            vec![("DiagABT", at.clone()), ("DiagATB", at)],
        ));
    }
    let projection = bases
        .iter()
        .flat_map(|base| {
            machines
                .iter()
                .filter_map(|&m| project(base, m, settings.link_gbps))
        })
        .collect();
    Ok(ScaleReport {
        shape: [a, b, c],
        preset: spec.name.clone(),
        slots,
        unit: [unit.s0(), unit.s1()],
        mode: match settings.mode {
            WorkerMode::InProcess => "in-process".into(),
            WorkerMode::Processes(_) => "processes".into(),
        },
        cpus: allowed_cpus().len(),
        operands: ops_sizes,
        local_s,
        rows,
        projection_bases: bases,
        projection,
        model: model_text(settings.link_gbps),
        link_gbps: settings.link_gbps,
        notes,
    })
}
