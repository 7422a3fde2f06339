"""Site-preparation items vendor guides ask for: cooling-water flow, pressure
and quality; breaker size; gases (compressed air, nitrogen, helium recovery)
and an exhaust; point loads; noise; the longest crate against the goods lift.

A figure the QPU needs that the facility does not record is a warning (the
survey cannot tell); a recorded figure that falls short is a blocker for
what stops installation (flow, pressure, breaker, point load, crate) and a
warning for what can be worked around (noise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from site_survey.model import Qpu, Room
from site_survey.survey.context import WATER_LOOPS, SurveyContext
from site_survey.survey.findings import Finding, Severity, cite, fmt, from_requirement

GASES: tuple[tuple[str, str, Callable[[Room], bool], str], ...] = (
    ("compressed_air_required", "compressed air", lambda r: "compressed_air" in r.gas_supplies,
     "gas_supplies: [compressed_air]"),
    ("nitrogen_required", "a nitrogen supply", lambda r: "nitrogen" in r.gas_supplies, "gas_supplies: [nitrogen]"),
    ("helium_recovery_required", "a helium recovery line", lambda r: r.helium_recovery is True,
     "helium_recovery: true"),
    ("exhaust_required", "an exhaust to the outside", lambda r: r.exhaust_to_outside is True,
     "exhaust_to_outside: true"),
)


def check(ctx: SurveyContext) -> Iterator[Finding]:
    yield from _water(ctx)
    for qpu in ctx.placed():
        room = ctx.room(qpu)
        yield from _breaker(ctx, qpu)
        yield from _gases(ctx, qpu, room)
        yield from _point_load(ctx, qpu, room)
        yield from _noise(ctx, qpu, room)
        yield from _crate(ctx, qpu, room)


def _water(ctx: SurveyContext) -> Iterator[Finding]:
    for loop in ctx.site.facility.cooling_loops:
        if loop.type not in WATER_LOOPS:
            continue
        qpus = ctx.on_loop(loop)
        if not qpus:
            continue
        rooms, involved = ", ".join(sorted({q.room or "" for q in qpus})), tuple(q.name for q in qpus)
        flows = [(q, r) for q in qpus if (r := ctx.req(q, "water_flow_l_min")) is not None]
        if flows:
            need = sum(r.number for _, r in flows)
            parts = " + ".join(f"{q.name} {fmt(r.number, 'L/min')}" for q, r in flows)
            if loop.flow_l_min is None:
                yield Finding("siteprep.water_flow", Severity.warning,
                              f"loop {loop.name} has no recorded flow; its QPUs need {fmt(need, 'L/min')} ({parts})",
                              measured="not recorded", required=fmt(need, "L/min"),
                              **from_requirement(*(r for _, r in flows)),
                              room=rooms, subject=loop.name, involves=involved,
                              hint="Record cooling_loops[].flow_l_min from the hydraulic design.")
            else:
                ok = loop.flow_l_min >= need
                yield Finding("siteprep.water_flow", Severity.info if ok else Severity.blocker,
                              f"loop {loop.name} delivers {fmt(loop.flow_l_min, 'L/min')}; its QPUs need "
                              f"{fmt(need, 'L/min')} ({parts})", passed=ok,
                              measured=fmt(loop.flow_l_min, "L/min"), required=fmt(need, "L/min"),
                              measured_source=cite(loop.source),
                              **from_requirement(*(r for _, r in flows)),
                              room=rooms, subject=loop.name, involves=involved,
                              hint="" if ok else "Raise the loop's flow (pump, pipe size) or split the QPUs.")
        for q in qpus:
            req = ctx.req(q, "water_pressure_bar_min")
            if req is None:
                continue
            have = loop.pressure_bar
            ok = have is not None and have >= req.number
            yield Finding(
                "siteprep.water_pressure",
                Severity.info if ok else (Severity.warning if have is None else Severity.blocker),
                f"loop {loop.name} offers {fmt(have, 'bar') if have is not None else 'an unrecorded'} differential "
                f"pressure; QPU {q.name} needs {fmt(req.number, 'bar')}",
                passed=ok, room=q.room, qpu=q.name, subject=loop.name,
                measured=fmt(have, "bar") if have is not None else "not recorded",
                required=f"≥ {fmt(req.number, 'bar')}", **from_requirement(req), measured_source=cite(loop.source),
                hint="" if ok else "Record cooling_loops[].pressure_bar, or add a booster pump for the QPU.",
            )
        if loop.water_quality is None:
            yield Finding(
                "siteprep.water_quality", Severity.warning,
                f"no water-quality specification recorded for loop {loop.name}, which cools QPUs",
                measured="not recorded", required="filtration, conductivity, pH, inhibitor",
                room=rooms, subject=loop.name, involves=involved,
                hint="Record cooling_loops[].water_quality and compare it with the vendor's water specification.",
            )


def _breaker(ctx: SurveyContext, qpu: Qpu) -> Iterator[Finding]:
    req = ctx.req(qpu, "breaker_a_min")
    feed = ctx.feed_of.get(qpu.name)
    if req is None or feed is None:
        return
    have = feed.breaker_a
    ok = have is not None and have >= req.number
    yield Finding(
        "siteprep.breaker", Severity.info if ok else (Severity.warning if have is None else Severity.blocker),
        f"outlet breaker on feed {feed.name}: {fmt(have, 'A') if have is not None else 'not recorded'}; "
        f"QPU {qpu.name} needs {fmt(req.number, 'A')}",
        passed=ok, room=qpu.room, qpu=qpu.name, subject=feed.name,
        measured=fmt(have, "A") if have is not None else "not recorded", required=f"≥ {fmt(req.number, 'A')}",
        **from_requirement(req), measured_source=cite(feed.source),
        hint="" if ok else "Record power_feeds[].breaker_a, or install an outlet with the vendor's breaker size.",
    )


def _gases(ctx: SurveyContext, qpu: Qpu, room: Room) -> Iterator[Finding]:
    for key, what, present, field in GASES:
        if not ctx.flag(qpu, key):
            continue
        req = ctx.req(qpu, key)
        ok = bool(present(room))
        yield Finding(
            "siteprep.gases", Severity.info if ok else Severity.warning,
            f"QPU {qpu.name} needs {what}; room {room.name} " + ("has it" if ok else "does not record it"),
            passed=ok, room=room.name, qpu=qpu.name, subject=key.removesuffix("_required"),
            measured="present" if ok else "not recorded", required="present",
            **(from_requirement(req) if req else {}), measured_source=cite(room.source),
            hint="" if ok else f"Provide it and record facility.rooms[{room.name}].{field}.",
        )


def _point_load(ctx: SurveyContext, qpu: Qpu, room: Room) -> Iterator[Finding]:
    req = ctx.req(qpu, "point_load_kg")
    if req is None:
        return
    have = room.point_load_rating_kg
    ok = have is not None and have >= req.number
    yield Finding(
        "siteprep.point_load", Severity.info if ok else (Severity.warning if have is None else Severity.blocker),
        f"point load of QPU {qpu.name}: {fmt(req.number, 'kg')} per foot; room {room.name} is rated "
        + (fmt(have, "kg") if have is not None else "(not recorded)"),
        passed=ok, room=room.name, qpu=qpu.name, measured=fmt(have, "kg") if have is not None else "not recorded",
        required=f"≥ {fmt(req.number, 'kg')}", **from_requirement(req), measured_source=cite(room.source),
        hint="" if ok else "Record rooms[].point_load_rating_kg (raised floors: per tile and pedestal); spread "
                           "the feet with load plates.",
    )


def _noise(ctx: SurveyContext, qpu: Qpu, room: Room) -> Iterator[Finding]:
    req = ctx.req(qpu, "noise_dba")
    if req is None or room.noise_limit_dba is None:
        return
    ok = req.number <= room.noise_limit_dba
    yield Finding(
        "siteprep.noise", Severity.info if ok else Severity.warning,
        f"QPU {qpu.name} emits {fmt(req.number, 'dB(A)')}; "
        f"room {room.name} allows {fmt(room.noise_limit_dba, 'dB(A)')}",
        passed=ok, room=room.name, qpu=qpu.name, measured=fmt(room.noise_limit_dba, "dB(A)"),
        required=f"≥ {fmt(req.number, 'dB(A)')}", **from_requirement(req),
        hint="" if ok else "Put the compressors in a plant room or an acoustic enclosure; plan hearing protection.",
    )


def _crate(ctx: SurveyContext, qpu: Qpu, room: Room) -> Iterator[Finding]:
    req = ctx.req(qpu, "crate_length_m")
    path = room.access_path
    if req is None or path is None or path.lift_capacity_kg is None:
        return
    have = path.lift_car_depth_m
    ok = have is not None and have >= req.number
    yield Finding(
        "siteprep.crate", Severity.info if ok else (Severity.warning if have is None else Severity.blocker),
        f"longest crate of QPU {qpu.name} is {fmt(req.number, 'm')}; the lift car on the path into {room.name} is "
        + (f"{fmt(have, 'm')} deep" if have is not None else "of unrecorded depth"),
        passed=ok, room=room.name, qpu=qpu.name, measured=fmt(have, "m") if have is not None else "not recorded",
        required=f"≥ {fmt(req.number, 'm')}", **from_requirement(req), measured_source=cite(room.source),
        hint="" if ok else "Record access_path.lift_car_depth_m; otherwise crane it in or ask for a shorter crate.",
    )
