#!/usr/bin/env bash
# Logs the end of the s1024-rowmajor run after chain.sh was stopped (the run itself continues).
R=/work/main/bench/peers/results/2026-11-26-s6-matmul
while kill -0 "$1" 2>/dev/null; do sleep 5; done
{ echo "end s1024-rowmajor $(date -u +%FT%TZ) (pid $1 gone)"; uptime; free -g | head -2; grep -E "Maximum resident|Elapsed|User time|System time|Exit status" $R/s1024-rowmajor.time; } >> $R/chain.log
