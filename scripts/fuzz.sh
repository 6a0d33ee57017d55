#!/usr/bin/env bash
# Runs each libFuzzer target of a SKEIN_FUZZ build (default build-fuzz/) for SKEIN_FUZZ_SECONDS
# (default 20) from its seed corpus in tests/fuzz/corpus/<target>/ (replayed first, so every input
# once found to crash stays a regression test), SKEIN_FUZZ_JOBS targets at a time (default: one per
# core; each target is one process of one thread). New inputs go to a scratch folder, never into
# the repository. Fails on any finding (crash, sanitizer report, leak, an input slower than 10 s,
# more than 4 GiB), printing the input's path and the report; prints executions per second and
# corpus sizes per target.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-fuzz}"
SECONDS_EACH="${SKEIN_FUZZ_SECONDS:-20}"
JOBS="${SKEIN_FUZZ_JOBS:-$(nproc)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/skein-fuzz.XXXXXX")"
TARGETS=(type chain_file graph_file engines_file input_line gate_answer http_request)

stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

# One target: its output in $WORK/<target>.log, "ok" or "finding" in $WORK/<target>.result.
fuzz_one() {
  local t="$1" result=ok
  mkdir -p "$WORK/$t"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$WORK/$t-" "$WORK/$t" "$ROOT/tests/fuzz/corpus/$t" >"$WORK/$t.log" 2>&1 || result=finding
  echo "$result" >"$WORK/$t.result"
}

stop_fuzzers() {  # a stopped script leaves none running: each job's fuzzer, then the job
  for job in $(jobs -p); do
    pkill -TERM -P "$job" 2>/dev/null || true
    kill "$job" 2>/dev/null || true
  done
}
trap stop_fuzzers EXIT
trap 'stop_fuzzers; exit 1' INT TERM
running=0
for t in "${TARGETS[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true  # (each target's result is in its file)
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-14s %10s %10s %8s %8s %8s\n' target runs exec/s seeds corpus rss_mb
for t in "${TARGETS[@]}"; do
  seeds="$ROOT/tests/fuzz/corpus/$t"
  log="$WORK/$t.log"
  if [ "$(cat "$WORK/$t.result" 2>/dev/null)" != ok ]; then
    echo "fuzz_$t: FINDING (inputs: $(ls "$WORK/$t-"* 2>/dev/null | tr '\n' ' '))"
    tail -80 "$log" 2>/dev/null || true
    failed=1
    continue
  fi
  printf '%-14s %10s %10s %8s %8s %8s\n' "$t" "$(stat_of number_of_executed_units "$log")" \
    "$(stat_of average_exec_per_sec "$log")" "$(ls "$seeds" | wc -l)" \
    "$(( $(ls "$seeds" | wc -l) + $(ls "$WORK/$t" | wc -l) ))" "$(stat_of peak_rss_mb "$log")"
done
[ "$failed" = 0 ] && rm -rf "$WORK"
exit "$failed"
