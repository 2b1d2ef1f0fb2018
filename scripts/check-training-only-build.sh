#!/usr/bin/env bash
# The training-only build (MNEMO_TRAINING_ONLY: what scripts/gpu-train.sh builds on a GPU
# machine) must keep configuring, without pkg-config as there, and mnemo-train's own source
# must keep compiling: configures it into DIR and compiles that one file (the libraries it
# links are the normal build's, tested there). A ctest; prints one closing line.
#
#   scripts/check-training-only-build.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?DIR}
cmake -S . -B "$dir" -G Ninja -DMNEMO_TRAINING_ONLY=ON -DMNEMO_BUILD_TESTS=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON >"$dir.log" 2>&1 ||
  { tail -20 "$dir.log"; echo "training-only build: configure failed"; exit 1; }
cmake --build "$dir" --target server/cli/CMakeFiles/mnemo-train.dir/train_main.cpp.o >>"$dir.log" 2>&1 ||
  { tail -20 "$dir.log"; echo "training-only build: mnemo-train does not compile"; exit 1; }
echo "training-only build: configured without pkg-config, mnemo-train compiles"
