"""qrmid acquire + release latency with N concurrent requesters against an emulated QPU.

    .venv-node/bin/python benchmarks/qrmid_bench.py [--requesters 50] [--cycles 10] [--qpu sc_twin]

Starts the real pieces on 127.0.0.1 (munged with its own key, the qpu-emulator
with the lab site's twins, qrmid configured from inventories/lab/site.yaml with
the QPU's slots raised to the number of requesters, so the figure is qrmid's
path and not queueing for a slot), then runs N requesters at once. Each cycle is
what the SPANK plugin does for a job: a munge-signed POST /v1/acquisitions
(qrmi acquire — for sc_twin an IBM session opened at the emulator — plus
job-scoped credentials), then POST .../release (qrmi release — the session
closed at the emulator). Prints p50/p99 per operation and per cycle.

Two load shapes: ``--mode paced`` (default; every requester starts one cycle per
``--interval`` seconds, spread out — 50 jobs starting and ending concurrently) and
``--mode burst`` (every requester loops back-to-back, so all 50 are always in
flight and latency is bounded by throughput: Little's law).

Target (issue 5): p99 ≤ 20 ms on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "services" / "qrmid" / "tests"))

import harness  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time of a process; with children, also of its live descendants (qrmid's acquirer
    process) and of those it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    total = ticks / os.sysconf("SC_CLK_TCK")
    if children:
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                total += sum(cpu_seconds(int(c), True) for c in task.read_text().split())
    return total


class PluginClient:
    """The SPANK plugin's exchange (services/spank-qrmid, http_call): a munge credential over
    "<METHOD> <path>\\n<body>", one HTTP/1.1 request with ``Connection: close`` written on a
    new TCP connection, the answer read to EOF. What the plugin does in C, with as little
    Python as possible around it; urllib (``--client urllib``) costs ~0.5 ms CPU per request
    more and holds the client threads' shared GIL longer."""

    def __init__(self, url: str, munge_socket: str):
        from qrmid.munge_auth import Munge, request_payload

        self.host, _, port = url.removeprefix("http://").partition(":")
        self.addr = (self.host, int(port))
        self.munge = Munge(munge_socket)
        self.payload = request_payload

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else b""
        cred = self.munge.encode(self.payload(method, path, data))
        req = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.addr[1]}\r\nAuthorization: Munge {cred}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
               ).encode() + data
        with socket.create_connection(self.addr, timeout=60) as sock:
            sock.sendall(req)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
        return int(head.split(None, 2)[1]), json.loads(payload or b"null")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requesters", type=int, default=50)
    ap.add_argument("--cycles", type=int, default=10, help="acquire+release cycles per requester")
    ap.add_argument("--qpu", default="sc_twin")
    ap.add_argument("--mode", choices=("paced", "burst"), default="paced",
                    help="paced: each requester starts a cycle every --interval s (jobs starting over time); "
                         "burst: each requester loops back-to-back (every requester always in flight)")
    ap.add_argument("--interval", type=float, default=1.0, help="paced mode: seconds between a requester's cycles")
    ap.add_argument("--release-wait", action="store_true",
                    help="release calls wait for the QPU service's release too (?wait_s=30); by default they "
                         "return once the job's credentials are revoked, as the SPANK plugin's do")
    ap.add_argument("--client", choices=("plugin", "urllib"), default="plugin",
                    help="plugin: the SPANK plugin's exchange on a raw socket (default); urllib: the test suite's "
                         "client (more CPU per request in this process)")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured cycles per requester first (connections, "
                                                            "qrmi instances and their IAM tokens)")
    args = ap.parse_args()

    # The services see the environment a service manager gives them (roles/qrmid's unit sets
    # none), not this shell's: SSL_CERT_FILE / SSL_CERT_DIR decide what qrmi's TLS stack loads
    # for every qrmi instance (see docs/benchmarks.md).
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        os.environ.pop(var, None)
    tmp = Path(tempfile.mkdtemp(prefix="qrmid-bench-"))
    munged = harness.start_munged(tmp / "munge")
    emulator = qrmid = None
    try:
        site = harness.lab_site_vars()
        emulator = harness.start_emulator(tmp / "emulator", site)
        qpus = [{**q, "calibration_windows": [], "slots": max(q["slots"], args.requesters)}
                for q in site["qpusite_qpus"]]
        port = harness.free_port()
        cfg = harness.qrmid_config(tmp, site, emulator.url, munged.socket, port, qpus=qpus, status_poll_s=3600)
        qrmid = harness.Qrmid(cfg, f"http://127.0.0.1:{port}", tmp / "qrmid.log").start()

        acquire_ms: list[float] = []
        release_ms: list[float] = []
        cycle_ms: list[float] = []
        errors: list[str] = []
        start = threading.Barrier(args.requesters)
        release_query = "?wait_s=30" if args.release_wait else ""
        done_states = ("released",) if args.release_wait else ("releasing", "released")

        def requester(n: int) -> None:
            client = (PluginClient if args.client == "plugin" else harness.Client)(qrmid.url, munged.socket)
            start.wait()
            # paced requesters start spread over one interval, as jobs do, then keep their rhythm
            t_next = time.perf_counter() + random.uniform(0, args.interval)  # noqa: S311 (load spread, not crypto)
            for c in range(-args.warmup, args.cycles):
                job = f"{n * 1000 + c + args.warmup}"
                if args.mode == "paced":
                    time.sleep(max(0.0, t_next - time.perf_counter()))
                    t_next += args.interval
                t0 = time.perf_counter()
                code, a = client.request("POST", "/v1/acquisitions",
                                         {"job_id": job, "user": "bob", "uid": 1001, "qpus": [args.qpu],
                                          "wait_s": 30})
                t1 = time.perf_counter()
                if code != 201:
                    errors.append(f"acquire {job}: {code} {a}")
                    continue
                code, r = client.request("POST", f"/v1/acquisitions/{a['id']}/release{release_query}", {})
                t2 = time.perf_counter()
                if code != 200 or r.get("state") not in done_states:
                    errors.append(f"release {job}: {code} {r}")
                    continue
                if c < 0:
                    continue
                acquire_ms.append((t1 - t0) * 1000)
                release_ms.append((t2 - t1) * 1000)
                cycle_ms.append((t2 - t0) * 1000)

        threads = [threading.Thread(target=requester, args=(n,)) for n in range(args.requesters)]
        # qrmid with the processes it starts (its acquirer: qrmi's acquire() runs there); the
        # client is this process (the requester threads: urllib, JSON; munge encodes are munged's)
        procs = {"qrmid": (qrmid.proc.pid, True), "emulator": (emulator.proc.pid, False),
                 "munged": (munged.proc.pid, False), "client": (os.getpid(), False)}
        cpu0 = {name: cpu_seconds(pid, kids) for name, (pid, kids) in procs.items()}
        wall = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        cycles = args.requesters * (args.cycles + args.warmup)
        cpu = {name: (cpu_seconds(pid, kids) - cpu0[name]) / cycles * 1000 for name, (pid, kids) in procs.items()}
        mode = f"paced, one cycle per {args.interval:g} s each" if args.mode == "paced" else "burst, back-to-back"
        mode += ", release waits for the service" if args.release_wait else ""
        mode += ", urllib client" if args.client == "urllib" else ""
        print(f"qrmid bench ({mode}): {args.requesters} concurrent requesters x {args.cycles} cycles on {args.qpu}, "
              f"{len(cycle_ms)} ok, {len(errors)} failed, {wall:.1f} s wall, "
              f"{len(cycle_ms) / wall:.1f} cycles/s")
        for name, values in (("acquire", acquire_ms), ("release", release_ms), ("acquire+release", cycle_ms)):
            if values:
                print(f"  {name:16s} p50 {statistics.median(values):7.1f} ms   p99 {pct(values, 99):7.1f} ms   "
                      f"max {max(values):7.1f} ms")
        # every slot must come back: the background releases at the service all finished
        deadline = time.monotonic() + 30
        in_use = None
        while time.monotonic() < deadline:
            _, qpu = harness.Client(qrmid.url, munged.socket).request("GET", f"/v1/qpus/{args.qpu}", auth=None)
            in_use = qpu["in_use"]
            if in_use == 0:
                break
            time.sleep(0.2)
        if in_use != 0:
            errors.append(f"{in_use} slots still in use 30 s after the last release")
        print("  CPU per cycle: " + ", ".join(f"{k} {v:.2f} ms" for k, v in cpu.items()))
        for e in errors[:5]:
            print("  error:", e)
        return 0 if not errors else 1
    finally:
        for p in (qrmid, emulator):
            if p is not None:
                p.stop() if isinstance(p, harness.Qrmid) else harness.stop(p.proc)
        harness.stop(munged.proc)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
