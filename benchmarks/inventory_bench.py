"""Benchmark: what Ansible and the CLI do with a large site's model.

Generates sites of 1,000, 5,000 and 10,000 hosts with 50 QPUs (the generator of
benchmarks/site_model_bench.py, written out as YAML the way an operator would)
in two forms: ``sets`` (the compute nodes as one host set, partitions as
hostlists — how a centre writes it) and ``explicit`` (every host and every
partition member written out). Then runs the real commands as subprocesses
through the repository's ansible.cfg and inventory plugin:

- ``ansible-inventory -i site.yaml --list`` as an operator types it (ansible.cfg's
  ``[inventory] export = True`` applies: variables where they are set);
- ``ansible-playbook -i site.yaml --list-hosts site.yml``;
- ``python -m qpusite validate`` and ``python -m qpusite render``;
- optionally (``--flattened SIZES``, small sizes only) ``ansible-inventory --list``
  with ``ANSIBLE_INVENTORY_EXPORT=False``: Ansible then writes every variable a
  host sees into that host, so the site-wide lists are repeated once per host.

For each it records wall time, CPU time (user + system of the child: what
the command costs, nearly independent of other load on the machine), the
child's peak memory (ru_maxrss of the waited-for child) and the output size (stdout; for render, the files written),
and prints a table with the growth factor from one size to the next. Targets on
2 cores: 10,000 hosts listed in ≤ 10 s with ≤ 30 MB of output and ≤ 1 GB of
memory; each ×5 in hosts costs ≤ ×6 in time; validate and render ≤ 2 s. A
benchmark, not a test: figures depend on the machine's load, which is printed
with them.

    .venv/bin/python benchmarks/inventory_bench.py [--sizes 1000,5000,10000] [--qpus 50]
        [--forms sets,explicit] [--flattened 100,200] [--timeout 600] [--json results.json]
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


def run(argv: list[str], timeout: float, env_extra: dict[str, str], out_dir: Path | None) -> dict[str, Any]:
    """Run one command; wall time, its output size (bytes) — stdout, or the files under out_dir."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), **env_extra}
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
    if out_dir is not None:
        size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    return {"seconds": wall, "bytes": size}


def measure(
    argv: list[str], timeout: float, env_extra: dict[str, str] | None = None, out_dir: Path | None = None
) -> dict[str, Any]:
    """Run in a forked helper so RUSAGE_CHILDREN's max RSS is this command's alone."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: run the command, report, exit
        os.close(read)
        result = run(argv, timeout, env_extra or {}, out_dir)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["peak_mib"] = usage.ru_maxrss / 1024
        # CPU seconds (user + system) hardly move with the machine's load, unlike wall time
        result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return dict(json.loads(b"".join(chunks)))


def commands(site: Path, flattened: bool) -> dict[str, tuple[list[str], dict[str, str], Path | None]]:
    """name -> (argv, extra environment, directory whose files are the output)."""
    inv = str(BIN / "ansible-inventory")
    qpusite = [sys.executable, "-m", "qpusite"]
    rendered = site.parent / "rendered"
    out: dict[str, tuple[list[str], dict[str, str], Path | None]] = {
        "inventory --list": ([inv, "-i", str(site), "--list"], {}, None),
        "playbook --list-hosts": (
            [str(BIN / "ansible-playbook"), "-i", str(site), "--list-hosts", "site.yml"], {}, None
        ),
        "qpusite validate": ([*qpusite, "validate", str(site)], {}, None),
        "qpusite render": ([*qpusite, "render", str(site), "--output", str(rendered)], {}, rendered),
    }
    if flattened:
        flat = {"ANSIBLE_INVENTORY_EXPORT": "False"}
        out["inventory --list (flattened)"] = ([inv, "-i", str(site), "--list"], flat, None)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| form | command | hosts | wall time | CPU time | × CPU time | peak memory | output | × output |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["form"], row["command"])
        prev = previous.get(key)
        head = f"| {row['form']} | {row['command']} | {row['hosts']:,} |"
        if "error" in row:
            lines.append(f"{head} {row['error']} | | | | | |")
            continue
        grow_t = grow_b = ""
        if prev is not None and "error" not in prev:
            grow_t = f"×{row['cpu_seconds'] / prev['cpu_seconds']:.2f} (hosts ×{row['hosts'] / prev['hosts']:g})"
            grow_b = f"×{row['bytes'] / max(prev['bytes'], 1):.2f}"
        lines.append(
            f"{head} {row['seconds']:.2f} s | {row['cpu_seconds']:.2f} s | {grow_t} | {row['peak_mib']:.0f} MiB | "
            f"{row['bytes'] / 1e6:.2f} MB | "
            f"{grow_b} |"
        )
        previous[key] = row
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000", help="host counts, comma-separated")
    parser.add_argument("--qpus", type=int, default=50)
    parser.add_argument("--forms", default="sets,explicit", help="sets, explicit or both")
    parser.add_argument("--commands", default="", help="only the commands whose name contains one of these")
    parser.add_argument("--flattened", default="", help="host counts at which to run --list without export too")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per command")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    main_sizes = {int(s) for s in args.sizes.split(",") if s}
    flattened = {int(s) for s in args.flattened.split(",") if s}
    wanted = [w for w in args.commands.split(",") if w]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for form in [f for f in args.forms.split(",") if f]:
            for hosts in sorted(main_sizes | flattened):
                site = Path(tmp) / f"{form}-{hosts}" / "site.yaml"
                site.parent.mkdir()
                site.write_text(yaml.safe_dump(generate(hosts, args.qpus, form == "sets"), sort_keys=False))
                for name, (argv, env, out_dir) in commands(site, hosts in flattened).items():
                    if (hosts not in main_sizes) != ("flattened" in name):
                        continue
                    if wanted and not any(w in name for w in wanted):
                        continue
                    result = measure(argv, args.timeout, env, out_dir)
                    row = {"form": form, "command": name, "hosts": hosts, "load": os.getloadavg()[0],
                           "site_bytes": site.stat().st_size, **result}
                    rows.append(row)
                    print(f"{form} {name} @ {hosts}: {result}", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (r["form"] != "sets", r["command"], r["hosts"]))
    print(f"{args.qpus} QPUs; load average (1 min) while measuring: "
          f"{min(r['load'] for r in rows):.1f}–{max(r['load'] for r in rows):.1f} on {os.cpu_count()} CPUs")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
