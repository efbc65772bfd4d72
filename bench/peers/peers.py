#!/usr/bin/env python3
"""Side-by-side CKKS benchmark of the open libraries that install from PyPI here (see README.md).

Each (library, thread count) runs in its own child process, so that its peak resident memory is
its own and thread pools never leak between runs. The parent collects one JSON record per child.

    bench/peers/.venv/bin/python bench/peers/peers.py --quick            # smoke check, N=2^13
    bench/peers/.venv/bin/python bench/peers/peers.py --threads 1,2 --out bench/peers/results/peers.json
    bench/peers/.venv/bin/python bench/peers/peers.py --bootstrap-only --threads 1,2 --json
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from peerlib import machine, table  # noqa: E402

# Libraries that run one operation on one thread whatever is asked: measured once, reused per T.
SINGLE_THREADED = {"seal", "tenseal"}
OPS_LIBS = ("seal", "tenseal", "desilofhe")
GIB = 1 << 30
# Free memory a desilofhe bootstrap needs (its documented key sizes plus working space).
BOOTSTRAP_MEMORY_NEED = {"small": 8 * GIB, "medium": 20 * GIB}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small parameters (N=2^13, 3 Q primes) for a smoke check")
    p.add_argument("--log-n", type=int, help="log2 of the ring degree (default 16; 13 with --quick)")
    p.add_argument("--q-limbs", type=int, help="number of Q primes (default 25; 3 with --quick)")
    p.add_argument("--q-bits", help="comma-separated bit sizes of the Q primes (overrides --q-limbs)")
    p.add_argument("--q0-bits", type=int, default=60, help="bits of the base prime q0")
    p.add_argument("--scale-bits", type=int, help="bits of the scaling primes and of the scale (default 45; 40 quick)")
    p.add_argument("--special-bits", help="comma-separated bit sizes of the special primes "
                   "(default 7 x 61 as hetal's ops-n16; 60 with --quick)")
    p.add_argument("--match-hetal", metavar="JSON",
                   help="take N, Q/P prime sizes and scale from a `hetal bench ops --json` file (flags fill gaps)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--libs", default=",".join(OPS_LIBS), help=f"subset of {','.join(OPS_LIBS)}")
    p.add_argument("--reps", type=int, help="timed repetitions after one warm-up (default 3; 5 with --quick)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--bootstrap", action="store_true", help="also measure desilofhe bootstrapping (N=2^16)")
    p.add_argument("--bootstrap-only", action="store_true", help="measure only desilofhe bootstrapping")
    p.add_argument("--bootstrap-key", default="small", choices=("small", "medium"),
                   help="desilofhe key variant: small (~7 GB resident, slower) or medium (12.3 GB key, faster)")
    p.add_argument("--boot-reps", type=int, default=2, help="timed bootstraps after one warm-up (0: one cold bootstrap)")
    p.add_argument("--ignore-memory-check", action="store_true",
                   help="bootstrap even when MemAvailable is below what the key variant needs")
    p.add_argument("--timeout", type=int, default=3600, help="seconds allowed per child process")
    p.add_argument("--json", action="store_true", help="print the JSON record to stdout instead of the table")
    p.add_argument("--out", help="also write the JSON record to this file")
    p.add_argument("--worker", choices=("seal", "tenseal", "desilofhe", "desilofhe-bootstrap"), help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def apply_hetal_params(args):
    """Fills unset parameter flags from hetal's JSON; returns a note on what was taken."""
    from peerlib import hetal_json

    doc = hetal_json.load(args.match_hetal)
    if doc is None:
        return f"could not read hetal parameters from {args.match_hetal}; used the flags"
    par = hetal_json.params(doc)
    taken = []
    if par["ring_degree"] and not args.log_n:
        args.log_n = par["ring_degree"].bit_length() - 1
        taken.append("N")
    if par["q_bits"] and not args.q_bits:
        args.q_bits = ",".join(str(int(b)) for b in par["q_bits"])
        taken.append("Q prime sizes")
    elif par["q_limbs"] and not args.q_limbs:
        args.q_limbs = par["q_limbs"]
        taken.append("Q limb count")
    if par["special_bits"] and not args.special_bits:
        args.special_bits = ",".join(str(int(b)) for b in par["special_bits"])
        taken.append("P prime sizes")
    if par["scale_bits"] and not args.scale_bits:
        args.scale_bits = int(par["scale_bits"])
        taken.append("scale")
    return f"from {args.match_hetal}: took {', '.join(taken) or 'nothing'}; the rest from flags/defaults"


