"""Results of one run: per check, and the run as a whole (the JSON record)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from acceptance.spec import Status
from site_survey.provenance import ReportProvenance

RECORD_VERSION = 1


@dataclass
class Metric:
    """One benchmark figure for one QPU, with what it is judged against."""

    qpu: str
    benchmark: str  # ghz_fidelity, quantum_volume, mirror_survival, ising_quench_error, qscore
    value: float
    threshold: float | None = None
    higher_is_better: bool = True
    # Plot data (e.g. survival per width and depth); free-form, kept in the record.
    detail: dict[str, Any] = field(default_factory=dict)

    def meets_threshold(self) -> bool:
        if self.threshold is None:
            return True
        return self.value >= self.threshold if self.higher_is_better else self.value <= self.threshold


@dataclass
class CheckResult:
    id: str
    number: int
    name: str
    label: str
    tier: str
    component: str
    status: Status
    message: str
    duration_s: float
    log: str = ""
    metrics: list[Metric] = field(default_factory=list)
    # The hosts the check ran against (none for site- or QPU-wide checks): rows of the host × component summary.
    hosts: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["status"] = self.status.value
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> CheckResult:
        data = dict(doc)
        data["status"] = Status(data["status"])
        data["metrics"] = [Metric(**m) for m in data.get("metrics", [])]
        return cls(**data)


@dataclass(frozen=True)
class QpuKind:
    """Whether the run exercised a real QPU or this site's emulated twin of it."""

    qpu: str
    kind: str  # "real" or "emulated twin"
    detail: str  # how jobs reach it, e.g. "onprem via qgw" or "twin on emu"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class RunRecord:
    site: str
    tier: str
    started: str  # ISO 8601 UTC
    finished: str
    results: list[CheckResult]
    version: int = RECORD_VERSION
    # What the run is bound to (model hash, kit version…); absent in records written before it was kept.
    provenance: ReportProvenance | None = None
    qpus: list[QpuKind] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status.is_failure]

    @property
    def ok(self) -> bool:
        return not self.failures

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    def metrics(self) -> list[Metric]:
        return [m for r in self.results for m in r.metrics]

    def to_json(self) -> str:
        doc = {
            "version": self.version,
            "site": self.site,
            "tier": self.tier,
            "started": self.started,
            "finished": self.finished,
            "counts": self.counts(),
            "provenance": self.provenance.as_dict() if self.provenance else None,
            "qpus": [q.to_json() for q in self.qpus],
            "results": [r.to_json() for r in self.results],
        }
        return json.dumps(doc, indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        doc = json.loads(text)
        if doc.get("version") != RECORD_VERSION:
            raise ValueError(f"run record version {doc.get('version')!r}; this kit reads version {RECORD_VERSION}")
        return cls(
            site=doc["site"],
            tier=doc["tier"],
            started=doc["started"],
            finished=doc["finished"],
            results=[CheckResult.from_json(r) for r in doc["results"]],
            provenance=ReportProvenance(**doc["provenance"]) if doc.get("provenance") else None,
            qpus=[QpuKind(**q) for q in doc.get("qpus", [])],
        )
