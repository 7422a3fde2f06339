"""Floor: the load a QPU puts on the floor against the room's rating, and floor area."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.model import Qpu
from site_survey.profiles import Requirement
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, fmt, from_requirement


def required_load(ctx: SurveyContext, qpu: Qpu) -> tuple[float, str, list[Requirement]] | None:
    """The heavier of the stated distributed load and mass / footprint, with how it was obtained."""
    options: list[tuple[float, str, list[Requirement]]] = []
    load = ctx.req(qpu, "floor_load_kg_m2")
    if load is not None:
        options.append((load.number, "stated floor load", [load]))
    mass, footprint = ctx.req(qpu, "mass_kg"), ctx.req(qpu, "footprint_m2")
    if mass is not None and footprint is not None:
        basis = f"mass {fmt(mass.number, 'kg')} over {fmt(footprint.number, 'm²')}"
        options.append((mass.number / footprint.number, basis, [mass, footprint]))
    return max(options, key=lambda o: o[0]) if options else None


def check(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        room = ctx.room(qpu)
        found = required_load(ctx, qpu)
        if found is None:
            yield Finding(
                "floor.load", Severity.info, f"no floor-load or mass/footprint figure for QPU {qpu.name}",
                room=room.name, qpu=qpu.name,
                hint="Add requirements.floor_load_kg_m2 (or mass_kg and footprint_m2) from the vendor's guide.",
            )
            continue
        load, basis, reqs = found
        rating = room.floor_load_rating_kg_m2
        ok = load <= rating
        yield Finding(
            "floor.load",
            Severity.info if ok else Severity.blocker,
            f"floor load {fmt(load, 'kg/m²')} ({basis}) {'within' if ok else 'exceeds'} the rating of room {room.name}",
            passed=ok, room=room.name, qpu=qpu.name,
            measured=f"rated {fmt(rating, 'kg/m²')}", required=fmt(load, "kg/m²"),
            **from_requirement(*reqs),
            hint="" if ok else "Spread the load (base plate), reinforce the floor, or use a room with a higher rating.",
        )
    for room in ctx.site.facility.rooms:
        qpus = ctx.in_room(room.name)
        sized = [(q, ctx.req(q, "footprint_m2")) for q in qpus]
        known = [(q, r) for q, r in sized if r is not None]
        if not known:
            continue
        total = sum(r.number for _, r in known)
        ok = total <= room.area_m2
        yield Finding(
            "floor.area",
            Severity.info if ok else Severity.blocker,
            f"QPU footprints need {fmt(total, 'm²')} of {fmt(room.area_m2, 'm²')} in room {room.name}",
            passed=ok, room=room.name, subject=", ".join(q.name for q, _ in known),
            measured=fmt(room.area_m2, "m²"), required=fmt(total, "m²"),
            **from_requirement(*(r for _, r in known)),
            hint="" if ok else "Move a QPU to another room or free floor space; remember service clearances.",
        )
