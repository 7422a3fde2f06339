"""Reach a QPU the way a Slurm job does: through qrmi and the job's environment.

Inside ``sbatch --qpu=NAME`` the SPANK plugin has already acquired the QPU and
exported ``QRMI_JOB_QPU_RESOURCES``/``QRMI_JOB_QPU_TYPES`` and the resource's
``NAME_…`` settings (including ``NAME_QRMI_JOB_ACQUISITION_TOKEN``). From a
laptop the same variables are set by hand; then no acquisition token exists and
this module acquires the QPU itself and releases it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

FINAL = ("Completed", "Failed", "Cancelled")

# qrmi_config.json type strings → qrmi.ResourceType member names
RESOURCE_TYPES = {
    "ibm-quantum-compute-service": "IBMQuantumComputeService",
    "qiskit-runtime-service": "IBMQiskitRuntimeService",
    "ibm-quantum-system": "IBMQuantumSystem",
    "pasqal-cloud": "PasqalCloud",
    "pasqal-local": "PasqalLocal",
    "iqm-server": "IQMServer",
    "alice-bob-felis": "AliceBobFelis",
    "oqtopus": "OQTOPUS",
}
IBM_TYPES = ("ibm-quantum-compute-service", "qiskit-runtime-service", "ibm-quantum-system")
PASQAL_TYPES = ("pasqal-cloud", "pasqal-local")
IQM_TYPES = ("iqm-server",)


class QpuError(Exception):
    """A QPU could not be used; the message says which and why."""


def job_resources() -> dict[str, str]:
    """Resource name → type string, from the job environment (as QRMIService reads it)."""
    import qrmi

    try:
        names, types = qrmi.get_job_qpu_resources_and_types()
    except RuntimeError as exc:
        raise QpuError(f"not in a QPU job: {exc} (submit with sbatch --qpu=NAME, or export them)") from None
    return dict(zip(names, types, strict=True))


@dataclass
class Qpu:
    name: str
    type: str
    resource: Any

    @property
    def kind(self) -> str:
        if self.type in IBM_TYPES:
            return "ibm"
        if self.type in PASQAL_TYPES:
            return "pasqal"
        if self.type in IQM_TYPES:
            return "iqm"
        return self.type


def open_qpu(name: str | None = None) -> Qpu:
    """The job's QPU called ``name`` (or its only QPU)."""
    import qrmi

    resources = job_resources()
    if name is None:
        if len(resources) != 1:
            raise QpuError(f"the job has {len(resources)} QPUs ({', '.join(resources) or 'none'}); name one")
        name = next(iter(resources))
    if name not in resources:
        raise QpuError(f"QPU {name} is not in this job's QPUs ({', '.join(resources) or 'none'})")
    type_name = RESOURCE_TYPES.get(resources[name])
    if type_name is None:
        raise QpuError(f"QPU {name} has type {resources[name]!r}, which this program does not drive")
    resource = qrmi.QuantumResource(name, getattr(qrmi.ResourceType, type_name))
    return Qpu(name, resources[name], resource)


@contextmanager
def held(qpu: Qpu) -> Iterator[str]:
    """Use the job's acquisition if the plugin made one; otherwise acquire and always release."""
    token = os.environ.get(f"{qpu.name}_QRMI_JOB_ACQUISITION_TOKEN")
    if token:
        yield token
        return
    token = qpu.resource.acquire()
    try:
        yield token
    finally:
        qpu.resource.release(token)


