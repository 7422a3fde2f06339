"""Accounting: one record per job × QPU (users: their own; trusted callers: all)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response

from qrmid import jobids
from qrmid.auth import AnyPrincipal, Trusted
from qrmid.models import CLUSTER, NAME, bounded_datetime
from qrmid.task_store import EXPORT_COLUMNS

if TYPE_CHECKING:
    from qrmid.api import App


def timestamp(value: datetime | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        return bounded_datetime(value, what).timestamp()
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (a message may start with '=')."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["accounting"])
    state_ = state

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
        for rec in rows:  # the job as its scheduler names it (qrmid's cluster: the configured scheduler)
            if rec["cluster"] == state.config.cluster:
                rec.update(jobids.scheduler_fields(state.config.scheduler, rec["job_id"]))
        answer: dict[str, Any] = {"records": rows}
        for figure in ("hold_s", "executing_s", "wait_node_s"):
            totals: dict[str, dict[str, float]] = {"by_user": {}, "by_qpu": {}, "by_job": {}}
            for rec in rows:
                for key, val in (("by_user", rec["user"]), ("by_qpu", rec["qpu"]), ("by_job", rec["job_id"])):
                    totals[key][val] = round(totals[key].get(val, 0.0) + rec[figure], 3)
            answer[f"totals_{figure}"] = totals
        return answer

    @r.get("/v1/accounting/tasks", response_model=None)
    async def tasks(
        p: AnyPrincipal, job_id: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z_.-]{1,64}$")] = None,
        user: Annotated[str | None, Query(max_length=32)] = None,
        qpu: Annotated[str | None, Query(pattern=NAME, max_length=63)] = None,
        cluster: Annotated[str | None, Query(pattern=CLUSTER)] = None,
        state: Literal["queued", "dispatched", "ended", "cancelled", "failed"] | None = None,
        since: datetime | None = None, until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=100000)] = 10000,
        format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
    ) -> dict[str, Any] | Response:
        """One record per task of task-level sharing (queued, dispatched, ended, shots, QPU seconds),
        joined to the Slurm job; users see their own, trusted callers all. ``format=csv`` for reports."""
        uid = None if p.trusted else p.uid
        rows = state_.store.tasks.export(
            cluster=cluster, job_id=job_id, user=user, uid=uid, qpu=qpu, state=state, limit=limit,
            since=timestamp(since, "since"), until=timestamp(until, "until"),
        )
        if format == "json":
            return {"columns": list(EXPORT_COLUMNS), "tasks": rows}
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(EXPORT_COLUMNS)
        for row in rows:
            w.writerow([csv_cell(row[c]) for c in EXPORT_COLUMNS])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")

    @r.get("/v1/accounting/utilisation")
    async def utilisation(p: Trusted) -> dict[str, Any]:
        """Per QPU, the totals /metrics exports: seconds available (since qrmid started), held,
        executing (ended tasks), and node-seconds jobs waited (site-wide figures: trusted callers)."""
        totals = state.broker.utilisation()
        return {
            q: {
                "available_s": round(totals["qrmid_qpu_available_seconds"][q], 3),
                "held_s": round(totals["qrmid_qpu_held_seconds"][q], 3),
                "executing_s": round(totals["qrmid_qpu_executing_seconds"][q], 3),
                "wait_node_s": round(totals["qrmid_qpu_wait_node_seconds"][q], 3),
            }
            for q in sorted(state.broker.resources)
        }

    return r
