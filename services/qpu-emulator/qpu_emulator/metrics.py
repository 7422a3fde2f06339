"""Prometheus metrics: jobs by state (from the job records, so correct after a
restart), queue depth, execution seconds, shots, workers ready."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qpu_emulator.store import ALL_STATES

PREFIX = "qpu_emulator"


class _JobsByState(Collector):
    def __init__(self, counts: Callable[[], dict[tuple[str, str], int]], twins: list[str]) -> None:
        self._counts = counts
        self._twins = twins

    def collect(self) -> Iterator[Metric]:
        fam = GaugeMetricFamily(f"{PREFIX}_jobs", "Job records by twin and state.", labels=["twin", "state"])
        counts = self._counts()
        for twin in sorted(set(self._twins) | {t for t, _ in counts}):
            for state in ALL_STATES:
                fam.add_metric([twin, state], counts.get((twin, state), 0))
        yield fam


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.queue_depth = Gauge(f"{PREFIX}_queue_depth", "Jobs waiting for a worker.", registry=r)
        self.workers_ready = Gauge(f"{PREFIX}_workers_ready", "Worker processes ready to execute.", registry=r)
        self.execution_seconds = Histogram(
            f"{PREFIX}_execution_seconds",
            "Time a worker spent executing a job.",
            ["twin", "program"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.shots = Counter(f"{PREFIX}_shots", "Shots executed.", ["twin"], registry=r)
        self.submitted = Counter(f"{PREFIX}_jobs_submitted", "Jobs accepted.", ["twin", "program"], registry=r)
        self.finished = Counter(
            f"{PREFIX}_jobs_finished", "Jobs that reached a final state.", ["twin", "state"], registry=r
        )
        self.http_errors = Counter(f"{PREFIX}_http_errors", "Error responses sent.", ["surface", "status"], registry=r)

    def watch_jobs(self, counts: Callable[[], dict[tuple[str, str], int]], twins: list[str]) -> None:
        self.registry.register(_JobsByState(counts, twins))
