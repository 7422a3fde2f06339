"""Safety-file completeness per QPU room.

Every hazard the room's QPUs imply is in the hazard register for that room,
rated before and after its controls, has a control, and each control a
responsible person. Oxygen deficiency is decided by the room's declared
cryogen inventory and volume (worst-case O2 after the largest release, see
:mod:`site_survey.survey.odh`), not by modality: the modality only says an
inventory must be declared. Class 3B/4 lasers are interlocked and described
(wavelength, power, NOHD, eyewear, laser safety officer, key control);
pressure reliefs and inspections are within their intervals; every QPU room
has an emergency stop; and the room's safety file is signed for the content
it has now.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from site_survey.model import HazardKind, LaserInstallation, Qpu, RiskRating, Room, SignOffState
from site_survey.profiles import Requirement
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, fmt, from_requirement
from site_survey.survey.odh import METHOD, OdhAssessment, assess
from site_survey.survey.safety_doc import changed_sections, document_hash, document_id, sign_off_for

# Risk-matrix bands (likelihood × severity, 1..25): see docs/survey.md.
RISK_BANDS = ((4, "low"), (9, "medium"), (14, "high"), (25, "very high"))
RESIDUAL_RISK_MAX = 9  # a residual risk above "medium" needs more controls
LASER_SOURCE = "IEC 60825-1 / laser safety practice for Class 3B and 4"


def risk_band(score: int) -> str:
    return next(name for top, name in RISK_BANDS if score <= top)


class _Where(TypedDict, total=False):
    room: str | None
    involves: tuple[str, ...]
    subject: str | None


@dataclass(frozen=True)
class ImpliedHazard:
    kind: HazardKind
    why: str
    requirement: Requirement | None  # None when implied by the room (seismic zone, cryogen inventory), not a QPU


def implied_hazards(ctx: SurveyContext, qpu: Qpu) -> list[ImpliedHazard]:
    """Hazards one QPU brings, from its profile (cryogen_odh only while no inventory is declared for the room)."""
    out: list[ImpliedHazard] = []
    req = ctx.req(qpu, "hazards")
    declared = any(c.room == qpu.room for c in ctx.site.facility.safety.cryogens)
    if req is not None and isinstance(req.value, tuple):
        for kind in req.value:
            if kind == HazardKind.cryogen_odh and declared:
                continue  # decided by the room's inventory and volume instead (room_hazards)
            why = f"{qpu.modality.value} system ({req.origin})"
            if kind == HazardKind.cryogen_odh:
                why += "; assumed until the room's cryogen inventory is declared"
            out.append(ImpliedHazard(kind, why, req))
    room = ctx.room(qpu)
    heavy = ctx.req(qpu, "mass_kg") is not None
    if room.seismic_zone and heavy and HazardKind.seismic not in {h.kind for h in out}:
        out.append(ImpliedHazard(HazardKind.seismic, f"heavy unit in seismic zone {room.seismic_zone}", None))
    return out


def odh_assessment(ctx: SurveyContext, room: Room) -> OdhAssessment:
    safety = ctx.site.facility.safety
    return assess(room, [c for c in safety.cryogens if c.room == room.name], safety.odh_threshold_o2_pct)


def room_hazards(ctx: SurveyContext, room: Room) -> list[ImpliedHazard]:
    """Hazards of a room: its QPUs' (first reason wins) plus an ODH zone found by calculation."""
    out: dict[HazardKind, ImpliedHazard] = {}
    for qpu in ctx.in_room(room.name):
        for hazard in implied_hazards(ctx, qpu):
            out.setdefault(hazard.kind, hazard)
    if room.fire_suppression == "inert_gas":
        out.setdefault(HazardKind.cryogen_odh, ImpliedHazard(
            HazardKind.cryogen_odh, "inert-gas fire suppression (a discharge lowers O2 to about 10-15 % by design)",
            None))
    odh = odh_assessment(ctx, room)
    if odh.inventory and odh.is_odh_zone is not False:
        why = (
            f"worst-case O2 {fmt(odh.worst_o2_pct, '%')} after releasing {odh.largest.vessel if odh.largest else ''}"
            if odh.worst_o2_pct is not None else "cryogen inventory declared, room volume not provided"
        )
        out.setdefault(HazardKind.cryogen_odh, ImpliedHazard(HazardKind.cryogen_odh, why, None))
    return list(out.values())


