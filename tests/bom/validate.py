#!/usr/bin/env python3
"""Validate CycloneDX 1.6 JSON BOMs written by allmende.

For each file: the official CycloneDX 1.6 JSON schema through cyclonedx-python-lib's strict
validator (formats such as date-time and iri-reference checked too); then what the schema cannot
say: every licence `expression` is valid SPDX (license-expression's SPDX licensing, which
cyclonedx-python-lib depends on), and every `bom-ref` is unique. Prints each error and exits 1 if
any file has one.

    python validate.py BOM.json [BOM.json ...]

Needs `cyclonedx-python-lib[json-validation]` (run.sh installs it into its venv).
"""
import json
import sys

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from license_expression import get_spdx_licensing


def walk(node):
    """Every dict inside `node`, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def check(path: str, validator, licensing) -> list[str]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    errors = [
        f"schema: {e.data.message} at {'/'.join(map(str, e.data.absolute_path))}"
        for e in (validator.validate_str(text, all_errors=True) or [])
    ]
    doc = json.loads(text)
    if doc.get("specVersion") != "1.6":
        errors.append(f"specVersion is {doc.get('specVersion')!r}, not '1.6'")
    refs = {}
    for node in walk(doc):
        ref = node.get("bom-ref")
        if isinstance(ref, str):
            refs[ref] = refs.get(ref, 0) + 1
        expr = node.get("expression")
        if isinstance(expr, str):
            info = licensing.validate(expr, strict=True)
            if info.errors or info.invalid_symbols:
                errors.append(f"licence expression {expr!r}: {info.errors} {info.invalid_symbols}")
    errors += [f"bom-ref {r!r} used {n} times" for r, n in refs.items() if n > 1]
    return errors


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    licensing = get_spdx_licensing()
    failed = 0
    for path in sys.argv[1:]:
        errors = check(path, validator, licensing)
        if errors:
            failed += 1
            print(f"FAIL {path}")
            for e in errors:
                print(f"  {e}")
        else:
            print(f"ok   {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
