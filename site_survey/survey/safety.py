"""Safety-file completeness per QPU room: every hazard the QPU implies is in the
hazard register for that room, has a control, and each control a responsible
person; Class 4 lasers are interlocked; cryogens come with oxygen-deficiency
monitoring; every QPU room has an emergency stop; the file is signed off."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from site_survey.model import HazardKind, Qpu, SignOffState
from site_survey.profiles import Requirement
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, from_requirement


@dataclass(frozen=True)
class ImpliedHazard:
    kind: HazardKind
    why: str
    requirement: Requirement | None  # None when implied by the room (seismic zone), not the QPU


def implied_hazards(ctx: SurveyContext, qpu: Qpu) -> list[ImpliedHazard]:
    out: list[ImpliedHazard] = []
    req = ctx.req(qpu, "hazards")
    if req is not None and isinstance(req.value, tuple):
        out += [ImpliedHazard(kind, f"{qpu.modality.value} system ({req.origin})", req) for kind in req.value]
    room = ctx.room(qpu)
    heavy = ctx.req(qpu, "mass_kg") is not None
    if room.seismic_zone and heavy and HazardKind.seismic not in {h.kind for h in out}:
        out.append(ImpliedHazard(HazardKind.seismic, f"heavy unit in seismic zone {room.seismic_zone}", None))
    return out


def check(ctx: SurveyContext) -> Iterator[Finding]:
    safety = ctx.site.facility.safety
    contacts = {c.name for c in ctx.site.site.contacts}
    for qpu in ctx.placed():
        room = qpu.room or ""
        for hazard in implied_hazards(ctx, qpu):
            yield from _hazard(ctx, qpu, hazard, contacts)
        kinds = {h.kind for h in implied_hazards(ctx, qpu)}
        if HazardKind.laser in kinds:
            yield from _lasers(ctx, qpu)
        if HazardKind.cryogen_odh in kinds:
            yield from _odh(ctx, qpu)
        stops = [s for s in safety.emergency_stops if s.room == room]
        yield Finding(
            "safety.emergency_stop",
            Severity.info if stops else Severity.blocker,
            f"{len(stops)} emergency stop(s) in room {room}" if stops else f"no emergency stop in room {room}",
            passed=bool(stops), room=room, qpu=qpu.name,
            measured=str(len(stops)), required="≥ 1 per QPU room",
            hint="" if stops else "Install an emergency stop by the exit; record it in facility.safety.emergency_stops",
        )
    if ctx.placed():
        yield _sign_off(ctx)


def _hazard(ctx: SurveyContext, qpu: Qpu, hazard: ImpliedHazard, contacts: set[str]) -> Iterator[Finding]:
    safety = ctx.site.facility.safety
    room, kind = qpu.room or "", hazard.kind.value
    provenance = from_requirement(hazard.requirement) if hazard.requirement else from_requirement()
    if not any(h.kind == hazard.kind and h.room == room for h in safety.hazards):
        yield Finding(
            "safety.hazard_register", Severity.blocker,
            f"hazard {kind} ({hazard.why}) is not in the hazard register for room {room}",
            room=room, qpu=qpu.name, subject=kind, measured="not registered", required="registered",
            **provenance,
            hint=f"Assess it and add {{kind: {kind}, room: {room}}} to facility.safety.hazards.",
        )
        return
    controls = [c for c in safety.controls if c.hazard == hazard.kind and c.room == room]
    if not controls:
        yield Finding(
            "safety.control", Severity.blocker, f"hazard {kind} in room {room} has no control",
            room=room, qpu=qpu.name, subject=kind, measured="0 controls", required="≥ 1 control",
            **provenance,
            hint=f"Add a control (engineering, interlock, monitoring, …) for {kind} to facility.safety.controls.",
        )
        return
    orphan = [c for c in controls if c.responsible not in contacts]
    if orphan:
        yield Finding(
            "safety.responsible", Severity.blocker,
            f"control(s) for {kind} in room {room} name no known responsible person: "
            + ", ".join(repr(c.responsible) for c in orphan),
            room=room, qpu=qpu.name, subject=kind, hint="Name a contact from site.contacts as responsible.",
        )
        return
    people = sorted({c.responsible for c in controls})
    yield Finding(
        "safety.control", Severity.info,
        f"hazard {kind} in room {room}: {len(controls)} control(s), responsible {', '.join(people)}",
        passed=True, room=room, qpu=qpu.name, subject=kind, **provenance,
    )


def _lasers(ctx: SurveyContext, qpu: Qpu) -> Iterator[Finding]:
    room = qpu.room or ""
    lasers = [laser for laser in ctx.site.facility.safety.lasers if laser.room == room]
    if not lasers:
        yield Finding(
            "safety.laser", Severity.warning,
            f"QPU {qpu.name} uses lasers but no laser installation is recorded in {room}",
            room=room, qpu=qpu.name, measured="not recorded", required="laser class and interlock state",
            hint="Record each laser (IEC 60825-1 class, interlocked) in facility.safety.lasers.",
        )
        return
    for laser in lasers:
        if laser.laser_class != "4":
            yield Finding(
                "safety.laser", Severity.info, f"class {laser.laser_class} laser in {room}",
                passed=True, room=room, qpu=qpu.name, measured=f"class {laser.laser_class}",
            )
            continue
        if not laser.interlocked:
            yield Finding(
                "safety.laser", Severity.blocker, f"class 4 laser in {room} is not interlocked",
                room=room, qpu=qpu.name, measured="not interlocked", required="interlocked (class 4)",
                source="IEC 60825-1 / laser safety practice for Class 4", confidence="high",
                hint="Interlock the doors/enclosure to cut the beam and record interlocked: true.",
            )
        elif not laser.controlled_zone:
            yield Finding(
                "safety.laser", Severity.warning, f"class 4 laser in {room} is interlocked but has no controlled zone",
                room=room, qpu=qpu.name, measured="no controlled zone", required="laser-controlled zone",
                source="IEC 60825-1 / laser safety practice for Class 4", confidence="high",
                hint="Set up a laser-controlled zone with access control and signage.",
            )
        else:
            yield Finding(
                "safety.laser", Severity.info, f"class 4 laser in {room}: interlocked, controlled zone",
                passed=True, room=room, qpu=qpu.name, measured="interlocked, controlled zone",
            )


def _odh(ctx: SurveyContext, qpu: Qpu) -> Iterator[Finding]:
    room = qpu.room or ""
    monitors = [m for m in ctx.site.facility.safety.odh_monitoring if m.room == room and m.sensors > 0]
    if not monitors:
        yield Finding(
            "safety.odh", Severity.blocker, f"cryogens in room {room} but no oxygen-deficiency monitoring",
            room=room, qpu=qpu.name, measured="no O2 sensor", required="O2 monitoring with alarm",
            hint="Install O2 sensors with alarm (19.5 % vol) and record them in facility.safety.odh_monitoring.",
        )
        return
    sensors = sum(m.sensors for m in monitors)
    linked = any(m.linked_ventilation for m in monitors)
    yield Finding(
        "safety.odh", Severity.info if linked else Severity.warning,
        f"{sensors} O2 sensor(s) in {room}" + ("" if linked else ", alarm not linked to forced ventilation"),
        passed=linked, room=room, qpu=qpu.name, measured=f"{sensors} sensor(s)",
        hint="" if linked else "Link the O2 alarm to forced ventilation.",
    )


def _sign_off(ctx: SurveyContext) -> Finding:
    sign = ctx.site.facility.safety.sign_off
    if sign.state == SignOffState.signed:
        return Finding(
            "safety.sign_off", Severity.info, f"safety file signed by {sign.signed_by} on {sign.signed_on}",
            passed=True, measured="signed",
        )
    return Finding(
        "safety.sign_off", Severity.warning, f"safety file is {sign.state.value}, not signed",
        measured=sign.state.value, required="signed",
        hint="Review the generated safety files with the safety officer and record facility.safety.sign_off.",
    )
