#!/usr/bin/env bash
# Builds the VS Code extension and runs its tests: installs the npm packages pinned by
# package-lock.json when they are missing or older than it, compiles src/ to out/ (tsc),
# then runs test/extension.test.mjs with node's test runner. Exits non-zero on any failure.
#
# The tests that drive the real server use $MNEMO_BIN, else ../../build/mnemo; without
# either they are reported as skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent compile
node --test --test-reporter=spec test/extension.test.mjs
