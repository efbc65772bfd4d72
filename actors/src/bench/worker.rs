//! The worker side of `hetal bench scale`: a [`MeteredWorker`] (the ordinary
//! [`Worker`](crate::worker::Worker), with counters of the bytes it receives and sends, its compute
//! time and the operands it served from its cache) and [`run_worker_process`], the body of a
//! worker process the benchmark spawns (one per worker, pinned to its share of the cores).
//!
//! A worker process reports to the benchmark on stdout, one line each time: its address once
//! ([`WORKER_REPORT_PREFIX`]`listening=ADDR`), then its counters after every answered message
//! ([`WORKER_REPORT_PREFIX`] then [`MeterSnapshot::to_fields`]).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hetal_runtime::{
    Actor, Handlers, Message, MessageContext, Node, NodeConfig, NodeIdentity, NodeName, PeerEvent,
    Respond, Response,
};
use serde::{Deserialize, Serialize};

use crate::backend::ServerBackend;
use crate::backend::ServerOptions;
use crate::error::{ActorError, Result};
use crate::messages::{
    ComputeUnit, JoinPool, KeysLoaded, LoadKeys, MaterialAnswer, OfferMaterial, UnitOutcome,
    WorkItem,
};
use crate::roster::{Roster, TRAINER_ACTOR, WORKER_ACTOR};
use crate::worker::{Worker, WorkerStats};

/// Prefix of a worker process's report lines on stdout.
pub const WORKER_REPORT_PREFIX: &str = "hetal-bench-worker ";

/// Longest report line the benchmark parses.
pub const MAX_REPORT_LINE: usize = 1024;

/// Largest configuration file a worker process reads.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// A worker's counters at one moment (what a worker process prints).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MeterSnapshot {
    /// Units computed.
    pub units: u64,
    /// DiagABT units computed.
    pub abt_units: u64,
    /// Message bytes received (meta and bulk of every request: keys, units, offers).
    pub bytes_received: u64,
    /// Message bytes sent (meta and bulk of every answer).
    pub bytes_sent: u64,
    /// Bytes of evaluation keys received.
    pub key_bytes: u64,
    /// Operands that came inline with their unit (crossed the network).
    pub operands_inline: u64,
    /// Operand uses served from the cache (did not cross the network again).
    pub operands_cached: u64,
    /// Seconds from a unit's arrival to its answer, DiagABT units.
    pub abt_compute_s: f64,
    /// Seconds from a unit's arrival to its answer, DiagATB units.
    pub atb_compute_s: f64,
    /// Bootstrap units computed.
    pub boot_units: u64,
    /// Seconds from a unit's arrival to its answer, bootstrap units.
    pub boot_compute_s: f64,
}

impl MeterSnapshot {
    /// `self − earlier`, field by field (counters only grow).
    pub fn since(&self, earlier: &MeterSnapshot) -> MeterSnapshot {
        MeterSnapshot {
            units: self.units.saturating_sub(earlier.units),
            abt_units: self.abt_units.saturating_sub(earlier.abt_units),
            bytes_received: self.bytes_received.saturating_sub(earlier.bytes_received),
            bytes_sent: self.bytes_sent.saturating_sub(earlier.bytes_sent),
            key_bytes: self.key_bytes.saturating_sub(earlier.key_bytes),
            operands_inline: self.operands_inline.saturating_sub(earlier.operands_inline),
            operands_cached: self.operands_cached.saturating_sub(earlier.operands_cached),
            abt_compute_s: (self.abt_compute_s - earlier.abt_compute_s).max(0.0),
            atb_compute_s: (self.atb_compute_s - earlier.atb_compute_s).max(0.0),
            boot_units: self.boot_units.saturating_sub(earlier.boot_units),
            boot_compute_s: (self.boot_compute_s - earlier.boot_compute_s).max(0.0),
        }
    }

    /// `key=value` fields separated by spaces (what a worker process prints).
    pub fn to_fields(&self) -> String {
        format!(
            "units={} abt_units={} bytes_received={} bytes_sent={} key_bytes={} \
             operands_inline={} operands_cached={} abt_compute_s={:e} atb_compute_s={:e} \
             boot_units={} boot_compute_s={:e}",
            self.units,
            self.abt_units,
            self.bytes_received,
            self.bytes_sent,
            self.key_bytes,
            self.operands_inline,
            self.operands_cached,
            self.abt_compute_s,
            self.atb_compute_s,
            self.boot_units,
            self.boot_compute_s
        )
    }

