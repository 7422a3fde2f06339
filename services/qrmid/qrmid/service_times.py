"""The service's own clock for a task qrmid forwarded: when it started and ended there.

With a lookahead (docs/qrmid.md, "Lookahead") a forwarded task may wait in the service's own
queue, so the forward time is not its start. Pasqal's batch answers carry ``start_datetime``
and ``end_datetime``; IBM's job answer carries only the status (``Running``), its metrics
(``GET /v1/jobs/{id}/metrics``) carry ``timestamps.running`` and ``timestamps.finished``.
Pure functions over the decoded answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qrmid.utilisation import IBM_TASK_ROUTES, PASQAL_TASK_ROUTES, _instant

IBM_STARTED = frozenset({"Running", "Completed", "Failed", "Cancelled - Ran too long"})
PASQAL_STARTED = frozenset({"RUNNING", "DONE", "ERROR", "TIMED_OUT"})


@dataclass(frozen=True)
class Progress:
    task: str  # the service's id
    started: bool  # the service has started it (it is not waiting in its queue)
    started_at: float | None  # its start by the service's clock, when the answer names it
    ended_at: float | None  # its end by the service's clock, when the answer names it


def progress(route: str, doc: Any) -> Progress | None:
    """What an answer about one task says of its start (None: not an answer about a task)."""
    if not isinstance(doc, dict):
        return None
    if route in IBM_TASK_ROUTES:
        task, state = doc.get("id"), doc.get("state")
        status = state.get("status") if isinstance(state, dict) else doc.get("status")
        if not isinstance(task, str):
            return None
        return Progress(task, status in IBM_STARTED or doc.get("status") in IBM_STARTED, None, None)
    if route in PASQAL_TASK_ROUTES:
        data = doc.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        start, end = _instant(data.get("start_datetime")), _instant(data.get("end_datetime"))
        return Progress(data["id"], start is not None or data.get("status") in PASQAL_STARTED, start, end)
    return None


def ibm_metrics(doc: Any) -> tuple[float | None, float | None]:
    """(running, finished) of an IBM job's metrics answer, by the service's clock."""
    stamps = doc.get("timestamps") if isinstance(doc, dict) else None
    if not isinstance(stamps, dict):
        return None, None
    return _instant(stamps.get("running")), _instant(stamps.get("finished"))
