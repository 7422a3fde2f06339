"""Check that `qpusite down SITE` left nothing behind: no container, no network, no rehearsal state
(the twin copy included). CI's rehearsal scripts run `python -m rehearsal.leftovers SITE`."""

from __future__ import annotations

import sys

from rehearsal.site_up import podman_for_project, site_paths
from site_survey import load_site


def leftovers(site_arg: str) -> list[str]:
    site = load_site(site_arg)
    paths = site_paths(site, site_arg)
    podman = podman_for_project()
    name = site.site.name
    found = []
    left = podman.run(["ps", "-a", "--format", "{{.Names}}", "--filter", f"name=^qpusite-{name}-"]).stdout.split()
    if left:
        found.append(f"containers left after down: {left}")
    if podman.ok(["network", "exists", f"qpusite-{name}"]):
        found.append(f"network qpusite-{name} left after down")
    if paths.rehearsal_dir.exists():
        found.append(f"rehearsal state left after down: {paths.rehearsal_dir}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rehearsal.leftovers SITE", file=sys.stderr)
        return 2
    found = leftovers(argv[0])
    for line in found:
        print(f"leftovers: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
