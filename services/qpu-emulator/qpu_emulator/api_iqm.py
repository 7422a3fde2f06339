"""The IQM Server surface (``/api/v1``, ``/about``) that IQM's own client (iqm-client 35)
and QRMI's ``iqm-server`` resource call: quantum computers, health, static and dynamic
quantum architecture, circuit jobs, their status, measurements and counts, cancel.

Shapes follow iqm-client's own models (``iqm.iqm_server_client.models``,
``iqm.station_control.interface.models``): a job is ``JobData`` (``id``, ``status``
waiting|processing|completed|failed|cancelled, ``messages``, ``errors``,
``queue_position``, ``timeline``); measurements are per circuit ``{key: [[bit …] per shot]}``.
Authentication: ``Authorization: Bearer <token>`` with one of the twin's static tokens.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request, Response

from qpu_emulator import iqm_twin
from qpu_emulator.auth import Principal
from qpu_emulator.config import Twin
from qpu_emulator.deps import Caller, Svc
from qpu_emulator.errors import ApiError
from qpu_emulator.service import Service
from qpu_emulator.store import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, Job

API = "iqm-server"
PREFIX = "/api/v1"
STATUS_NAMES = {QUEUED: "waiting", RUNNING: "processing", COMPLETED: "completed", FAILED: "failed",
                CANCELLED: "cancelled"}
MAX_BODY_KEYS = 64

router = APIRouter()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _twin(svc: Service, alias: str, caller: Principal) -> Twin:
    return svc.twin_for(alias, API, caller, what="Quantum computer")


@router.get("/about", tags=["IQM server"])
def about() -> dict[str, Any]:
    return {"iqm_server": {"version": "qpusite-twin"}, "software_versions": {"iqm-server": "qpusite-twin"}}


@router.get(f"{PREFIX}/quantum-computers", tags=["IQM quantum computers"])
def quantum_computers(svc: Svc, caller: Caller) -> dict[str, Any]:
    return {"quantum_computers": [iqm_twin.quantum_computer(t) for t in svc.twins(API, caller)]}


@router.get(f"{PREFIX}/quantum-computers/{{alias}}", tags=["IQM quantum computers"])
def quantum_computer(alias: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    """One quantum computer's details (what qrmi's ``status()`` reads): operational state, health, queue."""
    twin = _twin(svc, alias, caller)
    ready = svc.scheduler.workers_ready > 0
    return iqm_twin.quantum_computer_details(twin, ready, svc.scheduler.pending_count(twin.name), _iso(time.time()))


@router.get(f"{PREFIX}/quantum-computers/{{alias}}/health", tags=["IQM quantum computers"])
def health(alias: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    _twin(svc, alias, caller)
    ready = svc.scheduler.workers_ready > 0
    return {"status": "operational" if ready else "starting", "ready": ready}


@router.get(f"{PREFIX}/quantum-computers/{{alias}}/artifacts/static-quantum-architectures",
            tags=["IQM quantum computers"])
def static_architectures(alias: str, svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    return [iqm_twin.static_architecture(_twin(svc, alias, caller))]


@router.get(f"{PREFIX}/calibration-sets/{{alias}}/{{calibration_set_id}}/dynamic-quantum-architecture",
            tags=["IQM quantum computers"])
def dynamic_architecture(alias: str, calibration_set_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    twin = _twin(svc, alias, caller)
    if calibration_set_id not in ("default", iqm_twin.calibration_set_id(twin)):
        raise ApiError(404, f"Calibration set {calibration_set_id[:64]} not found; this twin has one ('default').")
    return iqm_twin.dynamic_architecture(twin)


def _calibration_set(svc: Service, alias: str, calibration_set_id: str, caller: Principal) -> Twin:
    twin = _twin(svc, alias, caller)
    if calibration_set_id not in ("default", iqm_twin.calibration_set_id(twin)):
        raise ApiError(404, f"Calibration set {calibration_set_id[:64]} not found; this twin has one ('default').")
    return twin


@router.get(f"{PREFIX}/calibration-sets/{{alias}}/{{calibration_set_id}}", tags=["IQM quantum computers"])
def calibration_set(alias: str, calibration_set_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    """The twin's one calibration set: the observations its noise model stands for."""
    return iqm_twin.calibration_set(_calibration_set(svc, alias, calibration_set_id, caller))


