#!/usr/bin/env bash
# On a GPU machine with PyTorch (CUDA), nvcc, CMake and Ninja but no package registry:
# builds `mnemo-train` (MNEMO_TRAINING_ONLY) against PyTorch's CUDA LibTorch and the headers
# carried in .gpu/ (scripts/gpu-carry.sh --corpus DIR, run beforehand where the packages
# are), then trains mnemo's model on the carried corpus with `--device cuda` until SECONDS
# seconds after this script started, less what the export and the held-out evaluation
# need. Before the run, check.txt compares the first steps of the same small run on the
# CPU and on the GPU (in float32; the GPU's products in TF32).
#
# Further arguments go to `mnemo train`. `--then` starts another phase of training in the
# same call: it goes on from the weights the phase before it exported (`--init-from`), with
# its own options, so that a curriculum (short windows first, say) needs one machine. Every
# phase but the last names its own `--minutes`; the last one has what is left, and only it
# is evaluated on the held-out projects.
#
# What comes back in OUT_DIR (the device tool returns at most 8 files): the last phase's
# model as model.safetensors.part-NN (`cat model.safetensors.part-* >model.safetensors`),
# each earlier phase's as phaseK.safetensors.part-NN, and logs.tar.gz: config.json,
# loss.jsonl and heldout.json of the last phase (phaseK-config.json and phaseK-loss.jsonl
# of the others), check.txt and the build and training logs.
#
#   scripts/gpu-train.sh OUT_DIR SECONDS [mnemo train options...] [--then options...]...
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
out=${1:?OUT_DIR}
budget=${2:?SECONDS}
shift 2
mkdir -p "$out"
log=$out/build.log
[[ -d .gpu/root && -f .gpu/corpus.tar.xz ]] || {
  echo "gpu-train: no .gpu/root or .gpu/corpus.tar.xz (run scripts/gpu-carry.sh --corpus DIR)"
  exit 2
}
{
  nvidia-smi -L
  nvcc --version | tail -1
  c++ --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} 2>&1 | tee "$log"

corpus=/tmp/mnemo-corpus
mkdir -p "$corpus"
xz -dc .gpu/corpus.tar.xz | tar -C "$corpus" -xf - &
unpacking=$!

export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
nvcc_path=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
# A newer GCC's standard headers include less of each other than Debian 12's, which this
# code is built with every day: the two most often missed come first in every file.
build=""
for std in 17 20; do
  dir=build-gpu/train-cxx$std
  echo "== configure and build with C++$std in $dir" | tee -a "$log"
  if cmake -S . -B "$dir" -G Ninja -DMNEMO_TRAINING_ONLY=ON -DMNEMO_BUILD_TESTS=OFF \
      -DMNEMO_WERROR=OFF -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=$std \
      -DCMAKE_CXX_FLAGS="-include cstdint -include algorithm" \
      -DCMAKE_PREFIX_PATH="$torch_prefix;$PWD/.gpu/root/usr" \
      -DCMAKE_CUDA_COMPILER="$nvcc_path" -DCMAKE_CUDA_ARCHITECTURES=90 >>"$log" 2>&1 &&
     cmake --build "$dir" --target mnemo-train -j 16 >>"$log" 2>&1; then
    build=$dir
    break
  fi
  grep -E "error" "$log" | head -20
done
[[ -n "$build" ]] || { echo "gpu-train: the build failed (see $log)"; tail -40 "$log"; exit 1; }
echo "== built in $(( $(date +%s) - started )) s"
wait $unpacking || { echo "gpu-train: the corpus could not be unpacked"; exit 1; }

echo "== the same first steps on the CPU and on the GPU"
mkdir -p /tmp/mnemo-check/corpus/p
for f in $(find "$corpus/heldout" -name '*.c' | sort | head -3); do
  head -c 6000 "$f" >"/tmp/mnemo-check/corpus/p/$(basename "$f")"
