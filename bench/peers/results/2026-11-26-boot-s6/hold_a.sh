#!/bin/bash
# Hold A: boot-n16-deep full slots T=1, then desilofhe T=1, in one bigmem-lock hold.
set -u
BIN=$1
. /work/targets/ckks-perf/d4/common.sh
cd /work/main
{
log "hold A start; $(free -g | awk '/Mem/{print $7}') GiB available; commit $(git rev-parse --short HEAD)"
log "boot-n16-deep T=1 full slots"
run_hetal deep-T1-full BOOT_PRESET=boot-n16-deep RAYON_NUM_THREADS=1
log "desilofhe T=1"
bench/peers/.venv/bin/python bench/peers/peers.py --bootstrap-only --threads 1 --bootstrap-key small --boot-reps 0 --json > $OUT/desilofhe-T1.json 2> $OUT/desilofhe-T1.err
echo "desilofhe rc=$?"
log "end"
} 2>&1 | tee -a $OUT/hold-a.out
