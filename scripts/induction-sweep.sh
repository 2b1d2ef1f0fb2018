#!/bin/bash
# induction sweep on the GPU: each variant runs for $1 seconds
S=${1:-240}
run() { name=$1; shift; env DEVICE=cuda "$@" timeout $S python3 scripts/induction-reference.py 100000 32 2e-3 variable $SM > $OUT/$name.log 2>&1 & }
SM=plain run plain128 DIM=128
SM=smear run smear128 DIM=128
SM=plain run plain128a512 DIM=128 ALPHABET=512
SM=smear run smear128a512 DIM=128 ALPHABET=512
SM=plain run plain256l4 DIM=256 LAYERS=4
SM=smear run smear256l4 DIM=256 LAYERS=4
wait
nvidia-smi --query-gpu=name --format=csv
tail -n 3 $OUT/*.log