done
# The built-in model's own shape: its token shift, if it has one (the safetensors header
# names its tensors); its memory layers come with --init-from.
shift=$(head -c 65536 model/builtin/model.safetensors | grep -aq embed_shift && echo --token-shift)
for device in cpu cuda; do
  "$build/mnemo-train" train /tmp/mnemo-check/corpus --tokenizer model/builtin \
    --out /tmp/mnemo-check/$device --init-from model/builtin $shift --device $device --no-bf16 \
    --batch-tokens 2048 --max-windows 2 --memory-copy-rate 0.5 --tokens 6000 \
    --warmup-tokens 1000 >/dev/null 2>"/tmp/mnemo-check/$device.log" ||
    tail -3 "/tmp/mnemo-check/$device.log"
done
python3 - >"$out/check.txt" <<'PY'
import json
runs = {d: [json.loads(l) for l in open(f"/tmp/mnemo-check/{d}/loss.jsonl")] for d in ("cpu", "cuda")}
worst = 0
for a, b in zip(runs["cpu"], runs["cuda"]):
    worst = max(worst, abs(a["loss"] - b["loss"]) / a["loss"])
    print(f'step {a["step"]}: cpu {a["loss"]:.5f} cuda {b["loss"]:.5f} memory {a["memory_tokens"]} {b["memory_tokens"]}')
print(f'steps {len(runs["cpu"])} {len(runs["cuda"])}; largest relative difference {worst:.2e}')
PY
tail -1 "$out/check.txt"

# Phases: the arguments split at each `--then`.
phases=()
current=""
for arg in "$@"; do
  if [[ "$arg" == --then ]]; then
    phases+=("$current")
    current=""
  else
    current+="$(printf '%q ' "$arg")"
  fi
done
phases+=("$current")

# The export and the held-out evaluation (13 projects, with the memory and without) take
# well under a minute there; 90 s are kept for them and for copying.
logs=$out/logs
mkdir -p "$logs"
cp "$log" "$out/check.txt" "$logs/" 2>/dev/null
rm -f "$log" "$out/check.txt"
export LD_LIBRARY_PATH="$PWD/.gpu/root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
status=0
previous=""
last=$(( ${#phases[@]} - 1 ))
for k in "${!phases[@]}"; do
  eval "options=(${phases[$k]})"
  run=/tmp/mnemo-run-$k
  extra=()
  [[ -n "$previous" ]] && extra+=(--init-from "$previous/model")
  if (( k == last )); then
    minutes=$(python3 -c "print(max(0.5, ($budget - 90 - ($(date +%s) - $started)) / 60))")
    extra+=(--minutes "$minutes" --heldout "$corpus/heldout")
    name=""
  else
    name=phase$(( k + 1 ))
  fi
  echo "== phase $(( k + 1 )) of $(( last + 1 )): ${options[*]} ${extra[*]}"
  "$build/mnemo-train" train "$corpus/train" --tokenizer model/builtin --out "$run" \
    --device cuda "${options[@]}" "${extra[@]}" 2>"$logs/${name:-train}.log"
  status=$?
  tail -3 "$logs/${name:-train}.log"
  if [[ -n "$name" ]]; then
    cp "$run/loss.jsonl" "$logs/$name-loss.jsonl" 2>/dev/null
    cp "$run/model/config.json" "$logs/$name-config.json" 2>/dev/null
    [[ -f "$run/model/model.safetensors" ]] &&
      split -b 15M -d "$run/model/model.safetensors" "$out/$name.safetensors.part-"
  else
    cp "$run/loss.jsonl" "$run/heldout.json" "$run/model/config.json" "$logs/" 2>/dev/null
    [[ -f "$run/model/model.safetensors" ]] &&
      split -b 15M -d "$run/model/model.safetensors" "$out/model.safetensors.part-"
  fi
  (( status == 0 )) || break
  previous=$run
done
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv | tail -1
tar -C "$out" -czf "$out/logs.tar.gz" logs && rm -rf "$logs"
ls -la "$out"
exit $status
