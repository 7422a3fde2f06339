"""Headroom for the report's charts: one chart per water loop, air-cooling
unit and power feed that carries a QPU, with each QPU's share stacked and
labelled with its room, and one per room holding a QPU (floor load and area).

A shared loop is charted once: a room never shows the site total of a loop
as if it were its own. Rooms without a QPU, and QPUs off site (emulated
twins, cloud services), are not charted.
"""

from __future__ import annotations

from site_survey.model import Qpu
from site_survey.survey.context import AIR_LOOPS, SurveyContext
from site_survey.survey.findings import Bar, Headroom, Segment
from site_survey.survey.floor import required_load


def _label(qpu: Qpu) -> str:
    return f"{qpu.name} ({qpu.room})"


def _rooms(qpus: list[Qpu]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(q.room or "" for q in qpus))


def headroom(ctx: SurveyContext) -> list[Headroom]:
    out: list[Headroom] = []
    facility = ctx.site.facility
    for loop in facility.cooling_loops:
        if loop.type in AIR_LOOPS:
            qpus = [q for q in ctx.placed() if q.room in loop.serves_rooms]
            heats = {q.name: h[0] for q in qpus if (h := ctx.air_heat_kw(q)) is not None}
            bar_label = "cooling (air)"
            kind = "air cooling"
        else:
            qpus = ctx.on_loop(loop)
            heats = {q.name: v for q in qpus if (v := ctx.number(q, "cooling_kw")) is not None}
            bar_label = "cooling (water)"
            kind = "water loop"
        if not qpus:
            continue
        segments = tuple(Segment(_label(q), heats[q.name]) for q in qpus if q.name in heats)
        unknown = tuple(q.name for q in qpus if q.name not in heats)
        bar = Bar(bar_label, sum(heats.values()), loop.capacity_kw, "kW", unknown, segments)
        out.append(Headroom(kind, loop.name, _rooms(qpus), (bar,)))
    for feed in facility.power_feeds:
        qpus = ctx.on_feed(feed)
        if not qpus:
            continue
        unknown = tuple(q.name for q in qpus if ctx.number(q, "power_kw") is None)
        segments = tuple(Segment(_label(q), ctx.demand_kva(q)) for q in qpus if q.name not in unknown)
        bars = [Bar("power", sum(s.value for s in segments), feed.capacity_kva, "kVA", unknown, segments)]
        on_ups = [q for q in qpus if ctx.flag(q, "ups_required")]
        if on_ups and feed.ups_kva > 0:
            ups_unknown = tuple(q.name for q in on_ups if ctx.number(q, "power_kw") is None)
            ups_segments = tuple(Segment(_label(q), ctx.demand_kva(q)) for q in on_ups if q.name not in ups_unknown)
            bars.append(
                Bar("UPS", sum(s.value for s in ups_segments), feed.ups_kva, "kVA", ups_unknown, ups_segments)
            )
        out.append(Headroom("power feed", feed.name, _rooms(qpus), tuple(bars)))
    for room in facility.rooms:
        in_room = ctx.in_room(room.name)
        if not in_room:
            continue
        loads = {q.name: found[0] for q in in_room if (found := required_load(ctx, q)) is not None}
        heaviest = max(loads.values(), default=0.0)
        floor = Bar(
            "floor load (heaviest QPU)", heaviest, room.floor_load_rating_kg_m2, "kg/m²",
            tuple(q.name for q in in_room if q.name not in loads),
            tuple(Segment(_label(q), v) for q in in_room if (v := loads.get(q.name)) == heaviest and v),
        )
        areas = {q.name: a for q in in_room if (a := ctx.number(q, "footprint_m2")) is not None}
        area = Bar(
            "floor area", sum(areas.values()), room.area_m2, "m²",
            tuple(q.name for q in in_room if q.name not in areas),
            tuple(Segment(_label(q), areas[q.name]) for q in in_room if q.name in areas),
        )
        out.append(Headroom("room", room.name, (room.name,), (floor, area)))
    return out
