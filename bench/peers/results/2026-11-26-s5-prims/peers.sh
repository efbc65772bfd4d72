#!/usr/bin/env bash
# M35: peers table (bench/peers/run.sh --reps 3) from a clean snapshot of main's HEAD.
# Build outside the lock, run under it (one acquisition), uptime logged before and after.
set -u
export CARGO_TARGET_DIR=/work/targets/ckks-prims CARGO_INCREMENTAL=0
SRC=/work/targets/ckks-prims/tmp/final-src
OUT=/work/targets/ckks-prims/tmp/peers-s5
LOG=/work/targets/m35/peers.log
R=/work/main/bench/peers/results/2026-11-26-s5-prims
mkdir -p $R
head=$(git -C /work/main rev-parse HEAD)
{ echo "== snapshot $head $(date -u +%FT%TZ)"; git -C /work/main log -1 --format='%h %ci %s' | cut -c1-200; } >> $LOG
rm -rf $SRC && mkdir -p $SRC && git -C /work/main archive HEAD | tar -x -m -C $SRC || exit 1
echo $head > $SRC/SNAPSHOT_HEAD
ln -s /work/main/bench/peers/.venv $SRC/bench/peers/.venv
cd $SRC
{ echo "== build start $(date -u +%FT%TZ)"; uptime; } >> $LOG
timeout 3000 cargo build --release --bin hetal > /work/targets/m35/peers-build.log 2>&1
rc=$?
{ echo "== build rc=$rc end $(date -u +%FT%TZ)"; uptime; } >> $LOG
[ $rc -eq 0 ] || exit 1
rm -rf $OUT
{ echo "== queued for lock $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
flock /work/targets/bigmem.lock sh -c "{ echo '== lock start' \$(date -u +%FT%TZ); uptime; free -g | head -2; } >> $LOG; exec timeout 2400 bench/peers/run.sh --reps 3 --out $OUT" > /work/targets/m35/peers-run.out 2>&1
rc=$?
{ echo "== run rc=$rc end $(date -u +%FT%TZ)"; uptime; } >> $LOG
cp -r $OUT/. $R/ 2>/dev/null
cp /work/targets/m35/peers-run.out $R/run.out
cp $LOG $R/peers.log
echo "== done $(date -u +%FT%TZ)" >> $LOG
