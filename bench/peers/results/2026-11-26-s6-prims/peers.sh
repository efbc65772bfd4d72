#!/usr/bin/env bash
# P3, session 6: the peers table at T=1 and T=2 in one hold of the big-memory lock, from a clean
# worktree of HEAD. First the default build (AVX2 NTT) with SEAL and desilofhe (run.sh), then the
# `--features hetal-ckks/avx512` build alone (hetal only; skipped if that binary is not built).
# Binaries were built outside the lock in the worktree:
#   cargo build --release --bin hetal                                 -> bin/hetal-default
#   cargo build --release --bin hetal --features hetal-ckks/avx512    -> bin/hetal-avx512
set -u
export CARGO_TARGET_DIR=/work/targets/ckks-prims CARGO_INCREMENTAL=0
T=/work/targets/ckks-prims
WT=$T/wt
OUT=$T/peers-s6
LOG=$OUT.log
cd "$WT"
rm -rf "$OUT" "$OUT-avx512"
{ echo "== queued $(date -u +%FT%TZ) at $(git rev-parse --short HEAD)"; uptime; free -g | head -2; } >> "$LOG"
flock /work/targets/bigmem.lock sh -c "
  { echo '== lock start' \$(date -u +%FT%TZ); uptime; free -g | head -2; } >> $LOG
  timeout 1800 bench/peers/run.sh --threads '1 2' --reps 3 --hetal-bin $T/bin/hetal-default --out $OUT > $OUT.run.out 2>&1
  echo \"default + peers rc=\$? \$(date -u +%FT%TZ)\" >> $LOG; uptime >> $LOG
  if [ -x $T/bin/hetal-avx512 ]; then
    timeout 900 bench/peers/run.sh --threads '1 2' --reps 3 --no-peers --hetal-bin $T/bin/hetal-avx512 --out $OUT-avx512 > $OUT-avx512.run.out 2>&1
    echo \"avx512 rc=\$? \$(date -u +%FT%TZ)\" >> $LOG
  fi
  { echo '== lock end' \$(date -u +%FT%TZ); uptime; } >> $LOG
"
echo "== done $(date -u +%FT%TZ)" >> "$LOG"