def qpu_rooms(ctx: SurveyContext) -> list[Room]:
    return [r for r in ctx.site.facility.rooms if ctx.in_room(r.name)]


def check(ctx: SurveyContext) -> Iterator[Finding]:
    safety = ctx.site.facility.safety
    contacts = {c.name for c in ctx.site.site.contacts}
    for room in qpu_rooms(ctx):
        qpus = tuple(q.name for q in ctx.in_room(room.name))
        hazards = room_hazards(ctx, room)
        for hazard in hazards:
            yield from _hazard(ctx, room, qpus, hazard, contacts)
        kinds = {h.kind for h in hazards}
        if HazardKind.laser in kinds:
            yield from _lasers(ctx, room, qpus)
        yield from _odh(ctx, room, qpus, cryogen_qpu=any(
            h.kind == HazardKind.cryogen_odh and h.requirement is not None for h in hazards))
        if HazardKind.pressurised_gas in kinds:
            yield from _reliefs(ctx, room, qpus)
        if room.fire_suppression == "inert_gas":
            yield _inert_gas(ctx, room, qpus)
        yield from _inspections(ctx, room, qpus)
        stops = [s for s in safety.emergency_stops if s.room == room.name]
        yield Finding(
            "safety.emergency_stop",
            Severity.info if stops else Severity.blocker,
            f"{len(stops)} emergency stop(s) in room {room.name}" if stops
            else f"no emergency stop in room {room.name}",
            passed=bool(stops), room=room.name, involves=qpus,
            measured=str(len(stops)), required="≥ 1 per QPU room",
            hint="" if stops else "Install an emergency stop by the exit; record it in facility.safety.emergency_stops",
        )
        yield _sign_off(ctx, room, qpus)


def _hazard(
    ctx: SurveyContext, room: Room, qpus: tuple[str, ...], hazard: ImpliedHazard, contacts: set[str]
) -> Iterator[Finding]:
    safety = ctx.site.facility.safety
    kind = hazard.kind.value
    provenance = from_requirement(hazard.requirement) if hazard.requirement else from_requirement()
    where: _Where = {"room": room.name, "involves": qpus, "subject": kind}
    entry = next((h for h in safety.hazards if h.kind == hazard.kind and h.room == room.name), None)
    if entry is None:
        yield Finding(
            "safety.hazard_register", Severity.blocker,
            f"hazard {kind} ({hazard.why}) is not in the hazard register for room {room.name}",
            measured="not registered", required="registered", **where, **provenance,
            hint=f"Assess it and add {{kind: {kind}, room: {room.name}}} to facility.safety.hazards.",
        )
        return
    yield from _risk(room, entry.kind, entry.risk_before, entry.risk_after, qpus)
    controls = [c for c in safety.controls if c.hazard == hazard.kind and c.room == room.name]
    if not controls:
        yield Finding(
            "safety.control", Severity.blocker, f"hazard {kind} in room {room.name} has no control",
            measured="0 controls", required="≥ 1 control", **where, **provenance,
            hint=f"Add a control (engineering, interlock, monitoring, …) for {kind} to facility.safety.controls.",
        )
        return
    orphan = [c for c in controls if c.responsible not in contacts]
    if orphan:
        yield Finding(
            "safety.responsible", Severity.blocker,
            f"control(s) for {kind} in room {room.name} name no known responsible person: "
            + ", ".join(repr(c.responsible) for c in orphan),
            **where, hint="Name a contact from site.contacts as responsible.",
        )
        return
    people = sorted({c.responsible for c in controls})
    yield Finding(
        "safety.control", Severity.info,
        f"hazard {kind} in room {room.name}: {len(controls)} control(s), responsible {', '.join(people)}",
        passed=True, **where, **provenance,
    )


