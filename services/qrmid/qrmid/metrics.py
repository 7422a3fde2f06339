"""Prometheus metrics qrmid exports on /metrics (its own registry, so tests can
run several daemons in one process).

Label values come only from known sets: a QPU label is one of the site's QPUs (anything
else, e.g. a name in an anonymous request's path, is counted as ``other``), a status code
label is a three-digit code. A caller cannot create series."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

OTHER = "other"


class QpuCounter:
    """A counter labelled (qpu, <second label>) whose qpu label is a known QPU or ``other``."""

    def __init__(self, counter: Counter, qpus: frozenset[str], values: frozenset[str] | None = None):
        self._counter = counter
        self._qpus = qpus
        self._values = values

    def labels(self, qpu: str, value: str) -> Counter:
        q = qpu if qpu in self._qpus else OTHER
        if self._values is not None:
            v = value if value in self._values else OTHER
        else:  # an HTTP status code
            v = value if len(value) == 3 and value.isdigit() else OTHER
        return self._counter.labels(q, v)


class Metrics:
    def __init__(self, qpus: Iterable[str] = ()) -> None:
        known = frozenset(qpus)
        r = self.registry = CollectorRegistry()
        self.qpu_up = Gauge("qrmid_qpu_up", "1 when QRMI reports the QPU online", ["qpu"], registry=r)
        self.qpu_maintenance = Gauge(
            "qrmid_qpu_maintenance", "1 while an operator maintenance switch is on", ["qpu"], registry=r
        )
        self.qpu_calibrating = Gauge(
            "qrmid_qpu_calibrating", "1 while a recurring calibration/maintenance window is open", ["qpu"], registry=r
        )
        self.active = Gauge(
            "qrmid_active_acquisitions", "Granted acquisitions holding the QPU", ["qpu", "profile"], registry=r
        )
        self.waiting = Gauge("qrmid_waiting_acquisitions", "Acquisitions waiting for the QPU", ["qpu"], registry=r)
        self.wait_seconds = Histogram(
            "qrmid_acquisition_wait_seconds",
            "Time from request to grant",
            ["qpu"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600),
            registry=r,
        )
        self.acquisitions = Counter(
            "qrmid_acquisitions_total", "Finished acquisition requests by outcome", ["qpu", "outcome"], registry=r
        )
        self.releases = Counter("qrmid_releases_total", "QPU releases by result", ["qpu", "result"], registry=r)
        self.reaped = Counter(
            "qrmid_reaped_total", "Acquisitions released by the reaper", ["qpu", "reason"], registry=r
        )
        self.auth_failures = Counter(
            "qrmid_auth_failures_total", "Rejected credentials by reason", ["reason"], registry=r
        )
        self.proxied = QpuCounter(
            Counter("qrmid_proxy_requests_total", "Job requests forwarded to QPU services", ["qpu", "code"],
                    registry=r),
            known,
        )
        # task-level sharing (task_queue.py): QPUs in task mode only
        self.task_queue = Gauge("qrmid_qpu_task_queue_length", "Tasks queued at qrmid for the QPU", ["qpu"], registry=r)
        self.tasks_running = Gauge(
            "qrmid_qpu_tasks_running", "Tasks qrmid dispatched that the QPU service still runs", ["qpu"], registry=r
        )
        self.task_queued_seconds = Counter(
            "qrmid_qpu_task_queued_seconds", "Seconds dispatched tasks spent queued at qrmid", ["qpu"], registry=r
        )
        self.tasks = Counter(
            "qrmid_qpu_tasks", "Task queue events (queued, dispatched, ended, cancelled, failed)", ["qpu", "event"],
            registry=r,
        )
        self.database_errors = Counter(
            "qrmid_database_errors_total", "Requests answered 503 because the database failed", registry=r
        )
