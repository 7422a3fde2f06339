"""What the survey reports: findings with severity, measured vs required, and provenance."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, TypedDict

from site_survey.model import Source
from site_survey.profiles import Requirement

if TYPE_CHECKING:
    from site_survey.provenance import ReportProvenance
    from site_survey.survey.context import SurveyContext


class Severity(str, Enum):
    blocker = "blocker"  # the QPU cannot be installed or operated safely until this is fixed
    warning = "warning"  # a risk, a doubtful figure or a missing measurement; review before installation
    info = "info"  # a check that passed, or a check that could not apply

    @property
    def rank(self) -> int:
        return {"blocker": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    check: str  # rule id, e.g. "cooling.capacity"
    severity: Severity
    message: str
    passed: bool = False
    room: str | None = None
    qpu: str | None = None
    subject: str | None = None  # the loop, feed, link or control the finding is about
    measured: str | None = None  # facility value with its unit
    required: str | None = None  # requirement with its unit
    source: str | None = None
    confidence: str | None = None
    hint: str = ""
    involves: tuple[str, ...] = ()  # every QPU a loop/feed-level finding is about
    measured_source: str | None = None  # where the facility figure comes from (model `source:`), None: unsourced

    @property
    def id(self) -> str:
        where = "/".join(part for part in (self.room, self.qpu or self.subject) if part)
        return f"{self.check}[{where}]" if where else self.check


class Provenance(TypedDict, total=False):
    source: str
    confidence: str


def from_requirement(*reqs: Requirement) -> Provenance:
    """Source and confidence for a finding that rests on one or several requirements."""
    if not reqs:
        return Provenance()
    order = {"high": 0, "medium": 1, "low": 2}
    sources = list(dict.fromkeys(r.source for r in reqs))
    weakest = max((r.confidence.value for r in reqs), key=lambda c: order[c])
    return Provenance(source="; ".join(sources), confidence=weakest)


def cite(*sources: Source | None) -> str | None:
    """Where the facility figures of a finding come from; None when the model gives no source for them."""
    named = list(dict.fromkeys(s.cite() for s in sources if s is not None))
    return "; ".join(named) or None


def fmt(value: float, unit: str) -> str:
    """A number with its unit, without a useless '.0'."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}%" if unit == "%" else f"{text} {unit}".rstrip()


@dataclass(frozen=True)
class Segment:
    """One QPU's share of a bar, labelled with its room: 'ibm_qhall (qhall-a)'."""

    label: str
    value: float


@dataclass(frozen=True)
class Bar:
    label: str
    used: float
    available: float
    unit: str
    # QPUs counted as zero because no figure is known for them: the chart says so.
    without_figure: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = ()  # what makes up `used`, stacked in the chart

    @property
    def ratio(self) -> float:
        return self.used / self.available if self.available > 0 else float("inf") if self.used > 0 else 0.0


@dataclass(frozen=True)
class Headroom:
    """One chart: a cooling loop, a power feed or a room, with the rooms it serves.

    A loop or feed shared by several rooms is charted once, with each room's
    QPUs stacked, instead of showing its site total again in every room.
    """

    kind: str  # "water loop", "air cooling", "power feed" or "room"
    subject: str  # the loop, feed or room name
    serves: tuple[str, ...]  # rooms
    bars: tuple[Bar, ...]

    @property
    def title(self) -> str:
        rooms = f" (serves {', '.join(self.serves)})" if self.kind != "room" else ""
        return f"{self.kind} {self.subject}{rooms}"


@dataclass
class SurveyResult:
    site: str
    findings: list[Finding] = field(default_factory=list)
    headroom: list[Headroom] = field(default_factory=list)
    context: SurveyContext | None = None  # what the rules saw: requirements, loop and feed placement
    provenance: ReportProvenance | None = None  # what the reports are bound to (time, kit, model hash)

    def counts(self) -> dict[Severity, int]:
        counted = Counter(f.severity for f in self.findings)
        return {s: counted.get(s, 0) for s in Severity}

    @property
    def blockers(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == Severity.blocker]

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.severity.rank, f.room or "", f.qpu or "", f.check))

    def for_qpu(self, name: str) -> list[Finding]:
        return self.by_qpu().get(name, [])

    def by_qpu(self) -> dict[str, list[Finding]]:
        """Sorted findings per QPU, computed in one pass (reports ask for every QPU)."""
        out: dict[str, list[Finding]] = {}
        for f in self.sorted():
            for name in dict.fromkeys(((f.qpu,) if f.qpu else ()) + f.involves):
                out.setdefault(name, []).append(f)
        return out
