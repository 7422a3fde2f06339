"""The IBM Quantum System API (on-premises IBM systems; the successor of "direct access"),
as ``qrmi``'s ``ibm-quantum-system`` resource (0.26) calls it, under ``/quantum-system``.

Its paths (``/v1/backends``, ``/v1/jobs``) are the Quantum Compute Service's with other
shapes, so this surface lives under its own prefix: ``QRMI_IBM_QS_ENDPOINT`` is
``<emulator>/quantum-system``. Tokens come from the same IAM endpoint (``/identity/token``).

A job is ``POST /v1/jobs`` with a client-chosen UUID ``id`` and three presigned URLs
(``storage.input`` to read, ``storage.results`` and ``storage.logs`` to write) in an
S3-compatible store; the answer is 204. The input is read from the store when the job is
submitted, checked like every IBM primitive input (limits.py, then a checker process),
and run on the twin. Results and logs are written to the store before the job reports
``Completed`` (or ``Failed``/``Cancelled``), so a client that saw a final state finds them.
Job states are the four this API has: a queued job reports ``Running``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from qpu_emulator import ibm_primitives, ibm_twin, job_actions, s3_links
from qpu_emulator.auth import Principal
from qpu_emulator.deps import Caller, Svc
from qpu_emulator.errors import ApiError
from qpu_emulator.scheduler import RAN_TOO_LONG
from qpu_emulator.service import Service
from qpu_emulator.store import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, Job

API = "ibm-quantum-system"
PREFIX = "/quantum-system"
STATUS = {QUEUED: "Running", RUNNING: "Running", COMPLETED: "Completed", FAILED: "Failed", CANCELLED: "Cancelled"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
MAX_TIMEOUT_S = 7 * 24 * 3600
REASON_FAILED, REASON_CANCELLED, REASON_STORE = 1517, 1518, 1520

router = APIRouter(prefix=PREFIX)
_published: set[str] = set()  # jobs whose results/logs are in the store (in this process)
_publish_lock = threading.Lock()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


# -- backends ---------------------------------------------------------------------------------


def _backend_doc(svc: Service, name: str) -> dict[str, Any]:
    ready = svc.scheduler.workers_ready > 0
    return {
        "name": name,
        "status": "online" if ready else "offline",
        "message": "available" if ready else "workers are starting",
        "version": ibm_twin.BACKEND_VERSION,
        "locked": False,
    }


@router.get("/v1/backends", tags=["IBM Quantum System"])
def list_backends(svc: Svc, caller: Caller) -> dict[str, Any]:
    return {"backends": [_backend_doc(svc, t.backend_name) for t in svc.twins(API, caller)]}


@router.get("/v1/backends/{backend_name}", tags=["IBM Quantum System"])
def get_backend(backend_name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _backend_doc(svc, svc.twin_for(backend_name, API, caller).backend_name)


@router.get("/v1/backends/{backend_name}/lanes", tags=["IBM Quantum System"])
def backend_lanes(backend_name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Execution lanes: jobs the system runs at once for the HPC workload manager (this
    emulator's workers) and for IBM Quantum's own cloud queue (none on a twin)."""
    svc.twin_for(backend_name, API, caller)
    return {"hpc_workload_manager": {"lanes": svc.config.workers}, "ibm_quantum_compute": {"lanes": 0}}


