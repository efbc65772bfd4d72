"""Timing, precision and memory helpers shared by every backend.

Every timed operation is run once as a warm-up (caches, lazy tables, thread pools) and then
`reps` times; the median is reported with all samples so that noise stays visible.
"""

import math
import resource
import statistics
import time

import numpy as np


def timed(fn, reps, note=None):
    """Runs `fn` once to warm up, then `reps` times; returns (JSON record, last result).

    The record has the median wall-clock time and every sample, plus the process CPU time (all
    threads, user + system) of each sample: on a shared machine CPU time is the steadier figure.
    With `reps` = 0 the single (cold) call is the sample: for work too slow to repeat.
    """
    if reps > 0:
        result = fn()
    wall, cpu = [], []
    for _ in range(max(reps, 1)):
        cpu_start = time.process_time()
        start = time.perf_counter()
        result = fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    entry = {"median_s": statistics.median(wall), "samples_s": wall,
             "median_cpu_s": statistics.median(cpu), "cpu_samples_s": cpu}
    if note:
        entry["note"] = note
    return entry, result


def timed_once(fn):
    """Times a single call (for one-shot work such as key generation); returns (seconds, result)."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def precision_bits(got, want):
    """-log2 of the max and mean absolute error of `got` against the exact `want` (real parts)."""
    err = np.abs(np.asarray(got, dtype=np.complex128) - np.asarray(want, dtype=np.complex128))
    worst = float(np.max(err))
    mean = float(np.mean(err))
    return {
        "max_abs_err": worst,
        "mean_abs_err": mean,
        "worst_bits": _bits(worst),
        "mean_bits": _bits(mean),
    }


def _bits(err):
    return float("inf") if err == 0.0 else -math.log2(err)


def peak_rss_bytes():
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def random_inputs(count, seed):
    """Real inputs drawn uniformly from [-1, 1], reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, count)


def rotated_left(values, step):
    """The exact result of a CKKS left rotation by `step`: slot i receives slot i + step."""
    return np.roll(values, -step)


def worst_precision(records):
    """The record with the largest max error among several precision records."""
    return max(records, key=lambda r: r["max_abs_err"])
