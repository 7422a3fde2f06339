"""Benchmark: what Ansible itself does with a large site's inventory.

Generates sites of 1,000, 5,000 and 10,000 hosts with 50 QPUs (the generator of
benchmarks/site_model_bench.py, written out as YAML the way an operator would),
then runs the real commands as subprocesses through the repository's
ansible.cfg and inventory plugin:

- ``ansible-inventory -i site.yaml --list --export`` (site-wide facts once, in
  ``all``'s vars; each host with its own variables only);
- ``ansible-playbook -i site.yaml --list-hosts site.yml``;
- optionally (``--flattened SIZES``, small sizes only) ``ansible-inventory --list``
  without ``--export``: Ansible then writes every variable a host sees into that
  host, so the site-wide lists are repeated once per host and the output grows
  with hosts × site size whatever the plugin does.

For each it records wall time, the child's peak memory (ru_maxrss of the
waited-for child) and the output size, and prints a table with the growth
factor from one size to the next. Targets on 2 cores: 10,000 hosts listed in
≤ 10 s with ≤ 30 MB of output and ≤ 1 GB of memory; each ×5 in hosts costs
≤ ×6 in time. A benchmark, not a test: figures depend on the machine's load,
which is printed with them.

    .venv/bin/python benchmarks/inventory_bench.py [--sizes 1000,5000,10000] [--qpus 50]
        [--flattened 100,200] [--timeout 600] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from site_model_bench import generate  # noqa: E402

BIN = Path(sys.executable).parent


def run(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run one command; wall time, its peak RSS (MiB) and output size (bytes), or why it failed."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.PIPE, env=env)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return {"error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - t0
        size = out.tell()
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {err.decode(errors='replace')[-400:]}"}
    return {"seconds": wall, "bytes": size}


def measure(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run in a forked helper so RUSAGE_CHILDREN's max RSS is this command's alone."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: run the command, report, exit
        os.close(read)
        result = run(argv, timeout)
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return dict(json.loads(b"".join(chunks)))


def commands(site: Path, flattened: bool) -> dict[str, list[str]]:
    inv = str(BIN / "ansible-inventory")
    out = {
        "inventory --list --export": [inv, "-i", str(site), "--list", "--export"],
        "playbook --list-hosts": [str(BIN / "ansible-playbook"), "-i", str(site), "--list-hosts", "site.yml"],
    }
    if flattened:
        out["inventory --list (flattened)"] = [inv, "-i", str(site), "--list"]
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| command | hosts | time | × time | peak memory | output | × output |",
        "|---|---|---|---|---|---|---|",
    ]
    previous: dict[str, dict[str, Any]] = {}
    for row in rows:
        prev = previous.get(row["command"])
        if "error" in row:
            lines.append(f"| {row['command']} | {row['hosts']:,} | {row['error']} | | | | |")
            continue
        grow_t = grow_b = ""
        if prev is not None and "error" not in prev:
            grow_t = f"×{row['seconds'] / prev['seconds']:.2f} (hosts ×{row['hosts'] / prev['hosts']:g})"
            grow_b = f"×{row['bytes'] / prev['bytes']:.2f}"
        lines.append(
            f"| {row['command']} | {row['hosts']:,} | {row['seconds']:.2f} s | {grow_t} | "
            f"{row['peak_mib']:.0f} MiB | {row['bytes'] / 1e6:.2f} MB | {grow_b} |"
        )
        previous[row["command"]] = row
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000", help="host counts, comma-separated")
    parser.add_argument("--qpus", type=int, default=50)
    parser.add_argument("--flattened", default="", help="host counts at which to run --list without --export too")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    main_sizes = {int(s) for s in args.sizes.split(",") if s}
    flattened = {int(s) for s in args.flattened.split(",") if s}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for hosts in sorted(main_sizes | flattened):
            site = Path(tmp) / str(hosts) / "site.yaml"
            site.parent.mkdir()
            site.write_text(yaml.safe_dump(generate(hosts, args.qpus), sort_keys=False))
            for name, argv in commands(site, hosts in flattened).items():
                if hosts not in main_sizes and "flattened" not in name:
                    continue
                result = measure(argv, args.timeout)
                rows.append({"command": name, "hosts": hosts, "load": os.getloadavg()[0], **result})
                print(f"{name} @ {hosts}: {result}", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (r["command"], r["hosts"]))
    print(f"{args.qpus} QPUs; load average (1 min) while measuring: "
          f"{min(r['load'] for r in rows):.1f}–{max(r['load'] for r in rows):.1f} on {os.cpu_count()} CPUs")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
