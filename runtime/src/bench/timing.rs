//! Wall-clock and CPU time of a benchmark phase. CPU time matters on a shared machine: it does
//! not count time spent waiting for a core, so it stays steady when MB/s swings with the load.

use std::time::{Duration, Instant};

/// Shortest CPU time reported per GB: five ticks of the 10 ms process clock.
const MIN_MEASURABLE_CPU_S: f64 = 0.05;

/// Wall-clock and process CPU time of one bulk phase.
pub(super) struct BulkTiming {
    bytes: u64,
    wall: Instant,
    cpu: Option<Duration>,
    wall_s: f64,
    cpu_s: Option<f64>,
}

impl BulkTiming {
    pub(super) fn start(bytes: u64) -> Self {
        Self {
            bytes,
            wall: Instant::now(),
            cpu: process_cpu_time(),
            wall_s: 0.0,
            cpu_s: None,
        }
    }

    pub(super) fn stop(mut self) -> Self {
        self.wall_s = self.wall.elapsed().as_secs_f64();
        self.cpu_s = match (self.cpu, process_cpu_time()) {
            (Some(before), Some(after)) => Some(after.saturating_sub(before).as_secs_f64()),
            _ => None,
        };
        self
    }

    pub(super) fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.wall_s / 1e6
    }

    /// `None` when the phase used too little CPU for the 10 ms clock to measure it to ~20%.
    pub(super) fn cpu_s_per_gb(&self) -> Option<f64> {
        self.cpu_s
            .filter(|&cpu| cpu >= MIN_MEASURABLE_CPU_S)
            .map(|cpu| cpu / (self.bytes as f64 / 1e9))
    }
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
