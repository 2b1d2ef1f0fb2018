#!/usr/bin/env bash
# Fails when a tracked C/C++ file differs from what .clang-format prescribes. Test data
# (tests/data/: other projects' code kept as it is) is not ours to format.
# Fix with: clang-format-14 -i <files>
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
format="$(command -v clang-format-14 || command -v clang-format || true)"
if [ -z "$format" ]; then
  echo "check-format: clang-format not found (scripts/install-deps.sh installs clang-format-14)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.h' '*.cpp' '*.cc' '*.hpp' ':!:tests/data/*')
if [ "${#files[@]}" -eq 0 ]; then
  echo "check-format: no tracked C++ files" >&2
  exit 1
fi
"$format" --dry-run --Werror "${files[@]}"
echo "check-format: ${#files[@]} files formatted correctly"
