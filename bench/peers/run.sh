#!/usr/bin/env bash
# Side-by-side driver: hetal's `bench ops` (and `bench bootstrap` where it exists), then the PyPI
# CKKS peers at the same ring degree, Q/P prime sizes and thread counts, in the same run on the
# same machine; prints one markdown report (machine, date, commands, tables) for BENCHMARKS.md.
#
#   bench/peers/run.sh --quick                    # smoke check: small preset, small peers
#   bench/peers/run.sh                            # full ops table at ops-n16's parameters, T=1 and T=2
#   bench/peers/run.sh --bootstrap                # plus bootstrapping (hetal boot-n16, desilofhe)
#
# Options:
#   --preset NAME         hetal preset for `bench ops` (default: ops-n16; insecure-test-n12 with --quick)
#   --boot-preset NAME    hetal preset for `bench bootstrap` (default: boot-n16)
#   --threads "1 2"       thread counts (space separated)
#   --quick               small parameters for hetal (its --quick) and for the peers
#   --bootstrap           also bootstrap (hetal: full, 2^14, 2^12, 2^10 slots; desilofhe: full slots)
#   --bootstrap-key K     desilofhe key variant: small (~7 GB resident) or medium (~17 GB resident)
#   --reps N              timed repetitions per operation, for hetal and the peers (default: each's own)
#   --boot-reps N         desilofhe: timed bootstraps after the warm-up (default 2)
#   --slots "full 14 12 10"   hetal bootstrap slot counts (log2, or "full")
#   --libs LIST           peers to run (default seal,tenseal,desilofhe)
#   --out DIR             results folder (default bench/peers/results/<UTC stamp>)
#   --no-hetal / --no-peers   skip one side (e.g. to re-render a table)
#   --hetal-bin PATH      run this prebuilt hetal binary instead of `cargo run --release` (e.g. one
#                         built with `--features hetal-ckks/avx512`, copied aside)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

preset=""
boot_preset=""
threads="1 2"
quick=0
bootstrap=0
boot_key="small"
boot_reps=2
reps=""
slot_list="full 14 12 10"
libs="seal,tenseal,desilofhe"
out=""
run_hetal=1
run_peers=1
hetal_bin=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --preset) preset="$2"; shift 2 ;;
        --boot-preset) boot_preset="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --bootstrap) bootstrap=1; shift ;;
        --bootstrap-key) boot_key="$2"; shift 2 ;;
        --boot-reps) boot_reps="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        --slots) slot_list="$2"; shift 2 ;;
        --libs) libs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-hetal) run_hetal=0; shift ;;
        --no-peers) run_peers=0; shift ;;
        --hetal-bin) hetal_bin="$2"; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^set -e/ { exit } NR > 1' "$here/run.sh"; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$preset" ]]; then
    if [[ $quick == 1 ]]; then preset="insecure-test-n12"; else preset="ops-n16"; fi
fi
boot_preset="${boot_preset:-boot-n16}"
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
out="${out:-$here/results/$stamp}"
mkdir -p "$out"
commands="$out/commands.txt"
skipped="$out/skipped.txt"
: > "$commands"
: > "$skipped"
threads_csv="$(echo "$threads" | tr ' ' ',')"

note() { echo "[run.sh] $*" >&2; }
record() { echo "$*" >> "$commands"; }

python="$here/.venv/bin/python"
if [[ $run_peers == 1 && ! -x "$python" ]]; then
    note "no virtual environment yet: running bench/peers/setup.sh"
    "$here/setup.sh"
fi

# --- hetal -----------------------------------------------------------------------------------
hetal_quick=()
[[ -n "$reps" ]] && hetal_quick+=(--reps "$reps")
[[ "$preset" == insecure-* ]] && hetal_quick+=(--allow-insecure)
# The hetal command: a prebuilt binary (--hetal-bin) or `cargo run --release`.
if [[ -n "$hetal_bin" ]]; then
    hetal=("$hetal_bin")
else
    hetal=(cargo run --release --quiet --)
fi
if [[ $run_hetal == 1 && -z "$hetal_bin" ]]; then
    note "building hetal (release)"
    if ! cargo build --release --quiet --bin hetal; then
        echo "hetal did not build; its columns are missing" >> "$skipped"
        run_hetal=0
    fi
fi
hetal_help() { "${hetal[@]}" "$@" --help >/dev/null 2>&1; }
if [[ $run_hetal == 1 ]]; then
    if ! hetal_help bench ops; then
        echo "\`hetal bench ops\` is not available in this build; hetal columns are missing" >> "$skipped"
        run_hetal=0
    elif [[ $quick == 1 ]] && "${hetal[@]}" bench ops --help 2>/dev/null | grep -q -- '--quick'; then
        hetal_quick+=(--quick)
    fi
fi
if [[ $run_hetal == 1 ]]; then
    for t in $threads; do
        cmd=("${hetal[@]}" bench ops --preset "$preset" --threads "$t" "${hetal_quick[@]}" --json)
        record "${cmd[*]} > hetal-ops-T$t.json"
        note "${cmd[*]}"
        if ! "${cmd[@]}" > "$out/hetal-ops-T$t.json"; then
            echo "hetal bench ops at T=$t failed (exit $?); see $out/hetal-ops-T$t.json" >> "$skipped"
        fi
    done
fi

# --- peers, at hetal's parameters --------------------------------------------------------------
if [[ $run_peers == 1 ]]; then
    match=()
    first_t="${threads%% *}"
    if [[ -s "$out/hetal-ops-T$first_t.json" ]]; then
        match=(--match-hetal "$out/hetal-ops-T$first_t.json")
    fi
    peer_args=(--threads "$threads_csv" --libs "$libs" "${match[@]}")
    [[ $quick == 1 ]] && peer_args+=(--quick)
    [[ -n "$reps" ]] && peer_args+=(--reps "$reps")
    if [[ $bootstrap == 1 ]]; then
        peer_args+=(--bootstrap --bootstrap-key "$boot_key" --boot-reps "$boot_reps")
    fi
    record "bench/peers/.venv/bin/python bench/peers/peers.py ${peer_args[*]} --out peers.json"
    note "peers: ${peer_args[*]}"
    "$python" "$here/peers.py" "${peer_args[@]}" --out "$out/peers.json" > /dev/null
fi

# --- hetal bootstrapping -----------------------------------------------------------------------
if [[ $bootstrap == 1 && $run_hetal == 1 ]]; then
    if ! hetal_help bench bootstrap; then
        echo "\`hetal bench bootstrap\` is not available in this build; hetal's bootstrapping columns are missing" >> "$skipped"
    else
        for slots in $slot_list; do
            slot_arg=()
            [[ "$slots" != full ]] && slot_arg=(--slots "$((1 << slots))")
            for t in $threads; do
                cmd=("${hetal[@]}" bench bootstrap --preset "$boot_preset" "${slot_arg[@]}" --threads "$t" --json)
                record "${cmd[*]} > hetal-bootstrap-$slots-T$t.json"
                note "${cmd[*]}"
                if ! "${cmd[@]}" > "$out/hetal-bootstrap-$slots-T$t.json"; then
                    echo "hetal bench bootstrap ($slots slots, T=$t) failed" >> "$skipped"
                fi
            done
        done
    fi
fi

python3 "$here/compose.py" "$out" | tee "$out/report.md"
note "raw JSON and report.md in $out"
