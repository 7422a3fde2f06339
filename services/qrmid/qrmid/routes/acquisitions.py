"""Acquisitions: Slurm hosts acquire and release for jobs (trusted munge uids, the operator);
users read their own."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from qrmid import jobids
from qrmid.auth import AnyPrincipal, Principal, Trusted, parse_body
from qrmid.broker import FailFast, IdentityConflict, UnknownQpu, UnsafeEnvironment
from qrmid.config import CONTROL
from qrmid.models import CLUSTER, AcquireRequest, AcquisitionRow, Outcome, State, openapi_body
from qrmid.policy import PolicyRefusal

if TYPE_CHECKING:
    from qrmid.api import App

Wait = Annotated[float, Query(ge=0, le=300, allow_inf_nan=False)]
Format = Literal["json", "env"]
Cluster = Annotated[str | None, Query(pattern=CLUSTER)]

OUTCOMES: dict[int | str, dict[str, Any]] = {
    202: {"description": "waiting"},
    403: {"description": "policy refusal"},
    404: {"description": "unknown QPU"},
    409: {"description": "QPU in a window and the profile fails fast; or the job id is another user's"},
    413: {"description": "body above 64 KiB"},
    503: {"description": "the database cannot be written"},
}


def env_lines(view: dict[str, Any]) -> str:
    """The plugin's line protocol: `key=value` lines; a value never holds a control character
    (the environment was checked by the broker; message and until are flattened here)."""
    lines = [f"state={view['state']}", f"acquisition={view['id']}"]
    if view.get("message"):
        lines.append("message=" + CONTROL.sub(" ", str(view["message"])))
    if view.get("waiting_until"):
        lines.append(f"until={view['waiting_until']}")
    for k, v in (view.get("environment") or {}).items():
        lines.append(f"env={k}={v}")
    return "\n".join(lines) + "\n"


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["acquisitions"])
    broker, store = state.broker, state.store

    def render(a: AcquisitionRow, with_env: bool, fmt: Format) -> Response:
        view = broker.view(a)
        code = {State.GRANTED: 201, State.WAITING: 202, State.ACQUIRING: 202}.get(State(a["state"]), 200)
        if a["state"] == State.FAILED:
            code = 409 if a["outcome"] in (Outcome.REFUSED, Outcome.TIMEOUT) else 503
        if with_env and a["state"] == State.GRANTED and not a["outcome"]:
            try:
                view["environment"] = broker.environment(a)
            except UnsafeEnvironment as exc:
                raise HTTPException(500, f"qrmid's configuration is unsafe: {exc}") from None
            view["timeout_s"] = max(1, int((a["deadline"] or time.time()) - time.time()))
        if fmt == "env":
            return PlainTextResponse(env_lines(view), status_code=code)
        return JSONResponse(view, status_code=code)

    def owned(a: AcquisitionRow | None, p: Principal) -> AcquisitionRow:
        if a is None or (not p.trusted and a["uid"] != p.uid):
            raise HTTPException(404, "no such acquisition")
        return a

    @r.post("/v1/acquisitions", status_code=201, responses=OUTCOMES, openapi_extra=openapi_body(AcquireRequest))
    async def acquire(request: Request, p: AnyPrincipal, format: Format = "json") -> Response:  # noqa: A002
        """Acquire the job's QPUs (Slurm's plugin, as root on a Slurm host)."""
        body = await parse_body(request, AcquireRequest)
        if not p.trusted:
            if body.uid != p.uid:
                raise HTTPException(403, f"credential is for uid {p.uid} but the request claims uid {body.uid}")
            how = ("Grid Engine's prolog: submit with qsub -l qpu_<name>=1" if state.config.scheduler == "gridengine"
                   else "Slurm's plugin: submit with sbatch --qpu=<name>")
            raise HTTPException(403, f"acquisitions are made by {how}")
        if (body.cluster or state.config.cluster) == state.config.cluster:
            problem = jobids.check(state.config.scheduler, body.job_id)
            if problem:
                raise HTTPException(422, problem)
        try:
            a = await broker.request(body)
        except UnknownQpu as exc:
            raise HTTPException(404, str(exc)) from None
        except PolicyRefusal as exc:
            raise HTTPException(403, str(exc)) from None
        except (FailFast, IdentityConflict) as exc:
            raise HTTPException(409, str(exc)) from None
        wait = min(body.wait_s, state.config.max_request_wait_s)
        if a["state"] in (State.WAITING, State.ACQUIRING) and wait > 0:
            a = await broker.wait_for_change(a["id"], wait) or a
        return render(a, True, format)

    @r.get("/v1/acquisitions")
    async def list_acquisitions(
        p: AnyPrincipal, job_id: str | None = None, user: str | None = None, qpu: str | None = None,
        cluster: Cluster = None, state_: Annotated[str | None, Query(alias="state")] = None,
        limit: int = Query(200, ge=1, le=5000),
    ) -> list[dict[str, Any]]:
        uid = None if p.trusted else p.uid  # users see their own acquisitions only
        rows = store.query(cluster=cluster, job_id=job_id, user=user, uid=uid, qpu=qpu, state=state_, limit=limit)
        return [broker.view(a) for a in rows]

    @r.get("/v1/acquisitions/{acq_id}")
    async def get_acquisition(acq_id: str, p: AnyPrincipal, wait_s: Wait = 0, format: Format = "json") -> Response:  # noqa: A002
        a = owned(store.get(acq_id), p)
        if wait_s > 0:
            a = await broker.wait_for_change(acq_id, min(wait_s, state.config.max_request_wait_s)) or a
        return render(a, p.trusted and p.kind == "munge", format)

    # The job's credentials are dead when these return; the release at the QPU service
    # finishes in the background unless the caller waits for it (wait_s).
    @r.post("/v1/acquisitions/{acq_id}/release")
    async def release(acq_id: str, p: Trusted, wait_s: Wait = 0) -> dict[str, Any]:
        a = owned(store.get(acq_id), p)
        done = await broker.release(a["id"], Outcome.RELEASED, wait_s=wait_s)
        return broker.view(done or a)

    @r.delete("/v1/jobs/{job_id}/acquisitions")
    async def release_job(job_id: str, p: Trusted, wait_s: Wait = 0, cluster: Cluster = None) -> list[dict[str, Any]]:
        """Release the job's acquisitions on `cluster` (default: qrmid's cluster)."""
        out = []
        for a in store.query(cluster=cluster or state.config.cluster, job_id=job_id):
            if a["state"] in (State.WAITING, State.ACQUIRING, State.GRANTED, State.RELEASING):
                a = await broker.release(a["id"], Outcome.RELEASED, wait_s=wait_s) or a
            out.append(broker.view(a))
        return out

    return r
