"""Benchmark: rehearsal rollout of a site, against the floor of doing the same installs by hand.

Measures, on this machine:

1. cold: `qpusite up SITE` after `qpusite down SITE` (node image already cached),
   from the command's start to a green smoke check;
2. re-run: `qpusite up SITE` again on the running site (the no-op rollout);
3. floor: the Debian packages the rollout installed (union over hosts, read from
   dpkg in the containers, minus the node image's own) installed directly with one
   `apt-get update && apt-get install` in one fresh container from the same image.
   When the rollout built a Python environment at the model's runtime prefix, its
   `pip freeze` is installed into a venv in the same script too.

Host-equivalents: packages installed over all hosts / packages in the union, i.e.
how many full installs the rollout performs. Targets on the project's 2-core
machine: cold <= 6 min, cold <= 1.5 x floor x host-equivalents, re-run <= 30 s.

    .venv/bin/python benchmarks/rollout_bench.py [SITE]      (default: lab; needs root and podman)

The site's rehearsal is left running afterwards (as after `qpusite up`).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rehearsal.hosts import container_prefix
from rehearsal.image import image_reference
from rehearsal.network import site_network
from rehearsal.site_up import podman_for_project, site_paths
from site_survey import load_site

ROOT = Path(__file__).resolve().parent.parent
QPUSITE = [sys.executable, "-m", "qpusite"]
DPKG_INSTALLED = "dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' | awk '$1==\"ii\" {print $2}'"


def run_up(site: str, summary: Path) -> dict[str, object]:
    summary.unlink(missing_ok=True)
    started = time.monotonic()
    done = subprocess.run([*QPUSITE, "up", site], cwd=ROOT, timeout=3600, check=False)
    elapsed = time.monotonic() - started
    if not summary.is_file():
        raise SystemExit(f"`qpusite up {site}` wrote no summary (exit {done.returncode})")
    doc: dict[str, object] = json.loads(summary.read_text())
    doc["wall_s"] = elapsed
    doc["exit"] = done.returncode
    return doc


def packages_in(podman_args: list[str]) -> set[str]:
    podman = podman_for_project()
    return set(podman.run([*podman_args, "sh", "-c", DPKG_INSTALLED]).stdout.split())


VENVS = "find /opt -maxdepth 4 -name pyvenv.cfg -printf '%h\\n' 2>/dev/null | sort"


def venv_requirements(container: str) -> dict[str, list[str]]:
    """Each Python environment the rollout made under /opt → its `pip freeze` (pinned names only)."""
    podman = podman_for_project()
    out: dict[str, list[str]] = {}
    for venv in podman.run(["exec", container, "sh", "-c", VENVS]).stdout.split():
        frozen = podman.run(["exec", container, f"{venv}/bin/python", "-m", "pip", "freeze"], check=False)
        out[venv] = [line for line in frozen.stdout.splitlines() if "==" in line]
    return out


def floor(site_name: str, image: str, address: str, network: str, packages: list[str],
          venvs: dict[str, list[str]], wheelhouse: Path) -> float:
    """Seconds for one shell script in one fresh container to do the same installs.

    Python environments are installed offline from the controller's wheelhouse (mounted
    read-only), as the roles do: nodes never reach PyPI.
    """
    podman = podman_for_project()
    name = f"{container_prefix(site_name)}floor"
    podman.run(["rm", "--force", "--time", "5", name], check=False)
    podman.run(["run", "--detach", "--name", name, "--hostname", "floor", "--network", network, "--ip", address,
                "--systemd=always", "--no-hosts", "--volume", f"{wheelhouse}:/wheelhouse:ro", image])
    script = "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
    script += "apt-get install -y -qq --no-install-recommends " + " ".join(map(shlex.quote, packages)) + " >/dev/null"
    script += "; links=$(find /wheelhouse -type d -name wheels -printf ' --find-links %p')"
    for i, pins in enumerate(venvs.values()):
        if pins:
            script += (f"; python3 -m venv /opt/floor-{i}; printf '%s\\n' {' '.join(map(shlex.quote, pins))}"
                       f" | /opt/floor-{i}/bin/pip install -q --no-index $links -r /dev/stdin")
    try:
        started = time.monotonic()
        podman.run(["exec", "-i", name, "sh", "-c", script], timeout=3600)
        return time.monotonic() - started
    finally:
        podman.run(["rm", "--force", "--time", "5", name], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default="lab")
    parser.add_argument("--floor-only", action="store_true", help="measure only the floor, on the running site")
    args = parser.parse_args()
    site = load_site(args.site)
    paths = site_paths(site, args.site)
    network = site_network(site)

    if not args.floor_only:
        subprocess.run([*QPUSITE, "down", args.site], cwd=ROOT, timeout=600, check=True)
        cold = run_up(args.site, paths.summary_file)
        if not cold["ok"]:
            raise SystemExit(f"cold rollout not green (exit {cold['exit']}); see {paths.summary_file}")
        rerun = run_up(args.site, paths.summary_file)

    image = image_reference()
    base = packages_in(["run", "--rm", "--network", "none", image])
    per_host = {
        h.name: packages_in(["exec", f"{container_prefix(site.site.name)}{h.name}"]) - base for h in site.hosts
    }
    union = sorted(set().union(*per_host.values()))
    installed_total = sum(len(p) for p in per_host.values())
    venvs: dict[str, list[str]] = {}
    venv_installs = 0
    for h in site.hosts:
        found = venv_requirements(f"{container_prefix(site.site.name)}{h.name}")
        venv_installs += sum(len(p) for p in found.values())
        for path, pins in found.items():
            venvs.setdefault(path, pins)
    venv_union = sum(len(p) for p in venvs.values())
    # Host-equivalents: how many times the rollout does the full set of installs, over all hosts.
    installed_total += venv_installs
    host_equivalents = installed_total / (len(union) + venv_union) if union else 0.0
    used = {ipaddress.IPv4Address(h.address) for h in site.hosts} | {network.gateway}
    spare = next(str(a) for a in reversed(list(network.subnet.hosts())) if a not in used)
    floor_s = floor(site.site.name, image, spare, network.name, union, venvs, ROOT / "build" / "wheelhouse")
    print(f"floor: {len(union)} Debian packages + {len(venvs)} Python environment(s) ({venv_union} packages) "
          f"in one container: {floor_s:.0f} s; "
          f"host-equivalents {host_equivalents:.2f} ({installed_total} installs over {len(per_host)} hosts)")
    if args.floor_only:
        return 0

    rollout_cold = cold["rollout"]["seconds"]  # type: ignore[index]
    rerun_rollout = rerun["rollout"]["seconds"]  # type: ignore[index]
    budget = 1.5 * floor_s * host_equivalents
    print(f"hosts: {len(site.hosts)}")
    print(f"cold up to green smoke: {cold['seconds']:.0f} s (rollout {rollout_cold:.0f} s) — target <= 360 s")
    print(f"re-run: up {rerun['seconds']:.1f} s, rollout {rerun_rollout:.1f} s, "
          f"changed={rerun['rollout']['totals']['changed']}, ok={rerun['ok']} — target <= 30 s")  # type: ignore[index]
    print(f"budget: 1.5 x floor x host-equivalents = {budget:.0f} s")
    print(f"| {time.strftime('%Y-%m-%d')} | {len(site.hosts)} | {cold['seconds']:.0f} s | {rerun['seconds']:.0f} s "
          f"({rerun_rollout:.0f} s rollout) | {floor_s:.0f} s | {host_equivalents:.2f} | "
          f"{cold['seconds'] / (floor_s * host_equivalents):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
