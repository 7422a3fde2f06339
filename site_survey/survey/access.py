"""Delivery and installation: the narrowest and lowest door on the access path,
the goods lift, and the room's clear ceiling height, against the QPU."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.model import Qpu
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, cite, fmt, from_requirement


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

        yield from _heights(ctx, qpu)


def _heights(ctx: SurveyContext, qpu: Qpu) -> Iterator[Finding]:
    room = ctx.room(qpu)
    door = ctx.req(qpu, "door_height_m_min")
    if door is not None and room.access_path is not None:
        have = room.access_path.min_door_height_m
        ok = have >= door.number
        yield Finding(
            "access.door_height", Severity.info if ok else Severity.blocker,
            f"lowest door on the path into {room.name} is {fmt(have, 'm')}; "
            f"QPU {qpu.name} needs {fmt(door.number, 'm')}",
            passed=ok, room=room.name, qpu=qpu.name, measured=fmt(have, "m"), required=f"≥ {fmt(door.number, 'm')}",
            **from_requirement(door), measured_source=cite(room.source),
            hint="" if ok else "Plan another delivery path, tilt the crate if the vendor allows it, or ship split.",
        )
    ceiling = ctx.req(qpu, "ceiling_height_m_min")
    if ceiling is None:
        return
    if room.ceiling_height_m is None:
        yield Finding(
            "room.ceiling_height", Severity.warning,
            f"the ceiling height of room {room.name} is not recorded (QPU {qpu.name} needs {fmt(ceiling.number, 'm')})",
            room=room.name, qpu=qpu.name, measured="not measured", required=f"≥ {fmt(ceiling.number, 'm')}",
            **from_requirement(ceiling), hint=f"Record facility.rooms[{room.name}].ceiling_height_m.",
        )
        return
    ok = room.ceiling_height_m >= ceiling.number
    yield Finding(
        "room.ceiling_height", Severity.info if ok else Severity.blocker,
        f"clear ceiling height of room {room.name} is {fmt(room.ceiling_height_m, 'm')}; QPU {qpu.name} needs "
        f"{fmt(ceiling.number, 'm')}",
        passed=ok, room=room.name, qpu=qpu.name, measured=fmt(room.ceiling_height_m, "m"),
        required=f"≥ {fmt(ceiling.number, 'm')}", **from_requirement(ceiling), measured_source=cite(room.source),
        hint="" if ok else (
            "Use a room with more height (cryostat insert lift), or ask the vendor for a low-height frame."
        ),
    )
