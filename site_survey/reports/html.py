"""The survey as one self-contained HTML file: inline CSS and SVG, no external
assets, so it can be mailed or archived as is. The markup is also well-formed
XML (every element closed, everything escaped), which the tests check."""

from __future__ import annotations

from html import escape

from site_survey.model import Site
from site_survey.provenance import ReportProvenance
from site_survey.reports.common import placement_text, provenance, requirements_by_qpu, shown_value, source_text, where
from site_survey.survey.findings import Bar, Headroom, Severity, SurveyResult, fmt

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 78rem; }
h1 { margin-bottom: 0.2rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #f2f2f2; overflow-wrap: normal; }
tr.finding td:nth-child(1), tr.finding td:nth-child(8) { white-space: nowrap; overflow-wrap: normal; }
.blocker { color: #b00020; font-weight: bold; }
.warning { color: #9a6700; }
.info { color: #555; }
.counts span { margin-right: 1.5rem; font-size: 1.1rem; }
.rooms { display: flex; flex-wrap: wrap; gap: 1.5rem; }
.room { border: 1px solid #ddd; padding: 0.5rem 1rem; border-radius: 6px; }
code { background: #f6f6f6; padding: 0 0.2rem; }
"""

BAR_WIDTH = 320
ROW_HEIGHT = 52


def _bar_colour(bar: Bar) -> str:
    if bar.ratio > 1:
        return "#b00020"
    return "#d08b00" if bar.ratio > 0.8 else "#2e7d32"


def _parts(bar: Bar) -> str:
    shares = " + ".join(f"{s.label} {fmt(s.value, bar.unit)}" for s in bar.segments)
    unknown = f"no figure: {', '.join(bar.without_figure)}" if bar.without_figure else ""
    return "; ".join(p for p in (shares, unknown) if p)


def headroom_svg(chart: Headroom) -> str:
    """Horizontal bars: the track is what is available; each QPU's share is stacked in it (capped at the track,
    with the ratio printed), and the second line names the shares and the QPUs counted without a figure."""
    label_w, height = 170, ROW_HEIGHT * len(chart.bars) + 10
    width = label_w + BAR_WIDTH + 200 + 7 * max((len(_parts(b)) for b in chart.bars), default=0) // 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="headroom" data-kind="{escape(chart.kind)}" '
        f'data-subject="{escape(chart.subject)}" data-serves="{escape(" ".join(chart.serves))}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>Headroom of {escape(chart.title)}</title>",
    ]
    for i, bar in enumerate(chart.bars):
        y = 5 + i * ROW_HEIGHT
        pct = "∞" if bar.ratio == float("inf") else f"{bar.ratio * 100:.0f}%"
        colour = _bar_colour(bar)
        parts += [
            f'<g data-resource="{escape(bar.label)}">',
            f'<text x="0" y="{y + 17}" font-size="12">{escape(bar.label)}</text>',
            f'<rect x="{label_w}" y="{y + 4}" width="{BAR_WIDTH}" height="18" fill="#eee" stroke="#999"/>',
        ]
        scale = BAR_WIDTH / max(bar.available, bar.used) if max(bar.available, bar.used) > 0 else 0.0
        x = float(label_w)
        for j, seg in enumerate(bar.segments or ()):
            w = seg.value * scale
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="18" fill="{colour}" '
                f'fill-opacity="{1.0 if j % 2 == 0 else 0.6}" stroke="#fff" data-share="{escape(seg.label)}"/>'
            )
            x += w
        if bar.ratio > 1:  # the over-capacity part, beyond the track's share of the scale
            over_x = label_w + bar.available * scale
            parts.append(f'<line x1="{over_x:.1f}" y1="{y}" x2="{over_x:.1f}" y2="{y + 26}" stroke="#000"/>')
        parts += [
            f'<text x="{label_w + BAR_WIDTH + 6}" y="{y + 17}" font-size="12">'
            f"{escape(fmt(bar.used, bar.unit))} / {escape(fmt(bar.available, bar.unit))} ({pct})</text>",
            f'<text x="{label_w}" y="{y + 38}" font-size="11" fill="#555">{escape(_parts(bar))}</text>',
            "</g>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def provenance_table(p: ReportProvenance) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(v)}</code></td></tr>" for k, v in p.lines())
    return f'<table class="provenance" style="width:auto">{rows}</table>'


def _td(text: str | None, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    return f"<td{klass}>{escape(text or '')}</td>"


def render_html(result: SurveyResult, site: Site) -> str:
    counts = result.counts()
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"/>',
        f"<title>Facility survey: {escape(site.site.name)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Facility survey: {escape(site.site.name)}</h1>",
        f"<p>{escape(site.site.description or '')}</p>",
        provenance_table(provenance(result)),
        '<p class="counts">'
        f'<span class="blocker">{counts[Severity.blocker]} blocker(s)</span>'
        f'<span class="warning">{counts[Severity.warning]} warning(s)</span>'
        f'<span class="info">{counts[Severity.info]} info</span></p>',
        "<h2>Headroom per cooling loop, power feed and room</h2>",
        "<p>Each QPU's share is stacked and labelled with its room; a shared loop or feed is charted once. "
        "Rooms without a QPU and QPUs off site (emulated twins, cloud) are not charted.</p>",
        '<div class="rooms">',
    ]
    for chart in result.headroom:
        out.append(f'<div class="room"><h3>{escape(chart.title)}</h3>{headroom_svg(chart)}</div>')
    out.append("</div>")
    out += [
        "<h2>Findings</h2>",
        "<table><thead><tr><th>severity</th><th>check</th><th>where</th><th>finding</th><th>measured</th>"
        "<th>required</th><th>source</th><th>confidence</th><th>fix</th></tr></thead><tbody>",
    ]
    for f in result.sorted():
        out.append(
            f'<tr class="finding" data-severity="{f.severity.value}" data-check="{escape(f.check)}">'
            + _td(f.severity.value, f.severity.value) + _td(f.check) + _td(where(f)) + _td(f.message)
            + _td(f.measured) + _td(f.required) + _td(source_text(f)) + _td(f.confidence) + _td(f.hint)
            + "</tr>"
        )
    out.append("</tbody></table>")
    out.append("<h2>Effective requirements per QPU</h2>")
    for qpu, reqs in requirements_by_qpu(result, site).items():
        out += [
            f"<h3>{escape(qpu)} ({escape(placement_text(model) if (model := site.qpu(qpu)) else 'unknown')})</h3>",
            "<table><thead><tr><th>requirement</th><th>value</th><th>origin</th><th>source</th>"
            "<th>confidence</th><th>note</th></tr></thead><tbody>",
        ]
        for key, req in reqs.items():
            out.append(
                "<tr>" + f"<td><code>{escape(key)}</code></td>" + _td(shown_value(req)) + _td(req.origin)
                + _td(req.source) + _td(req.confidence.value) + _td(req.note) + "</tr>"
            )
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
