#!/usr/bin/env bash
# M35: one Table 7 shape per bigmem lock acquisition; no new run after the deadline.
set -u
R=/work/main/bench/peers/results/2026-11-26-s5-matmul
BIN=/work/targets/m35/matmul_bench   # copy of /work/targets/learn-matmul/release/examples/matmul_bench built at HEAD (see build-head.txt)
deadline=$(date -u -d "${DEADLINE:-09:42}" +%s)
LOG=$R/chain.log
run() {
  local tag=$1 shape=$2 algos=$3
  { echo "== $tag queued $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
  cmd=(flock /work/targets/bigmem.lock sh -c "[ \$(date -u +%s) -lt $deadline ] || { echo past deadline >&2; exit 9; }; { echo start \$(date -u +%FT%TZ); uptime; free -g | head -2; } >> $LOG; exec timeout 1800 /usr/bin/time -v $BIN --shape $shape --preset ops-n16 --levels 12 --threads 1 --algorithms $algos --peer-prices $R/peers-n16-L12-T1.json --json")
  echo "${cmd[*]}" >> $LOG
  "${cmd[@]}" > $R/$tag.json 2> $R/$tag.time
  rc=$?
  { echo "rc=$rc end $(date -u +%FT%TZ)"; uptime; grep -E "Maximum resident|Elapsed|User time|System time" $R/$tag.time; } >> $LOG
  [ $rc -eq 9 ] && { echo "== stopped at deadline" >> $LOG; exit 0; }
}
run s256-all 256,256,8 DiagABT,ColMajor,DiagATB,DiagATB-PRotUp,RowMajor
run s512-all 512,769,4 DiagABT,ColMajor,DiagATB,DiagATB-PRotUp,RowMajor
run s1024-diag 1024,769,8 DiagABT,DiagATB,DiagATB-PRotUp
run s2048-abt 2048,769,16 DiagABT
echo "== chain done $(date -u +%FT%TZ)" >> $LOG
