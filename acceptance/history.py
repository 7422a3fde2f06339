"""Run records kept on the controller, and drift between a run and its history.

Records live in ``reports/<site>/acceptance/runs/<UTC timestamp>.json``, one per
run. A benchmark figure drifts when it falls below its threshold in the model,
or below the QPU's own history (the median of the same figure in the last
``HISTORY_WINDOW`` runs) by more than ``benchmarks.drift_tolerance``:

- higher-is-better figures (fidelity, survival, QV, Q-score) drift when
  value < baseline × (1 − tolerance);
- lower-is-better figures (the quench error) drift when
  value > baseline + tolerance × limit — relative to the limit, because a
  ratio of two small errors is mostly shot noise.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from acceptance.results import Metric, RunRecord
from site_survey.model import Site

HISTORY_WINDOW = 10


@dataclass(frozen=True)
class Drift:
    qpu: str
    benchmark: str
    value: float
    baseline: float | None  # median of earlier runs; None without history
    runs_compared: int
    threshold: float | None
    tolerance: float
    kind: str  # "ok" | "below_threshold" | "below_history"
    message: str

    @property
    def drifted(self) -> bool:
        return self.kind != "ok"


def run_file_name(started_iso: str) -> str:
    """2026-11-21T06:40:00.123456+00:00 → 20261121T064000Z.json (sortable, one per second)."""
    digits = started_iso.replace("-", "").replace(":", "")
    return f"{digits[:15]}Z.json"


def save(record: RunRecord, runs_dir: Path) -> Path:
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = runs_dir / run_file_name(record.started)
    n = 1
    while path.exists():  # two runs in one second keep both records
        path = runs_dir / f"{path.stem.split('-')[0]}-{n}.json"
        n += 1
    path.write_text(record.to_json(), encoding="utf-8")
    return path


def _order(path: Path) -> tuple[str, int]:
    """20261121T060000Z.json before 20261121T060000Z-1.json (a second run in the same second)."""
    base, _, n = path.stem.partition("-")
    return base, int(n) if n.isdigit() else 0


def load(runs_dir: Path, exclude: Path | None = None) -> tuple[list[RunRecord], list[str]]:
    """Earlier records, oldest first; unreadable ones are reported, not fatal."""
    records, problems = [], []
    for path in sorted(runs_dir.glob("*.json"), key=_order):
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        try:
            records.append(RunRecord.from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path.name}: {exc}")
    records.sort(key=lambda r: r.started)
    return records, problems


def _tolerance(site: Site, qpu: str) -> float:
    q = site.qpu(qpu)
    return q.benchmarks.drift_tolerance if q is not None else 0.1


def compare(current: RunRecord, history: list[RunRecord], site: Site) -> list[Drift]:
    out = []
    for m in current.metrics():
        earlier = [
            h.value for rec in history[-HISTORY_WINDOW:] for h in rec.metrics()
            if h.qpu == m.qpu and h.benchmark == m.benchmark
        ]
        out.append(_judge(m, earlier, _tolerance(site, m.qpu)))
    return out


def _judge(m: Metric, earlier: list[float], tolerance: float) -> Drift:
    baseline = statistics.median(earlier) if earlier else None

    def verdict(kind: str, message: str) -> Drift:
        return Drift(m.qpu, m.benchmark, m.value, baseline, len(earlier), m.threshold, tolerance, kind, message)

    if not m.meets_threshold():
        side = "below its threshold" if m.higher_is_better else "above its limit"
        return verdict("below_threshold", f"{m.qpu} {m.benchmark} {m.value:.4g} is {side} {m.threshold}")
    if baseline is not None:
        if m.higher_is_better:
            floor = baseline * (1 - tolerance)
            if m.value < floor:
                return verdict("below_history",
                               f"{m.qpu} {m.benchmark} {m.value:.4g} fell below its history: median {baseline:.4g} "
                               f"of {len(earlier)} run(s), tolerance {tolerance:.0%} (floor {floor:.4g})")
        else:
            scale = m.threshold if m.threshold is not None else max(baseline, 1e-9)
            ceiling = baseline + tolerance * scale
            if m.value > ceiling:
                return verdict("below_history",
                               f"{m.qpu} {m.benchmark} {m.value:.4g} rose above its history: median {baseline:.4g} "
                               f"of {len(earlier)} run(s) + {tolerance:.0%} of {scale:.4g} (ceiling {ceiling:.4g})")
    note = f"median {baseline:.4g} of {len(earlier)} run(s)" if baseline is not None else "no history yet"
    return verdict("ok", f"{m.qpu} {m.benchmark} {m.value:.4g} within bounds ({note})")
