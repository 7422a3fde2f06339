"""Delivery: the narrowest door on the access path, and the goods lift, against the QPU."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, fmt, from_requirement


def check(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        room = ctx.room(qpu)
        width = ctx.req(qpu, "door_width_m_min")
        mass = ctx.req(qpu, "mass_kg")
        path = room.access_path
        if width is None:
            yield Finding(
                "access.door_width", Severity.info, f"no delivery width figure for QPU {qpu.name}",
                room=room.name, qpu=qpu.name,
                hint="Add requirements.door_width_m_min from the vendor's shipping dimensions.",
            )
        elif path is None:
            yield Finding(
                "access.door_width", Severity.warning,
                f"the delivery path into room {room.name} is not described (needed for QPU {qpu.name})",
                room=room.name, qpu=qpu.name, measured="not measured", required=f"≥ {fmt(width.number, 'm')}",
                **from_requirement(width), hint=f"Record facility.rooms[{room.name}].access_path.",
            )
        else:
            ok = path.min_door_width_m >= width.number
            yield Finding(
                "access.door_width", Severity.info if ok else Severity.blocker,
                f"narrowest door on the path into {room.name} is {fmt(path.min_door_width_m, 'm')}; "
                f"QPU {qpu.name} needs {fmt(width.number, 'm')}",
                passed=ok, room=room.name, qpu=qpu.name,
                measured=fmt(path.min_door_width_m, "m"), required=f"≥ {fmt(width.number, 'm')}",
                **from_requirement(width),
                hint="" if ok else "Widen the door, plan a delivery through another path, or ask for a split shipment.",
            )
        if mass is not None and path is not None and path.lift_capacity_kg is not None:
            ok = path.lift_capacity_kg >= mass.number
            yield Finding(
                "access.lift", Severity.info if ok else Severity.blocker,
                f"goods lift on the path into {room.name} carries {fmt(path.lift_capacity_kg, 'kg')}; "
                f"the heaviest unit of QPU {qpu.name} weighs {fmt(mass.number, 'kg')}",
                passed=ok, room=room.name, qpu=qpu.name,
                measured=fmt(path.lift_capacity_kg, "kg"), required=f"≥ {fmt(mass.number, 'kg')}",
                **from_requirement(mass),
                hint="" if ok else "Use a crane or another path, or ask for the unit to ship split.",
            )
