"""Benchmark of the emulated QPU service (services/qpu-emulator), run in the node environment:

    .venv-node/bin/python benchmarks/emulator_bench.py [--reps 30] [--seconds 20] [--clients 8]

1. A 1000-shot Bell circuit end to end through qrmi -> service (task_start, task_status
   polling, task_result) against the same circuit on AerSimulator in-process
   (transpile + run + counts). Medians; target ratio <= 1.5. Also reported: the ratio
   against Aer's bare run() without transpile, the cheapest in-process path.
2. Sustained throughput: `clients` processes, each with its own qrmi QuantumResource,
   submitting the same task back to back for `seconds`. Target >= 20 tasks/s on 2 cores.

The service runs on 127.0.0.1 (random free port) with a noiseless 5-qubit twin and
`--workers` execution processes. Prints one JSON document with every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

API_KEY = "bench-key"
SHOTS = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_service(state: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    import yaml

    port = _free_port()
    twin = {
        "name": "bench_twin",
        "backend_name": "bench_twin",
        "api": "ibm",
        "num_qubits": 5,
        "coupling_map": [[i, i + 1] for i in range(4)] + [[i + 1, i] for i in range(4)],
        "basis_gates": ["cz", "id", "rz", "sx", "x"],
        "noise": {},
        "max_shots": 100000,
        "credentials": {"api_keys": [API_KEY]},
    }
    cfg = {
        "listen": {"host": "127.0.0.1", "port": port},
        "state_dir": str(state),
        "workers": workers,
        "queue_limit": 1000,
        "retention": {"max_jobs": 2000, "max_age_s": 3600},
        "twins": [twin],
    }
    path = state / "bench.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = open(state / "service.log", "wb")  # noqa: SIM115 - lives as long as the service
    proc = subprocess.Popen(
        [sys.executable, "-m", "qpu_emulator", "--config", str(path), "--log-level", "warning"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:  # noqa: S310 - 127.0.0.1
                body = json.loads(r.read())
                if body["workers_ready"] == workers:
                    return proc, url
        except OSError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the service did not start; see " + str(state / "service.log"))


def resource(url: str) -> Any:
    import qrmi

    env = {
        "QRMI_IBM_QCS_ENDPOINT": f"{url}/v1",
        "QRMI_IBM_QCS_IAM_ENDPOINT": url,
        "QRMI_IBM_QCS_IAM_APIKEY": API_KEY,
        "QRMI_IBM_QCS_SERVICE_CRN": "crn:v1:bench",
        "QRMI_IBM_QCS_SESSION_MODE": "batch",
    }
    return qrmi.QuantumResource.from_config("bench_twin", qrmi.ResourceType.IBMQuantumComputeService, env)


def bell_qasm() -> str:
    from qiskit import qasm3

    return str(qasm3.dumps(bell()))


def bell() -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def one_task(r: Any, payload: Any, poll_s: float = 0.002) -> dict[str, int]:
    """task_start -> poll task_status -> task_result; returns the counts."""
    import qrmi

    task = r.task_start(payload)
    while True:
        st = r.task_status(task)
        if st == qrmi.TaskStatus.Completed:
            break
        if st in (qrmi.TaskStatus.Failed, qrmi.TaskStatus.Cancelled):
            raise RuntimeError(f"task {task} ended {st}")
        time.sleep(poll_s)
    samples = json.loads(r.task_result(task).value)["results"][0]["data"]["c"]["samples"]
    counts: dict[str, int] = {}
    for s in samples:
        counts[s] = counts.get(s, 0) + 1
    return counts


def payload() -> Any:
    import qrmi

    inp = json.dumps({"pubs": [[bell_qasm(), None, SHOTS]], "version": 2})
    return qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler")


def bench_latency(url: str, reps: int) -> dict[str, Any]:
    import warnings

    from qiskit import transpile
    from qiskit_aer import AerSimulator

    warnings.simplefilter("ignore")
    r = resource(url)
    p = payload()
    for _ in range(3):  # warm both paths (token, worker caches, imports)
        one_task(r, p)
    e2e = []
    for _ in range(reps):
        t0 = time.perf_counter()
        counts = one_task(r, p)
        e2e.append(time.perf_counter() - t0)
        assert sum(counts.values()) == SHOTS
    sim = AerSimulator()
    qc = bell()
    for _ in range(3):
        sim.run(transpile(qc, sim), shots=SHOTS).result().get_counts()
    local = []
    for _ in range(reps):
        t0 = time.perf_counter()
        counts = sim.run(transpile(qc, sim), shots=SHOTS).result().get_counts()
        local.append(time.perf_counter() - t0)
        assert sum(counts.values()) == SHOTS
    # The cheapest in-process path: no transpile at all (Aer takes h/cx directly).
    bare = []
    for _ in range(reps):
        t0 = time.perf_counter()
        counts = sim.run(qc, shots=SHOTS).result().get_counts()
        bare.append(time.perf_counter() - t0)
        assert sum(counts.values()) == SHOTS
    m_e2e, m_local, m_bare = statistics.median(e2e), statistics.median(local), statistics.median(bare)
    return {
        "reps": reps,
        "e2e_median_ms": round(m_e2e * 1000, 1),
        "e2e_p90_ms": round(sorted(e2e)[int(0.9 * (reps - 1))] * 1000, 1),
        "inprocess_median_ms": round(m_local * 1000, 1),
        "ratio": round(m_e2e / m_local, 2),
        "inprocess_run_only_median_ms": round(m_bare * 1000, 1),
        "ratio_vs_run_only": round(m_e2e / m_bare, 2),
    }


def _client(url: str, seconds: float, out: Any) -> None:
    r = resource(url)
    p = payload()
    one_task(r, p)  # token and connection warm
    done, lat = 0, []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        one_task(r, p)
        lat.append(time.perf_counter() - t0)
        done += 1
    out.put((done, lat))


def bench_throughput(url: str, clients: int, seconds: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(url, seconds, out)) for _ in range(clients)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join(30)
    elapsed = time.perf_counter() - t0
    total = sum(n for n, _ in results)
    lat = sorted(x for _, ls in results for x in ls)
    return {
        "clients": clients,
        "seconds": seconds,
        "tasks": total,
        # Each client ran for `seconds` after its warm-up task; the rate counts that window.
        "tasks_per_s": round(total / seconds, 1),
        "wall_s_incl_client_start": round(elapsed, 1),
        "task_latency_median_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
        "task_latency_p90_ms": round(lat[int(0.9 * (len(lat) - 1))] * 1000, 1) if lat else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="service execution processes")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as tmp:
        proc, url = start_service(Path(tmp), args.workers)
        try:
            latency = bench_latency(url, args.reps)
            throughput = bench_throughput(url, args.clients, args.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "service_workers": args.workers,
        "bell_1000_shots": latency,
        "throughput": throughput,
        "targets": {"ratio_max": 1.5, "tasks_per_s_min": 20},
        "meets_targets": latency["ratio"] <= 1.5 and throughput["tasks_per_s"] >= 20,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
