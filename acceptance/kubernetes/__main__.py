"""python -m acceptance.kubernetes SITE [--kubeconfig PATH] [--context NAME] [--junit FILE]

Exit 0 when every check passed or was skipped (no cluster reachable: the reason
is printed), 1 when one failed, 2 on a bad site model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from acceptance.kubernetes.checks import run_checks
from acceptance.kubernetes.cluster import connect
from acceptance.kubernetes.expected import expected
from acceptance.kubernetes.junit import write_junit
from site_survey import SiteModelError, load_site


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acceptance.kubernetes", description=__doc__)
    parser.add_argument("site", help="site name under inventories/, a directory, or a path to site.yaml")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    args = parser.parse_args(argv)
    try:
        site = load_site(args.site)
    except SiteModelError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    if site.cloud is None or not site.cloud.kubernetes.enabled:
        print(f"{site.site.name}: cloud.kubernetes.enabled is not set; nothing runs on Kubernetes", file=sys.stderr)
        return 2
    cluster = connect(args.kubeconfig, args.context)
    if not isinstance(cluster, str):
        print(f"checking {site.site.name} on {cluster.server}")
    results = run_checks(cluster, expected(site))
    for r in results:
        print(f"{r.status.upper():8} {r.check_id}: {r.message}")
    if args.junit:
        write_junit(results, site.site.name, args.junit)
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
