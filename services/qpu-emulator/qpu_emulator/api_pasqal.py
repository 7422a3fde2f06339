"""The Pasqal Cloud surface (``/core-fast/api``) and its OAuth-style token
endpoint, as QRMI's PasqalCloud resource and the pasqal-cloud SDK call them.
Bodies use Pasqal's JSend envelope: ``{"status", "code", "message", "data"}``."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from qpu_emulator import job_actions, pasqal_twin
from qpu_emulator.auth import Principal
from qpu_emulator.deps import Caller, Svc, service
from qpu_emulator.errors import ApiError
from qpu_emulator.service import Service
from qpu_emulator.store import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, Job

STATUS_NAMES = {QUEUED: "PENDING", RUNNING: "RUNNING", COMPLETED: "DONE", FAILED: "ERROR", CANCELLED: "CANCELED"}
API = "pasqal-cloud"
PREFIX = "/core-fast/api"

router = APIRouter()


RESULT_LINK_TTL_S = 600


def jsend(data: Any, code: int = 200, pagination: dict[str, int] | None = None) -> dict[str, Any]:
    body = {"status": "success", "code": code, "message": "OK.", "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return body


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts is not None else None


# -- token ------------------------------------------------------------------------------------

_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        "username": {"type": "string"},
                        "password": {"type": "string"},
                        "audience": {"type": "string"},
                    },
                }
            }
        },
    }
}


class OAuthToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a fixed word, not a secret
    expires_in: int
    scope: str = "openid"


@router.post(
    "/auth/token",
    tags=["Pasqal auth"],
    response_model=OAuthToken,
    openapi_extra=_FORM,
    responses={401: {"description": "Unknown client (OAuth error shape)"}},
)
async def token(request: Request) -> OAuthToken:
    """Client-credentials grant (QRMI's service-account path); the password grant
    takes the same pairs as username/password."""
    svc = service(request)
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant = form.get("grant_type", "")
    if grant == "client_credentials":
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
    elif grant in ("password", "http://auth0.com/oauth/grant-type/password-realm"):
        cid, secret = form.get("username", ""), form.get("password", "")
    else:
        raise ApiError(400, f"Unsupported grant_type {grant!r}: use client_credentials.")
    if not cid or not secret:
        raise ApiError(400, "client_id and client_secret (or username and password) are required.")
    twins = svc.auth.twins_for_client(cid, secret)
    if not twins:
        raise ApiError(401, "Wrong client id or secret.")
    access, _exp = svc.auth.issue("client:" + cid, twins)
    return OAuthToken(access_token=access, expires_in=svc.config.token_ttl_s)


# -- devices -----------------------------------------------------------------------------------


def _device_doc(svc: Service, name: str) -> dict[str, Any]:
    ready = svc.scheduler.workers_ready > 0
    return {"device_type": name, "status": "UP" if ready else "DOWN", "availability": "ACTIVE" if ready else "INACTIVE"}


@router.get(f"{PREFIX}/v1/devices", tags=["Pasqal devices"])
def devices(svc: Svc, device_type: str | None = None) -> dict[str, Any]:
    names = [t.backend_name for t in svc.twins(API)]
    if device_type is not None:
        if device_type not in names:
            raise ApiError(
                404, f"Device {device_type!r} is not served by this emulator (known: {', '.join(names) or 'none'})."
            )
        names = [device_type]
    return jsend([_device_doc(svc, n) for n in names])


@router.get(f"{PREFIX}/v1/devices/public-specs", tags=["Pasqal devices"])
def public_specs(svc: Svc) -> dict[str, Any]:
    return jsend([{"device_type": t.backend_name, "specs": svc.device_specs(t)} for t in svc.twins(API)])


@router.get(f"{PREFIX}/v1/devices/specs", tags=["Pasqal devices"])
def all_device_specs(svc: Svc, caller: Caller) -> dict[str, Any]:
    """The specs of every device the caller may use, by device type (pasqal-cloud's
    ``get_device_specs_dict()``; Pulser's ``fetch_available_devices()`` deserialises them)."""
    return jsend({t.backend_name: svc.device_specs(t) for t in svc.twins(API, caller)})


@router.get(f"{PREFIX}/v1/devices/specs/{{device_type}}", tags=["Pasqal devices"])
def device_specs(device_type: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    twin = svc.twin_for(device_type, API, caller, what="Device")
    return jsend({"device_type": twin.backend_name, "specs": svc.device_specs(twin)})


# -- batches and jobs -------------------------------------------------------------------------------


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    runs: int = Field(ge=1, le=10**9)
    variables: dict[str, Any] | None = None


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    sequence_builder: str = Field(min_length=1)
    # an open batch may start empty and take jobs later (POST …/v2/batches/{id}/jobs)
    jobs: list[JobSpec] = Field(default_factory=list, max_length=100)
    # Pulser's QPUBackend sends none: the sequence's device names the target then
    device_type: str | None = Field(default=None, min_length=1)
    project_id: str | None = None
    configuration: dict[str, Any] | None = None
    complete: bool | None = None
    open: bool | None = None
    tags: list[str] | None = None


def _job_doc(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "batch_id": job.batch_id,
        "project_id": job.extra.get("project_id", ""),
        "runs": job.params.get("runs"),
        "status": STATUS_NAMES[job.status],
        "created_at": _iso(job.created),
        "updated_at": _iso(job.finished or job.started or job.created),
        "start_timestamp": _iso(job.started),
        "end_timestamp": _iso(job.finished),
        "errors": [job.error] if job.error else [],
        "variables": job.params.get("variables"),
        "creation_order": job.extra.get("order", 0),
    }


def _batch_status(jobs: list[Job], is_open: bool = False) -> str:
    """A batch's status from its jobs'; an open batch is never final (it may get more jobs)."""
    states = {j.status for j in jobs}
    if not states:
        return "PENDING"
    if is_open and not states & {QUEUED, RUNNING}:
        return "RUNNING"
    if RUNNING in states:
        return "RUNNING"
    if QUEUED in states:
        return "RUNNING" if states & {COMPLETED, FAILED, CANCELLED} else "PENDING"
    if states == {CANCELLED}:
        return "CANCELED"
    if FAILED in states:
        return "ERROR"
    return "DONE"


def _batch(svc: Service, batch_id: str, caller: Principal) -> tuple[dict[str, Any], list[Job]]:
    b = svc.store.get_batch(batch_id)
    if b is None or not caller.may_use(b["twin"]):
        raise ApiError(404, f"Batch {batch_id} not found.")
    jobs, _ = svc.store.jobs(batch_id=batch_id, limit=1000)
    return b, sorted(jobs, key=lambda j: j.extra.get("order", 0))


def _batch_doc(svc: Service, b: dict[str, Any], jobs: list[Job], v2: bool) -> dict[str, Any]:
    twin = svc.config.twin(b["twin"])
    finished = [j.finished for j in jobs if j.finished]
    started = [j.started for j in jobs if j.started]
    doc: dict[str, Any] = {
        "id": b["id"],
        "project_id": b["project_id"],
        "device_type": twin.backend_name if twin else b["twin"],
        "status": _batch_status(jobs, bool(b.get("open"))),
        "created_at": _iso(b["created"]),
        "updated_at": _iso(max(finished) if finished else b["created"]),
        "start_datetime": _iso(min(started)) if started else None,
        "end_datetime": _iso(max(finished)) if finished and len(finished) == len(jobs) else None,
        "user_id": b["principal"],
        "priority": 10,
        "open": bool(b.get("open")),
        "complete": not b.get("open"),
        "sequence_builder": b["sequence"],
        "configuration": json.loads(b["configuration"]),
        "tags": [],
    }
    if v2:
        doc["job_ids"] = [j.id for j in jobs]
    else:
        doc["jobs"] = [_job_doc(j) for j in jobs]
    return doc


def _check_jobs(svc: Service, sequence: str, specs: list[JobSpec], twin: Any) -> None:
    """Sizes first, from the JSON alone; then the sequence is built in a checker process."""
    twin_json = twin.model_dump_json()
    checked: set[str] = set()
    for i, spec in enumerate(specs):
        try:
            pasqal_twin.prescan_sequence(sequence, spec.runs, spec.variables, twin)
            key = json.dumps(spec.variables, sort_keys=True)
            if key not in checked:  # runs do not change what is built
                svc.checkers.check(("pasqal", sequence, spec.runs, spec.variables, twin_json))
                checked.add(key)
        except ApiError as exc:
            exc.message = f"jobs[{i}]: {exc.message}" if len(specs) > 1 else exc.message
            raise


def _submit_jobs(svc: Service, batch: dict[str, Any], specs: list[JobSpec], first: int, caller: Principal) -> list[Job]:
    twin = svc.config.twin(batch["twin"])
    assert twin is not None
    now = time.time()
    jobs = []
    for i, spec in enumerate(specs, start=first):
        job = Job(
            id=svc.new_id(),
            api=API,
            twin=twin.name,
            program="pulser",
            status=QUEUED,
            principal=caller.name,
            created=now,
            batch_id=str(batch["id"]),
            shots=spec.runs,
            params={"sequence": batch["sequence"], "runs": spec.runs, "variables": spec.variables},
            extra={"project_id": batch["project_id"], "order": i},
            logs=f"job accepted for {twin.backend_name}\n",
        )
        svc.scheduler.submit(job)
        jobs.append(job)
    return jobs


def _sequence_device(svc: Service, sequence: str) -> str:
    """The device type a batch without one targets: the twin whose Pulser device the sequence names."""
    try:
        named = json.loads(sequence)["device"]["name"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "device_type: give one, or a sequence whose device names a served device.") from None
    for t in svc.twins(API):
        if named in (t.backend_name, t.pulser_device.name if t.pulser_device else None):
            return t.backend_name
    raise ApiError(400, f"device_type: the sequence's device {str(named)[:64]!r} is not served here; give one.")


@router.post(f"{PREFIX}/v1/batches", tags=["Pasqal batches"])
def create_batch(body: BatchCreate, svc: Svc, caller: Caller) -> dict[str, Any]:
    twin = svc.twin_for(body.device_type or _sequence_device(svc, body.sequence_builder), API, caller, what="Device")
    is_open = bool(body.open) or body.complete is False
    if not body.jobs and not is_open:
        raise ApiError(400, "jobs: a closed batch needs at least one job (or create it with open: true).")
    _check_jobs(svc, body.sequence_builder, body.jobs, twin)
    batch = {
        "id": svc.new_id(),
        "twin": twin.name,
        "principal": caller.name,
        "project_id": body.project_id or "",
        "created": time.time(),
        "sequence": body.sequence_builder,
        "configuration": json.dumps(body.configuration or {}),
        "open": int(is_open),
    }
    svc.store.add_batch(batch)
    jobs = _submit_jobs(svc, batch, body.jobs, 0, caller)
    return jsend(_batch_doc(svc, batch, jobs, v2=False))


class AddedJob(JobSpec):
    sequence: str | None = None  # the batch's sequence is used; a different one is refused


@router.post(f"{PREFIX}/v2/batches/{{batch_id}}/jobs", tags=["Pasqal batches"])
def add_jobs(batch_id: str, body: Annotated[list[AddedJob], Field(min_length=1, max_length=100)], svc: Svc,
             caller: Caller) -> dict[str, Any]:
    """Add jobs to an open batch (pasqal-cloud's ``add_jobs``, Pulser's open batches)."""
    b, existing = _batch(svc, batch_id, caller)
    if not b["open"]:
        raise ApiError(400, f"Batch {batch_id} is closed: it takes no more jobs.")
    if len(existing) + len(body) > 1000:
        raise ApiError(400, f"Batch {batch_id} would hold more than 1000 jobs.")
    for i, spec in enumerate(body):
        if spec.sequence is not None and spec.sequence != b["sequence"]:
            raise ApiError(400, f"jobs[{i}].sequence: jobs of a batch run the batch's sequence.")
    twin = svc.config.twin(b["twin"])
    assert twin is not None
    specs = [JobSpec(runs=j.runs, variables=j.variables) for j in body]
    _check_jobs(svc, b["sequence"], specs, twin)
    first = max((j.extra.get("order", 0) for j in existing), default=-1) + 1
    jobs = existing + _submit_jobs(svc, b, specs, first, caller)
    return jsend(_batch_doc(svc, b, jobs, v2=True))


@router.patch(f"{PREFIX}/v2/batches/{{batch_id}}/complete", tags=["Pasqal batches"])
def close_batch(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Close an open batch: it takes no more jobs and becomes final once its jobs are."""
    _batch(svc, batch_id, caller)
    svc.store.close_batch(batch_id)
    b, jobs = _batch(svc, batch_id, caller)
    return jsend(_batch_doc(svc, b, jobs, v2=True))


@router.get(f"{PREFIX}/v1/batches", tags=["Pasqal batches"])
def list_batches(
    svc: Svc,
    caller: Caller,
    id: Annotated[list[str] | None, Query(max_length=1000)] = None,  # noqa: A002 - the API's name
    device_type: str | None = None,
    status: str | None = None,
    open: bool | None = None,  # noqa: A002
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    """The caller's batches, newest first (pasqal-cloud's ``get_batches``), filtered and paginated."""
    twins = [t.name for t in svc.twins(API, caller) if device_type is None or t.backend_name == device_type]
    if status is None:
        rows, total = svc.store.batches(twins, ids=id, is_open=open, limit=limit, offset=offset)
        page = [(b, _batch(svc, b["id"], caller)[1]) for b in rows]
    else:  # the status is computed from the jobs: filter first, then page
        rows, _ = svc.store.batches(twins, ids=id, is_open=open, limit=10_000)
        every = [(b, _batch(svc, b["id"], caller)[1]) for b in rows]
        matching = [(b, jobs) for b, jobs in every if _batch_status(jobs, bool(b["open"])) == status]
        total, page = len(matching), matching[offset : offset + limit]
    docs = [_batch_doc(svc, b, jobs, v2=True) for b, jobs in page]
    return jsend(docs, pagination={"total": total, "start": offset, "end": offset + len(docs)})


@router.get(f"{PREFIX}/v1/batches/{{batch_id}}", tags=["Pasqal batches"])
def get_batch_v1(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    b, jobs = _batch(svc, batch_id, caller)
    return jsend(_batch_doc(svc, b, jobs, v2=False))


@router.get(f"{PREFIX}/v2/batches/{{batch_id}}", tags=["Pasqal batches"])
def get_batch_v2(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    b, jobs = _batch(svc, batch_id, caller)
    return jsend(_batch_doc(svc, b, jobs, v2=True))


@router.get(f"{PREFIX}/v1/batches/{{batch_id}}/full_results", tags=["Pasqal batches"])
def full_results(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    _, jobs = _batch(svc, batch_id, caller)
    done = {j.id: json.loads(j.result) for j in jobs if j.status == COMPLETED and j.result}
    if not done:
        states = ", ".join(sorted({STATUS_NAMES[j.status] for j in jobs}))
        raise ApiError(409, f"Batch {batch_id} has no results yet (jobs: {states}).")
    return jsend(done)


def _cancel_batch(svc: Service, batch_id: str, caller: Principal, v2: bool) -> dict[str, Any]:
    b, jobs = _batch(svc, batch_id, caller)
    live = [j for j in jobs if not j.final]
    if not live:
        raise ApiError(409, f"Batch {batch_id} is already {_batch_status(jobs)} and cannot be cancelled.")
    for j in live:
        svc.scheduler.cancel(j.id)
    b, jobs = _batch(svc, batch_id, caller)
    return jsend(_batch_doc(svc, b, jobs, v2=v2))


@router.patch(f"{PREFIX}/v2/batches/{{batch_id}}/cancel", tags=["Pasqal batches"])
def cancel_batch_v2(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _cancel_batch(svc, batch_id, caller, v2=True)


@router.put(f"{PREFIX}/v1/batches/{{batch_id}}/cancel", tags=["Pasqal batches"])
def cancel_batch_v1(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _cancel_batch(svc, batch_id, caller, v2=False)


def _job(svc: Service, job_id: str, caller: Principal) -> Job:
    job = svc.store.get_job(job_id)
    if job is None or job.api != API or not caller.may_use(job.twin):
        raise ApiError(404, f"Job {job_id} not found.")
    return job


@router.get(f"{PREFIX}/v1/jobs/{{job_id}}", tags=["Pasqal jobs"])
def get_job_v1(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return jsend(_job_doc(_job(svc, job_id, caller)))


@router.get(f"{PREFIX}/v2/jobs/{{job_id}}", tags=["Pasqal jobs"])
def get_job_v2(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return jsend(_job_doc(_job(svc, job_id, caller)))


def _cancel_job(svc: Service, job_id: str, caller: Principal) -> dict[str, Any]:
    job_actions.cancel(svc, job_id, caller, _job, STATUS_NAMES)
    return jsend(_job_doc(_job(svc, job_id, caller)))


@router.patch(f"{PREFIX}/v2/jobs/{{job_id}}/cancel", tags=["Pasqal jobs"])
def cancel_job_v2(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _cancel_job(svc, job_id, caller)


@router.put(f"{PREFIX}/v1/jobs/{{job_id}}/cancel", tags=["Pasqal jobs"])
def cancel_job_v1(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    return _cancel_job(svc, job_id, caller)


# -- the pasqal-cloud SDK's polling and results path ---------------------------------------------


@router.get(f"{PREFIX}/v1/batches/{{batch_id}}/status", tags=["Pasqal batches"])
def batch_status(batch_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    _, jobs = _batch(svc, batch_id, caller)
    per_status = {name: 0 for name in STATUS_NAMES.values()}
    for j in jobs:
        per_status[STATUS_NAMES[j.status]] += 1
    return jsend({"id": batch_id, "status": _batch_status(jobs), "jobs_count_per_status": per_status})


@router.get(f"{PREFIX}/v1/jobs/{{job_id}}/status", tags=["Pasqal jobs"])
def job_status(job_id: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    job = _job(svc, job_id, caller)
    return jsend({"id": job.id, "status": STATUS_NAMES[job.status]})


@router.get(f"{PREFIX}/v2/jobs", tags=["Pasqal jobs"])
def list_jobs(
    svc: Svc,
    caller: Caller,
    batch_id: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    order_by: str | None = None,
    order_by_direction: str | None = None,
) -> dict[str, Any]:
    if batch_id is not None:
        _, jobs = _batch(svc, batch_id, caller)
    else:
        found, _ = svc.store.jobs(limit=10_000)
        jobs = [j for j in found if j.api == API and caller.may_use(j.twin)]
    if (order_by_direction or "").upper() == "DESC":
        jobs = list(reversed(jobs))
    page = jobs[offset : offset + limit]
    return jsend(
        [_job_doc(j) for j in page], pagination={"total": len(jobs), "offset": offset, "end": offset + len(page)}
    )


@router.get(f"{PREFIX}/v1/jobs/{{job_id}}/results_link", tags=["Pasqal jobs"])
def results_link(job_id: str, request: Request, svc: Svc, caller: Caller) -> dict[str, Any]:
    """A short-lived signed link to the job's result, as Pasqal hands out a presigned store URL."""
    job = _job(svc, job_id, caller)
    if job.status != COMPLETED:
        return jsend({"results_link": None})
    expires = int(time.time()) + RESULT_LINK_TTL_S
    sig = svc.auth.sign(job.id, expires)
    url = str(request.url_for("download_result", job_id=job.id).include_query_params(expires=expires, sig=sig))
    return jsend({"results_link": url})


@router.get("/core-fast/results/{job_id}", tags=["Pasqal jobs"], name="download_result")
def download_result(
    job_id: str, svc: Svc, expires: Annotated[int, Query()], sig: Annotated[str, Query()]
) -> JSONResponse:
    if not svc.auth.link_ok(job_id, expires, sig):
        raise ApiError(403, "The results link is invalid or has expired; ask for a new one.")
    job = svc.store.get_job(job_id)
    if job is None or job.result is None:
        raise ApiError(404, f"No result for job {job_id}.")
    return JSONResponse(json.loads(job.result))
