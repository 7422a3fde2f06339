"""qpusite schema: print the site model's JSON schema (point your editor at it)."""

from __future__ import annotations

import argparse
import json

from site_survey.schema import json_schema


def run(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2 if args.pretty else None, sort_keys=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("schema", help="print the JSON schema of site.yaml")
    p.add_argument("--compact", dest="pretty", action="store_false", help="one line instead of indented")
    p.set_defaults(handler=run)
