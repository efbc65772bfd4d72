//! The worker sets `hetal bench scale` measures with: worker **processes** on this machine
//! ([`ProcessWorkers`], each started through a [`WorkerLaunch`] and pinned to its share of the
//! cores with the `taskset` binary when it is installed), or worker nodes inside this process
//! ([`Workers::in_process`]). Either way the trainer's node runs in this process, every node
//! has its own certificate of a fresh cluster CA, and they talk QUIC with mutual TLS on
//! 127.0.0.1. Every worker is a [`MeteredWorker`](crate::bench::worker::MeteredWorker).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use hetal_runtime::identity::{Validity, generate_cluster, write_cluster};
use hetal_runtime::{Node, NodeConfig, NodeIdentity};

use crate::backend::ServerOptions;
use crate::backend::ckks::CkksServer;
use crate::bench::worker::{
    MAX_REPORT_LINE, Meter, MeterSnapshot, WORKER_REPORT_PREFIX, WorkerProcessConfig, node_name,
    start_metered_worker,
};
use crate::deploy::{Deployment, Layout, Network};
use crate::error::{ActorError, Result};
use crate::roster::{Roster, TRAINER_ACTOR};
use crate::trainer::pool::WorkerPool;
use crate::trainer::{
    DEFAULT_UNIT_TIMEOUT, DEFAULT_VERDICT_TIMEOUT, Trainer, TrainerConfig, TrainerHandle,
};

/// How long the benchmark waits for a worker process to come up and join.
const START_PATIENCE: Duration = Duration::from_secs(120);