@router.get(f"{PREFIX}/calibration-sets/{{alias}}/{{calibration_set_id}}/metrics", tags=["IQM quantum computers"])
def quality_metrics(alias: str, calibration_set_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Quality metrics of the calibration set: the twin's noise figures as IQM names them."""
    return iqm_twin.quality_metrics(_calibration_set(svc, alias, calibration_set_id, caller))


def _job_doc(job: Job, svc: Service) -> dict[str, Any]:
    twin = svc.config.twin(job.twin)
    timeline = [{"source": "iqm-server", "status": "created", "timestamp": _iso(job.created)}]
    if job.started:
        timeline.append({"source": "iqm-server", "status": "execution_started", "timestamp": _iso(job.started)})
    if job.finished:
        timeline.append({"source": "iqm-server", "status": "execution_ended", "timestamp": _iso(job.finished)})
    done = job.status == COMPLETED and job.result is not None
    doc: dict[str, Any] = {
        "id": job.id,
        "type": job.program,
        "qc": {"id": iqm_twin.quantum_computer(twin)["id"]} if twin else None,
        "status": STATUS_NAMES[job.status],
        "artifacts": [{"type": "measurements"}, {"type": "measurement_counts"}] if done else [],
        "runtime_ms": int((job.finished - job.started) * 1000) if job.started and job.finished else None,
        "tag": job.params.get("tag") if isinstance(job.params, dict) else None,
        "messages": [],
        "errors": [{"message": job.error, "error_code": "execution_failed", "source": "iqm-server"}]
        if job.status == FAILED and job.error else [],
        "queue_position": svc.scheduler.pending_count(job.twin) if job.status == QUEUED else None,
        "timeline": timeline,
        "compilation": {"calibration_set_id": iqm_twin.calibration_set_id(twin)} if twin else None,
        "execution": None,
    }
    return doc


def _job(svc: Service, job_id: str, caller: Principal) -> Job:
    job = svc.store.get_job(job_id)
    if job is None or job.api != API or not caller.may_use(job.twin):
        raise ApiError(404, f"Job {job_id[:64]} not found.")
    return job


@router.post(f"{PREFIX}/jobs/{{alias}}/circuit", tags=["IQM jobs"])
async def submit_circuits(alias: str, request: Request, svc: Svc, caller: Caller) -> dict[str, Any]:
    """A circuit job (iqm-client's ``submit_circuits``): circuits with physical qubit names."""
    twin = _twin(svc, alias, caller)
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise ApiError(400, "The request body is not JSON.") from None
    if not isinstance(body, dict) or len(body) > MAX_BODY_KEYS:
        raise ApiError(400, "The request body must be a RunRequest object.")
    if body.get("qubit_mapping"):
        raise ApiError(400, "qubit_mapping: this twin takes physical qubit names (QB1 …) only.")
    cal = body.get("calibration_set_id")
    if cal not in (None, iqm_twin.calibration_set_id(twin)):
        raise ApiError(400, "calibration_set_id: this twin has one calibration set (omit it or use 'default').")
    shots = body.get("shots", 1)
    circuits = iqm_twin.check_circuits(body.get("circuits"), shots, twin)
    job = Job(
        id=svc.new_id(),
        api=API,
        twin=twin.name,
        program="circuit",
        status=QUEUED,
        principal=caller.name,
        created=time.time(),
        params={"circuits": circuits, "shots": shots},
        shots=shots * len(circuits),
        logs=f"job accepted for {twin.backend_name}\n",
    )
    svc.scheduler.submit(job)
    return _job_doc(job, svc)


@router.get(f"{PREFIX}/jobs/{{job_id}}", tags=["IQM jobs"])
def get_job(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _job_doc(_job(svc, job_id, caller), svc)


def _measurements(job: Job) -> list[dict[str, list[list[int]]]]:
    if job.status != COMPLETED or job.result is None:
        raise ApiError(404, f"Job {job.id} has no measurements: it is {STATUS_NAMES[job.status]}.")
    doc: list[dict[str, list[list[int]]]] = json.loads(job.result)
    return doc


@router.get(f"{PREFIX}/jobs/{{job_id}}/artifacts/measurements", tags=["IQM jobs"])
def measurements(job_id: str, svc: Svc, caller: Caller) -> list[dict[str, list[list[int]]]]:
    return _measurements(_job(svc, job_id, caller))


@router.get(f"{PREFIX}/jobs/{{job_id}}/artifacts/measurement_counts", tags=["IQM jobs"])
def measurement_counts(job_id: str, svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    """Per circuit: the measured keys (in order) and counts of the joined bitstrings."""
    out = []
    for per_key in _measurements(_job(svc, job_id, caller)):
        keys = list(per_key)
        shots = len(next(iter(per_key.values()), []))
        words = ("".join("".join(map(str, per_key[k][s])) for k in keys) for s in range(shots))
        out.append({"measurement_keys": keys, "counts": dict(Counter(words))})
    return out


@router.post(f"{PREFIX}/jobs/{{job_id}}/cancel", tags=["IQM jobs"], status_code=204)
def cancel_job(job_id: str, svc: Svc, caller: Caller) -> Response:
    job = _job(svc, job_id, caller)
    if job.final or svc.scheduler.cancel(job_id) == "final":
        raise ApiError(409, f"Job {job_id} is already {STATUS_NAMES[_job(svc, job_id, caller).status]}.")
    return Response(status_code=204)
