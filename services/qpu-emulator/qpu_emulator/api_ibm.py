"""IBM IAM token issuance and the IBM Quantum Compute Service surface (``/v1``)
that QRMI and qiskit-ibm-runtime use."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import time
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from qpu_emulator import ibm_primitives, ibm_twin, job_actions
from qpu_emulator.auth import Principal
from qpu_emulator.deps import Caller, Svc, service
from qpu_emulator.errors import ApiError
from qpu_emulator.scheduler import RAN_TOO_LONG
from qpu_emulator.service import Service
from qpu_emulator.store import CANCELLED, COMPLETED, FAILED, FINAL_STATES, QUEUED, RUNNING, Job

IAM_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
STATUS_NAMES = {QUEUED: "Queued", RUNNING: "Running", COMPLETED: "Completed", FAILED: "Failed", CANCELLED: "Cancelled"}

router = APIRouter()
# what the twins execute with (read from the metadata: the API process never imports qiskit)
QISKIT_VERSION = f"qiskit-{importlib.metadata.version('qiskit')}"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


# -- IAM -----------------------------------------------------------------------------

_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type", "apikey"],
                    "properties": {"grant_type": {"type": "string", "enum": [IAM_GRANT]}, "apikey": {"type": "string"}},
                }
            }
        },
    }
}


class IamToken(BaseModel):
    access_token: str
    refresh_token: str = "not_supported"  # noqa: S105 - a fixed word, not a secret
    token_type: str = "Bearer"  # noqa: S105
    expires_in: int
    expiration: int
    scope: str = "ibm openid"


@router.post(
    "/identity/token",
    tags=["IBM IAM"],
    response_model=IamToken,
    openapi_extra=_FORM,
    responses={400: {"description": "Unknown API key or bad grant (IAM error shape)"}},
)
async def iam_token(request: Request) -> IamToken:
    svc = service(request)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    grant = (form.get("grant_type") or [""])[0]
    apikey = (form.get("apikey") or [""])[0]
    if grant != IAM_GRANT:
        raise ApiError(400, f"Unsupported grant_type {grant!r}; use {IAM_GRANT}.", iam_code="BXNIM0109E")
    if not apikey:
        raise ApiError(400, "Property missing or empty: apikey.", iam_code="BXNIM0109E")
    twins = svc.auth.twins_for_api_key(apikey)
    if not twins:
        raise ApiError(400, "Provided API key could not be found.", iam_code="BXNIM0415E")
    token, exp = svc.auth.issue(svc.auth.api_key_subject(apikey), twins)
    return IamToken(access_token=token, expires_in=svc.config.token_ttl_s, expiration=exp)


# -- backends --------------------------------------------------------------------------------


@router.get("/v1/backends", tags=["IBM backends"])
def list_backends(svc: Svc, caller: Caller) -> dict[str, Any]:
    devices = []
    for t in svc.twins("ibm", caller):
        devices.append(
            {
                "name": t.backend_name,
                "status": {"name": "online", "reason": "available"},
                "is_simulator": False,
                "qubits": t.num_qubits,
                "clops": None,
                "processor_type": {"family": "qpusite-twin", "revision": "1"},
                "queue_length": svc.scheduler.pending_count(t.name),
                "performance_metrics": {},
            }
        )
    return {"devices": devices}


@router.get("/v1/backends/{backend_name}/status", tags=["IBM backends"])
def backend_status(backend_name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    t = svc.twin_for(backend_name, "ibm", caller)
    ready = svc.scheduler.workers_ready > 0
    return {
        "state": ready,
        "status": "active" if ready else "starting",
        "message": "available" if ready else "workers are starting",
        "length_queue": svc.scheduler.pending_count(t.name),
        "backend_version": ibm_twin.BACKEND_VERSION,
    }


@router.get("/v1/backends/{backend_name}/configuration", tags=["IBM backends"])
def backend_configuration(backend_name: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return ibm_twin.configuration(svc.twin_for(backend_name, "ibm", caller))


@router.get("/v1/backends/{backend_name}/properties", tags=["IBM backends"])
def backend_properties(
    backend_name: str,
    svc: Svc,
    caller: Caller,
    updated_before: str | None = None,
    calibration_id: str | None = None,
) -> dict[str, Any]:
    return ibm_twin.properties(svc.twin_for(backend_name, "ibm", caller))


# -- sessions ----------------------------------------------------------------------------------


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mode: Literal["batch", "dedicated"] = "dedicated"
    max_ttl: int | None = Field(default=None, ge=1, le=7 * 24 * 3600)
    backend: str | None = None
    backend_name: str | None = None
    instance: str | None = None


class SessionUpdate(BaseModel):
    accepting_jobs: bool


def _session_doc(s: dict[str, Any], svc: Service) -> dict[str, Any]:
    now = time.time()
    elapsed = (s["closed"] or now) - s["created"]
    active_ttl = max(0, int(s["max_ttl"] - elapsed)) if s["state"] != "closed" else 0
    twin = svc.config.twin(s["twin"])
    jobs, _ = svc.store.jobs(session_id=s["id"], limit=1)
    return {
        "id": s["id"],
        "backend_name": twin.backend_name if twin else s["twin"],
        "mode": s["mode"],
        "max_ttl": s["max_ttl"],
        "interactive_ttl": s["max_ttl"] if s["mode"] == "dedicated" else 0,
        "active_ttl": active_ttl,
        "state": s["state"],
        "state_reason": None,
        "accepting_jobs": bool(s["accepting_jobs"]),
        "started_at": _iso(s["created"]),
        "activated_at": _iso(s["created"]),
        "closed_at": _iso(s["closed"]),
        "last_job_started": _iso(jobs[0].started) if jobs else None,
        "last_job_completed": _iso(jobs[0].finished) if jobs else None,
        "timestamps": [{"status": "open", "timestamp": _iso(s["created"])}],
        "user_id": s["principal"],
        "elapsed_time": round(elapsed, 3),
    }


def _session(svc: Service, session_id: str, caller: Principal) -> dict[str, Any]:
    s = svc.store.get_session(session_id)
    if s is None or not caller.may_use(s["twin"]):
        raise ApiError(404, f"Session {session_id} not found.")
    if s["state"] != "closed" and time.time() - s["created"] > s["max_ttl"]:
        svc.store.update_session(session_id, state="closed", accepting_jobs=0, closed=s["created"] + s["max_ttl"])
        s = svc.store.get_session(session_id) or s
    return s


@router.post("/v1/sessions", tags=["IBM sessions"])
def create_session(body: SessionCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    name = body.backend or body.backend_name
    if not name:
        raise ApiError(400, "A session needs 'backend' (or 'backend_name').")
    twin = svc.twin_for(name, "ibm", caller)
    row = {
        "id": svc.new_id(),
        "twin": twin.name,
        "principal": caller.name,
        "mode": body.mode,
        "max_ttl": body.max_ttl or 28800,
        "created": time.time(),
    }
    svc.store.add_session(row)
    return _session_doc(_session(svc, str(row["id"]), caller), svc)


@router.get("/v1/sessions/{session_id}", tags=["IBM sessions"])
def get_session(session_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _session_doc(_session(svc, session_id, caller), svc)


@router.patch("/v1/sessions/{session_id}", tags=["IBM sessions"], status_code=204)
def update_session(session_id: str, body: SessionUpdate, svc: Svc, caller: Caller) -> Response:
    s = _session(svc, session_id, caller)
    if s["state"] == "closed" and body.accepting_jobs:
        raise ApiError(409, f"Session {session_id} is closed and cannot accept jobs again.")
    state = s["state"] if body.accepting_jobs else ("closed" if not _pending(svc, session_id) else "inactive")
    svc.store.update_session(
        session_id,
        accepting_jobs=int(body.accepting_jobs),
        state=state,
        closed=time.time() if state == "closed" else None,
    )
    return Response(status_code=204)


@router.delete("/v1/sessions/{session_id}/close", tags=["IBM sessions"], status_code=204)
def close_session(session_id: str, svc: Svc, caller: Caller) -> Response:
    _session(svc, session_id, caller)
    for job in _pending(svc, session_id):
        svc.scheduler.cancel(job.id)
    svc.store.update_session(session_id, accepting_jobs=0, state="closed", closed=time.time())
    return Response(status_code=204)


def _pending(svc: Service, session_id: str) -> list[Job]:
    jobs, _ = svc.store.jobs(session_id=session_id, statuses=(QUEUED, RUNNING), limit=10_000)
    return jobs


# -- jobs ---------------------------------------------------------------------------------------


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    program_id: str = Field(min_length=1)
    backend: str = Field(min_length=1)
    params: dict[str, Any] | None = None
    session_id: str | None = None
    cost: int | None = Field(default=None, ge=0, le=2**31 - 1)
    log_level: str | None = None  # clients differ in case ("debug", "WARNING"); not used
    tags: list[str] | None = None
    private: bool | None = None
    runtime: str | None = None
    calibration_id: str | None = None


class JobCreated(BaseModel):
    id: str
    backend: str
    session_id: str | None = None
    private: bool = False


def _job_doc(job: Job, svc: Service, exclude_params: bool = False) -> dict[str, Any]:
    status = STATUS_NAMES[job.status]
    state: dict[str, Any] = {"status": status}
    if job.status == FAILED:
        state["reason"] = job.error or "execution failed"
        state["reason_code"] = 1517
    if job.status == CANCELLED:
        ran_too_long = (job.error or "").startswith(RAN_TOO_LONG)
        state["reason"] = job.error if ran_too_long else "cancelled by the user"
        if ran_too_long:
            status = "Cancelled - Ran too long"  # IBM's job status; state.status stays "Cancelled"
    twin = svc.config.twin(job.twin)
    doc: dict[str, Any] = {
        "id": job.id,
        "backend": twin.backend_name if twin else job.twin,
        "state": state,
        "status": status,
        "program": {"id": job.program},
        "created": _iso(job.created),
        "runtime": "",
        "cost": job.cost,
        "tags": job.extra.get("tags") or [],
        "session_id": job.session_id,
        "user_id": job.principal,
        "private": False,
        "usage": {
            "seconds": round((job.finished or time.time()) - job.started, 3) if job.started else 0,
            "quantum_seconds": round((job.finished or time.time()) - job.started, 3) if job.started else 0,
        },
        "estimated_running_time_seconds": None,
    }
    if not exclude_params:
        doc["params"] = job.params
    return doc


def _job(svc: Service, job_id: str, caller: Principal) -> Job:
    job = svc.store.get_job(job_id)
    if job is None or job.api != "ibm" or not caller.may_use(job.twin):
        raise ApiError(404, f"Job {job_id} not found.")
    return job


@router.post("/v1/jobs", tags=["IBM jobs"], response_model=JobCreated)
def create_job(body: JobCreate, svc: Svc, caller: Caller) -> JobCreated:
    twin = svc.twin_for(body.backend, "ibm", caller)
    if body.session_id:
        s = _session(svc, body.session_id, caller)
        if s["twin"] != twin.name:
            raise ApiError(400, f"Session {body.session_id} runs on another backend.")
        if s["state"] == "closed" or not s["accepting_jobs"]:
            raise ApiError(409, f"Session {body.session_id} is not accepting jobs.")
    if svc.test_hooks and body.program_id.startswith("test-crash:"):
        svc.checkers.check(("crash-for-tests", int(body.program_id.split(":", 1)[1])))
    bounds = svc.bounds(twin)
    # Sizes first, in this process and without building anything; then the full check
    # (circuits built) in a checker process, where a crash or a memory blow-up costs this request only.
    ibm_primitives.check_input(body.program_id, body.params, twin, bounds, build=False)
    inp = svc.checkers.check(("ibm", body.program_id, body.params, twin.model_dump_json(), bounds))
    job = Job(
        id=svc.new_id(),
        api="ibm",
        twin=twin.name,
        program=inp.program,
        status=QUEUED,
        principal=caller.name,
        created=time.time(),
        params=body.params or {},
        session_id=body.session_id,
        shots=inp.total_shots,
        cost=body.cost or 0,
        extra={"tags": body.tags or [], "seed": inp.seed},
        logs=f"job accepted for {twin.backend_name}\n",
    )
    svc.scheduler.submit(job)
    return JobCreated(id=job.id, backend=twin.backend_name, session_id=body.session_id)


@router.get("/v1/jobs", tags=["IBM jobs"])
def list_jobs(
    svc: Svc,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
    pending: bool | None = None,
    program: str | None = None,
    backend: str | None = None,
    session_id: str | None = None,
    exclude_params: bool = False,
) -> dict[str, Any]:
    twin_name = None
    if backend is not None:
        twin_name = svc.twin_for(backend, "ibm", caller).name
    statuses: tuple[str, ...] | None = None
    if pending is True:
        statuses = (QUEUED, RUNNING)
    elif pending is False:
        statuses = FINAL_STATES
    allowed = {t.name for t in svc.twins("ibm", caller)}
    if twin_name is None and not allowed:
        return {"jobs": [], "count": 0, "limit": limit, "offset": offset}
    everything = twin_name is None
    jobs, total = svc.store.jobs(
        statuses=statuses,
        session_id=session_id,
        twin=twin_name,
        program=program,
        limit=10_000 if everything else limit,
        offset=0 if everything else offset,
    )
    if twin_name is None:  # restrict to what the caller may see, then page
        jobs = [j for j in jobs if j.twin in allowed and j.api == "ibm"]
        total = len(jobs)
        jobs = jobs[offset : offset + limit]
    return {"jobs": [_job_doc(j, svc, exclude_params) for j in jobs], "count": total, "limit": limit, "offset": offset}


@router.get("/v1/jobs/{job_id}", tags=["IBM jobs"])
def get_job(job_id: str, svc: Svc, caller: Caller, exclude_params: bool = False) -> dict[str, Any]:
    return _job_doc(_job(svc, job_id, caller), svc, exclude_params)


def _metrics_doc(job: Job) -> dict[str, Any]:
    """IBM's job metrics as qiskit-ibm-runtime reads them (``job.metrics()``, ``usage()``,
    ``properties()``): timestamps, and usage that stays ``pending`` until the job is final.
    Since the service's 2026-03/04 changes: no ``bss``, no ``usage.seconds`` or
    ``usage.quantum_seconds``; ``circuits_execution_time_ns`` at the top level."""
    ran = (job.finished or time.time()) - job.started if job.started else 0.0
    pubs = job.params.get("pubs") if isinstance(job.params, dict) else None
    final = job.final
    usage: dict[str, Any] = {"status": "completed" if final else "pending"}
    if job.started:
        # IBM charges whole seconds of QPU time, at least one for a job that ran
        usage["qpu_charge_time_seconds"] = max(1, math.ceil(ran)) if final else math.ceil(ran)
    return {
        "timestamps": {"created": _iso(job.created), "running": _iso(job.started), "finished": _iso(job.finished)},
        "usage": usage,
        "circuits_execution_time_ns": int(ran * 1e9) if final and job.started else None,
        "executions": job.shots,
        "num_circuits": len(pubs) if isinstance(pubs, list) else 0,
        "qiskit_version": QISKIT_VERSION,
        "estimated_start_time": None,
        "estimated_completion_time": None,
        "caller": "qpusite-emulator",
    }


@router.get("/v1/jobs/{job_id}/metrics", tags=["IBM jobs"])
def job_metrics(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _metrics_doc(_job(svc, job_id, caller))


@router.get(
    "/v1/jobs/{job_id}/results",
    tags=["IBM jobs"],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Primitive result as JSON text"}},
)
def job_results(job_id: str, svc: Svc, caller: Caller) -> PlainTextResponse:
    job = _job(svc, job_id, caller)
    if job.status == FAILED:
        raise ApiError(409, f"Job {job_id} failed: {job.error}")
    if job.status != COMPLETED or job.result is None:
        raise ApiError(409, f"Job {job_id} is {STATUS_NAMES[job.status]}; results exist once it is Completed.")
    # text/plain on purpose: QRMI's client only accepts the results as text.
    return PlainTextResponse(job.result)


@router.get(
    "/v1/jobs/{job_id}/logs",
    tags=["IBM jobs"],
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "Job log"}},
)
def job_logs(job_id: str, svc: Svc, caller: Caller) -> PlainTextResponse:
    return PlainTextResponse(_job(svc, job_id, caller).logs)


@router.post("/v1/jobs/{job_id}/cancel", tags=["IBM jobs"], status_code=204)
def cancel_job(job_id: str, svc: Svc, caller: Caller) -> Response:
    job_actions.cancel(svc, job_id, caller, _job, STATUS_NAMES)
    return Response(status_code=204)


@router.delete("/v1/jobs/{job_id}", tags=["IBM jobs"], status_code=204)
def delete_job(job_id: str, svc: Svc, caller: Caller) -> Response:
    job_actions.delete(svc, job_id, caller, _job)
    return Response(status_code=204)


@router.get("/v1/instances/usage", tags=["IBM service"])
def instance_usage(svc: Svc, caller: Caller) -> dict[str, Any]:
    """Usage of the caller's instance: an emulator has no quota, so no limit is ever reached."""
    jobs, _ = svc.store.jobs(statuses=FINAL_STATES, limit=10_000)
    used = sum((j.finished or 0) - (j.started or j.finished or 0) for j in jobs if caller.may_use(j.twin))
    return {"usage_consumed_seconds": round(used, 3), "usage_limit_reached": False, "usage_limit_seconds": None}


@router.get("/v1/versions", tags=["IBM service"])
def versions() -> JSONResponse:
    return JSONResponse({"versions": ["2025-01-01"]})
