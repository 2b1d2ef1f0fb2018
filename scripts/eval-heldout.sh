#!/usr/bin/env bash
# mnemo eval on every held-out project of the training corpus (scripts/make-corpus.py): each
# project copied to OUT/<project> (the corpus stays as made), indexed with the model, then
# one `mnemo eval` over all of them: a table per project and their macro-average, whose
# memory_gain row is the memory's gain paired by case over every project's cases.
#
#   scripts/eval-heldout.sh CORPUS OUT [mnemo eval options]
#   scripts/eval-heldout.sh corpus/ /tmp/heldout-eval --max-cases 100 --seed 1
#
# Writes OUT/eval.md (stdout of mnemo eval), OUT/eval.json and OUT/eval.html. MNEMO_MODEL
# names another model (default: the built-in one). A second run indexes only what changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mnemo="${MNEMO_BUILD_DIR:-$root/build}/mnemo"
if [ $# -lt 2 ]; then
  sed -n 2,11p "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
heldout="$(cd "$1" && pwd)/heldout"
mkdir -p "$2"
out="$(cd "$2" && pwd)"
shift 2
[ -d "$heldout" ] || { echo "no held-out projects in $heldout" >&2; exit 1; }
model=()
[ -n "${MNEMO_MODEL:-}" ] && model=(--model "$MNEMO_MODEL")

repos=()
for project in "$heldout"/*/; do
  name="$(basename "$project")"
  # A fresh copy with the old index moved in: a file the corpus no longer has leaves the
  # index, and what did not change is not read again.
  rm -rf "$out/$name.new"
  cp -r "$project" "$out/$name.new"
  rm -rf "$out/$name.new/.mnemo"  # an index made inside the corpus is not this one
  if [ -d "$out/$name/.mnemo" ]; then mv "$out/$name/.mnemo" "$out/$name.new/.mnemo"; fi
  rm -rf "$out/$name"
  mv "$out/$name.new" "$out/$name"
  echo "== indexing $name" >&2
  "$mnemo" index "$out/$name" "${model[@]}" >&2
  repos+=("$out/$name")
done
"$mnemo" eval "${repos[@]}" "${model[@]}" --json "$out/eval.json" --html "$out/eval.html" "$@" \
  | tee "$out/eval.md"