def _risk(
    room: Room, kind: HazardKind, before: RiskRating | None, after: RiskRating | None, qpus: tuple[str, ...]
) -> Iterator[Finding]:
    where: _Where = {"room": room.name, "involves": qpus, "subject": kind.value}
    if before is None or after is None:
        yield Finding(
            "safety.risk_rating", Severity.warning,
            f"hazard {kind.value} in room {room.name} has no risk rating "
            f"{'before' if before is None else 'after'} controls",
            measured="not rated", required="likelihood × severity before and after controls", **where,
            hint="Rate it: facility.safety.hazards[].risk_before and risk_after {likelihood: 1-5, severity: 1-5}.",
        )
        return
    b, a = before.score, after.score
    ok = a <= RESIDUAL_RISK_MAX and a <= b
    yield Finding(
        "safety.risk_rating", Severity.info if ok else Severity.warning,
        f"hazard {kind.value} in room {room.name}: risk {b} ({risk_band(b)}) before, {a} ({risk_band(a)}) after "
        "controls" + ("" if a <= b else ": the residual risk is above the initial one"),
        passed=ok, measured=f"{b} → {a}", required=f"residual ≤ {RESIDUAL_RISK_MAX} (medium)", **where,
        hint="" if ok else "Add or strengthen controls until the residual risk is medium or lower, and re-rate.",
    )


def nohd_m(laser: LaserInstallation) -> float | None:
    """Nominal ocular hazard distance from the beam figures: (√(4P / (π·MPE)) − a) / φ, 0 inside the beam."""
    if None in (laser.power_w, laser.mpe_w_m2, laser.beam_diameter_mm, laser.divergence_mrad):
        return None
    assert laser.power_w and laser.mpe_w_m2 and laser.beam_diameter_mm and laser.divergence_mrad
    reach = math.sqrt(4 * laser.power_w / (math.pi * laser.mpe_w_m2)) - laser.beam_diameter_mm / 1000
    return max(reach / (laser.divergence_mrad / 1000), 0.0)


LASER_FIELDS = ("wavelength_nm", "power_w", "nohd_m", "eyewear", "safety_officer", "key_control")


def _lasers(ctx: SurveyContext, room: Room, qpus: tuple[str, ...]) -> Iterator[Finding]:
    where: _Where = {"room": room.name, "involves": qpus}
    lasers = [laser for laser in ctx.site.facility.safety.lasers if laser.room == room.name]
    if not lasers:
        yield Finding(
            "safety.laser", Severity.warning,
            f"QPU(s) {', '.join(qpus)} use lasers but no laser installation is recorded in {room.name}",
            measured="not recorded", required="laser class and interlock state", **where,
            hint="Record each laser (IEC 60825-1 class, interlocked) in facility.safety.lasers.",
        )
        return
    for laser in lasers:
        label = laser.name or f"class {laser.laser_class} laser"
        if laser.laser_class not in ("3B", "4"):
            yield Finding(
                "safety.laser", Severity.info, f"{label} in {room.name}: class {laser.laser_class}",
                passed=True, measured=f"class {laser.laser_class}", **where,
            )
            continue
        if laser.laser_class == "4" and not laser.interlocked:
            yield Finding(
                "safety.laser", Severity.blocker, f"class 4 {label} in {room.name} is not interlocked",
                measured="not interlocked", required="interlocked (class 4)", source=LASER_SOURCE, confidence="high",
                hint="Interlock the doors/enclosure to cut the beam and record interlocked: true.", **where,
            )
        elif laser.laser_class == "4" and not laser.controlled_zone:
            yield Finding(
                "safety.laser", Severity.warning, f"class 4 {label} in {room.name} is interlocked but has no "
                "controlled zone", measured="no controlled zone", required="laser-controlled zone",
                source=LASER_SOURCE, confidence="high",
                hint="Set up a laser-controlled zone with access control and signage.", **where,
            )
        else:
            yield Finding(
                "safety.laser", Severity.info, f"class {laser.laser_class} {label} in {room.name}: interlocked"
                + (", controlled zone" if laser.controlled_zone else ""),
                passed=True, measured="interlocked", **where,
            )
        missing = [f for f in LASER_FIELDS if getattr(laser, f) is None]
        computed = nohd_m(laser)
        short = computed is not None and laser.nohd_m is not None and laser.nohd_m < computed
        ok = not missing and not short
        yield Finding(
            "safety.laser_figures", Severity.info if ok else Severity.warning,
            f"{label} in {room.name}: "
            + (f"missing {', '.join(missing)}" if missing
               else "wavelength, power, NOHD, eyewear, LSO, key control given")
            + (f"; declared NOHD {fmt(laser.nohd_m or 0, 'm')} is below {fmt(computed or 0, 'm')} computed from the "
               "beam figures" if short else ""),
            passed=ok, subject=label, measured="complete" if not missing else f"{len(missing)} missing",
            required=", ".join(LASER_FIELDS), source=LASER_SOURCE, confidence="high", room=room.name, involves=qpus,
            hint="" if ok else "Fill facility.safety.lasers[] from the laser's data sheet and the LSO's assessment.",
        )


