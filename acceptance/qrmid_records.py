"""What qrmid knows about a job: its acquisitions and accounting records (read as root
on the login node, a trusted munge principal)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.remote_http import HttpReply, call
from acceptance.spec import CheckFailed, MissingComponent
from site_survey import derive
from site_survey.model import HostRole

ACTIVE_STATES = ("waiting", "acquiring", "granted", "releasing")


def qrmid_url(ctx: Context) -> str:
    access = ctx.site.hosts_with(HostRole.qpu_access)
    if not access:
        raise CheckFailed("the site model has no qpu_access host (qrmid)")
    return derive.qrmid_url(ctx.site) or f"http://{access[0].address}:{ctx.site.software.qrmid_port}"


def _get(ctx: Context, path: str) -> HttpReply:
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("no login host to query qrmid from")
    reply = call(ctx, login.name, "GET", qrmid_url(ctx), path, auth="munge")
    if reply.status == -1:
        access = ctx.site.hosts_with(HostRole.qpu_access)[0].name
        raise MissingComponent("qrmid", access, f"no answer at {qrmid_url(ctx)} ({reply.error})")
    if not reply.ok:
        raise CheckFailed(f"qrmid answered {reply.status} to GET {path}: {str(reply.body)[:200]}")
    return reply


def acquisitions(ctx: Context, job_id: str) -> list[dict[str, Any]]:
    body = _get(ctx, f"/v1/acquisitions?job_id={job_id}").body
    return list(body) if isinstance(body, list) else []


def still_held(ctx: Context, job_id: str) -> list[str]:
    """Acquisitions of the job that are not over: each as 'QPU (state)'. Empty means nothing is held."""
    return [f"{a.get('qpu')} ({a.get('state')})" for a in acquisitions(ctx, job_id) if a.get("state") in ACTIVE_STATES]


def accounting(ctx: Context, job_id: str) -> list[dict[str, Any]]:
    body = _get(ctx, f"/v1/accounting?job_id={job_id}").body
    records = body.get("records", []) if isinstance(body, dict) else []
    return list(records)


def tasks(ctx: Context, job_id: str, qpu: str) -> list[dict[str, Any]]:
    """The job's per-task records on ``qpu`` (QPUs in task-sharing mode; docs/qrmid.md)."""
    body = _get(ctx, f"/v1/accounting/tasks?job_id={quote(job_id)}&qpu={quote(qpu)}").body
    rows = body.get("tasks", []) if isinstance(body, dict) else []
    return list(rows)


def wait_over(ctx: Context, job_id: str, timeout_s: float, poll_s: float = 0.25) -> tuple[list[dict[str, Any]], float]:
    """Poll the job's acquisitions until there is one and none is active any more (released or
    failed), for at most ``timeout_s``; returns the last rows seen and the seconds it took."""
    started = time.monotonic()
    rows = acquisitions(ctx, job_id)
    while not (rows and not any(a.get("state") in ACTIVE_STATES for a in rows)):
        if time.monotonic() - started >= timeout_s:
            break
        time.sleep(poll_s)
        rows = acquisitions(ctx, job_id)
    return rows, time.monotonic() - started


def wait_granted(ctx: Context, job_id: str, timeout_s: float, poll_s: float = 0.5) -> list[dict[str, Any]]:
    """Poll until the job has a granted acquisition (or ``timeout_s`` passes); the last rows seen."""
    deadline = time.monotonic() + timeout_s
    rows = acquisitions(ctx, job_id)
    while not any(a.get("state") == "granted" for a in rows) and time.monotonic() < deadline:
        time.sleep(poll_s)
        rows = acquisitions(ctx, job_id)
    return rows
