#!/bin/bash
cd /work/targets/s6/step
{ date -u; uptime; free -g; } > step10.log
RAYON_NUM_THREADS=2 /usr/bin/time -v /work/targets/lead/release/hetal bench step --backend ckks --preset boot-n16 --shape 1024,769,10 --variant hetal-shallow --threads 2   --peer-prices /work/main/bench/peers/results/2026-11-26-s6-step/peers-n16-L1-T1.json --peer-prices /work/main/bench/peers/results/2026-11-26-s6-step/peers-n16-L6-T1.json   --peer-prices /work/main/bench/peers/results/2026-11-26-s6-step/peers-n16-L12-T1.json --peer-prices /work/main/bench/peers/results/2026-11-26-s6-step/peers-n16-L19-T1.json   --peer-prices /work/main/bench/peers/results/2026-11-26-s6-step/peers-n16-L26-T1.json --peer-prices /work/main/bench/peers/results/2026-11-26-boot-s4/desilofhe-bootstrap-T1-T2.json --json > step-1024-769-10.json 2> step-1024-769-10.time
{ date -u; uptime; free -g; } >> step10.log
