"""A safety file per QPU room, generated from the site model, under document
control (id, revision, date, model hash, content hash per section).

Hazards and controls belong to a room, so the file is per room, with an annex
per QPU. It holds what a risk assessment needs: hazards rated before and
after controls (5 × 5 matrix), quantities and the worst-case oxygen figure
they imply (method written out), laser figures, pressure reliefs,
inspections, controls, emergency procedure, stops, escape routes, numbers and
people to call, and the sign-off bound to the content hash. Anything the
model does not provide is printed as "not provided", never left out.

The emergency procedures are the site's own (facility.safety.rooms[].procedures)
where given; otherwise a generic starting point per hazard, marked as such.
"""

from __future__ import annotations

from site_survey.model import Control, HazardKind, RiskRating, Room, Site
from site_survey.reports.common import provenance, shown_value
from site_survey.reports.markdown import cell
from site_survey.survey.context import SurveyContext
from site_survey.survey.findings import Finding, Severity, SurveyResult, fmt
from site_survey.survey.odh import AIR_O2_PCT, EXPANSION_M3_PER_L, METHOD, OdhAssessment, gas_volume_m3
from site_survey.survey.safety import RISK_BANDS, nohd_m, odh_assessment, risk_band, room_hazards
from site_survey.survey.safety_doc import SECTIONS, DocumentHash, document_hash, document_id, sign_off_for

NOT_PROVIDED = "*not provided*"
SAFETY_KEYS = ("mass_kg", "floor_load_kg_m2", "power_kw", "ups_required", "power_phases", "hazards")

PROCEDURES: dict[HazardKind, str] = {
    HazardKind.cryogen_odh: (
        "On an oxygen alarm: leave the room at once and keep the door closed; do not go back in to help anyone "
        "without breathing apparatus. Call the safety officer. Re-enter only when the O2 level is confirmed "
        "at or above 19.5 % vol."
    ),
    HazardKind.pressurised_gas: (
        "On a gas release or a relief valve venting: leave the room, press the emergency stop on the way out "
        "if it is safe to do so, and call the vendor and the safety officer. Do not touch frosted lines."
    ),
    HazardKind.laser: (
        "On a suspected eye exposure: stop work, press the emergency stop, keep the person calm with eyes closed "
        "and arrange an eye examination the same day. Report to the laser safety officer; the laser stays off "
        "until the cause is understood."
    ),
    HazardKind.high_voltage: (
        "Never touch a person in contact with a live part. Press the emergency stop or isolate the supply, "
        "call the emergency services, then give first aid."
    ),
    HazardKind.floor_load: (
        "On cracking, settling or a visibly deformed floor: stop operation, keep clear of the frame and call "
        "facilities for a structural inspection before restarting."
    ),
    HazardKind.seismic: (
        "After an earthquake: stay clear of the frame until it is inspected; check anchors, gas lines and the "
        "cryostat mounting before restarting."
    ),
    HazardKind.uhv_vacuum: (
        "On a broken vacuum window or implosion: keep out (glass fragments), press the emergency stop, call the "
        "vendor. Do not vent or open the chamber yourself."
    ),
    HazardKind.magnetic_field: (
        "Keep people with pacemakers or implants out of the marked zone; on an unexpected field alarm stop "
        "work and call the safety officer."
    ),
    HazardKind.rf_radiation: (
        "On an RF leak alarm or open waveguide: switch off the RF sources with the emergency stop and call the "
        "safety officer."
    ),
}


def _np(value: object, unit: str = "") -> str:
    if value is None or value == "" or value == []:
        return NOT_PROVIDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        return fmt(float(value), unit)
    return cell(str(value))


def _rating(r: RiskRating | None) -> str:
    if r is None:
        return NOT_PROVIDED
    return f"L{r.likelihood} × S{r.severity} = {r.score} ({risk_band(r.score)})"


