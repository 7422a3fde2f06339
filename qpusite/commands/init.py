"""qpusite init SITE --like EXAMPLE: start a new site model from an example, never overwriting one."""

from __future__ import annotations

import argparse
import sys

from site_survey.scaffold import ScaffoldError, examples, scaffold, target_path, write_new


def run(args: argparse.Namespace) -> int:
    try:
        path = target_path(args.site, args.output)
        made = scaffold(args.site, args.like, validate_as=args.site if args.output is None else str(path))
        write_new(path, made.text)
    except ScaffoldError as exc:
        print(f"qpusite init: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path} from {args.like} ({made.renamed} value(s) renamed to {args.site}); it validates.")
    print(f"next: edit it (docs/site-model-reference.md lists every field), then `qpusite validate {path}`")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    choices = ", ".join(sorted(examples()))
    p = subparsers.add_parser(
        "init",
        help="write a new site model from an example (never overwrites)",
        description=(
            "Copy an example site model under a new site name, keeping its comments: the example's name is "
            "replaced in names, domains, e-mail addresses and vault variable names. Writes "
            "inventories/SITE/site.yaml (or --output); refuses to overwrite a file (exit 2). "
            f"Examples: {choices}."
        ),
    )
    p.add_argument("site", help="the new site's name: lower-case letters, digits and '-', starting with a letter")
    p.add_argument("--like", default="minimal", metavar="EXAMPLE", help=f"example to start from: {choices} "
                   "(default minimal: an annotated small cluster with one cloud QPU)")
    p.add_argument("-o", "--output", help="file to write, or a directory to hold site.yaml "
                   "(default inventories/SITE/site.yaml)")
    p.set_defaults(handler=run)
