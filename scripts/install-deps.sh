#!/usr/bin/env bash
# The one list of mnemo's dependencies, for a fresh Debian 12 machine (run as root, or
# with sudo available). Used by scripts/run.sh, scripts/test.sh and therefore CI.
set -euo pipefail

APT_PACKAGES=(
  # build
  build-essential cmake ninja-build ccache git pkg-config clang-format-14
  # libraries (OpenBLAS's pthread build: without it LibTorch's matmuls run ~30x slower)
  libboost-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libpcre2-dev
  libtorch-dev libopenblas0-pthread libgit2-dev libsqlite3-dev
  # libclang 14 and its CMake package (ClangConfig.cmake is in clang-14, LLVMConfig in llvm-14-dev)
  libclang-14-dev clang-14 llvm-14-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-pip python3-venv neovim
)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
# Node.js 18+ and npm for the editor-client tests; keep a newer one if the machine has it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# npm packages of the Node.js LSP client (integration tests, benchmark) and of the VS Code
# extension, pinned by their package-lock.json files.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for client in tests/integration/node editors/vscode; do
  if [ -f "$root/$client/package-lock.json" ]; then
    (cd "$root/$client" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