def revision_text(ctx: SurveyContext, room: Room) -> tuple[str, str]:
    """(revision, sign-off state) of the room's file as generated now."""
    record = sign_off_for(ctx, room.name)
    now = document_hash(ctx, room)
    if record is None:
        return "1 (draft)", "**not signed**"
    if record.content_sha256 == now.content:
        return str(record.revision), f"**signed** by {record.signed_by} on {record.signed_on}"
    return (
        f"{record.revision + 1} (draft; rev {record.revision} was signed)",
        f"**changed since signed**: rev {record.revision} signed by {record.signed_by} on {record.signed_on} "
        "no longer matches this content",
    )


def render_room_safety_file(result: SurveyResult, site: Site, room: Room, findings: list[Finding]) -> str:
    ctx = result.context
    if ctx is None:
        raise ValueError("a safety file needs the survey context; use run_survey()")
    prov = provenance(result)
    safety = site.facility.safety
    contacts = {c.name: c for c in site.site.contacts}
    qpus = ctx.in_room(room.name)
    doc_id = document_id(site.site.name, room.name)
    now = document_hash(ctx, room)
    revision, state = revision_text(ctx, room)
    room_safety = next((r for r in safety.rooms if r.room == room.name), None)
    lines = [
        f"# Safety file {doc_id}: room {room.name}, site {site.site.name}",
        "",
        "| document control | |", "|---|---|",
        f"| document id | `{doc_id}` |",
        f"| revision | {revision} |",
        f"| date | {prov.generated_at[:10]} |",
        f"| sign-off | {state} |",
        f"| content sha256 | `{now.content}` |",
        f"| model sha256 | `{prov.model_sha256}` |",
        f"| generated | {prov.generated_at} by qpusite {prov.kit_version} from `{cell(prov.model_path)}` |",
        "",
        "Generated from the site model: facts (rooms, hazards, controls, quantities, people) are changed in the "
        "model and the file regenerated. The site's own procedure text lives in the model too "
        "(`facility.safety.rooms[].procedures`), so it survives re-runs. The content hash covers this room's "
        "sections only; a change elsewhere in the model does not unsign this file.",
        "",
        "## 1. Scope", "",
        "| QPU | vendor | modality | system | annex |", "|---|---|---|---|---|",
    ]
    lines += [f"| {q.name} | {cell(q.vendor)} | {q.modality.value} | {q.system or '-'} | A.{i + 1} |"
              for i, q in enumerate(qpus)]
    odh = odh_assessment(ctx, room)
    lines += [
        "",
        f"Room: area {fmt(room.area_m2, 'm²')}, ceiling height {_np(room.ceiling_height_m, 'm')}, "
        f"free volume {_np(odh.volume_m3, 'm³')} ({odh.volume_basis}), fresh-air ventilation "
        f"{_np(room.ventilation_m3_h, 'm³/h')}, seismic zone {_np(room.seismic_zone)}.",
        "",
    ]
    open_items = [f for f in findings if f.check.startswith("safety.") and not f.passed]
    lines += ["## 2. Open items from the survey", ""]
    lines += [f"- **{f.severity.value}** `{f.check}`: {f.message}. {f.hint}".rstrip() for f in open_items] or [
        "- none"]
    lines += ["", "## 3. Hazard register and risk ratings", "",
              "| hazard | implied by | registered | description | risk before controls | residual risk |",
              "|---|---|---|---|---|---|"]
    implied = room_hazards(ctx, room)
    registered = [h for h in safety.hazards if h.room == room.name]
    kinds = list(dict.fromkeys([h.kind for h in implied] + [h.kind for h in registered]))
    for kind in kinds:
        why = next((h.why for h in implied if h.kind == kind), "site register only")
        entry = next((h for h in registered if h.kind == kind), None)
        lines.append(
            f"| {kind.value} | {cell(why)} | {'yes' if entry else '**no**'} "
            f"| {_np(entry.description if entry else None)} | {_rating(entry.risk_before if entry else None)} "
            f"| {_rating(entry.risk_after if entry else None)} |"
        )
    bands = ", ".join(f"{lo}-{hi} {name}" for (lo, (hi, name)) in zip(
        [1] + [top + 1 for top, _ in RISK_BANDS[:-1]], RISK_BANDS, strict=True))
    lines += ["", f"Risk matrix: risk = likelihood (1 rare … 5 almost certain) × severity (1 negligible … 5 fatal); "
              f"{bands}. A residual risk above medium needs further controls.", ""]
    lines += _quantities(ctx, room, odh)
    lines += _lasers(site, room)
    lines += ["## 7. Controls", "", "| hazard | kind | control | responsible |", "|---|---|---|---|"]
    controls = [c for c in safety.controls if c.room == room.name]
    for c in controls:
        person = contacts.get(c.responsible)
        who = f"{person.full_name} ({c.responsible})" if person else f"**unknown contact {c.responsible}**"
        lines.append(f"| {c.hazard.value} | {c.kind} | {cell(c.description)} | {cell(who)} |")
    if not controls:
        lines.append(f"| {NOT_PROVIDED} | | | |")
    lines += ["", "## 8. Interlocks and monitoring", ""]
    monitoring = [f"- Interlock ({c.hazard.value}): {c.description}" for c in controls if c.kind == "interlock"]
    monitoring += [
        f"- Oxygen monitoring: {m.sensors} sensor(s), alarm at {m.alarm_o2_pct} % vol"
        f"{', starts forced ventilation' if m.linked_ventilation else ', **not linked to ventilation**'}"
        for m in safety.odh_monitoring if m.room == room.name
    ]
    lines += monitoring or [f"- {NOT_PROVIDED}"]
    lines += ["", "## 9. Inspection schedule", "", "| item | interval | last done | responsible |", "|---|---|---|---|"]
    inspections = [(i.item, i.interval_months, i.last_done, i.responsible) for i in safety.inspections
                   if i.room == room.name]
    inspections += [(f"pressure relief: {p.location}", p.inspection_interval_months, p.last_inspected, "")
                    for p in safety.pressure_reliefs if p.room == room.name]
    lines += [f"| {cell(item)} | every {months} months | {_np(last)} | {_np(who)} |"
              for item, months, last, who in inspections] or [f"| {NOT_PROVIDED} | | | |"]
    lines += ["", "## 10. Emergency stops", ""]
    stops = [s for s in safety.emergency_stops if s.room == room.name]
    lines += [f"- {s.location}" + (f" — cuts {s.cuts}" if s.cuts else "") for s in stops] or [
        f"- {NOT_PROVIDED}: install one before operation"]
    lines += ["", "## 11. Emergency procedure", ""]
    procedures = {p.hazard: p for p in (room_safety.procedures if room_safety else [])}
    if None in procedures:
        lines += ["Site procedure (general):", ""] + [f"{i + 1}. {cell(s)}" for i, s in
                                                       enumerate(procedures[None].steps)] + [""]
    for kind in kinds:
        if kind in procedures:
            lines += [f"**{kind.value}** (site procedure):", ""]
            lines += [f"{i + 1}. {cell(s)}" for i, s in enumerate(procedures[kind].steps)] + [""]
        else:
            generic = PROCEDURES.get(kind, "Stop work, make safe, call the safety officer.")
            lines += [f"**{kind.value}** (generic starting point — the safety officer replaces it by recording "
                      f"`facility.safety.rooms[{room.name}].procedures`): {generic}", ""]
    lines += ["Escape routes:", ""]
    lines += [f"- {cell(r)}" for r in (room_safety.escape_routes if room_safety else [])] or [f"- {NOT_PROVIDED}"]
    lines += ["", "Training required:", ""]
    lines += [f"- {cell(t)}" for t in (room_safety.training if room_safety else [])] or [f"- {NOT_PROVIDED}"]
    lines += ["", "## 12. Emergency numbers and people to call", ""]
    lines += [f"- {cell(n.label)}: {cell(n.number)}" for n in safety.emergency_numbers] or [
        f"- emergency numbers: {NOT_PROVIDED}"]
    callers = [c for c in site.site.contacts if c.on_call or c.role.value == "safety"]
    lsos = {laser.safety_officer for laser in safety.lasers if laser.room == room.name and laser.safety_officer}
    callers += [contacts[n] for n in sorted(lsos) if n in contacts and contacts[n] not in callers]
    vendor = room_safety.vendor_contact if room_safety else None
    lines += [f"- {c.full_name} ({c.role.value}): {c.phone or 'phone ' + NOT_PROVIDED}, {c.email}" for c in callers]
    if vendor and vendor in contacts:
        v = contacts[vendor]
        lines.append(f"- vendor: {v.full_name}: {v.phone or 'phone ' + NOT_PROVIDED}, {v.email}")
    else:
        lines.append(f"- vendor contact: {NOT_PROVIDED} (`facility.safety.rooms[].vendor_contact`)")
    lines += _sign_off_section(ctx, room, site, controls, now, prov.generated_at[:10])
    lines += [
        "", "## 14. Acceptance-test evidence", "",
        f"`qpusite accept {site.site.name}` writes its reports (JUnit XML and HTML) under "
        f"`reports/{site.site.name}/acceptance/`; attach the run that accepted "
        f"{', '.join(q.name for q in qpus)} here.", "",
        "| test | result | report | date |", "|---|---|---|---|", "| | | | |", "",
    ]
    blockers = [f for f in findings if f.severity == Severity.blocker]
    if blockers:
        lines += [f"Survey blockers for this room: {len(blockers)} (see the survey report).", ""]
    lines += ["## Annexes: QPUs in this room", ""]
    for i, q in enumerate(qpus):
        reqs = ctx.requirements.get(q.name, {})
        lines += [f"### A.{i + 1} {q.name} ({cell(q.vendor)}, {q.modality.value})", "",
                  "| figure | value | source (confidence) |", "|---|---|---|"]
        for key in SAFETY_KEYS:
            r = reqs.get(key)
            lines.append(f"| `{key}` | {cell(shown_value(r)) if r else NOT_PROVIDED} "
                         f"| {cell(f'{r.source} ({r.confidence.value})') if r else ''} |")
        lines.append("")
    return "\n".join(lines)


