#!/usr/bin/env bash
# Prepares .gpu/: what the GPU builds need besides LibTorch, for a GPU machine that has
# PyTorch, nvcc and CMake but no package registry (shared/GPU.md). Copied from this
# machine's Debian packages (scripts/install-deps.sh installs them), so it works offline:
#   nlohmann-json3-dev, libspdlog-dev + libspdlog1.10, libfmt-dev + libfmt9, libgtest-dev,
#   libcli11-dev (headers), PCRE2's header and shared library (the tokenizer's regexes);
#   Boost: its CMake package files and only the headers that model/ includes (Boost.Outcome
#   and what it pulls in, found by asking the compiler), not all 150 MB of them.
# With --corpus DIR (scripts/make-corpus.py's folder), also .gpu/corpus.tar.xz: its train/
# and heldout/ splits, for scripts/gpu-train.sh.
# The device tool carries the folder (`carry: [".gpu"]`); scripts/gpu-memory-check.sh and
# scripts/gpu-train.sh use it.
#
#   scripts/gpu-carry.sh [--corpus DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=""
if [[ "${1:-}" == --corpus ]]; then corpus=${2:?--corpus needs a folder}; fi
root=.gpu/root
rm -rf .gpu
mkdir -p "$root"

for pkg in nlohmann-json3-dev libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev \
  libcli11-dev; do
  dpkg -L "$pkg" | while read -r path; do
    if [[ -f "$path" && ! -L "$path" ]] || [[ -L "$path" ]]; then
      mkdir -p "$root$(dirname "$path")"
      cp -a "$path" "$root$path"
    fi
  done
done
# googletest's sources are not needed: the static libraries are there.
rm -rf "$root/usr/src" "$root/usr/share/doc"

multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# PCRE2: the header, and the shared library under both library folders CMake searches.
mkdir -p "$root/usr/include" "$root/usr/lib/$multiarch"
cp -a /usr/include/pcre2.h "$root/usr/include/"
cp -a /usr/lib/$multiarch/libpcre2-8.so* "$root/usr/lib/$multiarch/"
for dir in Boost-1.74.0 boost_headers-1.74.0; do
  mkdir -p "$root/usr/lib/$multiarch/cmake"
  cp -a "/usr/lib/$multiarch/cmake/$dir" "$root/usr/lib/$multiarch/cmake/"
done
cp -a "/usr/lib/$multiarch/cmake/BoostDetectToolset-1.74.0.cmake" "$root/usr/lib/$multiarch/cmake/"
# Every Boost header a model/ header includes, transitively.
headers=$(grep -rl '#include <boost/' model --include='*.h' --include='*.cpp' |
  sed 's/^/#include "/; s/$/"/' | g++ -std=c++17 -I. -M -x c++ - 2>/dev/null |
  tr ' \\' '\n\n' | grep '^/usr/include/boost/' | sort -u || true)
[[ -n "$headers" ]] || { echo "gpu-carry: found no Boost headers to copy" >&2; exit 1; }
for h in $headers /usr/include/boost/version.hpp; do
  mkdir -p "$root$(dirname "$h")"
  cp -a "$h" "$root$h"
done
echo "gpu-carry: $(du -sh .gpu | cut -f1) in .gpu ($(echo "$headers" | wc -l) Boost headers)" >&2
if [[ -n "$corpus" ]]; then
  [[ -d "$corpus/train" && -d "$corpus/heldout" ]] || { echo "gpu-carry: $corpus has no train/ and heldout/" >&2; exit 1; }
  tar -C "$corpus" -cf - train heldout | xz -T0 -6 >.gpu/corpus.tar.xz
  echo "gpu-carry: $(du -sh .gpu/corpus.tar.xz | cut -f1) of corpus" >&2
fi
