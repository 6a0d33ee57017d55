#!/usr/bin/env bash
# The test suite: every test in the regular build; the concurrency tests (broker, engine, chain
# runs) under ThreadSanitizer; then every test again under AddressSanitizer + UBSan. Each
# sanitizer has its own build folder.
# Needs scripts/setup.sh to have run once on the machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SKEIN_CACHE:-$HOME/.cache/skein}"
cd "$ROOT"

echo "== tests (build/)"
cmake -S . -B build -G Ninja -DSKEIN_CACHE="$CACHE" >/dev/null
ninja -C build >/dev/null
ctest --test-dir build --output-on-failure --timeout 600

echo "== concurrency tests under ThreadSanitizer (build-tsan/)"
cmake -S . -B build-tsan -G Ninja -DSKEIN_CACHE="$CACHE" -DSKEIN_TSAN=ON -DSKEIN_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
ninja -C build-tsan >/dev/null
TSAN_OPTIONS="halt_on_error=1 suppressions=$ROOT/tests/tsan.supp" \
  ctest --test-dir build-tsan --output-on-failure --timeout 900 -R 'Broker|EngineLayer|ExecConcurrency|LlamaEngine|ChainRun|OpenAI|Ollama|CliEngine|ManagedServer|Resume|Branch|GraphRun|RunRegistry|RegistryEngine|ServeApi|ServeDashboard|Shell'

echo "== tests under ASan + UBSan (build-asan/)"
cmake -S . -B build-asan -G Ninja -DSKEIN_CACHE="$CACHE" -DSKEIN_SANITIZE=ON -DSKEIN_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
ninja -C build-asan >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900