def _quantities(ctx: SurveyContext, room: Room, odh: OdhAssessment) -> list[str]:
    safety = ctx.site.facility.safety
    lines = ["## 4. Quantities and the worst-case oxygen concentration", "",
             "| vessel | substance | liquid | gas at 15 °C, 1 atm | source |", "|---|---|---|---|---|"]
    for c in odh.inventory:
        lines.append(
            f"| {cell(c.vessel)} | {c.substance} | {_np(c.liquid_l, 'L')} | {fmt(gas_volume_m3(c), 'm³')} "
            f"| {cell(c.source.cite()) if c.source else 'unsourced'} |"
        )
    if not odh.inventory:
        lines.append(f"| {NOT_PROVIDED} (`facility.safety.cryogens`) | | | | |")
    lines.append("")
    if odh.largest is None:
        lines += ["Worst-case O2: not computed (no inventory declared).", ""]
    elif odh.worst_o2_pct is None or odh.volume_m3 is None:
        lines += ["Worst-case O2: not computed (room volume not provided).", ""]
    else:
        largest = odh.largest
        vg = (f"{fmt(largest.liquid_l or 0, 'L')} × {EXPANSION_M3_PER_L[largest.substance]} m³/L"
              if largest.liquid_l is not None else "declared gas volume")
        recovery = (
            "no fresh-air figure: recovery time not computed" if odh.recovery_min is None
            else f"back to {fmt(odh.threshold_pct, '%')} after {odh.recovery_min:.0f} min of ventilation"
        )
        zone = "**an oxygen-deficiency-hazard zone**" if odh.is_odh_zone else "not an oxygen-deficiency zone"
        lines += [
            f"Largest credible release: {cell(largest.vessel)} ({largest.substance}), Vg = {vg} = "
            f"{fmt(odh.released_m3, 'm³')}; room Vr = {fmt(odh.volume_m3, 'm³')} ({odh.volume_basis}).",
            "",
            f"O2 = {AIR_O2_PCT} × (Vr − Vg) / Vr = {AIR_O2_PCT} × ({fmt(odh.volume_m3, '')} − "
            f"{fmt(odh.released_m3, '')}) / {fmt(odh.volume_m3, '')} = **{fmt(odh.worst_o2_pct, '%')}**; "
            f"threshold {fmt(odh.threshold_pct, '%')}: the room is {zone}; {recovery}.",
            "",
            f"Method: {METHOD}. Perfect mixing understates depletion near the release point.",
            "",
        ]
    lines += ["## 5. Pressure reliefs", "", "| protects | set pressure | inspection interval | last inspected |",
              "|---|---|---|---|"]
    reliefs = [p for p in safety.pressure_reliefs if p.room == room.name]
    lines += [f"| {cell(p.location)} | {fmt(p.set_pressure_bar, 'bar')} | {p.inspection_interval_months} months "
              f"| {_np(p.last_inspected)} |" for p in reliefs] or [f"| {NOT_PROVIDED} | | | |"]
    return [*lines, ""]


