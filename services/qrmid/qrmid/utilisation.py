"""Utilisation: what each QPU did with the time it had, and what waiting for it cost.

Per QPU, four monotonic totals in seconds, exported as Prometheus counters (use ``rate()``;
their ratios are the utilisation figures):

- available: wall time outside calibration/maintenance windows and operator maintenance,
  counted by this qrmid process since it started (windows are known in advance; a
  maintenance switch is counted from the row's ``since``, so setting one is exact);
- held: time jobs held it (each hold from acquired to released), from the database;
- executing: QPU time of the tasks jobs ran through qrmid, as the service reports it once
  the task has ended (IBM: ``usage.quantum_seconds``; Pasqal: a batch's end − start;
  IQM: the job timeline's execution_started → execution_ended);
- wait node-seconds: nodes × time from request to grant (or to the end of a wait that
  failed) of every acquisition; a job waiting for several QPUs counts on each of them.

held and executing are summed over the accounting tables, so they are the accounting API's
figures and survive a restart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from qrmid.config import Window
from qrmid.models import MaintenanceRow
from qrmid.windows import blocked_seconds

# IBM job states and Pasqal batch states after which a task no longer runs
IBM_ENDED = frozenset({"Completed", "Failed", "Cancelled", "Cancelled - Ran too long"})
PASQAL_ENDED = frozenset({"DONE", "ERROR", "CANCELED", "TIMED_OUT"})
# routes whose answer describes one task the job created (vendor_routes' route names)
IBM_TASK_ROUTES = frozenset({"job"})
PASQAL_TASK_ROUTES = frozenset({"batch.v1", "batch.v2"})
IQM_TASK_ROUTES = frozenset({"iqm.job"})
IQM_ENDED = frozenset({"completed", "failed", "cancelled", "aborted"})
IBM_QS_TASK_ROUTES = frozenset({"qs.job"})  # IBM Quantum System: usage.quantum_nanoseconds
TASK_ROUTES = IBM_TASK_ROUTES | PASQAL_TASK_ROUTES | IQM_TASK_ROUTES | IBM_QS_TASK_ROUTES
# a task reported to have run longer than a year is a broken answer, not a figure to add
MAX_TASK_SECONDS = 366 * 86400.0


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    v = float(value)
    return v if math.isfinite(v) and 0 <= v <= MAX_TASK_SECONDS else None


def _instant(value: Any) -> float | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def ended_task(route: str, doc: Any) -> tuple[str, float] | None:
    """(task id, QPU seconds) when a service's answer shows one of its tasks has ended; else None."""
    if not isinstance(doc, dict):
        return None
    if route in IBM_TASK_ROUTES:
        state = doc.get("state")
        status = state.get("status") if isinstance(state, dict) else doc.get("status")
        usage = doc.get("usage")
        if status not in IBM_ENDED and doc.get("status") not in IBM_ENDED:
            return None
        used = _seconds(usage.get("quantum_seconds")) if isinstance(usage, dict) else None
        task = doc.get("id")
        return (task, used) if isinstance(task, str) and used is not None else None
    if route in IBM_QS_TASK_ROUTES:
        if doc.get("status") not in IBM_ENDED:
            return None
        usage = doc.get("usage")
        ns = usage.get("quantum_nanoseconds") if isinstance(usage, dict) else None
        # no usage: it ended before it ran (cancelled while queued)
        qs_seconds = 0.0 if usage is None else (_seconds(ns / 1e9) if isinstance(ns, int) else None)
        task = doc.get("id")
        return (task, qs_seconds) if isinstance(task, str) and qs_seconds is not None else None
    if route in IQM_TASK_ROUTES:
        return _iqm_ended(doc)
    if route in PASQAL_TASK_ROUTES:
        data = doc.get("data")
        if not isinstance(data, dict) or data.get("status") not in PASQAL_ENDED:
            return None
        task = data.get("id")
        start, end = _instant(data.get("start_datetime")), _instant(data.get("end_datetime"))
        if start is None or end is None:  # ended before it ran (cancelled while queued)
            seconds: float | None = 0.0 if data.get("start_datetime") is None else None
        else:
            seconds = _seconds(end - start)
        return (task, seconds) if isinstance(task, str) and seconds is not None else None
    return None


def _iqm_ended(doc: dict[str, Any]) -> tuple[str, float] | None:
    """An IQM Server job: its execution time from the timeline's execution_started/_ended events
    (0 when it ended without running)."""
    task = doc.get("id")
    if doc.get("status") not in IQM_ENDED or not isinstance(task, str):
        return None
    events = doc.get("timeline")
    marks: dict[str, float | None] = {}
    for e in events if isinstance(events, list) else []:
        if isinstance(e, dict) and e.get("status") in ("execution_started", "execution_ended"):
            marks[e["status"]] = _instant(e.get("timestamp"))
    start, end = marks.get("execution_started"), marks.get("execution_ended")
    if "execution_started" not in marks:
        return task, 0.0
    seconds = _seconds(end - start) if start is not None and end is not None else None
    return (task, seconds) if seconds is not None else None


class Availability:
    """Seconds each QPU was available, integrated from this process's start.

    ``advance(now)`` adds [last, now] minus the time windows and maintenance blocked; the
    broker advances it every tick and before a maintenance switch changes, so a switch that
    is turned off is counted up to that moment."""

    def __init__(self, qpus: list[str], blocked: Callable[[str, float, float], float], now: float | None = None):
        self._blocked = blocked
        self._at = time.time() if now is None else now
        self.seconds: dict[str, float] = dict.fromkeys(qpus, 0.0)

    def advance(self, now: float | None = None) -> dict[str, float]:
        now = time.time() if now is None else now
        if now > self._at:
            for q in self.seconds:
                self.seconds[q] += max(0.0, (now - self._at) - self._blocked(q, self._at, now))
            self._at = now
        return dict(self.seconds)


def blocked_by(windows: list[Window], maintenance: MaintenanceRow | None, tz: ZoneInfo, a: float, b: float) -> float:
    """Seconds of [a, b] inside a recurring window or the maintenance switch (overlaps once)."""
    extra: list[tuple[float, float]] = []
    if maintenance is not None:
        extra.append((float(maintenance["since"]), float(maintenance["until"]) if maintenance["until"] else math.inf))
    return blocked_seconds(windows, tz, a, b, extra)


class UtilisationCollector(Collector):
    """Prometheus counters computed when scraped (``totals`` returns {metric: {qpu: seconds}})."""

    HELP = {
        "qrmid_qpu_available_seconds": "Seconds the QPU was outside calibration/maintenance windows and maintenance "
        "(since qrmid started)",
        "qrmid_qpu_held_seconds": "Seconds jobs held the QPU (acquired to released)",
        "qrmid_qpu_executing_seconds": "QPU seconds of ended tasks, as the QPU service reported them",
        "qrmid_qpu_wait_node_seconds": "Nodes x seconds jobs waited for the QPU (a job waiting for several QPUs "
        "counts on each)",
    }

    def __init__(self, totals: Callable[[], dict[str, dict[str, float]]]):
        self._totals = totals

    def describe(self) -> Iterator[CounterMetricFamily]:
        for name, text in self.HELP.items():
            yield CounterMetricFamily(name, text, labels=["qpu"])

    def collect(self) -> Iterator[CounterMetricFamily]:
        totals = self._totals()
        for name, text in self.HELP.items():
            family = CounterMetricFamily(name, text, labels=["qpu"])
            for qpu, value in sorted(totals.get(name, {}).items()):
                family.add_metric([qpu], round(value, 3))
            yield family
