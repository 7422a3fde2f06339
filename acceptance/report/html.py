"""The self-contained HTML report: provenance, verdict, QPUs (real or twin), a host ×
component summary, benchmark plots (inline SVG), drift, and every check (failures
first) with its message, timing and log. No scripts, no external resources."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from acceptance.history import Drift
from acceptance.report import overview, svg
from acceptance.results import Metric, RunRecord
from acceptance.spec import Status

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1200px}
h1{margin-bottom:.2rem} .meta{color:#555;margin-bottom:1rem}
.verdict{padding:.6rem 1rem;border-radius:6px;font-weight:bold;display:inline-block}
.ok{background:#e3f5e1;color:#1b5e20} .bad{background:#fde2e1;color:#8e1b1b}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem} td,th{border-bottom:1px solid #ddd;
padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
.passed{color:#1b5e20} .failed{color:#b71c1c;font-weight:bold} .missing{color:#e65100;font-weight:bold}
.skipped{color:#777} pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.8rem;max-height:30rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem} details summary{cursor:pointer;color:#555}
.provenance td,.provenance th{border:none;padding:.1rem .5rem;font-size:.85rem} .provenance{width:auto}
.twin{color:#6a1b9a;font-weight:bold} .real{color:#0d47a1;font-weight:bold} .hosts{font-family:monospace}
"""


def _metrics(record: RunRecord, benchmark: str) -> list[Metric]:
    return [m for m in record.metrics() if m.benchmark == benchmark]


def _charts(record: RunRecord, history: list[RunRecord]) -> list[str]:
    charts: list[str] = []
    ghz = _metrics(record, "ghz_fidelity")
    if ghz:
        charts.append(svg.bar_chart("GHZ fidelity per QPU", [m.qpu for m in ghz], [m.value for m in ghz],
                                    [m.threshold for m in ghz], y_label="fidelity"))
    for m in _metrics(record, "mirror_survival"):
        grid: dict[str, Any] = m.detail.get("survival", {})
        depths = sorted({int(k.split("x")[1]) for k in grid})
        widths = sorted({int(k.split("x")[0]) for k in grid})
        series = {f"width {w}": [grid.get(f"{w}x{d}") for d in depths] for w in widths}
        charts.append(svg.line_chart(f"Mirror survival — {m.qpu}", depths, series, m.threshold,
                                     x_label="depth (layers, mirrored)", y_label="survival"))
    for m in _metrics(record, "quantum_volume"):
        per: dict[str, Any] = m.detail.get("per_width", {})
        ns = sorted(int(n) for n in per)
        charts.append(svg.line_chart(
            f"Quantum Volume HOP — {m.qpu}", ns,
            {"mean HOP": [per[str(n)]["mean_hop"] for n in ns], "mean − 2σ": [per[str(n)]["lower_bound"] for n in ns]},
            2 / 3, lo=0.4, hi=1.0, x_label="width n", y_label="heavy-output probability"))
    for m in _metrics(record, "ising_quench_error"):
        times = m.detail.get("times_ns", [])
        charts.append(svg.line_chart(
            f"Ising-ring quench — {m.qpu}", times,
            {"device": m.detail.get("measured", []), "exact": m.detail.get("reference", [])},
            None, lo=-0.6, hi=0.2, x_label="quench time (ns)", y_label="<ZZ>c"))
    # History of every figure of this run, oldest first, this run last.
    runs = [*history[-9:], record]
    for key in sorted({(m.qpu, m.benchmark) for m in record.metrics()}):
        values: list[float | None] = []
        for run in runs:
            found = [m.value for m in run.metrics() if (m.qpu, m.benchmark) == key]
            values.append(found[0] if found else None)
        if sum(v is not None for v in values) < 2:
            continue
        current = next(m for m in record.metrics() if (m.qpu, m.benchmark) == key)
        known = [v for v in values if v is not None]
        top = max([*known, current.threshold or 0.0]) * 1.1 or 1.0
        hi = _nice_ceiling(top)
        charts.append(svg.line_chart(f"{key[1]} history — {key[0]}", list(range(len(runs))), {"value": values},
                                     current.threshold, lo=0.0, hi=hi, x_label="run (oldest → this one)",
                                     x_ticks=[r.started[5:16].replace("T", " ") for r in runs]))
    return charts


def _nice_ceiling(value: float) -> float:
    """The next 1, 2, 2.5 or 5 × 10^k at or above value: readable axis ticks."""
    scale = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0):
        if step * scale >= value:
            return step * scale
    return 10.0 * scale


