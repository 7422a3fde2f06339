"""Headroom per room, for the report's charts: cooling, power and floor load, used vs available."""

from __future__ import annotations

from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Bar, RoomHeadroom
from site_survey.survey.floor import required_load


def room_headroom(ctx: SurveyContext) -> list[RoomHeadroom]:
    out = []
    for room in ctx.site.facility.rooms:
        bars = []
        loops = ctx.loops_serving(room.name)
        if loops:
            # a loop's whole load counts, including QPUs in other rooms it serves: that is its real headroom
            on_loops = [q for loop in loops for q in ctx.on_loop(loop)]
            used = sum(ctx.number(q, "cooling_kw") or 0.0 for q in on_loops)
            unknown = tuple(q.name for q in on_loops if ctx.number(q, "cooling_kw") is None)
            bars.append(Bar("cooling (water loops)", used, sum(loop.capacity_kw for loop in loops), "kW", unknown))
        feeds = ctx.feeds_serving(room.name)
        if feeds:
            used = sum(ctx.demand_kva(q) for feed in feeds for q in ctx.on_feed(feed))
            bars.append(Bar("power (feeds)", used, sum(feed.capacity_kva for feed in feeds), "kVA"))
        in_room = ctx.in_room(room.name)
        loads = [found[0] for q in in_room if (found := required_load(ctx, q)) is not None]
        unknown = tuple(q.name for q in in_room if required_load(ctx, q) is None)
        bars.append(
            Bar("floor load (heaviest QPU)", max(loads, default=0.0), room.floor_load_rating_kg_m2, "kg/m²", unknown)
        )
        out.append(RoomHeadroom(room.name, tuple(bars)))
    return out
