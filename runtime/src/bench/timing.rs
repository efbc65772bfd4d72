//! Wall-clock and CPU time of a benchmark phase. CPU time matters on a shared machine: it does
//! not count time spent waiting for a core, so it stays steady when MB/s swings with the load.

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

    /// CPU seconds between `self` and `later`, from the finest clock read both times, if the
    /// interval is long enough for that clock.
    fn seconds_until(&self, later: &Self) -> Option<f64> {
        let span =
            |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?).as_secs_f64());
        match span(self.ns, later.ns) {
            Some(cpu) => Some(cpu).filter(|&cpu| cpu >= MIN_NS_CPU_S),
            None => span(self.ticks, later.ticks).filter(|&cpu| cpu >= MIN_TICK_CPU_S),
        }
    }
}

/// Wall-clock and process CPU time of one bulk phase.
pub(super) struct BulkTiming {
    bytes: u64,
    wall: Instant,
    cpu: CpuReading,
    wall_s: f64,
    cpu_s: Option<f64>,
}

impl BulkTiming {
    pub(super) fn start(bytes: u64) -> Self {
        Self {
            bytes,
            wall: Instant::now(),
            cpu: CpuReading::now(),
            wall_s: 0.0,
            cpu_s: None,
        }
    }

    pub(super) fn stop(mut self) -> Self {
        self.wall_s = self.wall.elapsed().as_secs_f64();
        self.cpu_s = self.cpu.seconds_until(&CpuReading::now());
        self
    }

    pub(super) fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.wall_s / 1e6
    }

    /// `None` when the phase used too little CPU for the clock to measure it to ~20%.
    pub(super) fn cpu_s_per_gb(&self) -> Option<f64> {
        self.cpu_s.map(|cpu| cpu / (self.bytes as f64 / 1e9))
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