def _odh(ctx: SurveyContext, room: Room, qpus: tuple[str, ...], cryogen_qpu: bool) -> Iterator[Finding]:
    odh = odh_assessment(ctx, room)
    where: _Where = {"room": room.name, "involves": qpus}
    monitors = [m for m in ctx.site.facility.safety.odh_monitoring if m.room == room.name and m.sensors > 0]
    if not odh.inventory:
        if not cryogen_qpu:
            return
        yield Finding(
            "safety.cryogen_inventory", Severity.warning,
            f"cryogens are expected in room {room.name} but no inventory is declared: the oxygen-deficiency "
            "assessment cannot be made",
            measured="not declared", required="vessels with litres of liquid or m³ of gas", **where,
            hint="Declare each vessel and charge in facility.safety.cryogens (room, vessel, substance, liquid_l or "
                 "gas_m3) and the room's volume and ventilation.",
        )
    elif odh.worst_o2_pct is None:
        yield Finding(
            "safety.cryogen_inventory", Severity.warning,
            f"room {room.name} holds cryogens but its volume is not known: worst-case O2 cannot be computed",
            measured="volume not provided", required="room volume", **where,
            hint=f"Record facility.rooms[{room.name}].volume_m3 (or ceiling_height_m).",
        )
    else:
        zone = odh.is_odh_zone
        yield Finding(
            "safety.cryogen_inventory", Severity.info,
            f"worst case in room {room.name}: {fmt(odh.worst_o2_pct, '%')} O2 after releasing "
            f"{fmt(odh.released_m3, 'm³')} ({odh.largest.vessel if odh.largest else ''}) into "
            f"{fmt(odh.volume_m3 or 0, 'm³')}; " + ("an oxygen-deficiency zone" if zone else "not an ODH zone"),
            passed=True, measured=fmt(odh.worst_o2_pct, "%"), required=f"≥ {fmt(odh.threshold_pct, '%')}",
            source=METHOD, confidence="high", **where,
        )
        if not zone:
            return
    if not monitors:
        yield Finding(
            "safety.odh", Severity.blocker, f"cryogens in room {room.name} but no oxygen-deficiency monitoring",
            measured="no O2 sensor", required="O2 monitoring with alarm", **where,
            hint="Install O2 sensors with alarm (19.5 % vol) and record them in facility.safety.odh_monitoring.",
        )
        return
    sensors = sum(m.sensors for m in monitors)
    linked = any(m.linked_ventilation for m in monitors)
    yield Finding(
        "safety.odh", Severity.info if linked else Severity.warning,
        f"{sensors} O2 sensor(s) in {room.name}" + ("" if linked else ", alarm not linked to forced ventilation"),
        passed=linked, measured=f"{sensors} sensor(s)", **where,
        hint="" if linked else "Link the O2 alarm to forced ventilation.",
    )


def _overdue(last: str | None, months: int, today: date) -> int | None:
    """Days overdue (negative: days left); None when never done."""
    if last is None:
        return None
    return (today - date.fromisoformat(last)).days - round(months * 30.44)


def _reliefs(ctx: SurveyContext, room: Room, qpus: tuple[str, ...]) -> Iterator[Finding]:
    where: _Where = {"room": room.name, "involves": qpus}
    reliefs = [p for p in ctx.site.facility.safety.pressure_reliefs if p.room == room.name]
    if not reliefs:
        yield Finding(
            "safety.pressure_relief", Severity.warning,
            f"pressurised gas in room {room.name} but no pressure-relief device is recorded",
            measured="not recorded", required="set pressure and inspection interval", **where,
            hint="Record each relief valve/burst disc in facility.safety.pressure_reliefs (from the vendor).",
        )
        return
    for p in reliefs:
        late = _overdue(p.last_inspected, p.inspection_interval_months, ctx.today)
        ok = late is not None and late <= 0
        yield Finding(
            "safety.pressure_relief", Severity.info if ok else Severity.warning,
            f"relief on {p.location} in {room.name} set at {fmt(p.set_pressure_bar, 'bar')}, inspected every "
            f"{p.inspection_interval_months} months, last "
            + (p.last_inspected or "never") + ("" if ok or late is None else f" ({late} days overdue)"),
            passed=ok, subject=p.location, measured=p.last_inspected or "never",
            required=f"every {p.inspection_interval_months} months", room=room.name, involves=qpus,
            hint="" if ok else "Inspect it and record last_inspected.",
        )


