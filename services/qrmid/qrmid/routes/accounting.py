"""Accounting: one record per job × QPU (users: their own; trusted callers: all)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from qrmid.auth import AnyPrincipal
from qrmid.models import CLUSTER, bounded_datetime

if TYPE_CHECKING:
    from qrmid.api import App


def timestamp(value: datetime | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        return bounded_datetime(value, what).timestamp()
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["accounting"])

    @r.get("/v1/accounting")
    async def accounting(
        p: AnyPrincipal, job_id: str | None = None, user: str | None = None, qpu: str | None = None,
        cluster: Annotated[str | None, Query(pattern=CLUSTER)] = None,
        since: datetime | None = None, until: datetime | None = None,
    ) -> dict[str, Any]:
        uid = None if p.trusted else p.uid
        rows = state.store.accounting(
            cluster=cluster, job_id=job_id, user=user, uid=uid, qpu=qpu,
            since=timestamp(since, "since"), until=timestamp(until, "until"),
        )
        totals: dict[str, dict[str, float]] = {"by_user": {}, "by_qpu": {}, "by_job": {}}
        for rec in rows:
            for key, val in (("by_user", rec["user"]), ("by_qpu", rec["qpu"]), ("by_job", rec["job_id"])):
                totals[key][val] = round(totals[key].get(val, 0.0) + rec["hold_s"], 3)
        return {"records": rows, "totals_hold_s": totals}

    return r
