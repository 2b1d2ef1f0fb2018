#!/usr/bin/env bash
# Installs everything, builds once, and runs the whole test suite with ctest (unit tests,
# real LSP clients: Neovim and a Node.js vscode-languageserver client, bad-input tests).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
cd "${BUILD_DIR:-$root/build}"
ctest --output-on-failure --timeout 600 -j "$(nproc)" "$@"