    /// Parses [`MeterSnapshot::to_fields`]; every field must be present, once, and valid.
    pub fn from_fields(text: &str) -> Result<Self> {
        let bad = |why: String| ActorError::Protocol(format!("worker report {text:?}: {why}"));
        if text.len() > MAX_REPORT_LINE {
            return Err(bad("too long".into()));
        }
        let mut s = MeterSnapshot::default();
        let mut seen = BTreeSet::new();
        for field in text.split_whitespace() {
            let (key, value) = field
                .split_once('=')
                .ok_or_else(|| bad(format!("`{field}` is not key=value")))?;
            if !seen.insert(key) {
                return Err(bad(format!("`{key}` twice")));
            }
            let int = || value.parse::<u64>().map_err(|e| bad(format!("{key}: {e}")));
            let secs = || match value.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                _ => Err(bad(format!("{key}: `{value}` is not a number of seconds"))),
            };
            match key {
                "units" => s.units = int()?,
                "abt_units" => s.abt_units = int()?,
                "bytes_received" => s.bytes_received = int()?,
                "bytes_sent" => s.bytes_sent = int()?,
                "key_bytes" => s.key_bytes = int()?,
                "operands_inline" => s.operands_inline = int()?,
                "operands_cached" => s.operands_cached = int()?,
                "abt_compute_s" => s.abt_compute_s = secs()?,
                "atb_compute_s" => s.atb_compute_s = secs()?,
                "boot_units" => s.boot_units = int()?,
                "boot_compute_s" => s.boot_compute_s = secs()?,
                other => return Err(bad(format!("unknown field `{other}`"))),
            }
        }
        if seen.len() != 11 {
            return Err(bad(format!("{} of 11 fields", seen.len())));
        }
        if s.abt_units.saturating_add(s.boot_units) > s.units {
            return Err(bad("more DiagABT and bootstrap units than units".into()));
        }
        Ok(s)
    }

    /// Compute seconds of every kind.
    pub fn compute_s(&self) -> f64 {
        self.abt_compute_s + self.atb_compute_s + self.boot_compute_s
    }
}

/// Shared counters of one metered worker.
#[derive(Debug, Default)]
pub struct Meter {
    abt_units: AtomicU64,
    atb_units: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    key_bytes: AtomicU64,
    operands_inline: AtomicU64,
    operands_cached: AtomicU64,
    abt_compute_ns: AtomicU64,
    atb_compute_ns: AtomicU64,
    boot_units: AtomicU64,
    boot_compute_ns: AtomicU64,
}

impl Meter {
    /// The counters now.
    pub fn snapshot(&self) -> MeterSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::SeqCst);
        let abt = get(&self.abt_units);
        let boot = get(&self.boot_units);
        MeterSnapshot {
            units: abt + get(&self.atb_units) + boot,
            abt_units: abt,
            bytes_received: get(&self.bytes_received),
            bytes_sent: get(&self.bytes_sent),
            key_bytes: get(&self.key_bytes),
            operands_inline: get(&self.operands_inline),
            operands_cached: get(&self.operands_cached),
            abt_compute_s: get(&self.abt_compute_ns) as f64 / 1e9,
            atb_compute_s: get(&self.atb_compute_ns) as f64 / 1e9,
            boot_units: boot,
            boot_compute_s: get(&self.boot_compute_ns) as f64 / 1e9,
        }
    }
}

/// Bytes a message puts on the wire (meta and bulk; QUIC and TLS framing not counted).
fn wire_len<M: Message + Clone>(msg: &M) -> u64 {
    msg.clone()
        .into_payload()
        .map_or(0, |p| (p.meta.len() + p.bulk.len()) as u64)
}

/// A [`Worker`] with a [`Meter`]: every request and answer is counted, then handled by the
/// worker unchanged.
pub struct MeteredWorker<B: ServerBackend> {
    inner: Worker<B>,
    meter: Arc<Meter>,
    on_answer: Arc<dyn Fn(MeterSnapshot) + Send + Sync>,
}

impl<B: ServerBackend> MeteredWorker<B> {
    /// A worker of `roster.trainer`; `on_answer` sees the counters after every answer.
    pub fn new(
        roster: Roster,
        options: ServerOptions,
        on_answer: Arc<dyn Fn(MeterSnapshot) + Send + Sync>,
    ) -> Self {
        Self {
            inner: Worker::new(roster, options, None),
            meter: Arc::new(Meter::default()),
            on_answer,
        }
    }

    /// The counters, shared with the running actor.
    pub fn meter(&self) -> Arc<Meter> {
        Arc::clone(&self.meter)
    }

    /// The wrapped worker's own counters.
    pub fn stats(&self) -> WorkerStats {
        self.inner.stats()
    }