def wait(qpu: Qpu, task_id: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        status = str(qpu.resource.task_status(task_id)).rsplit(".", 1)[-1]
        if status in FINAL:
            return status
        if time.monotonic() > deadline:
            qpu.resource.task_stop(task_id)
            raise QpuError(f"task {task_id} on {qpu.name} not finished after {timeout_s:.0f} s (stopped)")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _result(qpu: Qpu, task_id: str, timeout_s: float) -> Any:
    status = wait(qpu, task_id, timeout_s)
    if status != "Completed":
        logs = ""
        with contextlib.suppress(Exception):  # logs are a courtesy; the status is the error
            logs = str(qpu.resource.task_logs(task_id))[-500:]
        raise QpuError(f"task {task_id} on {qpu.name} ended {status}: {logs}")
    return json.loads(qpu.resource.task_result(task_id).value)


def run_sampler(qpu: Qpu, sampler_input: str, timeout_s: float = 600) -> dict[str, Any]:
    import qrmi

    task = qpu.resource.task_start(qrmi.Payload.QiskitPrimitive(input=sampler_input, program_id="sampler"))
    result: dict[str, Any] = _result(qpu, task, timeout_s)
    return result


def run_pulser(qpu: Qpu, sequence_json: str, runs: int, timeout_s: float = 600) -> dict[str, int]:
    import qrmi

    task = qpu.resource.task_start(qrmi.Payload.PasqalCloud(sequence=sequence_json, job_runs=runs))
    result = _result(qpu, task, timeout_s)
    counter = result.get("counter") if isinstance(result, dict) else None
    if not isinstance(counter, dict):
        raise QpuError(f"{qpu.name} returned no counter: {str(result)[:200]}")
    return {str(k): int(v) for k, v in counter.items()}


def run_iqm_circuits(qpu: Qpu, circuits: list[dict[str, Any]], shots: int, timeout_s: float = 600) -> list[Any]:
    """IQM native circuits (RunRequest JSON) through qrmi's iqm-server resource; per circuit, the
    ``measurement_counts`` entry IQM Server answers ({measurement_keys, counts})."""
    import qrmi

    request = json.dumps({"circuits": circuits, "shots": shots})
    task = qpu.resource.task_start(qrmi.Payload.IQMServer(iqmjson=request, job_type="circuit", use_timeslot=False,
                                                          tag=None))
    result = _result(qpu, task, timeout_s)
    counts = result.get("measurement_counts") if isinstance(result, dict) else None
    if not isinstance(counts, list) or len(counts) != len(circuits):
        raise QpuError(f"{qpu.name} returned no measurement counts: {str(result)[:200]}")
    return counts


def iqm_coupler(qpu: Qpu) -> tuple[str, str]:
    """A coupled qubit pair of the IQM QPU, from the architecture it advertises (qrmi's target())."""
    target = json.loads(qpu.resource.target().value)
    static = target.get("static_quantum_architecture") if isinstance(target, dict) else None
    pairs = static.get("connectivity") if isinstance(static, dict) else None
    if isinstance(static, list) and static:  # the artifact is a list of architectures
        pairs = static[0].get("connectivity") if isinstance(static[0], dict) else None
    if not pairs:
        dqa = target.get("dynamic_quantum_architecture") if isinstance(target, dict) else None
        cz = (dqa or {}).get("gates", {}).get("cz", {}).get("implementations", {})
        pairs = next((impl.get("loci") for impl in cz.values() if impl.get("loci")), None)
    if not pairs or len(pairs[0]) != 2:
        raise QpuError(f"{qpu.name}: its architecture names no coupled qubit pair")
    return str(pairs[0][0]), str(pairs[0][1])


def pulser_device_or_none(qpu: Qpu) -> Any:
    """The advertised device, or None when the service (or a proxy in front of it) will not say."""
    try:
        return pulser_device(qpu)
    except Exception:  # any failure here only means: build against a generic device instead
        return None


def pulser_device(qpu: Qpu) -> Any:
    """The device the QPU service advertises (Pasqal public specs), as a Pulser device."""
    from pulser.abstract_repr import deserialize_device

    specs = json.loads(qpu.resource.target().value)
    entries = specs if isinstance(specs, list) else specs.get("data", [])
    for entry in entries:
        if entry.get("device_type") == qpu.name:
            return deserialize_device(entry["specs"] if isinstance(entry["specs"], str) else json.dumps(entry["specs"]))
    raise QpuError(f"{qpu.name}: the service advertises no device named {qpu.name}")
