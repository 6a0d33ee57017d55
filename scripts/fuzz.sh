#!/usr/bin/env bash
# Runs each libFuzzer target of a SKEIN_FUZZ build (default build-fuzz/) for SKEIN_FUZZ_SECONDS
# (default 20) from its seed corpus in tests/fuzz/corpus/<target>/ (replayed first, so every input
# once found to crash stays a regression test). New inputs go to a scratch folder, never into the
# repository. Fails on any finding (crash, sanitizer report, leak, an input slower than 10 s, more
# than 4 GiB), printing the input's path and the report; prints executions per second and corpus
# sizes per target.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build-fuzz}"
SECONDS_EACH="${SKEIN_FUZZ_SECONDS:-20}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/skein-fuzz.XXXXXX")"
TARGETS=(type chain_file graph_file engines_file input_line gate_answer http_request)

stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

failed=0
printf '%-14s %10s %10s %8s %8s %8s\n' target runs exec/s seeds corpus rss_mb
for t in "${TARGETS[@]}"; do
  seeds="$ROOT/tests/fuzz/corpus/$t"
  mkdir -p "$WORK/$t"
  log="$WORK/$t.log"
  if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$WORK/$t-" "$WORK/$t" "$seeds" >"$log" 2>&1; then
    echo "fuzz_$t: FINDING (inputs: $(ls "$WORK/$t-"* 2>/dev/null | tr '\n' ' '))"
    tail -80 "$log"
    failed=1
    continue
  fi
  printf '%-14s %10s %10s %8s %8s %8s\n' "$t" "$(stat_of number_of_executed_units "$log")" \
    "$(stat_of average_exec_per_sec "$log")" "$(ls "$seeds" | wc -l)" \
    "$(( $(ls "$seeds" | wc -l) + $(ls "$WORK/$t" | wc -l) ))" "$(stat_of peak_rss_mb "$log")"
done
[ "$failed" = 0 ] && rm -rf "$WORK"
exit "$failed"
