#!/usr/bin/env bash
# The model runtime's speed beside llama.cpp's on the same files and machine, as one JSON
# document on stdout: llama.cpp (PyPI llama-cpp-python, scripts/bench-llama-cpp.py) runs
# first, then mnemo's model_bench, which adds the ratios. Needs the benchmark venv
# (scripts/make-bench-venv.sh); without it, mnemo's numbers alone. Besides MODELs, a ~30M-
# parameter random Llama: with the venv, written as a GGUF (scripts/make-random-llama.py, into a
# temp dir) and run on both sides, so it gets a ratio too; without it, model_bench's in-process
# "random-30m" (same config, other random numbers).
#
#   scripts/bench-model.sh [MODEL.gguf ...]     # default: the tiny fixture models
#
# Run it on an otherwise idle machine: both sides use 2 threads.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MNEMO_BUILD_DIR:-$root/build}"
venv="${MNEMO_BENCH_VENV:-${MNEMO_CACHE_DIR:-$HOME/.cache/mnemo}/bench-venv}"
fixtures="${MNEMO_FIXTURES_DIR:-$root/../shared/fixtures}"

models=("$@")
if [ "${#models[@]}" -eq 0 ]; then
  models=("$fixtures/tiny-models/tiny-llama.F32.gguf" "$fixtures/tiny-models/tiny-llama-256.F32.gguf")
fi
cmake --build "$build" --target model_bench >&2

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
llama_json="$tmp/llama-cpp.json"
args=()
if [ -x "$venv/bin/python" ]; then
  # The random model as a file, so llama.cpp runs the very weights mnemo does (the in-process
  # one exists only inside model_bench). Both sides report it by file name.
  models+=("$("$venv/bin/python" "$root/scripts/make-random-llama.py" "$tmp/random-30m.F32.gguf")")
  # f32 KV cache on both sides: the same arithmetic.
  "$venv/bin/python" "$root/scripts/bench-llama-cpp.py" --kv-type f32 "${models[@]}" >"$llama_json"
  args=(--llama-cpp "$llama_json")
else
  echo "bench-model: no venv at $venv (scripts/make-bench-venv.sh): mnemo only" >&2
  # No gguf-py to write the file with: model_bench builds the same config in memory.
  models+=(random-30m)
fi
"$build/tests/model_bench" "${args[@]}" "${models[@]}"
