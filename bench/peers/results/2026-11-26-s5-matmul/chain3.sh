#!/usr/bin/env bash
# M35 chain, part 3: after chain2 (pid given), (1024,769,8) DiagATB-PRotUp alone if it can start by DEADLINE.
set -u
R=/work/main/bench/peers/results/2026-11-26-s5-matmul
BIN=/work/targets/m35/matmul_bench
deadline=$(date -u -d "${DEADLINE:-09:38}" +%s)
LOG=$R/chain.log
while kill -0 $1 2>/dev/null; do sleep 5; done
tag=s1024-protup
{ echo "== $tag queued $(date -u +%FT%TZ)"; uptime; free -g | head -2; } >> $LOG
cmd=(flock /work/targets/bigmem.lock sh -c "[ \$(date -u +%s) -lt $deadline ] || { echo past deadline >&2; exit 9; }; { echo start \$(date -u +%FT%TZ); uptime; free -g | head -2; } >> $LOG; exec timeout 1500 /usr/bin/time -v $BIN --shape 1024,769,8 --preset ops-n16 --levels 12 --threads 1 --algorithms DiagATB-PRotUp --peer-prices $R/peers-n16-L12-T1.json --json")
echo "${cmd[*]}" >> $LOG
"${cmd[@]}" > $R/$tag.json 2> $R/$tag.time
rc=$?
{ echo "rc=$rc end $(date -u +%FT%TZ)"; uptime; grep -E "Maximum resident|Elapsed|User time|System time" $R/$tag.time; } >> $LOG
[ $rc -eq 9 ] && echo "== $tag not run: past its start deadline" >> $LOG
echo "== chain3 done $(date -u +%FT%TZ)" >> $LOG