def _lasers(site: Site, room: Room) -> list[str]:
    lines = ["## 6. Lasers", "",
             "| laser | class | wavelength | power | NOHD declared | NOHD from beam figures | eyewear | LSO "
             "| key control | interlocked | controlled zone |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    lasers = [laser for laser in site.facility.safety.lasers if laser.room == room.name]
    for laser in lasers:
        computed = nohd_m(laser)
        lines.append(
            f"| {_np(laser.name)} | {laser.laser_class} | {_np(laser.wavelength_nm, 'nm')} | {_np(laser.power_w, 'W')} "
            f"| {_np(laser.nohd_m, 'm')} | {_np(computed, 'm')} | {_np(laser.eyewear)} | {_np(laser.safety_officer)} "
            f"| {_np(laser.key_control)} | {_np(laser.interlocked)} | {_np(laser.controlled_zone)} |"
        )
    if not lasers:
        lines.append("| none recorded | | | | | | | | | | |")
    return [*lines, "", "NOHD from beam figures = (√(4P / (π·MPE)) − a) / φ (P power, MPE from IEC 60825-1, "
            "a beam diameter, φ divergence).", ""]


def _sign_off_section(
    ctx: SurveyContext, room: Room, site: Site, controls: list[Control], now: DocumentHash, day: str
) -> list[str]:
    contacts = {c.name: c for c in site.site.contacts}
    record = sign_off_for(ctx, room.name)
    responsible = list(dict.fromkeys(c.responsible for c in controls))
    safety_people = [c.name for c in site.site.contacts if c.role.value == "safety" and c.name not in responsible]
    lines = ["", "## 13. Responsible persons and sign-off", "",
             "| person | role | responsible for | signature | date |", "|---|---|---|---|---|"]
    signed_now = record is not None and record.content_sha256 == now.content
    for name in responsible + safety_people:
        person = contacts.get(name)
        duties = sorted({c.hazard.value for c in controls if c.responsible == name}) or ["safety file review"]
        signed = signed_now and record is not None and record.signed_by == name
        lines.append(
            f"| {cell(person.full_name if person else name)} | {person.role.value if person else '?'} "
            f"| {', '.join(duties)} | {'signed' if signed else ''} | {record.signed_on if signed and record else ''} |"
        )
    next_rev = record.revision + (0 if signed_now else 1) if record else 1
    lines += [
        "",
        "To record the signature of this revision, add to `facility.safety.documents` in the model:",
        "",
        "```yaml",
        f"- room: {room.name}",
        f"  revision: {next_rev}",
        "  signed_by: <contact name>",
        f"  signed_on: \"{day}\"",
        f"  content_sha256: {now.content}",
        "  sections:",
        *[f"    {k}: {now.sections[k]}" for k in SECTIONS],
        "```",
    ]
    return lines
