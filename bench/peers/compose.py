#!/usr/bin/env python3
"""Composes one markdown report from a results folder written by run.sh.

The folder holds `hetal-ops-T<t>.json`, `hetal-bootstrap-<slots>-T<t>.json` (either may be
missing), `peers*.json` (from peers.py --out; several are merged, the first gives the machine)
and `commands.txt` (one command line per line).
The output is ready to paste into BENCHMARKS.md: machine, date, commands, then the tables.

    python3 bench/peers/compose.py bench/peers/results/<stamp>
"""

import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from peerlib import hetal_json, table  # noqa: E402


def _threads_of(path):
    match = re.search(r"-T(\d+)\.json$", path)
    return int(match.group(1)) if match else 0


def compose(folder):
    peers = {}
    for path in sorted(glob.glob(os.path.join(folder, "peers*.json"))):
        doc = hetal_json.load(path) or {}
        if not peers:
            peers = doc
        else:
            peers["ops"] = peers.get("ops", []) + doc.get("ops", [])
            peers["bootstrap"] = peers.get("bootstrap", []) + doc.get("bootstrap", [])
    hetal_ops = [hetal_json.ops_column(hetal_json.load(p), _threads_of(p))
                 for p in sorted(glob.glob(os.path.join(folder, "hetal-ops-T*.json")), key=_threads_of)]
    hetal_boot = []
    for path in sorted(glob.glob(os.path.join(folder, "hetal-bootstrap-*-T*.json")),
                       key=lambda p: (os.path.basename(p), _threads_of(p))):
        slots = re.search(r"hetal-bootstrap-([^-]+)-T", os.path.basename(path)).group(1)
        label = "" if slots == "full" else f"2^{slots} slots "
        hetal_boot.append(hetal_json.boot_column(hetal_json.load(path), _threads_of(path), label))

    lines = []
    mach = peers.get("machine", {})
    lines.append(f"Measured {peers.get('date_utc', '(date unknown)')} on {mach.get('cpu_model', '?')}, "
                 f"{mach.get('logical_cpus', '?')} logical CPUs, "
                 f"{table.fmt_bytes(mach.get('mem_total_bytes'))} RAM; load average "
                 f"{_load(mach.get('load_average_1_5_15'))} before the peers and "
                 f"{_load(mach.get('load_average_end'))} after (other work on the machine adds noise).")
    lines.append("Times are medians after one warm-up; precision is −log2 of the mean / worst absolute error "
                 "against the exact result on inputs uniform in [−1, 1].")
    commands_path = os.path.join(folder, "commands.txt")
    if os.path.exists(commands_path):
        with open(commands_path, encoding="utf-8") as f:
            commands = [line.rstrip("\n") for line in f if line.strip()]
        lines += ["", "Commands:", "", "```sh"] + commands + ["```"]
    lines += ["", table.render(peers, hetal_ops=hetal_ops, hetal_boot=hetal_boot)]
    skipped = os.path.join(folder, "skipped.txt")
    if os.path.exists(skipped):
        with open(skipped, encoding="utf-8") as f:
            lines += [""] + [f"- {line.strip()}" for line in f if line.strip()]
    return "\n".join(lines)


def _load(values):
    return " / ".join(f"{v:.1f}" for v in values) if values else "?"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: compose.py RESULTS_FOLDER")
    print(compose(sys.argv[1]))
