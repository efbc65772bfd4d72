#!/bin/bash
# Session 7 T7b measurement: 5 default runs + 3 --threads 1 runs of the transport bench (release),
# uptime before/after each; JSON per run in $OUT.
B=${B:-/work/targets/runtime/transport_bench-s7-final}
OUT=${OUT:-/work/targets/runtime/s7/final}
mkdir -p $OUT
for i in 1 2 3 4 5; do
  echo "run $i before: $(date -u +%T) $(uptime)" >> $OUT/log
  timeout 300 $B --size 26000000 --rounds 16 --asks 500 > $OUT/t2-$i.json 2>> $OUT/log
  echo "run $i after:  $(date -u +%T) $(uptime)" >> $OUT/log
done
for i in 1 2 3; do
  echo "t1 run $i before: $(date -u +%T) $(uptime)" >> $OUT/log
  timeout 300 $B --size 26000000 --rounds 16 --asks 500 --threads 1 > $OUT/t1-$i.json 2>> $OUT/log
  echo "t1 run $i after:  $(date -u +%T) $(uptime)" >> $OUT/log
done
