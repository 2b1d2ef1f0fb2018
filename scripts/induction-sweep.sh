#!/usr/bin/env bash
# Runs scripts/induction-reference.py in several variants side by side on one GPU (the device
# tool's machine: PyTorch with CUDA, nothing to build), each for SECONDS, 32 windows a step
# at lr 2e-3 on the variable layout; each variant's log goes to OUT_DIR/NAME.log and their
# last lines to stdout.
#
#   scripts/induction-sweep.sh OUT_DIR SECONDS [NAME:plain|smear[:ENV=V,ENV=V...] ...]
#
# Without variants, the six measured on 2026-11-27 (the script's header has the figures).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?OUT_DIR}
seconds=${2:?SECONDS}
shift 2
variants=("$@")
[[ ${#variants[@]} -gt 0 ]] || variants=(plain128:plain:DIM=128 smear128:smear:DIM=128
  plain128a512:plain:DIM=128,ALPHABET=512 smear128a512:smear:DIM=128,ALPHABET=512
  plain256l4:plain:DIM=256,LAYERS=4 smear256l4:smear:DIM=256,LAYERS=4)
mkdir -p "$out"
for variant in "${variants[@]}"; do
  IFS=: read -r name input settings <<<"$variant"
  IFS=, read -r -a environment <<<"${settings:-}"
  env DEVICE=cuda "${environment[@]}" timeout "$seconds" \
    python3 scripts/induction-reference.py 1000000 32 2e-3 variable "$input" >"$out/$name.log" 2>&1 &
done
wait
nvidia-smi --query-gpu=name --format=csv,noheader
tail -n 3 "$out"/*.log