def _provenance(record: RunRecord) -> str:
    if record.provenance is None:
        return '<p class="meta">No provenance recorded for this run.</p>'
    rows = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>"
                   for k, v in record.provenance.lines())
    return f'<table class="provenance">{rows}</table>'


def _qpus(record: RunRecord) -> str:
    if not record.qpus:
        return "<p>The model names no QPU.</p>"
    rows = "".join(
        f'<tr><td>{escape(q.qpu)}</td><td class="{"twin" if q.kind == overview.TWIN else "real"}">{escape(q.kind)}'
        f"</td><td>{escape(q.detail)}</td></tr>"
        for q in record.qpus
    )
    return f"<table><tr><th>QPU</th><th>kind</th><th>how jobs reach it</th></tr>{rows}</table>"


def _host_summary(record: RunRecord) -> str:
    summary = overview.host_summary(record.results)
    if not summary.rows:
        return "<p>No checks ran.</p>"
    head = "".join(f"<th>{escape(c)}</th>" for c in summary.components)
    rows = []
    for row in summary.rows:
        cells = "".join(
            f'<td class="{"failed" if c.failed else "passed" if c.passed else "skipped"}">{escape(c.text())}</td>'
            for c in row.cells)
        hosts = escape(row.hosts) + (f" ({row.count} hosts)" if row.count > 1 else "")
        rows.append(f'<tr><td class="hosts">{hosts}</td>{cells}</tr>')
    note = (f"<p>More than {overview.MAX_HOST_ROWS} hosts: hosts with identical results share a row.</p>"
            if summary.grouped else "")
    return f"{note}<table><tr><th>hosts</th>{head}</tr>{''.join(rows)}</table>"


def render(record: RunRecord, drift: list[Drift], history: list[RunRecord], paths: dict[str, str]) -> str:
    counts = record.counts()
    ok = record.ok and not any(d.drifted for d in drift)
    rows = []
    for r in overview.ordered(record.results):
        log = f"<details><summary>log</summary><pre>{escape(r.log)}</pre></details>" if r.log else ""
        rows.append(
            f'<tr><td>{escape(r.id)}</td><td class="{r.status.value}">{r.status.value}</td>'
            f"<td>{escape(r.tier)}</td><td>{r.duration_s:.1f} s</td><td>{escape(r.message)}{log}</td></tr>"
        )
    drift_rows = "".join(
        f'<tr><td>{escape(d.qpu)}</td><td>{escape(d.benchmark)}</td><td>{d.value:.4g}</td>'
        f'<td>{"" if d.threshold is None else d.threshold}</td>'
        f'<td>{"—" if d.baseline is None else f"{d.baseline:.4g} ({d.runs_compared})"}</td>'
        f'<td class="{"failed" if d.drifted else "passed"}">{escape(d.kind)}</td><td>{escape(d.message)}</td></tr>'
        for d in drift
    )
    charts = "".join(f"<div>{c}</div>" for c in _charts(record, history))
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    outputs = "".join(f"<li>{escape(k)}: <code>{escape(v)}</code></li>" for k, v in paths.items())
    failures = [r for r in record.results if r.status in (Status.failed, Status.missing)]
    verdict = "PASSED" if ok else f"FAILED — {len(failures)} check(s) failed" + (
        ", benchmark drift" if any(d.drifted for d in drift) else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qpusite acceptance — {escape(record.site)}</title>
<style>{STYLE}</style></head><body>
<h1>Acceptance — {escape(record.site)}</h1>
<div class="meta">tier {escape(record.tier)} · started {escape(record.started)} · finished {escape(record.finished)}
 · {len(record.results)} checks: {escape(summary)}</div>
<div class="verdict {"ok" if ok else "bad"}">{escape(verdict)}</div>
<h2>Provenance</h2>
{_provenance(record)}
<h2>QPUs</h2>
{_qpus(record)}
<h2>Hosts × components</h2>
{_host_summary(record)}
<h2>Checks (failures first)</h2>
<table><tr><th>check</th><th>status</th><th>tier</th><th>time</th><th>message</th></tr>{"".join(rows)}</table>
<h2>Benchmarks</h2>
<div class="charts">{charts or "<p>No benchmark ran in this tier.</p>"}</div>
<h2>Drift against the model and the QPUs' history</h2>
<table><tr><th>QPU</th><th>benchmark</th><th>value</th><th>threshold</th><th>history median (runs)</th>
<th>verdict</th><th>detail</th></tr>{drift_rows or '<tr><td colspan="7">No benchmark figures.</td></tr>'}</table>
<h2>Outputs</h2><ul>{outputs}</ul>
</body></html>
"""
