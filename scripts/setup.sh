#!/usr/bin/env bash
# Installs everything Skein needs on a Debian 12 machine and builds it. Idempotent: on a warm
# machine every step is a check that takes well under a second, and the whole run takes seconds.
#
#   1. apt packages (only the missing ones), PostgreSQL 15 among them (the tests start private servers)
#   2. llama.cpp v0.5.0 from the npm package node-llama-cpp@3.22.1 (tarball sha256 checked), cloned
#      from its git bundle into $SKEIN_CACHE (default ~/.cache/skein), outside the repository
#   3. llama.cpp built static, CPU-only, once per machine (libs + llama-server + llama-batched-bench)
#   4. Skein built with CMake + Ninja into build/
#   5. the fixture models (random weights, seeded) generated into $SKEIN_CACHE/models
#   6. playwright-core (pinned) into $SKEIN_CACHE/node, to drive Debian's Chromium in the dashboard test
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SKEIN_CACHE:-$HOME/.cache/skein}"
BUILD="${SKEIN_BUILD_DIR:-$ROOT/build}"
LLAMA_NPM="node-llama-cpp@3.22.1"
LLAMA_TGZ_SHA256="a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f"
LLAMA_HEAD="de3ff815ea7d559ee917f063901b8986f038abc6"
PLAYWRIGHT_NPM="playwright-core@1.65.1"
FIXTURE_VERSION="1"   # bump when tools/make_fixture.cpp changes what it writes

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

APT_PACKAGES=(build-essential cmake ninja-build git pkg-config ca-certificates
  libboost1.81-dev nlohmann-json3-dev libvalijson-dev libyaml-cpp-dev libcli11-dev
  libspdlog-dev libfmt-dev libsqlite3-dev libreadline-dev libssl-dev libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev tmux chromium clang libclang-rt-14-dev lld
  postgresql-15 libpq-dev libsimdjson-dev)

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  command -v npm >/dev/null || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

fetch_llama() {
  local src="$CACHE/llama.cpp"
  if [ -d "$src/.git" ] && [ "$(git -C "$src" rev-parse HEAD)" = "$LLAMA_HEAD" ]; then return; fi
  say "fetching llama.cpp from $LLAMA_NPM"
  local tmp; tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "$LLAMA_NPM" >/dev/null)
  local tgz; tgz="$(ls "$tmp"/*.tgz)"
  echo "$LLAMA_TGZ_SHA256  $tgz" | sha256sum -c --quiet - || { echo "setup: sha256 mismatch for $tgz" >&2; exit 1; }
  tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$src"
  git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$src"
  git -C "$src" -c advice.detachedHead=false checkout -q "$LLAMA_HEAD"
  rm -rf "$tmp"
}

build_llama() {
  local src="$CACHE/llama.cpp" out="$CACHE/llama-build"
  local stamp="$out/.skein-stamp" want="$LLAMA_HEAD static cpu native=off openmp=off v1"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  say "building llama.cpp (static, CPU-only; a few minutes, once per machine)"
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON >/dev/null
  ninja -C "$out" llama ggml llama-common llama-server llama-batched-bench >/dev/null
  echo "$want" >"$stamp"
}

build_skein() {
  say "building Skein into $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DSKEIN_CACHE="$CACHE" >/dev/null
  ninja -C "$BUILD" >/dev/null
}

make_fixtures() {
  local dir="$CACHE/models" vocab="$CACHE/llama.cpp/models/ggml-vocab-llama-spm.gguf"
  mkdir -p "$dir"
  if [ -f "$dir/.version" ] && [ "$(cat "$dir/.version")" = "$FIXTURE_VERSION" ] &&
     [ -f "$dir/local.gguf" ] && [ -f "$dir/bench.gguf" ]; then return; fi
  say "generating fixture models (random weights) in $dir"
  "$BUILD/tools/make_fixture" --vocab "$vocab" --out "$dir/local.gguf" \
    --embd 64 --layers 2 --ff 128 --heads 4 --heads-kv 4 --ctx 4096 --seed 1
  "$BUILD/tools/make_fixture" --vocab "$vocab" --out "$dir/bench.gguf" \
    --embd 512 --layers 8 --ff 1536 --heads 8 --heads-kv 8 --ctx 2048 --seed 2
  echo "$FIXTURE_VERSION" >"$dir/.version"
}

install_playwright() {
  local dir="$CACHE/node"
  if [ -f "$dir/.version" ] && [ "$(cat "$dir/.version")" = "$PLAYWRIGHT_NPM" ] &&
     [ -d "$dir/node_modules/playwright-core" ]; then return; fi
  say "installing $PLAYWRIGHT_NPM into $dir (drives /usr/bin/chromium; no browser download)"
  mkdir -p "$dir"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$dir" "$PLAYWRIGHT_NPM" >/dev/null
  echo "$PLAYWRIGHT_NPM" >"$dir/.version"
}

install_packages
install_playwright
fetch_llama
build_llama
build_skein
make_fixtures
say "ready: $BUILD/skein (models in $CACHE/models)"
