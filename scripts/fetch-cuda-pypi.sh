#!/usr/bin/env bash
# Fetches a CUDA compiler (nvcc, cicc, ptxas, fatbinary, the CUDA runtime headers and
# libcudart) from NVIDIA's PyPI wheels, so the CUDA kernels can be compiled on machines
# without a CUDA toolkit (the MNEMO_CUDA_COMPILE_CHECK build; model/memory/cuda). Prints the
# CMake arguments that use it on stdout, one per line (everything else goes to stderr):
#
#   cmake -S model/memory/cuda -B build-cuda-check $(scripts/fetch-cuda-pypi.sh)
#   cmake --build build-cuda-check
#
#   MNEMO_CACHE_DIR=/tmp/c scripts/fetch-cuda-pypi.sh   # default: $HOME/.cache/mnemo
#
# The CUDA 13 wheels are used: nvidia-cuda-nvcc 13.x carries the whole compiler driver, while
# nvidia-cuda-nvcc-cu12 (12.9.86) has only ptxas, libnvvm and the crt/ headers — no nvcc,
# cicc, cudafe++ or fatbinary — so CUDA 12 cannot come this way. The GPU machines use nvcc
# 13.0 (shared/GPU.md). `pip download` only downloads (no venv, no install: PEP 668
# environments allow it); the wheels are hash-pinned and unpacked with python3's zipfile,
# keeping their file modes. About 130 MB downloaded, 350 MB unpacked.
#
# Idempotent: when the unpacked compiler is in the cache and runs, nothing is downloaded.
# Needs: python3 with pip, network access to PyPI, x86_64 Linux; g++ <= 15 as nvcc's host
# compiler. mnemo itself never runs this: it is build/test setup.
set -euo pipefail

readonly CUDA_VERSION="13.5.37"
# name version sha256 of the manylinux x86_64 wheel
readonly WHEELS="
nvidia-cuda-nvcc 13.5.37 f5c4f7ead5d964fb4af42bbf1e6d3ec3c1e6e9d83b53749f691d387e7fcaa3a7
nvidia-cuda-crt 13.5.37 e898b7f73d3035fa89915a3f7bf3b54a73e90249746111aed295822c4729bb29
nvidia-nvvm 13.5.37 c41bfa362e407405163f103c2229f0765f8cc2ed7d148b754dc77f228bf7e070
nvidia-cuda-runtime 13.5.37 df2b79a8852f10d1fef8c848489c49eebb5754051bf870202a862831412b179d
nvidia-cuda-cccl 13.3.5.0.6 d5230098fa2df5021e1a00c0c4eee41797671a91119d31e892463e5ccf3ee326
"

die() { echo "fetch-cuda-pypi: error: $*" >&2; exit 1; }
note() { echo "fetch-cuda-pypi: $*" >&2; }

python="${PYTHON:-python3}"
cache_root="${MNEMO_CACHE_DIR:-${HOME:?HOME is not set and MNEMO_CACHE_DIR is not given}/.cache/mnemo}"
target="$cache_root/cuda-pypi-$CUDA_VERSION"
toolkit="$target/nvidia/cu13"

print_args() {
  echo "-DCMAKE_CUDA_COMPILER=$toolkit/bin/nvcc"
  echo "-DCUDAToolkit_ROOT=$toolkit"
  echo "-DCMAKE_CUDA_ARCHITECTURES=${CUDAARCHS:-90}"
}

works() {
  [ -x "$toolkit/bin/nvcc" ] && "$toolkit/bin/nvcc" --version 2>/dev/null | grep -q "release 13"
}

if works; then
  print_args
  exit 0
fi
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] ||
  die "the pinned wheels are for Linux x86_64, not $(uname -s)-$(uname -m)"
command -v "$python" >/dev/null 2>&1 || die "$python not found (Debian: apt-get install python3 python3-pip)"
"$python" -m pip --version >/dev/null 2>&1 ||
  die "pip is not available for $python (Debian: apt-get install python3-pip)"

mkdir -p "$cache_root" || die "cannot create cache directory $cache_root"
work="$(mktemp -d "$cache_root/.fetch-cuda.XXXXXX")" || die "cannot create a temporary directory"
trap 'rm -rf "$work"' EXIT

while read -r name version sha; do
  [ -n "$name" ] && echo "$name==$version --hash=sha256:$sha"
done <<<"$WHEELS" >"$work/req.txt"
note "downloading the CUDA $CUDA_VERSION compiler wheels from PyPI (about 130 MB)"
"$python" -m pip download --disable-pip-version-check -q --no-deps --only-binary :all: \
  --require-hashes -r "$work/req.txt" -d "$work/wheels" >&2 ||
  die "pip download failed (no network access to PyPI?)"

# Unpack every wheel into one tree (they share nvidia/cu13/), keeping the executable bits
# that zipfile's extract() drops.
"$python" - "$work/unpacked" "$work"/wheels/*.whl <<'EOF' || die "could not unpack the wheels"
import os, sys, zipfile
out = sys.argv[1]
for wheel in sys.argv[2:]:
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            path = z.extract(info, out)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                os.chmod(path, mode)
EOF
unpacked_toolkit="$work/unpacked/nvidia/cu13"
[ -f "$unpacked_toolkit/bin/nvcc" ] || die "the wheels hold no nvidia/cu13/bin/nvcc"
chmod +x "$unpacked_toolkit"/bin/* "$unpacked_toolkit"/nvvm/bin/* 2>/dev/null || true
# CMake's FindCUDAToolkit looks for the unversioned name; the wheel has only libcudart.so.13.
[ -e "$unpacked_toolkit/lib/libcudart.so" ] || ln -s libcudart.so.13 "$unpacked_toolkit/lib/libcudart.so"

rm -rf "$target"
mv "$work/unpacked" "$target"
works || die "$toolkit/bin/nvcc does not run"
note "nvcc: $("$toolkit/bin/nvcc" --version | tail -n 2 | head -n 1)"
print_args
