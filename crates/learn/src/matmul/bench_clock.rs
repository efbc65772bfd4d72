//! Wall-clock and CPU time of one benchmarked piece of work.
//!
//! On a shared machine wall time moves with the load (time spent waiting for a core counts);
//! CPU time does not. The CPU figure is the scheduler's nanosecond run time summed over this
//! process's threads (`/proc/self/task/*/schedstat`), with the process's user + system clock
//! ticks (`/proc/self/stat`, 10 ms resolution) where schedstat is missing; `None` off Linux.
//! Threads that exit during a measurement take their run time with them from the schedstat
//! sum, so measure work done on a pool that outlives it (rayon's pools do).

use std::time::Instant;

/// Clock ticks per second of `/proc/self/stat` (`USER_HZ`, 100 on every Linux ABI in use).
const TICKS_PER_S: f64 = 100.0;

/// CPU seconds this process has run so far, from the finest clock available.
pub fn process_cpu_s() -> Option<f64> {
    threads_schedstat_s().or_else(process_ticks_s)
}

/// Sum of the first field of every thread's schedstat (nanoseconds on a CPU).
fn threads_schedstat_s() -> Option<f64> {
    let mut total_ns: u128 = 0;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let path = entry.ok()?.path().join("schedstat");
        // A thread may exit between the listing and the read: it no longer counts.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let ns: u128 = text.split_whitespace().next()?.parse().ok()?;
        total_ns += ns;
    }
    Some(total_ns as f64 * 1e-9)
}

/// utime + stime of the whole process (fields 14 and 15 of `/proc/self/stat`).
fn process_ticks_s() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field k is at index k - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_S)
}

/// Wall and CPU seconds of one measured span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds of the whole process (`None` where no CPU clock could be read).
    pub cpu_s: Option<f64>,
}

/// A started measurement: [`Stopwatch::stop`] gives the wall and CPU time since [`Stopwatch::start`].
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Option<f64>,
}

impl Stopwatch {
    /// Reads both clocks now.
    pub fn start() -> Self {
        Stopwatch {
            cpu: process_cpu_s(),
            wall: Instant::now(),
        }
    }

    /// Wall and CPU time since the start.
    pub fn stop(&self) -> Span {
        let wall_s = self.wall.elapsed().as_secs_f64();
        let cpu_s = match (self.cpu, process_cpu_s()) {
            (Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        };
        Span { wall_s, cpu_s }
    }
}

/// Runs `f` and returns its result with the span it took.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Span) {
    let watch = Stopwatch::start();
    let out = f();
    (out, watch.stop())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(iterations: u64) -> u64 {
        (0..iterations).fold(0u64, |acc, i| {
            std::hint::black_box(acc.wrapping_mul(6364136223846793005).wrapping_add(i))
        })
    }

    #[test]
    fn cpu_clock_advances_with_work() {
        let Some(before) = process_cpu_s() else {
            // No /proc (not Linux): the clock reports None and spans carry no CPU figure.
            assert!(Stopwatch::start().stop().cpu_s.is_none());
            return;
        };
        assert!(before > 0.0);
        let (_, busy) = measure(|| spin(20_000_000));
        let busy_cpu = busy.cpu_s.expect("the clock was readable a moment ago");
        assert!(busy_cpu > 0.0, "busy loop took no CPU: {busy:?}");
    }

    #[test]
    fn tick_clock_parses_this_process() {
        if std::path::Path::new("/proc/self/stat").exists() {
            let ticks = process_ticks_s().expect("/proc/self/stat parses");
            assert!(ticks >= 0.0);
        }
    }
}
