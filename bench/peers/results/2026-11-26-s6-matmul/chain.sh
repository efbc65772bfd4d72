#!/usr/bin/env bash
# M5L6 (session 6): the Table 7 rows session 5 left unmeasured, at N = 2^16 (ops-n16, level 12, T = 1),
# ONE algorithm per acquisition of the shared big-memory lock so that other N = 2^16 runs interleave.
# Cheaper runs first. A run starts only if, at a conservative CPU share SHARE of one core, its priced
# CPU fits before END (UTC); its timeout is the time left to END (at most 3000 s).
set -u
R=/work/main/bench/peers/results/2026-11-26-s6-matmul
BIN=/work/targets/learn-matmul/s6-bin/matmul_bench   # release build of HEAD (build-head.txt)
END=$(date -u -d "${END:-13:32}" +%s)
SHARE=${SHARE:-0.6}
LOG=$R/chain.log
run() {
  local tag=$1 shape=$2 algo=$3 priced_cpu=$4
  { echo "== $tag queued $(date -u +%FT%TZ) (priced $priced_cpu s CPU)"; uptime; free -g | head -2; } >> $LOG
  # Inside the lock: check the start deadline, log load and memory, then run under the time left.
  local inner="now=\$(date -u +%s); need=\$(awk -v c=$priced_cpu -v s=$SHARE 'BEGIN{printf \"%d\", c/s + 60}'); \
left=\$(( $END - now )); [ \$(( now + need )) -lt $END ] || { echo \"not started: needs ~\${need} s, \${left} s left\" >&2; exit 9; }; \
to=\$(( left < 3000 ? left : 3000 )); { echo start \$(date -u +%FT%TZ) timeout \$to; uptime; free -g | head -2; } >> $LOG; \
exec timeout \$to /usr/bin/time -v $BIN --shape $shape --preset ops-n16 --levels 12 --threads 1 --algorithms $algo \
--peer-prices $R/peers-n16-L12-T1.json --json"
  local cmd=(flock /work/targets/bigmem.lock sh -c "$inner")
  echo "${cmd[*]}" >> $LOG
  "${cmd[@]}" > $R/$tag.json 2> $R/$tag.time
  local rc=$?
  { echo "rc=$rc end $(date -u +%FT%TZ)"; uptime; free -g | head -2; grep -E "Maximum resident|Elapsed|User time|System time|not started" $R/$tag.time; } >> $LOG
  [ $rc -eq 0 ] || rm -f $R/$tag.json
}
run s1024-colmajor 1024,769,8 ColMajor 326
# Part B's per-level peer prices (SEAL at 5 levels, desilofhe where it picks N = 2^16): one lock hold.
{ echo "== peers-levels queued $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
flock /work/targets/bigmem.lock sh -c "{ echo start peers-levels \$(date -u +%FT%TZ); uptime; free -g | head -2; } >> $LOG; \
exec timeout 1500 /usr/bin/time -v /work/main/bench/peers/levels.sh --out /work/main/bench/peers/results/2026-11-26-s6-step" \
  2> /work/main/bench/peers/results/2026-11-26-s6-step/peers-levels.log
{ echo "rc=$? end peers-levels $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
run s1024-rowmajor 1024,769,8 RowMajor 326
run s2048-diagatb 2048,769,16 DiagATB 673
run s2048-protup 2048,769,16 DiagATB-PRotUp 734
run s2048-colmajor 2048,769,16 ColMajor 1352
run s2048-rowmajor 2048,769,16 RowMajor 1352
echo "== chain done $(date -u +%FT%TZ)" >> $LOG
