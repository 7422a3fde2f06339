"""A job's QPU timeline (read-only): users see their own jobs only, trusted callers and the
operator any job (qrmid/timeline.py builds the answer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from qrmid.auth import AnyPrincipal
from qrmid.models import CLUSTER
from qrmid.timeline import job_timeline

if TYPE_CHECKING:
    from qrmid.api import App

JOB_ID = r"^[0-9A-Za-z_.-]{1,64}$"


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["accounting"])

    @r.get("/v1/jobs/{job_id}/timeline", responses={404: {"description": "no QPU record of this job (of yours)"}})
    async def timeline(
        p: AnyPrincipal,
        job_id: Annotated[str, Path(pattern=JOB_ID)],
        cluster: Annotated[str | None, Query(pattern=CLUSTER)] = None,
    ) -> dict[str, Any]:
        """Admission, waits, hold and tasks of one job; `waiting` says in one line why qrmid has not
        granted it yet (null when it is not waiting in qrmid)."""
        uid = None if p.trusted else p.uid
        answer = job_timeline(state.store, state.broker, cluster or state.config.cluster, job_id, uid)
        if answer is None:
            # the same answer whether the job is unknown or another user's: nothing leaks
            raise HTTPException(404, f"qrmid has no QPU request of job {job_id} for {p.name}")
        return answer

    return r
