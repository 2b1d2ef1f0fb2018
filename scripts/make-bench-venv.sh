#!/usr/bin/env bash
# Creates the Python venv used for llama.cpp reference data and the llama.cpp speed baseline
# (tests/reference/make_smollm2_reference.py, scripts/bench-llama-cpp.py): PyPI's
# llama-cpp-python, built from its sdist for the CPU, plus gguf-py. Test tooling only; mnemo
# itself never uses them.
#
#   scripts/make-bench-venv.sh [VENV_DIR]     # default ~/.cache/mnemo/bench-venv (outside the repo)
#
# llama-cpp-python 0.3.16 vendors llama.cpp 4227c9be4268ac844921b90f31595f81236bd317
# (per its CHANGELOG.md). GGML_NATIVE=OFF gives a portable x86-64 build with AVX/AVX2/FMA/F16C
# (no AVX-512), like the build that made shared/fixtures/tiny-models. Building takes a few
# minutes and needs cmake, a C++17 compiler and python3-venv (Debian 12: apt-get install
# cmake g++ python3-venv). Override the interpreter with PYTHON, the build parallelism with
# CMAKE_BUILD_PARALLEL_LEVEL.
set -euo pipefail

readonly LLAMA_CPP_PYTHON_VERSION="0.3.16"
readonly GGUF_VERSION="0.17.1"

venv="${1:-${MNEMO_CACHE_DIR:-$HOME/.cache/mnemo}/bench-venv}"
python="${PYTHON:-python3}"

for tool in cmake c++; do
  command -v "$tool" >/dev/null 2>&1 || { echo "make-bench-venv: $tool not found" >&2; exit 1; }
done

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

have() {
  local info
  info="$("${pip[@]}" show "$1" 2>/dev/null)" || return 1
  grep -qx "Version: $2" <<<"$info"
}

if have llama_cpp_python "$LLAMA_CPP_PYTHON_VERSION" && have gguf "$GGUF_VERSION"; then
  echo "make-bench-venv: $venv already has llama-cpp-python $LLAMA_CPP_PYTHON_VERSION and gguf $GGUF_VERSION" >&2
else
  # PyPI has only the sdist of llama-cpp-python, so pip builds it with CMAKE_ARGS. pip may reuse
  # a wheel it built before from the same sdist: set PIP_NO_CACHE_DIR=1 to force a rebuild.
  CMAKE_ARGS="-DGGML_NATIVE=OFF ${CMAKE_ARGS:-}" \
    "${pip[@]}" install "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" "gguf==$GGUF_VERSION"
fi
"$venv/bin/python" -c 'import llama_cpp, gguf; print("llama_cpp", llama_cpp.__version__); print(llama_cpp.llama_print_system_info().decode().strip())' >&2
echo "$venv"
