#!/usr/bin/env bash
# Builds mnemo and measures LSP round-trip latency through the Node.js client
# (tests/bench/lsp_roundtrip.mjs): prints one {"name","p50_ms","p99_ms","n"} JSON line per
# measurement. Arguments go to the benchmark, e.g.
#   scripts/bench-lsp.sh --iterations 1000 --out build/bench/lsp_roundtrip.json
# Uses build/ (override with BUILD_DIR); needs node and the npm packages of
# tests/integration/node (scripts/install-deps.sh installs both).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
fi
cmake --build "$build" --target mnemo
client="$root/tests/integration/node"
if [ ! -d "$client/node_modules/vscode-languageserver-protocol" ]; then
  echo "bench-lsp: installing the Node.js client (npm ci in $client)" >&2
  (cd "$client" && npm ci --no-audit --no-fund --loglevel=error)
fi
exec node "$root/tests/bench/lsp_roundtrip.mjs" --bin "$build/mnemo" "$@"
