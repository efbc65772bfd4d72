#!/bin/bash
# One big-memory lock hold: hetal boot-n16-deep via the CLI, then desilofhe, both T=1, full slots.
cd /work/targets/s6/boot
{ date -u; uptime; free -g; } > hold.log
RAYON_NUM_THREADS=1 /usr/bin/time -v /work/targets/lead/release/hetal bench bootstrap --preset boot-n16-deep --threads 1 --json > hetal-deep-T1.json 2> hetal-deep-T1.time
{ date -u; uptime; free -g; } >> hold.log
/usr/bin/time -v /work/main/bench/peers/.venv/bin/python /work/main/bench/peers/peers.py --bootstrap-only --threads 1 --bootstrap-key small --boot-reps 0 --json > desilofhe-T1.json 2> desilofhe-T1.time
{ date -u; uptime; free -g; } >> hold.log
