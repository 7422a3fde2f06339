"""Write the survey's files into one directory."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from site_survey.model import Site
from site_survey.reports.common import provenance
from site_survey.reports.html import render_html
from site_survey.reports.markdown import render_markdown
from site_survey.reports.safety_file import render_safety_file
from site_survey.survey.findings import SurveyResult

FORMATS = ("markdown", "html", "json", "safety")


def result_json(result: SurveyResult) -> str:
    counts = {s.value: n for s, n in result.counts().items()}
    findings = [{"id": f.id, **asdict(f), "severity": f.severity.value} for f in result.sorted()]
    headroom = [
        {"kind": h.kind, "subject": h.subject, "serves": list(h.serves), "bars": [asdict(b) for b in h.bars]}
        for h in result.headroom
    ]
    doc = {"site": result.site, "provenance": provenance(result).as_dict(), "counts": counts,
           "findings": findings, "headroom": headroom}
    return json.dumps(doc, indent=2)


def write_reports(result: SurveyResult, site: Site, out: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    if "markdown" in formats:
        write(out / "survey.md", render_markdown(result, site))
    if "html" in formats:
        write(out / "survey.html", render_html(result, site))
    if "json" in formats:
        write(out / "survey.json", result_json(result) + "\n")
    if "safety" in formats:
        per_qpu = result.by_qpu()
        for qpu in site.qpus:
            if qpu.room is not None:  # remote and emulated QPUs have no on-site safety file
                text = render_safety_file(result, site, qpu, per_qpu.get(qpu.name, []))
                write(out / "safety" / f"{qpu.name}.md", text)
    return written
