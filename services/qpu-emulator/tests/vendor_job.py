"""A user's job written with the vendors' own clients (qiskit-ibm-runtime, pasqal-cloud,
Pulser), configured from nothing but the environment a QRMI job gets.

The same file runs on a laptop against a twin (the variables point at the emulator, with
the twin's own credentials) and inside a Slurm job through qrmid (the variables are the
ones qrmid hands the job: its proxy, its IAM endpoint, JWT job credentials). Nothing in it
knows which. Per QPU it prints one JSON line of what the clients saw.

    <name>_QRMI_IBM_QCS_ENDPOINT / _IAM_ENDPOINT / _IAM_APIKEY / _SERVICE_CRN
    <name>_QRMI_PASQAL_CLOUD_BASE_URL / _AUTH_TOKEN / _PROJECT_ID
    QRMI_JOB_QPU_RESOURCES, QRMI_JOB_QPU_TYPES (comma separated)

Usage: vendor_job.py [shots]
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any


def bell() -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def ibm(name: str, env: dict[str, str], shots: int) -> dict[str, Any]:
    from qiskit import transpile
    from qiskit_ibm_runtime import QiskitRuntimeService, SamplerV2

    # Configuration only: IAM at the site's (or twin's) endpoint, the API at the given base,
    # and IBM Cloud's instance search skipped (the instance is the CRN we are given).
    os.environ["IAM_URL"] = env[f"{name}_QRMI_IBM_QCS_IAM_ENDPOINT"]
    os.environ["QISKIT_FUNCTIONS_EXPERIMENTAL"] = "1"
    endpoint = env[f"{name}_QRMI_IBM_QCS_ENDPOINT"]
    service = QiskitRuntimeService(
        channel="ibm_cloud",
        token=env[f"{name}_QRMI_IBM_QCS_IAM_APIKEY"],
        instance=env[f"{name}_QRMI_IBM_QCS_SERVICE_CRN"],
        url="https://cloud.ibm.com",
        url_resolver=lambda *_: endpoint,
    )
    backend = service.backend(name)
    job = SamplerV2(mode=backend).run([transpile(bell(), backend)], shots=shots)
    counts = job.result()[0].data.c.get_counts()
    metrics = job.metrics()
    props = job.properties()
    return {
        "qpu": name,
        "client": "qiskit-ibm-runtime",
        "counts": counts,
        "usage": job.usage(),
        "metrics_keys": sorted(metrics),
        "running": metrics.get("timestamps", {}).get("running"),
        "properties_qubits": len(props.qubits) if props is not None else None,
        "num_qubits": backend.num_qubits,
    }


class StaticToken:
    """A token provider for the token the job was given (pasqal-cloud asks for one)."""

    def __init__(self, token: str):
        self.token = token

    def get_token(self) -> str:
        return self.token


def pasqal(name: str, env: dict[str, str], shots: int) -> dict[str, Any]:
    from pasqal_cloud.authentication import TokenProvider
    from pasqal_cloud.endpoints import Endpoints
    from pasqal_cloud.pasqal_cloud_connection import PasqalCloudConnection
    from pulser import Pulse, Register, Sequence
    from pulser.backend import QPUBackend

    class Token(StaticToken, TokenProvider):
        pass

    base = env[f"{name}_QRMI_PASQAL_CLOUD_BASE_URL"].rstrip("/")
    kwargs = {
        "token_provider": Token(env[f"{name}_QRMI_PASQAL_CLOUD_AUTH_TOKEN"]),
        "endpoints": Endpoints(core=base + "/core-fast", account=base + "/account"),
    }
    connection = PasqalCloudConnection(project_id=env.get(f"{name}_QRMI_PASQAL_CLOUD_PROJECT_ID", ""), **kwargs)
    client = connection.cloud_client
    specs = client.get_device_specs_dict()
    devices = connection.fetch_available_devices()
    device = devices[name]

    reg = Register.from_coordinates([(0.0, 0.0)], prefix="q")
    seq = Sequence(reg, device)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=500, amplitude=2 * math.pi, detuning=0, phase=0), "ryd")
    qpu = QPUBackend(seq, connection)
    # one closed batch, then an open one that takes two jobs before it is closed
    first = qpu.run(job_params=[{"runs": shots}], wait=True)
    with qpu.open_batch():
        a = qpu.run(job_params=[{"runs": shots}], wait=True)
        b = qpu.run(job_params=[{"runs": shots}], wait=True)
        open_batch = a.batch_id
    listed = client.get_batches()
    return {
        "qpu": name,
        "client": "pasqal-cloud+pulser",
        "specs": sorted(specs),
        "devices": sorted(devices),
        "counts": dict(first.results[0].bitstring_counts),
        "open_batch_counts": [dict(r.results[0].bitstring_counts) for r in (a, b)],
        "open_batch_jobs": len(client.get_batch(open_batch).ordered_jobs),
        "open_batch_open": client.get_batch(open_batch).open,
        "same_open_batch": a.batch_id == b.batch_id,
        "listed": sorted(batch.id for batch in listed.results),
        "created": sorted({first.batch_id, open_batch}),
    }


def check(seen: dict[str, dict[str, Any]], ibm: str, atoms: str, shots: int) -> None:
    """What the vendors' clients must have seen, on a twin directly or through qrmid (the
    test suites call this on the script's output)."""
    got = seen[ibm]
    counts = got["counts"]
    assert sum(counts.values()) == shots, counts
    assert (counts.get("01", 0) + counts.get("10", 0)) / shots < 0.15, counts  # a Bell pair, maybe noisy
    assert {"timestamps", "usage"} <= set(got["metrics_keys"]) and got["running"], got  # job.metrics()
    assert got["usage"] >= 1, got  # job.usage(): whole QPU seconds once the job is final
    assert got["properties_qubits"] == got["num_qubits"], got  # job.properties() at run time

    got = seen[atoms]
    assert got["specs"] == [atoms] and got["devices"] == [atoms], got
    for c in (got["counts"], *got["open_batch_counts"]):
        assert sum(c.values()) == shots and c.get("1", 0) / shots > 0.85, c
    assert got["same_open_batch"] and got["open_batch_jobs"] == 2 and got["open_batch_open"] is False, got
    assert set(got["created"]) <= set(got["listed"]), got


def main() -> int:
    shots = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    env = dict(os.environ)
    names = env["QRMI_JOB_QPU_RESOURCES"].split(",")
    types = env["QRMI_JOB_QPU_TYPES"].split(",")
    for name, kind in zip(names, types, strict=True):
        if kind == "ibm-quantum-compute-service":
            print(json.dumps(ibm(name, env, shots)), flush=True)
        elif kind == "pasqal-cloud":
            print(json.dumps(pasqal(name, env, shots)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
