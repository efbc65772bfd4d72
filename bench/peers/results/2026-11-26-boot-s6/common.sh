OUT=/work/main/bench/peers/results/2026-11-26-boot-s6
log() { echo "== $* $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"; }
# run_hetal NAME ENV... : runs the bootstrap_n16 test binary with the given environment
run_hetal() {
  local name=$1; shift
  env "$@" /usr/bin/time -v $BIN --ignored --nocapture > $OUT/$name.raw.txt 2>&1
  echo "rc=$?"
  grep -E "phases|memory|slots:|layout|User time|System time|Elapsed|Maximum resident|test result|panicked" $OUT/$name.raw.txt
}
