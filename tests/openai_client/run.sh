#!/usr/bin/env bash
# Conformance test of `allmende serve` with the official `openai` Python client (PyPI).
#
# Installs openai + pytest into a venv under ~/.cache/allmende-ci/venv (reused between runs),
# builds the binary unless ALLMENDE_BIN names one, and runs pytest on test_conformance.py.
# The real models come from the cache (`allmende pull smollm2-135m-instruct`); the test pulls
# them on first use through the binary if they are missing.
#
#   tests/openai_client/run.sh              # build target/debug/allmende, run the tests
#   ALLMENDE_BIN=path/to/allmende tests/openai_client/run.sh -k chat
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

venv="${ALLMENDE_CI_VENV:-$HOME/.cache/allmende-ci/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Pinned majors: the client's wire expectations are what we test against.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openai>=1.40,<4" "pytest>=8,<10"

if [ -z "${ALLMENDE_BIN:-}" ]; then
  (cd "$root" && cargo build --quiet -p allmende)
  target="${CARGO_TARGET_DIR:-$root/target}"
  export ALLMENDE_BIN="$target/debug/allmende"
fi

cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" test_conformance.py