def build_spec(args):
    """The parameter set every backend is asked to match."""
    matched = apply_hetal_params(args) if args.match_hetal else None
    log_n = args.log_n or (13 if args.quick else 16)
    scale_bits = args.scale_bits or (40 if args.quick else 45)
    special = args.special_bits or ("60" if args.quick else ",".join(["61"] * 7))
    if args.q_bits:
        q_bits = [int(b) for b in args.q_bits.split(",")]
    else:
        limbs = args.q_limbs or (3 if args.quick else 25)
        if limbs < 2:
            raise SystemExit("--q-limbs must be at least 2 (a base prime and one scaling prime)")
        q_bits = [args.q0_bits] + [scale_bits] * (limbs - 1)
    return {
        "log_n": log_n,
        "q_bits": q_bits,
        "special_bits": [int(b) for b in special.split(",")],
        "scale_bits": scale_bits,
        "reps": args.reps or (5 if args.quick else 3),
        "seed": args.seed,
        "rot_steps": list(range(1, 9)),
        "boot_reps": args.boot_reps,
        "bootstrap_key": args.bootstrap_key,
        "matched_from_hetal": matched,
    }


def run_worker(kind, spec):
    """Child-process entry: runs one backend and prints its JSON record on stdout."""
    from peerlib import measure

    if kind == "seal":
        from peerlib import seal_backend as backend
    elif kind == "tenseal":
        from peerlib import tenseal_backend as backend
    elif kind == "desilofhe":
        from peerlib import desilo_backend as backend
    else:
        from peerlib import desilo_bootstrap as backend
    record = backend.run(spec)
    record["peak_rss_bytes"] = measure.peak_rss_bytes()
    json.dump(record, sys.stdout)


def spawn(kind, spec, threads, timeout):
    """Runs one backend in a fresh process limited to `threads` threads; returns its record or an error."""
    child_spec = dict(spec, threads=threads)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--spec", json.dumps(child_spec)]
    print(f"[peers] {kind} threads={threads} ...", file=sys.stderr, flush=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"library": kind, "threads_requested": threads, "error": f"timed out after {timeout} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"library": kind, "threads_requested": threads, "error": f"exit {done.returncode}: {last}"}
    record = json.loads(done.stdout)
    record["threads_requested"] = threads
    return record


def measure_ops(args, spec, thread_counts):
    libs = [lib.strip() for lib in args.libs.split(",") if lib.strip()]
    unknown = [lib for lib in libs if lib not in OPS_LIBS]
    if unknown:
        raise SystemExit(f"unknown --libs entries: {unknown}")
    records = []
    for lib in libs:
        if lib in SINGLE_THREADED:
            record = spawn(lib, spec, 1, args.timeout)
            records.append(dict(record, same_for_threads=thread_counts))
        else:
            records.extend(spawn(lib, spec, t, args.timeout) for t in thread_counts)
    return records


def measure_bootstrap(args, spec, thread_counts):
    need = BOOTSTRAP_MEMORY_NEED[spec["bootstrap_key"]]
    records = []
    for t in thread_counts:
        free = machine.mem_available_bytes()
        if free is not None and free < need and not args.ignore_memory_check:
            records.append({"library": "desilofhe", "threads_requested": t,
                            "error": f"skipped: MemAvailable {free / GIB:.1f} GiB < {need / GIB:.0f} GiB needed "
                                     f"by the {spec['bootstrap_key']} key variant"})
            continue
        records.append(spawn("desilofhe-bootstrap", spec, t, args.timeout))
    return records


def main(argv):
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker, json.loads(args.spec))
        return
    spec = build_spec(args)
    thread_counts = [int(t) for t in args.threads.split(",")]
    report = {
        "kind": "hetal-bench-peers",
        "schema_version": 1,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": shlex.join([os.path.relpath(sys.executable), os.path.relpath(__file__)] + argv),
        "machine": machine.describe(),
        "spec": spec,
        "threads": thread_counts,
        "ops": [] if args.bootstrap_only else measure_ops(args, spec, thread_counts),
        "bootstrap": measure_bootstrap(args, spec, thread_counts) if (args.bootstrap or args.bootstrap_only) else [],
    }
    report["machine"]["load_average_end"] = list(os.getloadavg())
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    else:
        print(table.render(report, hetal_ops=None, hetal_boot=None))


if __name__ == "__main__":
    main(sys.argv[1:])
