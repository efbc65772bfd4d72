//! `hetal bench scale`: DiagABT and DiagATB on real CKKS ciphertexts computed by 1, 2, 4…
//! workers (QUIC nodes on loopback in this process) beside the single-process time, with the
//! work-unit balance and the bytes each multiplication moves. On a machine with few cores the
//! wall-clock speed-up is capped by the cores; the balance and the bytes per unit are what the
//! scaling to many machines is judged by.
//!
//! A whole training step needs CKKS bootstrapping, which the distributed trainer does not wire
//! in yet, so only the two multiplications are measured here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hetal_ckks::params::preset;
use hetal_learn::eval::SlotEvaluator;
use hetal_learn::matmul::{self, AbtPlan, AtbForm, AtbPlan, Sharding, compare};
use hetal_learn::pack::{
    BlockMatrix, Layout as BlockLayout, UnitShape, decrypt_matrix, encrypt_matrix,
};
use ndarray::Array2;

use crate::backend::ckks::{CkksClient, CkksServer};
use crate::backend::{ClientBackend, ServerBackend, ServerOptions};
use crate::client::StopPolicy;
use crate::deploy::{Deployment, Layout, Network, Taps};
use crate::error::{ActorError, Result};
use crate::messages::{BlobSink, LoadKeysBody};
use crate::trainer::scheduler::{Scheduler, Unit};

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
}

/// One measured configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleRow {
    /// "DiagABT" or "DiagATB".
    pub op: &'static str,
    /// Workers.
    pub workers: usize,
    /// Work units.
    pub units: usize,
    /// Units per worker.
    pub balance: Vec<usize>,
    /// Wall time with operands already cached on the workers (steady state), seconds.
    pub wall_s: f64,
    /// Wall time of the first use (keys and data shipped), seconds.
    pub first_wall_s: f64,
    /// Single-process wall time, seconds.
    pub local_s: f64,
    /// Bytes sent to workers in steady state.
    pub bytes_sent: u64,
    /// Bytes of partial results received in steady state.
    pub bytes_received: u64,
    /// Bytes of the first use (evaluation keys and data included).
    pub first_bytes_sent: u64,
    /// Largest slot difference to the single-process result.
    pub max_diff: f64,
}

fn matrix(rows: usize, cols: usize, salt: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17 + salt * 7) % 23) as f64 / 23.0 - 0.5
    })
}

fn max_abs(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// Runs the measurement.
pub async fn bench_scale(settings: &ScaleSettings) -> Result<Vec<ScaleRow>> {
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
    let codec = client.codec()?;
    let top = codec.max_level();
    let period = c.next_power_of_two();
    let x = encrypt_matrix(
        &codec,
        matrix(a, b, 1).view(),
        BlockLayout::RowMajor,
        unit,
        top,
    )?;
    let w = encrypt_matrix(
        &codec,
        matrix(c, b, 2).view(),
        BlockLayout::RowTiled { period },
        unit,
        top,
    )?;
    let p = encrypt_matrix(
        &codec,
        matrix(a, c, 3).view(),
        BlockLayout::ColTiled { period },
        unit,
        top,
    )?;
    let options = ServerOptions {
        allow_insecure: settings.allow_insecure,
    };
    let mut sink = BlobSink::default();
    let material = client.material(&crate::backend::KeyScope::Full, &mut sink)?;
    let keys = sink.seal(LoadKeysBody {
        session: 1,
        material: material.clone(),
    });
    let server = Arc::new(CkksServer::from_material(&material, &keys.blobs, options)?);
    let ev = server.evaluator()?;

    let t = Instant::now();
    let z_local = matmul::diag_abt(&ev, &x, &w)?;
    let abt_local = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let g_local = matmul::diag_atb(&ev, &p, &x)?;
    let atb_local = t.elapsed().as_secs_f64();
    let (z_ref, g_ref) = (
        decrypt_matrix(&codec, &z_local)?,
        decrypt_matrix(&codec, &g_local)?,
    );

    let mut rows = Vec::new();
    for &k in &settings.workers {
        let deployment = Deployment::start(Layout {
            workers: k,
            spare_workers: 0,
            evaluator: false,
            network: Network::QuicLoopback,
        })
        .await?;
        let parties = deployment.start_parties(
            Arc::clone(&client),
            vec![0],
            StopPolicy {
                patience: 0,
                budget: None,
            },
            options,
            &Taps::default(),
        )?;
        let mut stats = Vec::new();
        for i in 0..k {
            stats.push(
                deployment
                    .start_worker::<CkksServer>(i, options, None)
                    .await?,
            );
        }
        parties.wait_for_workers(k, Duration::from_secs(30)).await?;
        let scheduler = Arc::new(Scheduler::new(
            deployment.trainer.clone(),
            parties.trainer.pool(),
            Arc::clone(&server),
            keys.clone(),
            Duration::from_secs(3600),
            None,
        ));
        let mut step = 0;
        for op in ["DiagABT", "DiagATB"] {
            let before_units: Vec<usize> = stats.iter().map(|s| s.units()).collect();
            let mut times = Vec::new();
            let mut bytes = Vec::new();
            let mut last = None;
            for _ in 0..2 {
                step += 1;
                let s0 = scheduler.stats();
                let t = Instant::now();
                let out: BlockMatrix<_> = if op == "DiagABT" {
                    let plan = AbtPlan::new(
                        &x,
                        &w,
                        1.0,
                        Sharding::for_workers(k, period / 2, x.block_cols()),
                    )?;
                    let units = plan
                        .units(&ev, &x, &w)?
                        .into_iter()
                        .map(Unit::Abt)
                        .collect();
                    let partials = scheduler.run(step, units).await?;
                    plan.combine(&ev, &partials)?
                } else {
                    let plan = AtbPlan::new(
                        &ev,
                        &p,
                        &x,
                        1.0,
                        AtbForm::Auto,
                        Sharding::for_workers(k, period / 2, x.block_cols()),
                    )?;
                    let units = plan
                        .units(&ev, &p, &x)?
                        .into_iter()
                        .map(Unit::Atb)
                        .collect();
                    let partials = scheduler.run(step, units).await?;
                    plan.combine(&ev, &partials)?
                };
                times.push(t.elapsed().as_secs_f64());
                let s1 = scheduler.stats();
                bytes.push((
                    s1.bytes_sent - s0.bytes_sent,
                    s1.bytes_received - s0.bytes_received,
                ));
                last = Some(out);
            }
            let out = last.ok_or_else(|| ActorError::Lost("no result".into()))?;
            let reference = if op == "DiagABT" { &z_ref } else { &g_ref };
            let balance: Vec<usize> = stats
                .iter()
                .zip(&before_units)
                .map(|(s, b)| (s.units() - b) / 2)
                .collect();
            rows.push(ScaleRow {
                op,
                workers: k,
                units: balance.iter().sum(),
                balance,
                wall_s: times[1],
                first_wall_s: times[0],
                local_s: if op == "DiagABT" {
                    abt_local
                } else {
                    atb_local
                },
                bytes_sent: bytes[1].0,
                bytes_received: bytes[1].1,
                first_bytes_sent: bytes[0].0,
                max_diff: max_abs(&decrypt_matrix(&codec, &out)?, reference),
            });
        }
        deployment.shutdown().await;
    }
    Ok(rows)
}
