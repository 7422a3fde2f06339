"""qpusite down [SITE]: remove a site's rehearsal (containers, network, key, secrets)."""

from __future__ import annotations

import argparse
import sys

from rehearsal.errors import RehearsalError, RehearsalInputError
from rehearsal.lock import exclusive
from rehearsal.prerequisites import check_prerequisites
from rehearsal.site_down import tear_down
from rehearsal.site_up import podman_for_project, site_lock, site_paths
from site_survey import load_site


def run(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    paths = site_paths(site, args.site)
    try:
        check_prerequisites()
        with exclusive(site_lock(paths.site_name), f"the rehearsal of site {paths.site_name}"):
            report = tear_down(podman_for_project(), paths, purge_image=args.purge_image)
    except RehearsalInputError as exc:
        print(f"qpusite down: {exc}", file=sys.stderr)
        return 2
    except RehearsalError as exc:
        print(f"qpusite down: {exc}", file=sys.stderr)
        return 1
    print(f"{paths.site_name}: removed {len(report.containers)} container(s)"
          + (f" ({', '.join(report.containers)})" if report.containers else ""))
    print(f"{paths.site_name}: network {'removed' if report.network_removed else 'absent'}; "
          f"rehearsal key and secrets {'removed' if report.state_removed else 'absent'}")
    if args.purge_image:
        print(f"removed {len(report.images)} cached node image(s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("down", help="remove a site's rehearsal containers, network and generated state")
    p.add_argument("site", nargs="?", default="lab", help="site name under inventories/, or a path (default: lab)")
    p.add_argument("--purge-image", action="store_true", help="also remove the cached node image(s)")
    p.set_defaults(handler=run)
