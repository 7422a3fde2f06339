"""Prometheus metrics qrmid exports on /metrics (its own registry, so tests can
run several daemons in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
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
        self.proxied = Counter(
            "qrmid_proxy_requests_total", "Job requests forwarded to QPU services", ["qpu", "code"], registry=r
        )
