#!/usr/bin/env bash
# Session 7: the two Table 7 baselines session 6 left unmeasured, (2048,769,16) ColMajor and RowMajor at
# N = 2^16 (ops-n16, level 12, T = 1), same binary and flags as ../2026-11-26-s6-matmul/chain.sh.
# Both run side by side inside ONE hold of the big-memory lock (≈ 7.6 GiB each, 23 GiB machine).
set -u
R=/work/main/bench/peers/results/2026-11-26-s7-matmul
P=/work/main/bench/peers/results/2026-11-26-s6-matmul/peers-n16-L12-T1.json
BIN=/work/targets/learn-matmul/s6-bin/matmul_bench
LOG=$R/run.log
one() {
  local tag=$1 algo=$2
  timeout 5400 /usr/bin/time -v $BIN --shape 2048,769,16 --preset ops-n16 --levels 12 --threads 1 \
    --algorithms $algo --peer-prices $P --json > $R/$tag.json 2> $R/$tag.time
  { echo "$tag rc=$? end $(date -u +%FT%TZ)"; uptime; grep -E "Maximum resident|Elapsed|User time|System time" $R/$tag.time; } >> $LOG
}
exec 9>/work/targets/bigmem.lock
flock 9
{ echo "start $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
one s2048-colmajor ColMajor &
one s2048-rowmajor RowMajor &
wait
echo "done $(date -u +%FT%TZ)" >> $LOG
