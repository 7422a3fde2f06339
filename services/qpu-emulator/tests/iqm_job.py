"""A user's IQM job: a Bell pair on an IQM Server QPU through qrmi's own iqm-server resource, configured
only from the variables a QRMI job gets. The same file runs

- on a laptop against a local twin: export QRMI_JOB_QPU_RESOURCES=<qpu>, QRMI_JOB_QPU_TYPES=iqm-server,
  <qpu>_QRMI_IQM_ISA_ENDPOINT=<twin URL>, <qpu>_QRMI_IQM_ISA_TOKEN=<twin token>;
- in a Slurm job on the site: `sbatch --qpu=<qpu>` sets exactly those (qrmid's proxy and a job token);
  `qpu-env auto python3 iqm_job.py` picks the runtime of the job's QPUs;
- against a real IQM Server: the site model's QPU gets access.mode onprem and endpoint_url, and its
  token; nothing here changes.

It reads the QPU's architecture (qrmi's target()) for a coupled pair, runs the circuit in IQM's native
operations and prints one JSON line: the counts and P(00)+P(11).
Usage: iqm_job.py [SHOTS] (default 1000).
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

import qrmi


def coupled_pair(resource: Any) -> tuple[str, str]:
    target = json.loads(resource.target().value)
    static = target.get("static_quantum_architecture")
    if isinstance(static, list):
        static = static[0] if static else None
    pairs = (static or {}).get("connectivity") or []
    if not pairs:
        raise SystemExit("the QPU advertises no coupled qubit pair")
    return str(pairs[0][0]), str(pairs[0][1])


def bell(a: str, b: str) -> dict[str, Any]:
    half = math.pi / 2

    def ry(q: str, angle: float) -> dict[str, Any]:  # prx with phase π/2 is a rotation about Y
        return {"name": "prx", "locus": [q], "args": {"angle": angle, "phase": half}}

    return {"name": "bell", "instructions": [
        ry(a, half), ry(b, -half), {"name": "cz", "locus": [a, b], "args": {}}, ry(b, half),
        {"name": "measure", "locus": [a, b], "args": {"key": "m"}},
    ]}


def main(shots: int) -> int:
    names, types = qrmi.get_job_qpu_resources_and_types()
    qpus = [n for n, t in zip(names, types, strict=True) if t == "iqm-server"]
    if not qpus:
        raise SystemExit(f"no iqm-server QPU in this job ({', '.join(names) or 'none'})")
    name = qpus[0]
    resource = qrmi.QuantumResource(name, qrmi.ResourceType.IQMServer)
    a, b = coupled_pair(resource)
    request = json.dumps({"circuits": [bell(a, b)], "shots": shots})
    task = resource.task_start(qrmi.Payload.IQMServer(iqmjson=request, job_type="circuit", use_timeslot=False,
                                                      tag=None))
    deadline = time.monotonic() + 600
    while (status := resource.task_status(task)) in (qrmi.TaskStatus.Queued, qrmi.TaskStatus.Running):
        if time.monotonic() > deadline:
            resource.task_stop(task)
            raise SystemExit(f"task {task} did not finish in 600 s")
        time.sleep(0.2)
    if status != qrmi.TaskStatus.Completed:
        raise SystemExit(f"task {task} ended {status}: {resource.task_logs(task)[-400:]}")
    counts = json.loads(resource.task_result(task).value)["measurement_counts"][0]["counts"]
    total = sum(counts.values())
    print(json.dumps({"qpu": name, "pair": [a, b], "shots": total, "counts": counts,
                      "p00_p11": (counts.get("00", 0) + counts.get("11", 0)) / total}))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
