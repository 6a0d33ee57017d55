#!/usr/bin/env bash
# Skein as a package: installs the regular build (build/) into a temporary prefix, then configures,
# builds and runs examples/consumer, a separate CMake project, against it with find_package(skein).
#   scripts/consumer_test.sh [build folder]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD" --prefix "$WORK/prefix" >/dev/null
cmake -S "$ROOT/examples/consumer" -B "$WORK/build" -G Ninja -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
ninja -C "$WORK/build" >/dev/null
"$WORK/build/consumer" "$WORK/run"
test -f "$WORK/run/out/run.json"
echo "consumer: built against $WORK/prefix and ran"
