#!/usr/bin/env bash
# The model runtime's speed beside llama.cpp's on the same files and machine, as one JSON
# document on stdout: llama.cpp (PyPI llama-cpp-python, scripts/bench-llama-cpp.py) runs
# first, then mnemo's model_bench, which adds the ratios. Needs the benchmark venv
# (scripts/make-bench-venv.sh); without it, mnemo's numbers alone.
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

llama_json="$(mktemp)"
trap 'rm -f "$llama_json"' EXIT
args=()
if [ -x "$venv/bin/python" ]; then
  # f32 KV cache on both sides: the same arithmetic.
  "$venv/bin/python" "$root/scripts/bench-llama-cpp.py" --kv-type f32 "${models[@]}" >"$llama_json"
  args=(--llama-cpp "$llama_json")
else
  echo "bench-model: no venv at $venv (scripts/make-bench-venv.sh): mnemo only" >&2
fi
"$build/tests/model_bench" "${args[@]}" "${models[@]}" random-30m
