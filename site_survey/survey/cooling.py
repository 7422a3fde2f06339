"""Cooling: heat summed over every QPU on a water loop against the loop's
capacity, the loop's supply temperature range and redundancy against each
QPU's needs, and the heat left to the room air against the air cooling."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.model import Redundancy
from site_survey.survey.context import AIR_LOOPS, SurveyContext
from site_survey.survey.findings import Finding, Severity, cite, fmt, from_requirement


def check(ctx: SurveyContext) -> Iterator[Finding]:
    yield from _connections(ctx)
    yield from _capacity(ctx)
    yield from _water_temperature(ctx)
    yield from _redundancy(ctx)
    yield from _air_side(ctx)


def _connections(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        if ctx.req(qpu, "cooling_kw") is None:
            yield Finding(
                "cooling.capacity", Severity.info, f"no water-cooling figure for QPU {qpu.name}",
                room=qpu.room, qpu=qpu.name,
                hint="Add requirements.cooling_kw from the vendor's guide if the system is water-cooled.",
            )
        if qpu.name in ctx.loop_of and ctx.loop_of[qpu.name] is None:
            other = [loop.name for loop in ctx.loops_serving(qpu.room or "", water_only=False)]
            yield Finding(
                "cooling.loop", Severity.blocker,
                f"QPU {qpu.name} needs water cooling but no water loop serves room {qpu.room}",
                room=qpu.room, qpu=qpu.name,
                measured=f"loops serving the room: {', '.join(other) or 'none'} (not water)",
                required="a chilled- or warm-water loop",
                **from_requirement(*(r for k in ("cooling_kw", "water_supply_temp_min_c")
                                     if (r := ctx.req(qpu, k)) is not None)),
                hint="Extend a chilled-water loop to the room (serves_rooms) or move the QPU.",
            )


def _capacity(ctx: SurveyContext) -> Iterator[Finding]:
    for loop in ctx.site.facility.cooling_loops:
        qpus = [q for q in ctx.on_loop(loop) if ctx.req(q, "cooling_kw") is not None]
        if not qpus:
            continue
        reqs = [r for q in qpus if (r := ctx.req(q, "cooling_kw")) is not None]
        demand = sum(r.number for r in reqs)
        parts = " + ".join(f"{q.name} {fmt(r.number, 'kW')}" for q, r in zip(qpus, reqs, strict=True))
        rooms = sorted({q.room or "" for q in qpus})
        ok = demand <= loop.capacity_kw
        yield Finding(
            "cooling.capacity",
            Severity.info if ok else Severity.blocker,
            f"loop {loop.name} carries {fmt(demand, 'kW')} ({parts}) of its {fmt(loop.capacity_kw, 'kW')}"
            + ("" if ok else f": short by {fmt(demand - loop.capacity_kw, 'kW')}"),
            passed=ok, room=", ".join(rooms), subject=loop.name, involves=tuple(q.name for q in qpus),
            measured=f"capacity {fmt(loop.capacity_kw, 'kW')}", required=f"{fmt(demand, 'kW')} ({parts})",
            **from_requirement(*reqs),
            hint="" if ok else (
                "Add capacity to the loop, move a QPU to another loop, or replace profile figures "
                "with the vendors' own (qpus[].requirements.cooling_kw)."
            ),
        )


def _water_temperature(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        loop = ctx.loop_of.get(qpu.name)
        low, high = ctx.req(qpu, "water_supply_temp_min_c"), ctx.req(qpu, "water_supply_temp_max_c")
        if loop is None or (low is None and high is None):
            continue
        too_cold = low is not None and loop.supply_temp_min_c < low.number
        too_warm = high is not None and loop.supply_temp_max_c > high.number
        ok = not (too_cold or too_warm)
        wanted = f"{fmt(low.number, '°C') if low else '-'} to {fmt(high.number, '°C') if high else '-'}"
        yield Finding(
            "cooling.water_temperature",
            Severity.info if ok else Severity.blocker,
            f"loop {loop.name} supplies {fmt(loop.supply_temp_min_c, '°C')} to {fmt(loop.supply_temp_max_c, '°C')}; "
            f"QPU {qpu.name} accepts {wanted}",
            passed=ok, room=qpu.room, qpu=qpu.name, subject=loop.name,
            measured=f"{fmt(loop.supply_temp_min_c, '°C')} to {fmt(loop.supply_temp_max_c, '°C')}",
            required=wanted,
            **from_requirement(*(r for r in (low, high) if r is not None)),
            hint="" if ok else "Use a loop in range, or add a heat exchanger/mixing valve for this QPU.",
        )


# Why N+1 matters: a dilution refrigerator's compressors stop when their water stops, and the fridge warms up.
REDUNDANCY_RANK = {Redundancy.n: 0, Redundancy.n_plus_1: 1, Redundancy.two_n: 2}


def _redundancy(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        loop = ctx.loop_of.get(qpu.name)
        req = ctx.req(qpu, "cooling_redundancy_min")
        if loop is None or req is None or not isinstance(req.value, Redundancy):
            continue
        ok = REDUNDANCY_RANK[loop.redundancy] >= REDUNDANCY_RANK[req.value]
        yield Finding(
            "cooling.redundancy", Severity.info if ok else Severity.warning,
            f"loop {loop.name} is {loop.redundancy.value}-redundant; QPU {qpu.name} needs at least {req.value.value}"
            + ("" if ok else ": one chiller or pump failure stops its compressors and warms the cryostat"),
            passed=ok, room=qpu.room, qpu=qpu.name, subject=loop.name,
            measured=loop.redundancy.value, required=f"≥ {req.value.value}", **from_requirement(req),
            measured_source=cite(loop.source),
            hint="" if ok else (
                f"Add a standby chiller/pump to {loop.name} (N+1), or a backup supply such as a city-water "
                "changeover for the compressors; record cooling_loops[].redundancy."
            ),
        )


def _air_side(ctx: SurveyContext) -> Iterator[Finding]:
    """Heat that does not go to water goes to the room air: the room's air cooling must take it."""
    for loop in ctx.site.facility.cooling_loops:
        if loop.type not in AIR_LOOPS:
            continue
        qpus = [q for q in ctx.placed() if q.room in loop.serves_rooms]
        heats = [(q, h) for q in qpus if (h := ctx.air_heat_kw(q)) is not None]
        if not heats:
            continue
        demand = sum(h for _, (h, _) in heats)
        parts = " + ".join(f"{q.name} {fmt(h, 'kW')} ({how})" for q, (h, how) in heats)
        reqs = [r for q, _ in heats for k in ("air_cooling_kw", "power_kw", "cooling_kw") if (r := ctx.req(q, k))]
        ok = demand <= loop.capacity_kw
        yield Finding(
            "cooling.air", Severity.info if ok else Severity.blocker,
            f"air cooling {loop.name} takes {fmt(demand, 'kW')} ({parts}) of its {fmt(loop.capacity_kw, 'kW')}"
            + ("" if ok else f": short by {fmt(demand - loop.capacity_kw, 'kW')}"),
            passed=ok, room=", ".join(sorted({q.room or "" for q, _ in heats})), subject=loop.name,
            involves=tuple(q.name for q, _ in heats),
            measured=f"capacity {fmt(loop.capacity_kw, 'kW')}", required=fmt(demand, "kW"),
            **from_requirement(*reqs), measured_source=cite(loop.source),
            hint="" if ok else (
                "Add air-side capacity (CRAC/in-row units), or move heat to water; give the vendor's split in "
                "qpus[].requirements.air_cooling_kw."
            ),
        )
    for qpu in ctx.placed():
        heat = ctx.air_heat_kw(qpu)
        if heat is None or heat[0] <= 0 or ctx.air_loops_serving(qpu.room or ""):
            continue
        reqs = [r for k in ("air_cooling_kw", "power_kw", "cooling_kw") if (r := ctx.req(qpu, k))]
        yield Finding(
            "cooling.air", Severity.warning,
            f"QPU {qpu.name} releases {fmt(heat[0], 'kW')} into the air of room {qpu.room} ({heat[1]}) "
            "but no air cooling is recorded for the room",
            room=qpu.room, qpu=qpu.name, measured="no air loop", required=fmt(heat[0], "kW"),
            **from_requirement(*reqs),
            hint="Record the room's air cooling in facility.cooling_loops (type air) with serves_rooms.",
        )
