"""A description of the machine a benchmark ran on, for the table's header."""

import os
import platform
import subprocess


def describe():
    """CPU model, logical CPUs, total and available memory, kernel and Python version."""
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    meminfo = _meminfo()
    return {
        "cpu_model": model or platform.processor() or "unknown",
        "logical_cpus": os.cpu_count(),
        "mem_total_bytes": meminfo.get("MemTotal"),
        "mem_available_bytes": meminfo.get("MemAvailable"),
        "load_average_1_5_15": list(os.getloadavg()),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def mem_available_bytes():
    """MemAvailable from /proc/meminfo, or None where it cannot be read."""
    return _meminfo().get("MemAvailable")


def _meminfo():
    values = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                name, rest = line.split(":", 1)
                parts = rest.split()
                if parts and parts[0].isdigit():
                    values[name] = int(parts[0]) * 1024
    except OSError:
        pass
    return values
