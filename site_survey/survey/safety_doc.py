"""What one room's safety file says, as data: the sections a safety officer
signs, and their hashes.

A sign-off in the model records the document's content hash (and the hash of
each section). The survey recomputes them: when they differ, the signed
document no longer describes the room, and the survey says which sections
changed. Generation time, the model's other rooms, hosts and software are
not part of a room's content, so they do not unsign it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from site_survey.model import DocumentSignOff, Room
from site_survey.provenance import sha256_of
from site_survey.survey.context import SurveyContext

SECTIONS = ("room", "qpus", "hazards", "controls", "quantities", "lasers", "inspections", "emergency", "people")


def document_id(site: str, room: str) -> str:
    return f"QPS-SF-{site}-{room}"


def _dump(items: list[Any]) -> list[Any]:
    return [i.model_dump(mode="json") for i in items]


def sections(ctx: SurveyContext, room: Room) -> dict[str, Any]:
    """Everything the room's safety file is generated from, grouped as the file's sections."""
    s = ctx.site.facility.safety
    name = room.name
    qpus = ctx.in_room(name)
    mine = [c for c in s.controls if c.room == name]
    room_safety = next((r for r in s.rooms if r.room == name), None)
    lasers = [laser for laser in s.lasers if laser.room == name]
    people = sorted(
        {c.responsible for c in mine}
        | {laser.safety_officer for laser in lasers if laser.safety_officer}
        | ({room_safety.vendor_contact} if room_safety and room_safety.vendor_contact else set())
        | {i.responsible for i in s.inspections if i.room == name}
    )
    contacts = [c for c in ctx.site.site.contacts if c.name in people or c.role.value == "safety" or c.on_call]
    return {
        "room": room.model_dump(mode="json"),
        "qpus": [
            {
                "name": q.name, "vendor": q.vendor, "system": q.system, "modality": q.modality.value,
                "requirements": {
                    k: [r.value if not isinstance(r.value, tuple) else [h.value for h in r.value], r.source]
                    for k, r in sorted(ctx.requirements.get(q.name, {}).items())
                },
            }
            for q in qpus
        ],
        "hazards": _dump([h for h in s.hazards if h.room == name]),
        "controls": _dump(mine),
        "quantities": {
            "cryogens": _dump([c for c in s.cryogens if c.room == name]),
            "odh_monitoring": _dump([m for m in s.odh_monitoring if m.room == name]),
            "pressure_reliefs": _dump([p for p in s.pressure_reliefs if p.room == name]),
            "odh_threshold_o2_pct": s.odh_threshold_o2_pct,
        },
        "lasers": _dump(lasers),
        "inspections": _dump([i for i in s.inspections if i.room == name]),
        "emergency": {
            "stops": _dump([e for e in s.emergency_stops if e.room == name]),
            "room": room_safety.model_dump(mode="json") if room_safety else None,
            "numbers": _dump(s.emergency_numbers),
        },
        "people": _dump(contacts),
    }


@dataclass(frozen=True)
class DocumentHash:
    content: str
    sections: dict[str, str]


def document_hash(ctx: SurveyContext, room: Room) -> DocumentHash:
    parts = {k: sha256_of(v) for k, v in sections(ctx, room).items()}
    return DocumentHash(content=sha256_of(parts), sections=parts)


def sign_off_for(ctx: SurveyContext, room: str) -> DocumentSignOff | None:
    """The latest recorded sign-off of the room's file (highest revision)."""
    records = [d for d in ctx.site.facility.safety.documents if d.room == room]
    return max(records, key=lambda d: d.revision) if records else None


def changed_sections(record: DocumentSignOff, now: DocumentHash) -> list[str]:
    """Sections whose hash differs from the signed one ('unknown' when the record kept no section hashes)."""
    if not record.sections:
        return ["unknown (the sign-off recorded no section hashes)"]
    return [k for k in SECTIONS if record.sections.get(k) != now.sections.get(k)]
