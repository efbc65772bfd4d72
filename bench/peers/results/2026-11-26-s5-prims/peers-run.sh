#!/usr/bin/env bash
# M35: the peers table at T=1 from the clean snapshot already built by peers.sh (4663b30).
set -u
export CARGO_TARGET_DIR=/work/targets/ckks-prims CARGO_INCREMENTAL=0
SRC=/work/targets/ckks-prims/tmp/final-src
OUT=/work/targets/ckks-prims/tmp/peers-s5
LOG=/work/targets/m35/peers.log
R=/work/main/bench/peers/results/2026-11-26-s5-prims
cd $SRC
rm -rf $OUT
{ echo "== queued for lock $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
flock /work/targets/bigmem.lock sh -c "{ echo '== lock start' \$(date -u +%FT%TZ); uptime; free -g | head -2; } >> $LOG; exec timeout 2400 bench/peers/run.sh --threads 1 --reps 3 --out $OUT" > /work/targets/m35/peers-run.out 2>&1
rc=$?
{ echo "== run rc=$rc end $(date -u +%FT%TZ)"; uptime; } >> $LOG
mkdir -p $R
cp -r $OUT/. $R/ 2>/dev/null
cp /work/targets/m35/peers-run.out $R/run.out
cp $LOG $R/peers.log
echo "== done $(date -u +%FT%TZ)" >> $LOG
