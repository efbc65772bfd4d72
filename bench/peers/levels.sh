#!/usr/bin/env bash
# Per-level peer prices: `peers.py` once per level of the chain (Q primes = level + 1) at
# N = 2^16, one results file per level, for pricing each operation at the level it ran at
# (`hetal bench step|matmul --peer-prices FILE` repeated, or the `matmul_bench` example).
# Between the levels measured here, hetal interpolates the prices linearly in the number of limbs
# and scales the nearest level's prices by the limbs outside them (`LevelPrices::RULE` in
# crates/learn/src/matmul/bench_prices.rs).
#
#   bench/peers/levels.sh --out DIR [--levels "1 6 12 19 26"] [--libs seal] [--high-libs seal,desilofhe]
#       [--high-from 19] [--reps 3] [--threads 1]
#
# SEAL takes N and the primes as given at every level; desilofhe picks its own ring degree from
# the level (N = 2^15 at level 12, 2^16 from about level 20), so it is only asked at the levels
# from --high-from up, where its records can price N = 2^16 (records at another ring degree are
# ignored by the pricing). SEAL's keys grow with the square of the limbs (~9 GB resident at 25
# Q primes): on a shared machine run this under the big-memory lock.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
py="$here/.venv/bin/python"
out=""
levels="1 6 12 19 26"
libs="seal"
high_libs="seal,desilofhe"
high_from=19
reps=3
threads=1
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --levels) levels="$2"; shift 2 ;;
        --libs) libs="$2"; shift 2 ;;
        --high-libs) high_libs="$2"; shift 2 ;;
        --high-from) high_from="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^set -e/ { exit } NR > 1' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "levels.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -n "$out" ]] || { echo "levels.sh: --out DIR is required" >&2; exit 2; }
[[ -x "$py" ]] || { echo "levels.sh: run bench/peers/setup.sh first ($py missing)" >&2; exit 2; }
mkdir -p "$out"
for level in $levels; do
    [[ "$level" =~ ^[0-9]+$ && "$level" -ge 1 ]] || { echo "levels.sh: bad level '$level' (need >= 1)" >&2; exit 2; }
    use="$libs"
    [[ "$level" -ge "$high_from" ]] && use="$high_libs"
    file="$out/peers-n16-L$level-T$threads.json"
    echo "[levels] level $level ($((level + 1)) Q primes), libs $use -> $file ($(date -u +%FT%TZ); $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    "$py" "$here/peers.py" --threads "$threads" --libs "$use" --q-limbs "$((level + 1))" \
        --reps "$reps" --out "$file" > /dev/null
done
