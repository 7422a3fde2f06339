"""qpusite schema: print the site model's JSON schema (point your editor at it) or its field reference."""

from __future__ import annotations

import argparse
import json
import sys

from site_survey.reference import example_documents, markdown
from site_survey.schema import json_schema


def run(args: argparse.Namespace) -> int:
    if args.format == "markdown":
        sys.stdout.write(markdown(example_documents()))
        return 0
    print(json.dumps(json_schema(), indent=2 if args.pretty else None, sort_keys=False))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "schema",
        help="print the JSON schema of site.yaml, or (--format markdown) its field reference",
        description=(
            "Print the site model's JSON schema (default; for editors) or, with --format markdown, the field "
            "reference kept in docs/site-model-reference.md: every field's type, default, unit, allowed values, "
            "description and an example."
        ),
    )
    p.add_argument(
        "--format", choices=("json", "markdown"), default="json",
        help="json (default): the JSON schema; markdown: the field reference",
    )
    p.add_argument("--compact", dest="pretty", action="store_false", help="JSON on one line instead of indented")
    p.set_defaults(handler=run)
