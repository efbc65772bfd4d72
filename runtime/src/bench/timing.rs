//! Wall-clock and CPU time of a benchmark phase. CPU time matters on a shared machine: it does
//! not count time spent waiting for a core, so it stays steady when MB/s swings with the load.

use std::future::Future;
use std::time::{Duration, Instant};

/// Shortest CPU time reported per GB from the 10 ms process clock: five ticks.
const MIN_TICK_CPU_S: f64 = 0.05;
/// Shortest CPU time reported per GB from the nanosecond scheduler clock.
const MIN_NS_CPU_S: f64 = 0.001;

/// Process CPU time read from both clocks: the scheduler's nanosecond sum over this process's
/// threads where the kernel exposes it, and the 10 ms process clock as the fallback.
#[derive(Clone, Copy)]
struct CpuReading {
    ns: Option<Duration>,
    ticks: Option<Duration>,
}

impl CpuReading {
    fn now() -> Self {
        Self {
            ns: threads_cpu_time(),
            ticks: process_cpu_time(),
        }
    }

    /// CPU seconds between `self` and `later` from the finest clock read both times, and
    /// whether that was the nanosecond clock.
    fn seconds_until(&self, later: &Self) -> Option<(f64, bool)> {
        let span =
            |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?).as_secs_f64());
        span(self.ns, later.ns)
            .map(|cpu| (cpu, true))
            .or_else(|| span(self.ticks, later.ticks).map(|cpu| (cpu, false)))
    }
}

/// Wall-clock and process CPU time of one transport's bulk transfers, summed over timed segments
/// (the benchmark alternates the transports round by round, so that both see the same load).
pub(super) struct BulkTiming {
    bytes: u64,
    wall_s: f64,
    /// CPU seconds and whether every segment was read on the nanosecond clock; `None` once a
    /// segment could not be measured.
    cpu: Option<(f64, bool)>,
}

impl BulkTiming {
    pub(super) fn new() -> Self {
        Self {
            bytes: 0,
            wall_s: 0.0,
            cpu: Some((0.0, true)),
        }
    }

    /// Runs `transfer`, which moves `bytes`, and adds its wall-clock and CPU time.
    pub(super) async fn time<T>(&mut self, bytes: u64, transfer: impl Future<Output = T>) -> T {
        let cpu = CpuReading::now();
        let wall = Instant::now();
        let out = transfer.await;
        self.wall_s += wall.elapsed().as_secs_f64();
        self.bytes += bytes;
        self.cpu = match (self.cpu, cpu.seconds_until(&CpuReading::now())) {
            (Some((total, all_ns)), Some((segment, ns))) => Some((total + segment, all_ns && ns)),
            _ => None,
        };
        out
    }

    pub(super) fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.wall_s / 1e6
    }

    /// `None` when the transfers used too little CPU for the clock to measure it to ~20%.
    pub(super) fn cpu_s_per_gb(&self) -> Option<f64> {
        let (cpu, ns) = self.cpu?;
        let min = if ns { MIN_NS_CPU_S } else { MIN_TICK_CPU_S };
        (cpu >= min).then(|| cpu / (self.bytes as f64 / 1e9))
    }
}

/// CPU time of this process's live threads, in nanoseconds: the sum of the first field of
/// `/proc/self/task/*/schedstat`. Threads that exit between two readings drop out of the sum, so
/// a phase must not end threads it wants counted (the benchmark's runtimes live through every
/// phase). `None` where the kernel does not expose it.
pub(super) fn threads_cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let mut path = task.ok()?.path();
        path.push("schedstat");
        // A thread that exits while we list them simply has no file any more.
        let Ok(stat) = std::fs::read_to_string(&path) else {
            continue;
        };
        let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
        total = total.saturating_add(ns);
    }
    Some(Duration::from_nanos(total)).filter(|d| !d.is_zero())
}

/// User + system CPU time of this process, all threads, from `/proc/self/stat` (fields 14 and
/// 15, in clock ticks of 1/100 s, Linux's fixed `USER_HZ`). `None` where there is no procfs.
pub(super) fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}