/// How a worker process is started: `program args… CONFIG.toml` (the benchmark appends the
/// path of the worker's [`WorkerProcessConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerLaunch {
    /// The executable (e.g. the current `hetal`).
    pub program: PathBuf,
    /// Arguments before the configuration path.
    pub args: Vec<String>,
    /// Pin each worker to its share of the cores (with `taskset`, when installed).
    pub pin: bool,
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`; else
/// `0..available_parallelism`).
pub fn allowed_cpus() -> Vec<usize> {
    let from_proc = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(|list| parse_cpu_list(list.trim()))
        });
    from_proc.filter(|c| !c.is_empty()).unwrap_or_else(|| {
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
    })
}

/// Parses a CPU list such as `0-3,6,8-9`; `None` if malformed or absurdly large.
pub fn parse_cpu_list(list: &str) -> Option<Vec<usize>> {
    const MAX_CPU: usize = 1 << 16;
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let (lo, hi): (usize, usize) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let c = part.trim().parse().ok()?;
                (c, c)
            }
        };
        if lo > hi || hi >= MAX_CPU {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// The CPUs of worker `i` of `k` on `cpus`: a contiguous equal share when `k ≤ cpus.len()`,
/// else one CPU shared by `⌈k / cpus⌉` workers at most (with 2 CPUs and 4 workers, two per CPU).
pub fn cpu_share(i: usize, k: usize, cpus: &[usize]) -> Vec<usize> {
    let n = cpus.len();
    if n == 0 || k == 0 {
        return Vec::new();
    }
    if k <= n {
        cpus[i * n / k..(i + 1) * n / k].to_vec()
    } else {
        vec![cpus[i * n / k]]
    }
}

/// Whether the `taskset` binary runs here.
fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cpu_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A fresh private directory for the cluster's certificates and the workers' configurations.
fn private_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("hetal-scale-{}-{nanos}", std::process::id()))
}

/// The trainer actor on `node` (it admits the workers to its pool; the benchmark drives the
/// scheduler itself).
fn register_trainer(node: &Node, roster: Roster, options: ServerOptions) -> Result<TrainerHandle> {
    let trainer = Trainer::<CkksServer>::new(
        node.clone(),
        TrainerConfig {
            roster,
            options,
            unit_timeout: DEFAULT_UNIT_TIMEOUT,
            verdict_timeout: DEFAULT_VERDICT_TIMEOUT,
            runtime: tokio::runtime::Handle::current(),
            tap: None,
            progress: None,
            checkpoint: None,
        },
    );
    let handle = trainer.handle();
    node.register(TRAINER_ACTOR, trainer)?;
    Ok(handle)
}

async fn wait_for_pool(handle: &TrainerHandle, k: usize) -> Result<()> {
    let deadline = Instant::now() + START_PATIENCE;
    while handle.workers() < k {
        if Instant::now() > deadline {
            return Err(ActorError::Lost(format!(
                "only {} of {k} workers joined in {START_PATIENCE:?}",
                handle.workers()
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// What a worker process said on stdout.
enum Said {
    Listening(usize, SocketAddr),
    Ended(usize, String),
}

/// Reads worker `i`'s report lines (each bounded) until it exits: its address goes to
/// `said`, its counters to `latest[i]`.
fn read_reports(
    i: usize,
    out: impl Read,
    latest: Arc<Mutex<Vec<MeterSnapshot>>>,
    said: mpsc::Sender<Said>,
) {
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    let end = |why: String| {
        let _ = said.send(Said::Ended(i, why));
    };
    loop {
        line.clear();
        match reader
            .by_ref()
            .take(MAX_REPORT_LINE as u64 + 1)
            .read_line(&mut line)
        {
            Ok(0) => return end("closed its output".into()),
            Err(e) => return end(format!("output unreadable: {e}")),
            Ok(n) if n > MAX_REPORT_LINE => return end("printed an overlong line".into()),
            Ok(_) => {}
        }
        let Some(report) = line.trim_end().strip_prefix(WORKER_REPORT_PREFIX) else {
            continue;
        };
        if let Some(addr) = report.strip_prefix("listening=") {
            match addr.parse() {
                Ok(a) => {
                    let _ = said.send(Said::Listening(i, a));
                }
                Err(e) => return end(format!("bad address {addr:?}: {e}")),
            }
        } else {
            match MeterSnapshot::from_fields(report) {
                Ok(s) => {
                    if let Ok(mut l) = latest.lock() {
                        l[i] = s;
                    }
                }
                Err(e) => return end(e.to_string()),
            }
        }
    }
}

/// Worker processes on this machine (killed and their files removed on drop).
pub struct ProcessWorkers {
    trainer: Node,
    handle: TrainerHandle,
    dir: PathBuf,
    children: Vec<Child>,
    latest: Arc<Mutex<Vec<MeterSnapshot>>>,
    /// How each worker is pinned, in words (e.g. `cpus 0 (taskset)`).
    pub pinning: Vec<String>,
}

impl std::fmt::Debug for ProcessWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessWorkers")
            .field("workers", &self.children.len())
            .field("pinning", &self.pinning)
            .finish_non_exhaustive()
    }
}

impl ProcessWorkers {
    /// Starts the trainer's node here and `k` worker processes, and waits until all joined.
    pub async fn start(k: usize, launch: &WorkerLaunch, options: ServerOptions) -> Result<Self> {
        let dir = private_dir();
        let roster = Roster {
            client: node_name("client")?,
            trainer: node_name("trainer")?,
            evaluator: None,
            workers: (1..=k)
                .map(|i| node_name(&format!("worker-{i}")))
                .collect::<Result<_>>()?,
        };
        let names = roster.all_nodes();
        let (ca, identities) = generate_cluster(&names, Validity::default())
            .map_err(|e| ActorError::Config(e.to_string()))?;
        write_cluster(&dir, &ca, &identities).map_err(|e| ActorError::Config(e.to_string()))?;
        let identity = NodeIdentity::load(&dir, &roster.trainer)
            .map_err(|e| ActorError::Config(e.to_string()))?;
        let mut config = NodeConfig::new(identity, ([127, 0, 0, 1], 0).into());
        for w in &roster.workers {
            config = config.with_peer(w.clone(), None);
        }
        let trainer = Node::start(config).await?;
        let trainer_addr = trainer
            .local_addr()
            .ok_or_else(|| ActorError::Config("the trainer node has no address".into()))?;
        let handle = register_trainer(&trainer, roster.clone(), options)?;
        let mut this = Self {
            trainer,
            handle,
            dir,
            children: Vec::new(),
            latest: Arc::new(Mutex::new(vec![MeterSnapshot::default(); k])),
            pinning: Vec::new(),
        };
        let cpus = allowed_cpus();
        let taskset = launch.pin && taskset_available();
        let (said_tx, said) = mpsc::channel();
        for (i, name) in roster.workers.iter().enumerate() {
            let path = this.dir.join(format!("{name}.toml"));
            WorkerProcessConfig {
                cert_dir: this.dir.clone(),
                name: name.to_string(),
                workers: roster.workers.iter().map(|w| w.to_string()).collect(),
                trainer: roster.trainer.to_string(),
                client: roster.client.to_string(),
                trainer_addr,
                allow_insecure: options.allow_insecure,
            }
            .save(&path)?;
            let share = cpu_share(i, k, &cpus);
            let mut command = if taskset {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu_list(&share)).arg(&launch.program);
                c
            } else {
                Command::new(&launch.program)
            };
            command
                .args(&launch.args)
                .arg(&path)
                .env("RAYON_NUM_THREADS", share.len().max(1).to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let mut child = command.spawn().map_err(|e| {
                ActorError::Config(format!("starting {}: {e}", launch.program.display()))
            })?;
            let out = child
                .stdout
                .take()
                .ok_or_else(|| ActorError::Lost("worker process without stdout".into()))?;
            this.children.push(child);
            this.pinning.push(if taskset {
                format!("cpus {} (taskset)", cpu_list(&share))
            } else if launch.pin {
                format!(
                    "not pinned (no taskset here); {} rayon thread(s)",
                    share.len().max(1)
                )
            } else {
                format!("not pinned; {} rayon thread(s)", share.len().max(1))
            });
            let (latest, tx) = (Arc::clone(&this.latest), said_tx.clone());
            std::thread::spawn(move || read_reports(i, out, latest, tx));
        }
        drop(said_tx);
        let deadline = Instant::now() + START_PATIENCE;
        let mut listening = 0;
        while listening < k {
            let left = deadline.saturating_duration_since(Instant::now());
            let said = tokio::task::block_in_place(|| said.recv_timeout(left));
            match said {
                Ok(Said::Listening(i, addr)) => {
                    this.trainer.set_peer_addr(&roster.workers[i], addr)?;
                    listening += 1;
                }
                Ok(Said::Ended(i, why)) => {
                    return Err(ActorError::Lost(format!(
                        "worker process {} {why}",
                        roster.workers[i]
                    )));
                }
                Err(_) => {
                    return Err(ActorError::Lost(format!(
                        "{listening} of {k} worker processes came up in {START_PATIENCE:?}"
                    )));
                }
            }
        }
        wait_for_pool(&this.handle, k).await?;
        Ok(this)
    }

    /// Each process's latest counters.
    fn snapshots(&self) -> Vec<MeterSnapshot> {
        self.latest.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until the processes' reports add up to `units` computed units (a report line is
    /// printed as the answer leaves, so it can trail the answer a little).
    async fn settle(&self, units: u64) -> Result<Vec<MeterSnapshot>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let now = self.snapshots();
            if now.iter().map(|s| s.units).sum::<u64>() >= units {
                return Ok(now);
            }
            if Instant::now() > deadline {
                return Err(ActorError::Lost(format!(
                    "worker reports add up to {} units, the trainer got {units}",
                    now.iter().map(|s| s.units).sum::<u64>()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for ProcessWorkers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// CPU seconds (user + system) process `pid` has used so far, from `/proc/PID/stat` (fields 14
/// and 15, in the kernel's fixed 100 ticks per second of that file); `None` where it cannot be
/// read (not Linux, or the process is gone).
pub fn process_cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// The workers of one measured configuration.
pub enum Workers {
    /// Worker nodes in this process.
    InProcess {
        /// The nodes.
        deployment: Box<Deployment>,
        /// The trainer actor's handle.
        handle: TrainerHandle,
        /// Each worker's counters.
        meters: Vec<Arc<Meter>>,
    },
    /// Worker processes.
    Processes(ProcessWorkers),
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Workers::InProcess { meters, .. } => f
                .debug_struct("InProcess")
                .field("workers", &meters.len())
                .finish_non_exhaustive(),
            Workers::Processes(p) => p.fmt(f),
        }
    }
}

impl Workers {
    /// `k` metered worker nodes in this process, QUIC on loopback.
    pub async fn in_process(k: usize, options: ServerOptions) -> Result<Self> {
        let deployment = Deployment::start(Layout {
            workers: k,
            spare_workers: 0,
            evaluator: false,
            network: Network::QuicLoopback,
        })
        .await?;
        let handle = register_trainer(&deployment.trainer, deployment.roster.clone(), options)?;
        let mut meters = Vec::new();
        for node in &deployment.workers {
            meters.push(
                start_metered_worker::<CkksServer>(
                    node,
                    deployment.roster.clone(),
                    options,
                    Arc::new(|_| {}),
                    START_PATIENCE,
                )
                .await?,
            );
        }
        wait_for_pool(&handle, k).await?;
        Ok(Workers::InProcess {
            deployment: Box::new(deployment),
            handle,
            meters,
        })
    }

    /// The trainer's node.
    pub fn trainer_node(&self) -> &Node {
        match self {
            Workers::InProcess { deployment, .. } => &deployment.trainer,
            Workers::Processes(p) => &p.trainer,
        }
    }

    /// The pool the workers joined.
    pub fn pool(&self) -> Arc<Mutex<WorkerPool>> {
        match self {
            Workers::InProcess { handle, .. } => handle.pool(),
            Workers::Processes(p) => p.handle.pool(),
        }
    }

    /// How each worker runs, in words.
    pub fn placement(&self) -> Vec<String> {
        match self {
            Workers::InProcess { meters, .. } => {
                vec!["node in the benchmark's process".into(); meters.len()]
            }
            Workers::Processes(p) => p.pinning.clone(),
        }
    }

    /// The workers' counters once they account for `units` computed units in all.
    pub async fn counters(&self, units: u64) -> Result<Vec<MeterSnapshot>> {
        match self {
            Workers::InProcess { meters, .. } => Ok(meters.iter().map(|m| m.snapshot()).collect()),
            Workers::Processes(p) => p.settle(units).await,
        }
    }

    /// CPU seconds the worker processes used so far, together; `None` for nodes in this
    /// process (their CPU is the benchmark's own) or where it cannot be read.
    pub fn worker_cpu_s(&self) -> Option<f64> {
        match self {
            Workers::InProcess { .. } => None,
            Workers::Processes(p) => p
                .children
                .iter()
                .map(|c| process_cpu_s(&c.id().to_string()))
                .sum(),
        }
    }

    /// Stops the nodes (and the processes).
    pub async fn shutdown(self) {
        match self {
            Workers::InProcess { deployment, .. } => deployment.shutdown().await,
            Workers::Processes(p) => {
                p.trainer.shutdown().await;
                drop(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_used_cpu_time() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let used = process_cpu_s("self").expect("readable");
        assert!(used > 0.0 && used.is_finite(), "{used}");
        assert!(process_cpu_s("not-a-pid").is_none());
    }

    #[test]
    fn cpu_lists_parse_and_shares_split_the_cpus() {
        assert_eq!(parse_cpu_list("0-3,6,8-9"), Some(vec![0, 1, 2, 3, 6, 8, 9]));
        assert_eq!(parse_cpu_list("1,1,0"), Some(vec![0, 1]));
        for bad in ["3-1", "a", "0-", "99999999"] {
            assert_eq!(parse_cpu_list(bad), None, "{bad}");
        }
        let cpus = [0, 1];
        assert_eq!(cpu_share(0, 1, &cpus), vec![0, 1]);
        assert_eq!(
            (cpu_share(0, 2, &cpus), cpu_share(1, 2, &cpus)),
            (vec![0], vec![1])
        );
        // Four workers on two CPUs: two per CPU.
        let four: Vec<Vec<usize>> = (0..4).map(|i| cpu_share(i, 4, &cpus)).collect();
        assert_eq!(four, vec![vec![0], vec![0], vec![1], vec![1]]);
        // Three workers on eight CPUs: disjoint shares covering them all.
        let eight: Vec<usize> = (0..8).collect();
        let shares: Vec<usize> = (0..3).flat_map(|i| cpu_share(i, 3, &eight)).collect();
        assert_eq!(shares, eight);
    }
}