def _inspections(ctx: SurveyContext, room: Room, qpus: tuple[str, ...]) -> Iterator[Finding]:
    for i in ctx.site.facility.safety.inspections:
        if i.room != room.name:
            continue
        late = _overdue(i.last_done, i.interval_months, ctx.today)
        ok = late is not None and late <= 0
        yield Finding(
            "safety.inspection", Severity.info if ok else Severity.warning,
            f"{i.item} in {room.name}: every {i.interval_months} months, last {i.last_done or 'never'}"
            + ("" if ok or late is None else f" ({late} days overdue)"),
            passed=ok, room=room.name, involves=qpus, subject=i.item, measured=i.last_done or "never",
            required=f"every {i.interval_months} months", hint="" if ok else f"Have {i.responsible} do it and record "
            "last_done.",
        )


def _sign_off(ctx: SurveyContext, room: Room, qpus: tuple[str, ...]) -> Finding:
    doc = document_id(ctx.site.site.name, room.name)
    now = document_hash(ctx, room)
    record = sign_off_for(ctx, room.name)
    where: _Where = {"room": room.name, "involves": qpus, "subject": doc}
    if record is None:
        legacy = ctx.site.facility.safety.sign_off
        why = (
            f"the site-wide sign-off ({legacy.signed_by}, {legacy.signed_on}) is not bound to this file's content"
            if legacy.state == SignOffState.signed else f"the site-wide state is {legacy.state.value}"
        )
        return Finding(
            "safety.sign_off", Severity.warning, f"safety file {doc} is not signed: {why}",
            measured="not signed", required=f"signed for content {now.content[:12]}…", **where,
            hint="Review the file with the safety officer, then record facility.safety.documents[] with the "
                 "revision, signer, date and the content_sha256 and section hashes printed in the file.",
        )
    if record.content_sha256 == now.content:
        return Finding(
            "safety.sign_off", Severity.info,
            f"safety file {doc} rev {record.revision} signed by {record.signed_by} on {record.signed_on}",
            passed=True, measured="signed, content unchanged", **where,
        )
    changed = changed_sections(record, now)
    return Finding(
        "safety.sign_off", Severity.warning,
        f"safety file {doc} rev {record.revision} was signed by {record.signed_by} on {record.signed_on}, but its "
        f"content has changed since (sections: {', '.join(changed) or 'none, order only'}): no longer signed",
        measured=f"content {now.content[:12]}…", required=f"signed content {record.content_sha256[:12]}…", **where,
        hint=f"Review the changes with the safety officer and sign rev {record.revision + 1}: record its "
             "content_sha256 and section hashes from the regenerated file.",
    )


INERT_GAS_SOURCE = "ISO 14520-1 / NFPA 2001: inert agents (IG-541, IG-55, IG-100) are designed to bring O2 to 10-15 %"


def _inert_gas(ctx: SurveyContext, room: Room, qpus: tuple[str, ...]) -> Finding:
    """An inert-gas discharge is an oxygen-depletion event by design: people must be out before it happens."""
    monitored = any(m.room == room.name and m.sensors > 0 for m in ctx.site.facility.safety.odh_monitoring)
    return Finding(
        "safety.fire_suppression", Severity.info if monitored else Severity.warning,
        f"room {room.name} has inert-gas fire suppression: a discharge is an oxygen-deficiency event"
        + ("" if monitored else " and the room has no O2 monitoring"),
        passed=monitored, room=room.name, involves=qpus, measured="inert gas",
        required="pre-discharge alarm and delay, lock-off while occupied, O2 monitoring",
        source=INERT_GAS_SOURCE, confidence="medium",
        hint="" if monitored else (
            "Install O2 monitoring, a pre-discharge alarm with delay and a manual lock-off for occupied periods; "
            "register the ODH hazard for the room with its controls."
        ),
    )