    /// Counts the answer of `response` when it is ready (`unit`: the unit kind, if a unit, with
    /// its arrival time) and reports.
    fn metered<R: Message + Clone>(
        &self,
        response: Response<R>,
        unit: Option<(UnitKind, Instant)>,
    ) -> Response<R> {
        let meter = Arc::clone(&self.meter);
        let report = Arc::clone(&self.on_answer);
        let account = move |reply: &std::result::Result<R, hetal_runtime::Rejection>| {
            if let Ok(r) = reply {
                meter.bytes_sent.fetch_add(wire_len(r), Ordering::SeqCst);
                if let Some((kind, since)) = unit
                    && is_done(r)
                {
                    let ns = since.elapsed().as_nanos() as u64;
                    let (count, time) = match kind {
                        UnitKind::Abt => (&meter.abt_units, &meter.abt_compute_ns),
                        UnitKind::Atb => (&meter.atb_units, &meter.atb_compute_ns),
                        UnitKind::Bootstrap => (&meter.boot_units, &meter.boot_compute_ns),
                    };
                    time.fetch_add(ns, Ordering::SeqCst);
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
            report(meter.snapshot());
        };
        match response {
            Response::Ready(reply) => {
                account(&reply);
                Response::Ready(reply)
            }
            Response::Deferred(future) => Response::later(async move {
                let reply = future.await;
                account(&reply);
                reply
            }),
        }
    }
}

/// Whether an answer is a computed unit (not a "missing operands" answer or another reply).
fn is_done<R: 'static>(reply: &R) -> bool {
    (reply as &dyn std::any::Any)
        .downcast_ref::<UnitOutcome>()
        .is_some_and(|o| {
            matches!(
                o.body,
                crate::messages::OutcomeBody::Done { .. }
                    | crate::messages::OutcomeBody::Refreshed { .. }
            )
        })
}

/// Which counters a unit's answer goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Abt,
    Atb,
    Bootstrap,
}

impl<B: ServerBackend> Actor for MeteredWorker<B> {
    fn handlers(handlers: &mut Handlers<Self>) {
        handlers
            .ask::<LoadKeys>()
            .ask::<ComputeUnit>()
            .ask::<OfferMaterial>();
    }
}

impl<B: ServerBackend> Respond<OfferMaterial> for MeteredWorker<B> {
    fn respond(&mut self, msg: OfferMaterial, ctx: &MessageContext) -> Response<MaterialAnswer> {
        self.meter
            .bytes_received
            .fetch_add(wire_len(&msg), Ordering::SeqCst);
        let response = self.inner.respond(msg, ctx);
        self.metered(response, None)
    }
}

impl<B: ServerBackend> Respond<LoadKeys> for MeteredWorker<B> {
    fn respond(&mut self, msg: LoadKeys, ctx: &MessageContext) -> Response<KeysLoaded> {
        let len = wire_len(&msg);
        self.meter.bytes_received.fetch_add(len, Ordering::SeqCst);
        self.meter
            .key_bytes
            .fetch_add(msg.blob_bytes(), Ordering::SeqCst);
        let response = self.inner.respond(msg, ctx);
        self.metered(response, None)
    }
}

impl<B: ServerBackend> Respond<ComputeUnit> for MeteredWorker<B> {
    fn respond(&mut self, msg: ComputeUnit, ctx: &MessageContext) -> Response<UnitOutcome> {
        let arrived = Instant::now();
        self.meter
            .bytes_received
            .fetch_add(wire_len(&msg), Ordering::SeqCst);
        let inline: BTreeSet<u64> = msg.body.inline.iter().map(|o| o.id).collect();
        let used: BTreeSet<u64> = msg.body.work.operand_ids().into_iter().collect();
        let kind = match msg.body.work {
            WorkItem::Abt(_) => UnitKind::Abt,
            WorkItem::Atb(_) => UnitKind::Atb,
            WorkItem::Bootstrap(_) => UnitKind::Bootstrap,
        };
        let cached = used.difference(&inline).count() as u64;
        self.meter
            .operands_inline
            .fetch_add(inline.len() as u64, Ordering::SeqCst);
        self.meter
            .operands_cached
            .fetch_add(cached, Ordering::SeqCst);
        let response = self.inner.respond(msg, ctx);
        self.metered(response, Some((kind, arrived)))
    }
}

