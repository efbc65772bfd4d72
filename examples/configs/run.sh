#!/usr/bin/env bash
# Runs a layout of hetal nodes on loopback, one process per party:
#   examples/configs/run.sh three-node    # client, trainer, worker-1 (the trainer validates)
#   examples/configs/run.sh five-node     # client, trainer, evaluator, worker-1, worker-2
#   examples/configs/run.sh two-clients   # client-a and client-b train at once on one trainer
#                                         # (isolated jobs), with an evaluator and worker-1
# Copies the layout's configs into a temporary directory, creates the certificates there with
# `hetal certs init`, starts every node and waits for every client to receive its model.
set -euo pipefail
layout="${1:-three-node}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
src="$here/$layout"
[ -d "$src" ] || { echo "no layout $layout in $here" >&2; exit 2; }
hetal="${HETAL:-}"
if [ -z "$hetal" ]; then
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin hetal
  hetal="${CARGO_TARGET_DIR:-$root/target}/release/hetal"
fi
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/$layout"
cp "$src"/*.toml "$work/$layout/"
nodes="$(cd "$src" && ls *.toml | sed 's/\.toml$//' | paste -sd, -)"
"$hetal" certs init --dir "$work/$layout/certs" --nodes "$nodes" >/dev/null
clients=()
for cfg in "$work/$layout"/*.toml; do
  if grep -q '^role = "client"' "$cfg"; then
    # The client's data path is relative to the config file: point it at the repository's copy.
    sed -i "s#^data = .*#data = \"$root/data/digits\"#" "$cfg"
    clients+=("$cfg")
    continue
  fi
  "$hetal" node --config "$cfg" &
  pids+=("$!")
done
client_pids=()
for cfg in "${clients[@]}"; do
  "$hetal" node --config "$cfg" &
  client_pids+=("$!")
done
status=0
for pid in "${client_pids[@]}"; do wait "$pid" || status=$?; done
# A failed client leaves the others waiting for it: stop them (cleanup) instead of waiting.
[ "$status" -eq 0 ] || exit "$status"
wait "${pids[@]}" 2>/dev/null || true
