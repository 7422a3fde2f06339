"""A user's IQM job written with IQM's own client (iqm-client 35, no qrmi): a Bell pair on the job's
IQM Server QPU, configured only from the variables a QRMI job gets. The same file runs

- on a laptop against a local twin: export QRMI_JOB_QPU_RESOURCES=<qpu>, QRMI_JOB_QPU_TYPES=iqm-server,
  <qpu>_QRMI_IQM_ISA_ENDPOINT=<twin URL, http://127.0.0.1:<port>>, <qpu>_QRMI_IQM_ISA_TOKEN=<twin token>;
- in a Slurm job on the site: `sbatch --qpu=<qpu>` sets exactly those (qrmid's URL, whose root serves
  the IQM Server API routed by the job token, and the job token); `qpu-env auto python3
  iqm_client_job.py` runs it in the IQM runtime, which holds iqm-client;
- against a real IQM Server: the site model's QPU gets access.mode onprem, endpoint_url and its token;
  nothing here changes.

iqm-client takes a server's root URL only (a path must end in `/` and is then mangled with the port),
and plain HTTP only to localhost: qrmid serves the API at its root over HTTPS on a site.
It reads the QPU's dynamic architecture for a CZ-coupled pair, runs the circuit in IQM's native
operations, waits and prints one JSON line: the qubits, the job's status, the shots and P(00)+P(11).
Usage: iqm_client_job.py [SHOTS] (default 1000).
"""

from __future__ import annotations

import json
import math
import os
import sys

from iqm.iqm_client import IQMClient
from iqm.pulse.circuit_operations import Circuit, CircuitOperation


def job_qpu(env: dict[str, str]) -> str:
    names = [n for n in env.get("QRMI_JOB_QPU_RESOURCES", "").split(",") if n]
    types = env.get("QRMI_JOB_QPU_TYPES", "").split(",")
    qpus = [n for n, t in zip(names, types, strict=False) if t == "iqm-server"]
    if not qpus:
        raise SystemExit(f"no iqm-server QPU in this job ({', '.join(names) or 'none'})")
    return qpus[0]


def bell(a: str, b: str) -> Circuit:
    half = math.pi / 2

    def ry(q: str, angle: float) -> CircuitOperation:  # prx with phase π/2 is a rotation about Y
        return CircuitOperation("prx", (q,), {"angle": angle, "phase": half})

    return Circuit("bell", (ry(a, half), ry(b, -half), CircuitOperation("cz", (a, b), {}), ry(b, half),
                            CircuitOperation("measure", (a, b), {"key": "m"})))


def main(shots: int) -> int:
    env = dict(os.environ)
    qpu = job_qpu(env)
    client = IQMClient(env[f"{qpu}_QRMI_IQM_ISA_ENDPOINT"], quantum_computer=qpu,
                       token=env[f"{qpu}_QRMI_IQM_ISA_TOKEN"])
    arch = client.get_dynamic_quantum_architecture()
    pairs = arch.gates["cz"].loci if "cz" in arch.gates else ()
    if not pairs:
        raise SystemExit("the QPU advertises no CZ-coupled qubit pair")
    a, b = pairs[0]
    job = client.submit_circuits([bell(a, b)], shots=shots)
    job.wait_for_completion(timeout_secs=600)
    result = job.result()
    if result is None:
        raise SystemExit(f"job {job.job_id} ended {job.status} without results")
    measured = [tuple(s) for s in result[0]["m"]]
    same = sum(1 for x, y in measured if x == y)
    ones = sum(1 for x, y in measured if x == y == 1)
    print(json.dumps({"qpu": qpu, "job": str(job.job_id), "qubits": list(arch.qubits), "pair": [a, b],
                      "status": str(job.status), "shots": len(measured), "p00_p11": same / len(measured),
                      "p11": ones / len(measured)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
