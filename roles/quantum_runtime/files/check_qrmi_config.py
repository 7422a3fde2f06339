#!/usr/bin/python3
"""Validate a qrmi_config.json against its JSON schema before it replaces the live file.

Usage: check_qrmi_config.py SCHEMA FILE. Exit 0 when valid. Errors name the JSON
path and the rule that failed, never the offending value: the file holds credentials.
"""

import json
import sys

import jsonschema


def main(schema_path: str, config_path: str) -> int:
    with open(schema_path, encoding="utf-8") as fh:
        schema = json.load(fh)
    try:
        with open(config_path, encoding="utf-8") as fh:
            config = json.load(fh)
    except ValueError as exc:
        print(f"{config_path}: not JSON (line {getattr(exc, 'lineno', '?')})", file=sys.stderr)
        return 1
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    for error in errors:
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        detail = ""
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in (error.instance or {})]
            detail = f": missing {', '.join(missing)}"
        elif error.validator == "pattern":
            detail = f": must match {error.validator_value}"
        print(f"qrmi_config.json {path}: fails '{error.validator}'{detail}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