/// Registers a metered worker on `node` and announces it to the trainer (retrying for up to
/// `patience`), as [`crate::worker::start_worker`] does for a plain one.
pub async fn start_metered_worker<B: ServerBackend>(
    node: &Node,
    roster: Roster,
    options: ServerOptions,
    on_answer: Arc<dyn Fn(MeterSnapshot) + Send + Sync>,
    patience: Duration,
) -> Result<Arc<Meter>> {
    let worker = MeteredWorker::<B>::new(roster.clone(), options, on_answer);
    let meter = worker.meter();
    node.register(WORKER_ACTOR, worker)?;
    let join = node.remote_ref::<JoinPool>(&roster.trainer, TRAINER_ACTOR);
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match join.tell(JoinPool).await {
            Ok(()) => return Ok(meter),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// What a worker process needs: where its certificate is, who it is and where the trainer is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerProcessConfig {
    /// Directory of the cluster's certificates (written by the benchmark).
    pub cert_dir: PathBuf,
    /// This worker's node name.
    pub name: String,
    /// Every worker's node name (the roster).
    pub workers: Vec<String>,
    /// The trainer's node name.
    pub trainer: String,
    /// The client's node name (the roster names one; the worker never talks to it).
    pub client: String,
    /// The trainer's address.
    pub trainer_addr: SocketAddr,
    /// Accept an insecure preset's keys.
    pub allow_insecure: bool,
}

impl WorkerProcessConfig {
    /// Writes it as TOML to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| ActorError::Config(e.to_string()))?;
        std::fs::write(path, text)
            .map_err(|e| ActorError::Config(format!("{}: {e}", path.display())))
    }

    /// Reads a configuration file (TOML, bounded in size).
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ActorError::Config(format!("{}: {e}", path.display())))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ActorError::Config(format!(
                "{}: {} bytes, more than a worker configuration can be ({MAX_CONFIG_BYTES})",
                path.display(),
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ActorError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ActorError::Config(format!("{}: {e}", path.display())))
    }

    /// The roster it works in.
    pub fn roster(&self) -> Result<Roster> {
        Ok(Roster {
            client: node_name(&self.client)?,
            trainer: node_name(&self.trainer)?,
            evaluator: None,
            workers: self
                .workers
                .iter()
                .map(|w| node_name(w))
                .collect::<Result<_>>()?,
        })
    }
}

/// A node name from configuration text.
pub(crate) fn node_name(s: &str) -> Result<NodeName> {
    NodeName::new(s).map_err(|e| ActorError::Config(e.to_string()))
}

/// A worker process: starts its node, prints `{prefix}listening=ADDR`, joins the
/// trainer's pool, prints its counters after every answer, and returns when the trainer's
/// connection is lost (the benchmark shut it down) or after `lifetime`.
pub async fn run_worker_process<B: ServerBackend>(
    config: &WorkerProcessConfig,
    lifetime: Duration,
) -> Result<()> {
    let name = node_name(&config.name)?;
    let trainer = node_name(&config.trainer)?;
    let identity = NodeIdentity::load(&config.cert_dir, &name)
        .map_err(|e| ActorError::Config(e.to_string()))?;
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let node = Node::start(
        NodeConfig::new(identity, listen).with_peer(trainer.clone(), Some(config.trainer_addr)),
    )
    .await?;
    let addr = node
        .local_addr()
        .ok_or_else(|| ActorError::Config("the worker node has no address".into()))?;
    println!("{WORKER_REPORT_PREFIX}listening={addr}");
    let mut events = node.events();
    let report: Arc<dyn Fn(MeterSnapshot) + Send + Sync> = Arc::new(|snapshot| {
        println!("{WORKER_REPORT_PREFIX}{}", snapshot.to_fields());
    });
    let options = ServerOptions {
        allow_insecure: config.allow_insecure,
    };
    start_metered_worker::<B>(
        &node,
        config.roster()?,
        options,
        report,
        Duration::from_secs(60),
    )
    .await?;
    let lost = async {
        loop {
            match events.recv().await {
                Ok(PeerEvent::Lost { peer, .. }) if peer == trainer => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(lifetime, lost).await;
    node.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip_and_bad_ones_are_refused() {
        let s = MeterSnapshot {
            units: 5,
            abt_units: 2,
            bytes_received: 1 << 40,
            bytes_sent: 77,
            key_bytes: 3,
            operands_inline: 4,
            operands_cached: 9,
            abt_compute_s: 0.125,
            atb_compute_s: 1.5e-3,
            boot_units: 1,
            boot_compute_s: 2.5,
        };
        assert_eq!(MeterSnapshot::from_fields(&s.to_fields()).unwrap(), s);
        let line = s.to_fields();
        for bad in [
            line.replace("units=5", "units=-1"),
            line.replace("abt_units=2", "abt_units=6"),
            line.replace("boot_units=1", "boot_units=4"),
            line.replace(" key_bytes=3", ""),
            format!("{line} units=5"),
            format!("{line} extra=1"),
            line.replace("abt_compute_s=1.25e-1", "abt_compute_s=NaN"),
            "x".repeat(MAX_REPORT_LINE + 1),
        ] {
            assert!(MeterSnapshot::from_fields(&bad).is_err(), "{bad}");
        }
        let later = MeterSnapshot { units: 7, ..s };
        assert_eq!(later.since(&s).units, 2);
        assert_eq!(later.since(&s).bytes_sent, 0);
    }
}
