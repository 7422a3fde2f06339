"""Write the survey's files into one directory."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from site_survey.model import Site
from site_survey.reports.common import provenance
from site_survey.reports.html import render_html
from site_survey.reports.markdown import render_markdown
from site_survey.reports.printable import printable_html
from site_survey.reports.safety_file import render_room_safety_file, revision_text
from site_survey.survey.findings import Finding, SurveyResult
from site_survey.survey.safety import qpu_rooms
from site_survey.survey.safety_doc import document_hash, document_id, sign_off_for

FORMATS = ("markdown", "html", "json", "safety")


def safety_documents(result: SurveyResult) -> list[dict[str, object]]:
    """Each room file's id, revision, content hash and whether its recorded sign-off still matches."""
    ctx = result.context
    if ctx is None:
        return []
    out: list[dict[str, object]] = []
    for room in qpu_rooms(ctx):
        now = document_hash(ctx, room)
        record = sign_off_for(ctx, room.name)
        revision, _ = revision_text(ctx, room)
        out.append({
            "room": room.name, "id": document_id(ctx.site.site.name, room.name), "revision": revision,
            "content_sha256": now.content, "sections": now.sections,
            "signed": record is not None and record.content_sha256 == now.content,
            "changed_since_signed": record is not None and record.content_sha256 != now.content,
        })
    return out


def result_json(result: SurveyResult) -> str:
    counts = {s.value: n for s, n in result.counts().items()}
    findings = [{"id": f.id, **asdict(f), "severity": f.severity.value} for f in result.sorted()]
    headroom = [
        {"kind": h.kind, "subject": h.subject, "serves": list(h.serves), "bars": [asdict(b) for b in h.bars]}
        for h in result.headroom
    ]
    doc = {"site": result.site, "provenance": provenance(result).as_dict(), "counts": counts,
           "findings": findings, "headroom": headroom, "safety_documents": safety_documents(result)}
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
        if result.context is None:
            raise ValueError("safety files need the survey context; use run_survey()")
        # One file per room holding a QPU (hazards and controls are per room); off-site QPUs have none.
        # Findings are sorted once and bucketed by every room they touch (a shared loop touches several).
        room_of = {q.name: q.room for q in site.qpus if q.room}
        per_room: dict[str, list[Finding]] = {}
        for f in result.sorted():
            touched = {f.room} | {room_of.get(n) for n in ((f.qpu,) if f.qpu else ()) + f.involves}
            for name in touched:
                if name:
                    per_room.setdefault(name, []).append(f)
        for room in qpu_rooms(result.context):
            text = render_room_safety_file(result, site, room, per_room.get(room.name, []))
            write(out / "safety" / f"{room.name}.md", text)
            write(out / "safety" / f"{room.name}.html", printable_html(text, f"Safety file: room {room.name}"))
    return written
