"""Cooling: heat summed over every QPU on a water loop against the loop's
capacity, and the loop's supply temperature range against each QPU's range."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, fmt, from_requirement


def check(ctx: SurveyContext) -> Iterator[Finding]:
    yield from _connections(ctx)
    yield from _capacity(ctx)
    yield from _water_temperature(ctx)


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
