"""What a check is: a numbered, named, typed definition expanded over a site.

A :class:`CheckSpec` holds one sanity condition. ``expand`` turns the site model
into typed parameters (one per host, QPU, …) and ``body`` proves the condition
for one of them: it returns a one-line message on success and raises
:class:`CheckFailed`, :class:`MissingComponent` or :class:`NotApplicable`
otherwise. Anything else it raises is an error of the check itself, reported as
a failure with its traceback; the suite never stops because one check broke.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from acceptance.context import Context
    from site_survey.model import Site


class Tier(str, enum.Enum):
    """How deep a run goes: each tier includes the ones before it."""

    smoke = "smoke"  # minutes at most: installed, running, one job per QPU, fast benchmarks
    l1 = "l1"  # minutes: drills, alerts, full benchmarks
    l2 = "l2"  # vendor time windows: long benchmarks (Q-score); off unless asked for

    @property
    def rank(self) -> int:
        return list(Tier).index(self)

    def includes(self, other: Tier) -> bool:
        return other.rank <= self.rank


class Status(str, enum.Enum):
    passed = "passed"
    failed = "failed"  # the condition does not hold (includes timeouts and errors of the check)
    missing = "missing"  # the component the check needs is not deployed; counts as a failure
    skipped = "skipped"  # not applicable to this site or parameter; not a failure

    @property
    def is_failure(self) -> bool:
        return self in (Status.failed, Status.missing)


class CheckFailed(Exception):
    """The check's condition does not hold; the message says what was found instead."""


class MissingComponent(Exception):
    """The component a check needs is not deployed (e.g. no service qrmid on qgw)."""

    def __init__(self, component: str, where: str, detail: str) -> None:
        super().__init__(f"{component} not deployed on {where}: {detail}")
        self.component = component
        self.where = where
        self.detail = detail


class NotApplicable(Exception):
    """The check does not apply to this parameter (e.g. GHZ on an analog device)."""


P = TypeVar("P")


@dataclass(frozen=True)
class CheckSpec(Generic[P]):
    number: int
    name: str
    tier: Tier
    component: str
    proves: str  # one sentence: what a pass proves (check catalogue, report)
    expand: Callable[[Site], Iterable[P]]
    body: Callable[[Context, P], str]
    timeout_s: float = 30.0
    # Checks whose metrics feed the benchmark history (drift) set this.
    benchmark: str | None = None

    @property
    def check_id(self) -> str:
        return f"{self.number:03d}_{self.name}"


@dataclass(frozen=True)
class CheckInstance:
    spec: CheckSpec[Any]
    param: Any
    label: str  # e.g. "ctl" or "sc_twin" or "ctl->c1"

    @property
    def id(self) -> str:
        return f"{self.spec.check_id}[{self.label}]" if self.label else self.spec.check_id


@dataclass
class Registry:
    specs: list[CheckSpec[Any]] = field(default_factory=list)

    def add(self, spec: CheckSpec[Any]) -> CheckSpec[Any]:
        clash = [s for s in self.specs if s.number == spec.number or s.name == spec.name]
        if clash:
            raise ValueError(f"check {spec.check_id} clashes with {clash[0].check_id}: numbers and names are unique")
        self.specs.append(spec)
        self.specs.sort(key=lambda s: s.number)
        return spec

    def instances(self, site: Site, tier: Tier, only: Iterable[str] = ()) -> list[CheckInstance]:
        wanted = [o for o in only if o]
        out = []
        for spec in self.specs:
            if not tier.includes(spec.tier):
                continue
            if wanted and not any(w in spec.check_id or w == str(spec.number) for w in wanted):
                continue
            for param in spec.expand(site):
                out.append(CheckInstance(spec, param, label_of(param)))
        return out


def label_of(param: Any) -> str:
    label = getattr(param, "label", None)
    if callable(label):
        return str(label())
    return "" if param is None else str(param)


def check(
    registry: Registry,
    number: int,
    name: str,
    *,
    tier: Tier,
    component: str,
    proves: str,
    expand: Callable[[Site], Iterable[P]],
    timeout_s: float = 30.0,
    benchmark: str | None = None,
) -> Callable[[Callable[[Context, P], str]], CheckSpec[P]]:
    """Decorator: register ``body`` as check ``number``."""

    def wrap(body: Callable[[Context, P], str]) -> CheckSpec[P]:
        spec = CheckSpec(number, name, tier, component, proves, expand, body, timeout_s, benchmark)
        registry.add(spec)
        return spec

    return wrap
