"""Power: demand summed per feed against the feed's kVA, UPS capacity and
autonomy for QPUs whose (cryogenic) plant must ride through a brownout, and
the feed's phases and voltage against what the QPU's plant is built for."""

from __future__ import annotations

from collections.abc import Iterator

from site_survey.survey.context import POWER_FACTOR, SurveyContext
from site_survey.survey.findings import Finding, Severity, cite, fmt, from_requirement


def check(ctx: SurveyContext) -> Iterator[Finding]:
    yield from _connections(ctx)
    yield from _capacity(ctx)
    yield from _ups(ctx)
    yield from _supply(ctx)


def _connections(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        if ctx.req(qpu, "power_kw") is None:
            yield Finding(
                "power.capacity", Severity.info, f"no power figure for QPU {qpu.name}",
                room=qpu.room, qpu=qpu.name, hint="Add requirements.power_kw from the vendor's guide.",
            )
        if qpu.name in ctx.feed_of and ctx.feed_of[qpu.name] is None:
            yield Finding(
                "power.feed", Severity.blocker, f"no power feed serves room {qpu.room} of QPU {qpu.name}",
                room=qpu.room, qpu=qpu.name, measured="no feed", required="a feed serving the room",
                hint="Add the room to a feed's serves_rooms or describe the room's feed.",
            )


def _capacity(ctx: SurveyContext) -> Iterator[Finding]:
    for feed in ctx.site.facility.power_feeds:
        qpus = [q for q in ctx.on_feed(feed) if ctx.req(q, "power_kw") is not None]
        if not qpus:
            continue
        reqs = [r for q in qpus if (r := ctx.req(q, "power_kw")) is not None]
        demand = sum(ctx.demand_kva(q) for q in qpus)
        parts = " + ".join(f"{q.name} {fmt(ctx.demand_kva(q), 'kVA')}" for q in qpus)
        ok = demand <= feed.capacity_kva
        yield Finding(
            "power.capacity",
            Severity.info if ok else Severity.blocker,
            f"feed {feed.name} carries {fmt(demand, 'kVA')} ({parts}) of its {fmt(feed.capacity_kva, 'kVA')}",
            passed=ok, room=", ".join(sorted({q.room or "" for q in qpus})), subject=feed.name,
            involves=tuple(q.name for q in qpus),
            measured=f"capacity {fmt(feed.capacity_kva, 'kVA')}",
            required=f"{fmt(demand, 'kVA')} (kW / power factor {POWER_FACTOR})",
            **from_requirement(*reqs),
            hint="" if ok else "Upgrade the feed or move a QPU to another feed.",
        )


def _ups(ctx: SurveyContext) -> Iterator[Finding]:
    for feed in ctx.site.facility.power_feeds:
        qpus = [q for q in ctx.on_feed(feed) if ctx.flag(q, "ups_required")]
        if not qpus:
            continue
        names = ", ".join(q.name for q in qpus)
        involved = tuple(q.name for q in qpus)
        room = ", ".join(sorted({q.room or "" for q in qpus}))
        flags = [r for q in qpus if (r := ctx.req(q, "ups_required")) is not None]
        if feed.ups_kva <= 0:
            yield Finding(
                "power.ups", Severity.blocker,
                f"the plant of {names} must be on UPS but feed {feed.name} has none",
                room=room, subject=feed.name, involves=involved,
                measured="UPS 0 kVA", required="UPS for the cryogenic plant",
                **from_requirement(*flags),
                hint="Put the cryogenic plant (compressors, gas handling, control) behind a UPS with a generator.",
            )
            continue
        demand = sum(ctx.demand_kva(q) for q in qpus)
        unknown = [q.name for q in qpus if ctx.req(q, "power_kw") is None]
        if unknown:
            yield Finding(
                "power.ups", Severity.warning,
                f"UPS load on {feed.name} cannot be checked: no power figure for {', '.join(unknown)}",
                room=room, subject=feed.name, involves=involved,
                measured=f"UPS {fmt(feed.ups_kva, 'kVA')}", required="unknown",
                **from_requirement(*flags), hint="Add requirements.power_kw from the vendor's guide.",
            )
        else:
            ok = demand <= feed.ups_kva
            yield Finding(
                "power.ups",
                Severity.info if ok else Severity.blocker,
                f"UPS of {feed.name} ({fmt(feed.ups_kva, 'kVA')}) {'covers' if ok else 'cannot carry'} "
                f"the plant of {names} ({fmt(demand, 'kVA')})",
                passed=ok, room=room, subject=feed.name, involves=involved,
                measured=f"UPS {fmt(feed.ups_kva, 'kVA')}", required=fmt(demand, "kVA"),
                **from_requirement(*flags, *(r for q in qpus if (r := ctx.req(q, "power_kw")) is not None)),
                hint="" if ok else "Enlarge the UPS or reduce what it carries to the cryogenic plant only.",
            )
        autonomy = [(q, r) for q in qpus if (r := ctx.req(q, "ups_autonomy_minutes")) is not None]
        if not autonomy:
            continue
        needed = max(r.number for _, r in autonomy)
        ok = feed.ups_autonomy_minutes >= needed
        # With a standby generator a short autonomy is a risk (the generator must start); without one it is fatal.
        severity = Severity.info if ok else (Severity.warning if feed.generator else Severity.blocker)
        yield Finding(
            "power.ups_autonomy", severity,
            f"UPS autonomy of {feed.name} is {fmt(feed.ups_autonomy_minutes, 'min')}, {names} need {fmt(needed, 'min')}"
            + ("" if ok or not feed.generator else " (a standby generator backs the feed)"),
            passed=ok, room=room, subject=feed.name, involves=involved,
            measured=fmt(feed.ups_autonomy_minutes, "min"), required=fmt(needed, "min"),
            **from_requirement(*(r for _, r in autonomy)),
            hint="" if ok else "Add batteries, or a generator with automatic transfer, sized for the cryogenic plant.",
        )


# A supply within ±10 % of the nominal voltage is what equipment rated for that voltage accepts (IEC 60038 tolerance).
VOLTAGE_TOLERANCE = 0.10


def _supply(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        feed = ctx.feed_of.get(qpu.name)
        if feed is None:
            continue
        phases = ctx.req(qpu, "power_phases")
        if phases is not None:
            ok = feed.phases >= phases.number
            yield Finding(
                "power.phases", Severity.info if ok else Severity.blocker,
                f"feed {feed.name} is {feed.phases}-phase {fmt(feed.voltage_v, 'V')}; QPU {qpu.name} needs "
                f"{phases.number:.0f}-phase",
                passed=ok, room=qpu.room, qpu=qpu.name, subject=feed.name,
                measured=f"{feed.phases}-phase {fmt(feed.voltage_v, 'V')}", required=f"{phases.number:.0f}-phase",
                **from_requirement(phases), measured_source=cite(feed.source),
                hint="" if ok else (
                    f"Bring a 3-phase supply to room {qpu.room} (pulse-tube compressors run on 3 phases), "
                    "then record power_feeds[].phases and voltage_v."
                ),
            )
        volts = ctx.req(qpu, "supply_voltage_v")
        if volts is not None:
            low, high = volts.number * (1 - VOLTAGE_TOLERANCE), volts.number * (1 + VOLTAGE_TOLERANCE)
            ok = low <= feed.voltage_v <= high
            yield Finding(
                "power.voltage", Severity.info if ok else Severity.blocker,
                f"feed {feed.name} supplies {fmt(feed.voltage_v, 'V')}; QPU {qpu.name} is rated "
                f"{fmt(volts.number, 'V')} ± {VOLTAGE_TOLERANCE:.0%}",
                passed=ok, room=qpu.room, qpu=qpu.name, subject=feed.name,
                measured=fmt(feed.voltage_v, "V"), required=f"{fmt(low, 'V')} to {fmt(high, 'V')}",
                **from_requirement(volts), measured_source=cite(feed.source),
                hint="" if ok else "Add a transformer for the QPU's plant or order it for the site's voltage.",
            )
