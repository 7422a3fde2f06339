"""qpusite survey SITE: check the facility against the QPUs placed in it and write the reports."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from site_survey import load_site
from site_survey.loader import resolve_site_path
from site_survey.profiles import ProfileDataError
from site_survey.reports import FORMATS, write_reports
from site_survey.reports.terminal import print_summary
from site_survey.survey import run_survey


def _formats(value: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if chosen == ("all",):
        return FORMATS
    unknown = [v for v in chosen if v not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or repr(value)}; use 'all' or a comma-separated list of "
            f"{', '.join(FORMATS)}"
        )
    return chosen


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)  # a bad model raises SiteModelError: exit 2, nothing written
    try:
        result = run_survey(site, model_path=resolve_site_path(args.site))
    except ProfileDataError as exc:
        print(f"qpusite survey: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output or f"reports/{site.site.name}/survey")
    try:
        written = write_reports(result, site, out, args.format)
    except OSError as exc:
        print(f"qpusite survey: cannot write reports to {out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    console = Console()
    print_summary(result, console, show_info=args.all)
    console.print(f"reports: {len(written)} file(s) in {out}")
    return 1 if result.blockers else 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "survey",
        help="check the facility against its QPUs; write Markdown/HTML/JSON reports and safety files",
        description=(
            "Check rooms, cooling, power, environment, network and safety files against the requirement "
            "profiles of the QPUs placed in them. Exit status: 0 no blocker, 1 at least one blocker, "
            "2 bad site model (nothing written)."
        ),
    )
    p.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    p.add_argument("-o", "--output", help="output directory (default reports/<site>/survey)")
    p.add_argument(
        "-f", "--format", type=_formats, default=FORMATS, metavar="LIST",
        help=f"files to write: 'all' (default) or a comma-separated list of {', '.join(FORMATS)}",
    )
    p.add_argument("--all", action="store_true", help="also list passed checks and info findings in the terminal")
    p.set_defaults(handler=run)
