#!/usr/bin/env bash
# Installs everything, builds, and runs mnemo's main job on the built-in defaults: the
# language server on loopback TCP (127.0.0.1:2087) for an editor to connect to. Ctrl-C
# stops it. For stdio (how editors usually start it) run `build/mnemo serve`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
exec "${BUILD_DIR:-$root/build}/mnemo" serve --listen "${MNEMO_LISTEN:-127.0.0.1:2087}" "$@"
