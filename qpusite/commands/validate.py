"""qpusite validate SITE: check a site model and report every problem at once."""

from __future__ import annotations

import argparse

from site_survey import load_site
from site_survey.model import HostRole


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    roles = {r.value: len(site.hosts_with(r)) for r in HostRole}
    summary = ", ".join(f"{n} {r}" for r, n in roles.items() if n)
    print(
        f"{site.site.name}: valid — {len(site.hosts)} host(s) ({summary or 'none'}), "
        f"{len(site.qpus)} QPU(s), {len(site.facility.rooms)} room(s), topology {site.software.topology}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("validate", help="check a site model; exit 2 listing every problem")
    p.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    p.set_defaults(handler=run)
