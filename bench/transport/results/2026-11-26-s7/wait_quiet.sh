#!/bin/bash
# Waits (until 16:25 UTC at the latest) for an idle machine: 1-min load < 0.5 and < 15 % CPU used
# over a 3 s vmstat sample; then runs the brief's 5 + 3 set into final3.
while [ "$(date -u +%H%M)" -lt 1625 ]; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  idle=$(vmstat 3 2 | tail -1 | awk '{print $15}')
  if awk "BEGIN{exit !($load < 0.5 && $idle > 85)}"; then
    echo "quiet at $(date -u +%T): load $load idle $idle"
    OUT=/work/targets/runtime/s7/final3 /work/targets/runtime/s7/measure.sh
    exit 0
  fi
  sleep 15
done
echo "no quiet window before 16:25"
