"""qpusite render SITE: write what the rollout derives from the model, for review."""

from __future__ import annotations

import argparse
from pathlib import Path

from site_survey import load_site
from site_survey.render import render_site


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    out = Path(args.output or f"build/{site.site.name}")
    written = render_site(site, out)
    for path in written:
        print(f"wrote {path}")
    print(f"{site.site.name}: {len(written)} file(s) in {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("render", help="write the inventory and derived configs (no secrets) for review")
    p.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    p.add_argument("-o", "--output", help="output directory (default build/<site>)")
    p.set_defaults(handler=run)
