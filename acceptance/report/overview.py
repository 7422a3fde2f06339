"""What every acceptance output leads with: which QPUs were real and which were twins,
the checks in the order a reader acts on them (failures first), and a host ×
component summary that stays a few rows long on a site of hundreds of nodes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from acceptance.results import CheckResult, QpuKind
from acceptance.spec import Status
from site_survey.hostlist import compress_sorted
from site_survey.model import Site

REAL, TWIN = "real", "emulated twin"
# Failures a reader must act on first, then errors (missing components), then what did not run, then passes.
STATUS_ORDER = {Status.failed: 0, Status.missing: 1, Status.skipped: 2, Status.passed: 3}
# Up to this many hosts, one row each; beyond it, hosts with identical rows share one (compressed hostlist).
MAX_HOST_ROWS = 20
SITE_WIDE = "(site / QPU checks)"


def qpu_kinds(site: Site) -> list[QpuKind]:
    """Each QPU of the model, real or emulated twin, as its access mode says."""
    out = []
    for q in site.qpus:
        if q.access.mode == "emulator":
            host = q.emulator.host if q.emulator else "?"
            out.append(QpuKind(q.name, TWIN, f"served by this site's emulator on {host}"))
            continue
        via = {"onprem": f"on site via {q.access.access_host}", "vendor_service": "vendor service",
               "external": "reached outside QRMI"}[q.access.mode]
        extra = f"; a twin on {q.emulator.host} is described too" if q.emulator else ""
        out.append(QpuKind(q.name, REAL, via + extra))
    return out


def ordered(results: Iterable[CheckResult]) -> list[CheckResult]:
    """Failed, then missing (errors), then skipped, then passed; run order kept within each."""
    return sorted(results, key=lambda r: STATUS_ORDER[r.status])


@dataclass(frozen=True)
class Cell:
    passed: int = 0
    failed: int = 0  # failed or missing
    skipped: int = 0

    @property
    def empty(self) -> bool:
        return not (self.passed or self.failed or self.skipped)

    def text(self) -> str:
        if self.empty:
            return ""
        parts = [f"{self.failed} fail"] if self.failed else []
        parts.append(f"{self.passed} pass")
        if self.skipped:
            parts.append(f"{self.skipped} skip")
        return " / ".join(parts)


@dataclass(frozen=True)
class Row:
    hosts: str  # one host, a compressed hostlist, or SITE_WIDE
    count: int  # how many hosts the row stands for (0 for the site-wide row)
    cells: tuple[Cell, ...]  # one per component, in Summary.components order

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.cells)


@dataclass(frozen=True)
class Summary:
    components: tuple[str, ...]
    rows: tuple[Row, ...]
    grouped: bool  # hosts with identical rows were merged


def _cell(statuses: Counter[Status]) -> Cell:
    return Cell(passed=statuses[Status.passed], failed=statuses[Status.failed] + statuses[Status.missing],
                skipped=statuses[Status.skipped])


def _natural(name: str) -> list[tuple[int, int | str]]:
    """Sort key that puts c2 before c10."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def host_summary(results: Sequence[CheckResult], max_host_rows: int = MAX_HOST_ROWS) -> Summary:
    """Counts per host and component. A check on a pair of hosts counts in both hosts' rows; checks
    on no host (QPU, cluster) make one site-wide row. Rows with failures come first."""
    components = tuple(sorted({r.component for r in results}))
    per_host: dict[str, dict[str, Counter[Status]]] = {}
    site_wide: dict[str, Counter[Status]] = {}
    for r in results:
        targets = [per_host.setdefault(h, {}) for h in r.hosts] or [site_wide]
        for target in targets:
            target.setdefault(r.component, Counter())[r.status] += 1

    def cells(by_component: dict[str, Counter[Status]]) -> tuple[Cell, ...]:
        return tuple(_cell(by_component.get(c, Counter())) for c in components)

    grouped = len(per_host) > max_host_rows
    rows: list[Row] = []
    if grouped:
        same: dict[tuple[Cell, ...], list[str]] = {}
        for host, by_component in per_host.items():
            same.setdefault(cells(by_component), []).append(host)
        rows = [Row(compress_sorted(hosts), len(hosts), key) for key, hosts in same.items()]
    else:
        rows = [Row(host, 1, cells(by_component)) for host, by_component in per_host.items()]
    if site_wide:
        rows.append(Row(SITE_WIDE, 0, cells(site_wide)))
    rows.sort(key=lambda row: (row.failed == 0, -row.failed, _natural(row.hosts)))
    return Summary(components, tuple(rows), grouped)
