#!/bin/bash
# Hold C: boot-n16-deep (final chain) full slots T=1; boot-n16 full slots T=2; boot-n16 2^14, 2^12, 2^10 slots T=1.
# Each run starts only if it can end (estimate) before 13:32 UTC.
set -u
. /work/targets/ckks-perf/d4/common.sh
cd /work/main
deadline=$(date -u -d "13:32" +%s)
fits() { [ $(( $(date -u +%s) + $1 )) -le $deadline ]; }
{
log "hold C start; $(free -g | awk '/Mem/{print $7}') GiB available; HEAD $(git rev-parse --short HEAD)"
BIN=/work/targets/ckks-perf/d4/bootstrap_n16-s6b
if fits 420; then log "boot-n16-deep (final chain, f2f69f9 code) T=1 full slots"; run_hetal deep-final-T1-full BOOT_PRESET=boot-n16-deep RAYON_NUM_THREADS=1; else log "skipped deep: no time"; fi
BIN=/work/targets/ckks-perf/d4/bootstrap_n16-s6
if fits 300; then log "boot-n16 T=2 full slots"; run_hetal n16-T2-full RAYON_NUM_THREADS=2; else log "skipped boot-n16 T=2: no time"; fi
for s in 12 14 10; do
  if fits 240; then log "boot-n16 T=1 2^$s slots"; run_hetal n16-T1-s$s BOOT_LOG_SLOTS=$s RAYON_NUM_THREADS=1; else log "skipped 2^$s: no time"; fi
done
log "end"
} 2>&1 | tee -a $OUT/hold-c.out
