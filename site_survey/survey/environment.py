"""Room environment against each QPU: magnetic field (DC, AC), vibration,
humidity range, temperature stability, EMI sources and fluorescent lighting.

Environmental misfits are warnings: they can usually be mitigated (shielding,
damping, dehumidifiers) and the figures behind them are mostly low confidence.
A missing measurement is a warning too: the room has not been surveyed yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from site_survey.model import Environment, Qpu
from site_survey.profiles import Requirement
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, cite, fmt, from_requirement

# (check id, measured attribute, requirement key, unit, what, fix)
UPPER_LIMITS = (
    ("environment.field_dc", "field_dc_ut", "field_dc_ut_max", "µT", "static magnetic field",
     "Move away from steel structures and DC busbars, or add magnetic shielding."),
    ("environment.field_ac", "field_ac_ut", "field_ac_ut_max", "µT", "AC magnetic field",
     "Keep transformers, cable trays and lighting ballasts away; add shielding."),
    ("environment.vibration", "vibration_um_s", "vibration_um_s_max", "µm/s", "floor vibration",
     "Add vibration isolation (damped frame or inertia block) or move away from plant rooms."),
    ("environment.temperature_stability", "temperature_stability_c", "temperature_stability_c", "°C",
     "temperature stability", "Tighten room temperature control (dedicated CRAC, no door to a corridor)."),
)

# Fluorescent lighting closer than this disturbs field-sensitive systems.
LIGHTING_DISTANCE_MIN_M = 2.0
LIGHTING_SOURCE = "Open Compute Project workstream on QPUs in data centres, 2026 (reported second-hand)"


def _worst(envs: list[Environment], attr: str, highest: bool = True) -> float | None:
    values: list[float] = [float(v) for e in envs if (v := getattr(e, attr)) is not None]
    if not values:
        return None
    return max(values) if highest else min(values)


def _missing(check: str, qpu: Qpu, what: str, attr: str, required: str, *reqs: Requirement) -> Finding:
    return Finding(
        check, Severity.warning, f"no measurement of {what} in room {qpu.room} (needed for QPU {qpu.name})",
        room=qpu.room, qpu=qpu.name, measured="not measured", required=required, **from_requirement(*reqs),
        hint=f"Measure it and record facility.environment[].{attr} for room {qpu.room}.",
    )


def check(ctx: SurveyContext) -> Iterator[Finding]:
    for qpu in ctx.placed():
        envs = ctx.environments(qpu.room or "")
        for check_id, attr, key, unit, what, fix in UPPER_LIMITS:
            req = ctx.req(qpu, key)
            if req is None:
                continue
            measured = _worst(envs, attr)
            if measured is None:
                yield _missing(check_id, qpu, what, attr, f"≤ {fmt(req.number, unit)}", req)
                continue
            ok = measured <= req.number
            yield Finding(
                check_id, Severity.info if ok else Severity.warning,
                f"{what} in room {qpu.room}: {fmt(measured, unit)} against at most {fmt(req.number, unit)} "
                f"for QPU {qpu.name}",
                passed=ok, room=qpu.room, qpu=qpu.name,
                measured=fmt(measured, unit), required=f"≤ {fmt(req.number, unit)}",
                **from_requirement(req), hint="" if ok else fix,
            )
        yield from _humidity(ctx, qpu, envs)
        yield from _emi(ctx, qpu, envs)
        yield from _lighting(ctx, qpu, envs)
        yield from _age(ctx, qpu, envs)


def _humidity(ctx: SurveyContext, qpu: Qpu, envs: list[Environment]) -> Iterator[Finding]:
    low, high = ctx.req(qpu, "humidity_min_pct"), ctx.req(qpu, "humidity_max_pct")
    if low is None and high is None:
        return
    seen_low, seen_high = _worst(envs, "humidity_min_pct", highest=False), _worst(envs, "humidity_max_pct")
    wanted = f"{fmt(low.number, '%') if low else '-'} to {fmt(high.number, '%') if high else '-'}"
    reqs = [r for r in (low, high) if r is not None]
    if seen_low is None or seen_high is None:
        yield _missing(
            "environment.humidity", qpu, "relative humidity (min and max)", "humidity_min_pct/max_pct", wanted, *reqs
        )
        return
    too_dry = low is not None and seen_low < low.number
    too_damp = high is not None and seen_high > high.number
    ok = not (too_dry or too_damp)
    yield Finding(
        "environment.humidity", Severity.info if ok else Severity.warning,
        f"relative humidity in room {qpu.room} ranges {fmt(seen_low, '%')} to {fmt(seen_high, '%')}; "
        f"QPU {qpu.name} needs {wanted}",
        passed=ok, room=qpu.room, qpu=qpu.name,
        measured=f"{fmt(seen_low, '%')} to {fmt(seen_high, '%')}", required=wanted,
        **from_requirement(*reqs),
        hint="" if ok else ("Dehumidify (condensation on cold parts)." if too_damp else "Humidify (static discharge)."),
    )


def _emi(ctx: SurveyContext, qpu: Qpu, envs: list[Environment]) -> Iterator[Finding]:
    req = ctx.req(qpu, "emi_distance_min_m")
    if req is None:
        return
    if not envs:
        yield _missing("environment.emi", qpu, "nearby EMI sources", "emi_sources", f"≥ {fmt(req.number, 'm')}", req)
        return
    close = [s for e in envs for s in e.emi_sources if s.distance_m < req.number]
    if not close:
        count = sum(len(e.emi_sources) for e in envs)
        yield Finding(
            "environment.emi", Severity.info,
            f"no recorded EMI source within {fmt(req.number, 'm')} of room {qpu.room} ({count} recorded further away)",
            passed=True, room=qpu.room, qpu=qpu.name, required=f"≥ {fmt(req.number, 'm')}",
            **from_requirement(req),
        )
    for source in close:
        yield Finding(
            "environment.emi", Severity.warning,
            f"{source.kind.replace('_', ' ')} at {fmt(source.distance_m, 'm')} from room {qpu.room}"
            + (f" ({source.note})" if source.note else ""),
            room=qpu.room, qpu=qpu.name, subject=source.kind,
            measured=fmt(source.distance_m, "m"), required=f"≥ {fmt(req.number, 'm')}",
            **from_requirement(req),
            hint="Measure the field it induces in the room during operation (e.g. tram passing) before deciding.",
        )


def _lighting(ctx: SurveyContext, qpu: Qpu, envs: list[Environment]) -> Iterator[Finding]:
    if ctx.req(qpu, "field_ac_ut_max") is None:
        return
    nearest = _worst(envs, "fluorescent_lighting_distance_m", highest=False)
    if nearest is None or nearest >= LIGHTING_DISTANCE_MIN_M:
        return  # unknown distance is covered by the AC field measurement itself
    yield Finding(
        "environment.lighting", Severity.warning,
        f"fluorescent lighting {fmt(nearest, 'm')} from QPU {qpu.name} in room {qpu.room}",
        room=qpu.room, qpu=qpu.name, measured=fmt(nearest, "m"), required=f"≥ {fmt(LIGHTING_DISTANCE_MIN_M, 'm')}",
        source=LIGHTING_SOURCE, confidence="low", hint="Replace with LED lighting or move the fittings.",
    )


def _age(ctx: SurveyContext, qpu: Qpu, envs: list[Environment]) -> Iterator[Finding]:
    """A measurement campaign older than facility.measurement_max_age_days no longer describes the room."""
    limit = ctx.site.facility.measurement_max_age_days
    for env in envs:
        if env.measured_on is None:
            yield Finding(
                "environment.measurement_age", Severity.warning,
                f"the environment measurements of room {qpu.room} carry no date (QPU {qpu.name})",
                room=qpu.room, qpu=qpu.name, measured="undated", required=f"measured within {limit} days",
                measured_source=cite(env.source),
                hint=f"Record facility.environment[].measured_on (YYYY-MM-DD) for room {qpu.room}.",
            )
            continue
        age = (ctx.today - date.fromisoformat(env.measured_on)).days
        ok = age <= limit
        yield Finding(
            "environment.measurement_age", Severity.info if ok else Severity.warning,
            f"environment of room {qpu.room} measured on {env.measured_on} ({age} days ago"
            + ("" if ok else f", older than the {limit}-day limit") + f"; QPU {qpu.name})",
            passed=ok, room=qpu.room, qpu=qpu.name, measured=f"{age} days old", required=f"≤ {limit} days",
            measured_source=cite(env.source),
            hint="" if ok else (
                f"Re-measure field, vibration, humidity and EMI in room {qpu.room} (buildings, tram lines and "
                "neighbouring plant change), or raise facility.measurement_max_age_days if they are still valid."
            ),
        )