@router.get("/v1/backends/{backend_name}/configuration", tags=["IBM Quantum System"])
def backend_configuration(backend_name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return ibm_twin.configuration(svc.twin_for(backend_name, API, caller))


@router.get("/v1/backends/{backend_name}/properties", tags=["IBM Quantum System"])
def backend_properties(backend_name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return ibm_twin.properties(svc.twin_for(backend_name, API, caller))


# -- jobs -------------------------------------------------------------------------------------


class StorageOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["s3_compatible"]
    presigned_url: str = Field(min_length=1, max_length=s3_links.MAX_URL_CHARS)


class Storage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: StorageOption
    results: StorageOption
    logs: StorageOption


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=36, max_length=36, description="A UUID the client chooses.")
    backend: str = Field(min_length=1, max_length=128)
    program_id: Literal["sampler", "estimator"]
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    timeout_secs: int = Field(ge=1, le=MAX_TIMEOUT_S)
    storage: Storage


def _job(svc: Service, job_id: str, caller: Principal) -> Job:
    job = svc.store.get_job(job_id) if len(job_id) <= 64 else None
    if job is None or job.api != API or not caller.may_use(job.twin):
        raise ApiError(404, f"Job {job_id[:64]} not found.")
    return job


def _reason(job: Job, svc: Service) -> tuple[int, str, str] | None:
    publish_error = job.extra.get("publish_error")
    if publish_error:
        return REASON_STORE, f"results could not be written to the store: {publish_error}", "Check the presigned URLs."
    if job.status == FAILED:
        return REASON_FAILED, job.error or "execution failed", "Check the job's input against the backend's target."
    if job.status == CANCELLED:
        if (job.error or "").startswith(RAN_TOO_LONG):
            return REASON_CANCELLED, job.error or RAN_TOO_LONG, "Raise QRMI_JOB_TIMEOUT_SECONDS."
        return REASON_CANCELLED, "cancelled by the user", ""
    return None


def _publish(svc: Service, job: Job) -> Job:
    """Write a final job's results and logs to its store once; a write that fails fails the job."""
    if not job.final or job.id in _published or job.extra.get("publish_error"):
        return job
    with _publish_lock:
        if job.id in _published:
            return job
        storage = job.extra["storage"]
        problem = None
        if job.status == COMPLETED and job.result is not None:
            problem = s3_links.put(storage["results"], job.result.encode(), "application/json")
        if problem is None:
            logs = json.dumps({"job_id": job.id, "status": STATUS[job.status], "log": job.logs})
            problem = s3_links.put(storage["logs"], logs.encode(), "application/json")
        if problem is not None:
            extra = {**job.extra, "publish_error": problem}
            svc.store.transition(job.id, FAILED, only_from=(job.status,), extra=json.dumps(extra))
            return svc.store.get_job(job.id) or job
        _published.add(job.id)
    return job


def _job_doc(job: Job, svc: Service) -> dict[str, Any]:
    twin = svc.config.twin(job.twin)
    storage = job.extra.get("storage", {})
    doc: dict[str, Any] = {
        "id": job.id,
        "backend": twin.backend_name if twin else job.twin,
        "program_id": job.program,
        "log_level": job.extra.get("log_level", "warning"),
        "timeout_secs": job.cost,
        "status": STATUS[job.status],
        "created_time": _iso(job.created),
        "storage": {k: {"type": "s3_compatible", "presigned_url": v} for k, v in storage.items()},
    }
    if job.final:
        doc["end_time"] = _iso(job.finished)
    if job.started:
        ran = (job.finished or time.time()) - job.started
        doc["usage"] = {"quantum_nanoseconds": int(ran * 1e9)}
    reason = _reason(job, svc)
    if reason is not None:
        doc["reason_code"], doc["reason_message"], doc["reason_solution"] = reason
    return doc


@router.post("/v1/jobs", tags=["IBM Quantum System"], status_code=204)
def create_job(body: JobCreate, svc: Svc, caller: Caller) -> Response:
    if not UUID.fullmatch(body.id):
        raise ApiError(400, "id must be a lower-case UUID (8-4-4-4-12 hex digits).")
    twin = svc.twin_for(body.backend, API, caller)
    if svc.store.get_job(body.id) is not None:
        raise ApiError(409, f"A job with id {body.id} exists already.")
    allowed = svc.s3_endpoints
    urls = {
        name: s3_links.check_url(getattr(body.storage, name).presigned_url, f"storage.{name}.presigned_url", allowed)
        for name in ("input", "results", "logs")
    }
    bounds = svc.bounds(twin)
    raw = s3_links.get(urls["input"], svc.config.max_request_bytes, "job input")
    problem = _json_problem(raw)
    if problem:
        raise ApiError(400, f"The job input in the store is not acceptable JSON: {problem}")
    params = json.loads(raw)
    if not isinstance(params, dict):
        raise ApiError(400, "The job input must be a JSON object (the primitive's input: pubs, version, options).")
    ibm_primitives.check_input(body.program_id, params, twin, bounds, build=False)
    inp = svc.checkers.check(("ibm", body.program_id, params, twin.model_dump_json(), bounds))
    job = Job(
        id=body.id,
        api=API,
        twin=twin.name,
        program=inp.program,
        status=QUEUED,
        principal=caller.name,
        created=time.time(),
        params=params,
        shots=inp.total_shots,
        cost=body.timeout_secs,
        extra={"seed": inp.seed, "storage": urls, "log_level": body.log_level},
        logs=f"job accepted for {twin.backend_name}\n",
    )
    svc.scheduler.submit(job)
    return Response(status_code=204)


def _json_problem(raw: bytes) -> str | None:
    from qpu_emulator.app import json_problem

    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return "not valid JSON"
    found = json_problem(raw)
    return found.removeprefix("Invalid request: ") if found else None


@router.get("/v1/jobs", tags=["IBM Quantum System"])
def list_jobs(svc: Svc, caller: Caller) -> dict[str, Any]:
    allowed = {t.name for t in svc.twins(API, caller)}
    out = []
    for twin in sorted(allowed):
        jobs, _ = svc.store.jobs(twin=twin, limit=200)
        out += [_job_doc(_publish(svc, j), svc) for j in jobs if j.api == API]
    return {"jobs": out}


@router.get("/v1/jobs/{job_id}", tags=["IBM Quantum System"])
def get_job(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _job_doc(_publish(svc, _job(svc, job_id, caller)), svc)


@router.post("/v1/jobs/{job_id}/cancel", tags=["IBM Quantum System"], status_code=204)
def cancel_job(job_id: str, svc: Svc, caller: Caller) -> Response:
    job_actions.cancel(svc, job_id, caller, _job, STATUS)
    return Response(status_code=204)


@router.delete("/v1/jobs/{job_id}", tags=["IBM Quantum System"], status_code=204)
def delete_job(job_id: str, svc: Svc, caller: Caller) -> Response:
    job_actions.delete(svc, job_id, caller, _job)
    _published.discard(job_id)
    return Response(status_code=204)
