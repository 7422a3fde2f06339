"""Unchanged user code, as a batch job runs it: QRMIService() finds the job's QPUs
from the environment the SPANK plugin exported, and each samples something
small (IBM: a Bell pair with SamplerV2 input; Pasqal: a π pulse). Prints one JSON
line per QPU with its counts; exits non-zero when a task does not complete."""

from __future__ import annotations

import json
import math
import sys
import time

import qrmi

BELL = """OPENQASM 3.0;
include "stdgates.inc";
bit[2] c;
qubit[2] q;
h q[0];
cx q[0], q[1];
c[0] = measure q[0];
c[1] = measure q[1];
"""


def pi_pulse() -> str:
    from pulser import Pulse, Register, Sequence
    from pulser.devices import AnalogDevice

    seq = Sequence(Register.from_coordinates([(0.0, 0.0)], prefix="q"), AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=500, amplitude=2 * math.pi, detuning=0, phase=0), "ryd")
    return str(seq.to_abstract_repr())


def wait(resource: qrmi.QuantumResource, task: str, timeout: float = 240) -> qrmi.TaskStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = resource.task_status(task)
        if status in (qrmi.TaskStatus.Completed, qrmi.TaskStatus.Failed, qrmi.TaskStatus.Cancelled):
            return status
        time.sleep(0.2)
    raise TimeoutError(f"task {task} did not finish")


def sample(resource: qrmi.QuantumResource, shots: int) -> dict[str, int]:
    if resource.resource_type() == qrmi.ResourceType.PasqalCloud:
        task = resource.task_start(qrmi.Payload.PasqalCloud(sequence=pi_pulse(), job_runs=shots))
        if wait(resource, task) != qrmi.TaskStatus.Completed:
            raise RuntimeError(f"pasqal task {task} failed")
        return dict(json.loads(resource.task_result(task).value)["counter"])
    pub = json.dumps({"pubs": [[BELL, None, shots]], "version": 2, "support_qiskit": False})
    task = resource.task_start(qrmi.Payload.QiskitPrimitive(input=pub, program_id="sampler"))
    if wait(resource, task) != qrmi.TaskStatus.Completed:
        raise RuntimeError(f"sampler task {task} failed")
    data = json.loads(resource.task_result(task).value)["results"][0]["data"]["c"]
    counts: dict[str, int] = {}
    for s in data["samples"]:
        key = format(int(s, 16), f"0{data['num_bits']}b")
        counts[key] = counts.get(key, 0) + 1
    return counts


def main() -> int:
    shots = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    service = qrmi.QRMIService()
    names, _types = qrmi.get_job_qpu_resources_and_types()
    for name in names:
        resource = service.resource(name)
        if resource is None:
            print(json.dumps({"qpu": name, "error": "not accessible"}), flush=True)
            return 1
        counts = sample(resource, shots)
        # target() too: unchanged user code asks for the device's shape (Pasqal: its specs)
        target = json.loads(resource.target().value)
        print(json.dumps({"qpu": name, "counts": counts, "target_keys": sorted(target)[:20]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
