"""The survey as a Markdown document (for a repository, a ticket or a wiki)."""

from __future__ import annotations

from site_survey.model import Site
from site_survey.provenance import ReportProvenance
from site_survey.reports.common import placement_text, provenance, requirements_by_qpu, shown_value, source_text, where
from site_survey.survey.findings import Severity, SurveyResult, fmt


def cell(text: str | None) -> str:
    """Table-safe text: pipes and line breaks would break the row."""
    return (text or "").replace("|", "\\|").replace("\n", " ")


def provenance_block(p: ReportProvenance) -> list[str]:
    """The report's binding to what it describes, as a small table at the top."""
    rows = ["| provenance | |", "|---|---|"] + [f"| {k} | `{cell(v)}` |" for k, v in p.lines()]
    return [*rows, ""]


def render_markdown(result: SurveyResult, site: Site) -> str:
    counts = result.counts()
    lines = [
        f"# Facility survey: {site.site.name}",
        "",
        f"{site.site.description or ''}".strip(),
        "",
        *provenance_block(provenance(result)),
        f"**{counts[Severity.blocker]} blocker(s), {counts[Severity.warning]} warning(s), "
        f"{counts[Severity.info]} info** — "
        + ("installation is blocked until the blockers are fixed." if counts[Severity.blocker] else "no blocker."),
        "",
        "Requirements come from the requirement profiles (`qpusite profiles`) unless the site model overrides "
        "them; each finding names its source and the confidence of that source.",
        "",
    ]
    for severity in Severity:
        findings = [f for f in result.sorted() if f.severity == severity]
        if not findings:
            continue
        title = {"blocker": "Blockers", "warning": "Warnings", "info": "Passed checks and notes"}[severity.value]
        lines += [f"## {title} ({len(findings)})", ""]
        lines += [
            "| check | where | finding | measured | required | source (confidence) | fix |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in findings:
            source = source_text(f)
            lines.append(
                f"| `{f.check}` | {cell(where(f))} | {cell(f.message)} | {cell(f.measured)} | {cell(f.required)} "
                f"| {cell(source)} | {cell(f.hint)} |"
            )
        lines.append("")
    lines += [
        "## Headroom per cooling loop, power feed and room", "",
        "Each QPU's share is listed with its room; a shared loop or feed appears once. Rooms without a QPU and "
        "QPUs off site (emulated twins, cloud) are not listed.", "",
        "| loop, feed or room | resource | shares | used | available | headroom |", "|---|---|---|---|---|---|",
    ]
    for chart in result.headroom:
        for bar in chart.bars:
            shares = " + ".join(f"{s.label} {fmt(s.value, bar.unit)}" for s in bar.segments)
            if bar.without_figure:
                shares += f"{'; ' if shares else ''}no figure: {', '.join(bar.without_figure)}"
            lines.append(
                f"| {cell(chart.title)} | {bar.label} | {cell(shares)} | {fmt(bar.used, bar.unit)} "
                f"| {fmt(bar.available, bar.unit)} | {fmt(bar.available - bar.used, bar.unit)} |"
            )
    lines.append("")
    lines += ["## Effective requirements per QPU", ""]
    for qpu, reqs in requirements_by_qpu(result, site).items():
        model = site.qpu(qpu)
        placed = placement_text(model) if model else "unknown"
        lines += [f"### {qpu} ({placed})", "", "| requirement | value | origin | source | confidence | note |",
                  "|---|---|---|---|---|---|"]
        for key, req in reqs.items():
            lines.append(
                f"| `{key}` | {cell(shown_value(req))} | {cell(req.origin)} | {cell(req.source)} "
                f"| {req.confidence.value} | {cell(req.note)} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
