#!/usr/bin/env bash
# Validates allmende's AI-BOMs against the official CycloneDX 1.6 JSON schema with the validator
# of cyclonedx-python-lib (PyPI).
#
# Installs cyclonedx-python-lib[json-validation] into a venv under ~/.cache/allmende-ci/bom-venv
# (reused between runs), checks that crates/bom/src/spdx_ids.rs matches the schema's SPDX list,
# writes the sample BOMs with `cargo run -p allmende-bom --example sample_bom` (every licence form,
# single- and multi-file models, duplicates, none) and validates each with validate.py.
# Extra arguments are more BOM files to validate (e.g. the output of `allmende bom`).
#
#   tests/bom/run.sh
#   tests/bom/run.sh my-bom.json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

venv="${ALLMENDE_BOM_VENV:-$HOME/.cache/allmende-ci/bom-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# Pinned major: the schemas it ships are what we validate against.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "cyclonedx-python-lib[json-validation]>=11,<12"

"$venv/bin/python" "$here/gen_spdx_ids.py" --check

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
(cd "$root" && cargo run --quiet -p allmende-bom --example sample_bom -- "$out" >/dev/null)

"$venv/bin/python" "$here/validate.py" "$out"/*.json "$@"

# The validator must reject what the schema forbids, or the passes above prove nothing.
"$venv/bin/python" - "$out/spdx-id.json" "$out/broken.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["components"][0]["licenses"] = [{"license": {"id": "gemma"}}]
doc["components"][0]["hashes"][0]["content"] = "xyz"
json.dump(doc, open(sys.argv[2], "w"))
PY
if "$venv/bin/python" "$here/validate.py" "$out/broken.json" >"$out/broken.log"; then
  echo "validate.py accepted a BOM with a non-SPDX licence id and a bad hash" >&2
  exit 1
fi
echo "ok   a broken BOM is rejected ($(grep -c 'schema:' "$out/broken.log") schema errors)"
