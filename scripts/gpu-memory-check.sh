#!/usr/bin/env bash
# On a GPU machine with PyTorch (CUDA), nvcc, CMake and Ninja but no package registry:
# builds the long-term memory alone (MNEMO_MEMORY_ONLY) against PyTorch's CUDA LibTorch and
# the headers carried in .gpu/ (scripts/gpu-carry.sh, run beforehand where the packages
# are), runs the memory tests (the CUDA kernels against the CPU ones included; a missing GPU
# fails them here instead of skipping), the kernels under compute-sanitizer, and the GPU
# memory benchmark. Logs and JSON go to the folder given (default: build-gpu/out).
#
#   scripts/gpu-memory-check.sh [OUT_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-gpu/out}
mkdir -p "$out"
log=$out/build.log
[[ -d .gpu/root ]] || { echo "gpu-memory-check: no .gpu/root (run scripts/gpu-carry.sh)"; exit 2; }

{
  nvidia-smi -L
  nvcc --version | tail -2
  cmake --version | head -1
  c++ --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} 2>&1 | tee "$out/environment.txt"

# PyTorch's CMake package sets the CUDA architectures itself (it ignores
# CMAKE_CUDA_ARCHITECTURES): Hopper.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvcc_path=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)

# C++17 is the project's standard; a LibTorch whose headers need C++20 gets it.
build=""
for std in 17 20; do
  dir=build-gpu/cxx$std
  echo "== configure and build with C++$std in $dir" | tee -a "$log"
  if cmake -S . -B "$dir" -G Ninja -DMNEMO_MEMORY_ONLY=ON -DMNEMO_WERROR=OFF \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=$std \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$PWD/.gpu/root/usr" \
      -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES=90 >>"$log" 2>&1 &&
     cmake --build "$dir" -j 16 >>"$log" 2>&1; then
    build=$dir
    break
  fi
  grep -E "error|Error" "$log" | head -20
done
[[ -n "$build" ]] || { echo "gpu-memory-check: the build failed (see $log)"; tail -40 "$log"; exit 1; }
grep -E "^-- mnemo:" "$log" | tail -2

status=0
echo "== memory tests (ctest)"
if ! MNEMO_REQUIRE_CUDA=1 ctest --test-dir "$build" --output-on-failure -j 8 >"$out/ctest.log" 2>&1; then
  status=1
  # A backtrace of the first failing test, for a crash.
  first=$(sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) (.*/\1/p' "$out/ctest.log" | head -1)
  for exe in "$build"/tests/*_tests; do
    if "$exe" --gtest_list_tests | grep -q "${first##*.}"; then
      timeout 60 cuda-gdb -batch -ex run -ex bt --args "$exe" --gtest_filter="$first" 2>&1 |
        grep -A12 "signal SIG" | head -16
      break
    fi
  done
fi
tail -12 "$out/ctest.log"
echo "== CUDA kernels under compute-sanitizer (memcheck)"
if command -v compute-sanitizer >/dev/null; then
  MNEMO_REQUIRE_CUDA=1 timeout 180 compute-sanitizer --tool memcheck --error-exitcode 3 \
    "$build/tests/memory_cuda_tests" >"$out/sanitizer.log" 2>&1 || status=1
  tail -4 "$out/sanitizer.log"
fi
echo "== GPU memory benchmark"
for dtype in fp16 bf16; do
  timeout 180 "$build/tests/memory_cuda_bench" --dtype $dtype >"$out/memory_cuda_bench_$dtype.json" \
    2>>"$out/bench.log" || status=1
done
tail -8 "$out/bench.log"
exit $status
