#!/usr/bin/env bash
# The test suite: every test in the regular build; the concurrency tests (broker, engines, chain
# and graph runs, the hosts) under ThreadSanitizer; then every test again under AddressSanitizer +
# UBSan in a clang build that also carries the libFuzzer targets, which then run for
# SKEIN_FUZZ_SECONDS each (20 by default). Each has its own build folder. Every build keeps line
# tables only (-g1, CMakeLists.txt): most of a debug build's time on 2 cores is debug information.
# Both sanitizer builds use clang: it compiles this code about 40 % faster than g++ (an Asio +
# Beast file under TSan: 15 s against 26 s). They are built while the regular tests run one at a
# time, at the lowest priority: they take the core those tests leave idle, and give it back to a
# test that needs both (its time bounds are the regular build's).
# Needs scripts/setup.sh to have run once on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SKEIN_CACHE:-$HOME/.cache/skein}"
cd "$ROOT"
JOBS="$(nproc)"  # tests that must run alone are marked RUN_SERIAL
stage() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

TSAN_TARGETS=(broker_test engine_layer_test exec_concurrency_test llama_engine_test prefix_cache_test chain_run_test
  openai_engine_test ollama_engine_test cli_engine_test managed_server_test resume_test branch_test
  run_output_test graph_run_test graph_engine_test run_registry_test registry_host registry_engine_test durable_run_test chaos_host
  shard_queue_test cluster_run_test pg_run_store_test skein_cli)

stage "tests (build/), the sanitizer builds beside them"
cmake -S . -B build -G Ninja -DSKEIN_CACHE="$CACHE" >/dev/null
ninja -C build --quiet  # only what the compiler says: a failed build shows why
cmake -S . -B build-tsan -G Ninja -DSKEIN_CACHE="$CACHE" -DSKEIN_TSAN=ON -DSKEIN_BUILD_BENCH=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake -S . -B build-fuzz -G Ninja -DSKEIN_CACHE="$CACHE" -DSKEIN_FUZZ=ON -DSKEIN_BUILD_BENCH=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug >/dev/null
SANITIZER_LOG="$(mktemp)"
(nice -n 19 ninja -C build-tsan --quiet "${TSAN_TARGETS[@]}" && nice -n 19 ninja -C build-fuzz --quiet) \
  >"$SANITIZER_LOG" 2>&1 &
SANITIZER_BUILDS=$!
stop_builds() { pkill -TERM -P "$SANITIZER_BUILDS" 2>/dev/null || true; kill "$SANITIZER_BUILDS" 2>/dev/null || true; }
trap stop_builds EXIT  # a failed stage leaves no build running
ctest --test-dir build --output-on-failure --timeout 600  # one at a time: the real build's time bounds (100 ms) are tight

stage "the installed package, used by a separate project (examples/consumer)"
bash scripts/consumer_test.sh build

stage "the sanitizer builds (build-tsan/, build-fuzz/), once the regular tests are done"
if ! wait "$SANITIZER_BUILDS"; then
  cat "$SANITIZER_LOG"
  echo "test.sh: a sanitizer build failed" >&2
  exit 1
fi
rm -f "$SANITIZER_LOG"
trap - EXIT  # (their process is gone: its number must not be signalled again)

stage "concurrency tests under ThreadSanitizer (build-tsan/)"
TSAN_OPTIONS="halt_on_error=1 suppressions=$ROOT/tests/tsan.supp" \
  ctest --test-dir build-tsan --output-on-failure --timeout 900 -j "$JOBS" \
  -R 'RunOutput|Broker|EngineLayer|TypedBatch|ExecConcurrency|LlamaEngine|PrefixCache|ChainRun|OpenAI|Ollama|CliEngine|ManagedServer|Resume|Branch|GraphRun|SpinRun|RunRegistry|RegistryEngine|Durable|RunStore|PgRunStore|ShardQueue|ClusterRun|Serve|Shell' \
  -E 'NOT_BUILT|ManyEngines'

stage "tests under ASan + UBSan (build-fuzz/, clang)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-fuzz --output-on-failure --timeout 900 -j "$JOBS"
stage "fuzzing (build-fuzz/fuzz)"
bash scripts/fuzz.sh build-fuzz
stage "done"
