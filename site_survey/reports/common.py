"""Pieces shared by the file reports."""

from __future__ import annotations

from site_survey.model import Qpu, Redundancy, Site
from site_survey.profiles import Requirement
from site_survey.provenance import ReportProvenance
from site_survey.survey.findings import Finding, SurveyResult

REQUIREMENT_UNITS = {
    "mass_kg": "kg", "footprint_m2": "m²", "floor_load_kg_m2": "kg/m²", "cooling_kw": "kW",
    "water_supply_temp_min_c": "°C", "water_supply_temp_max_c": "°C", "power_kw": "kW", "ups_required": "",
    "ups_autonomy_minutes": "min", "field_dc_ut_max": "µT", "field_ac_ut_max": "µT", "vibration_um_s_max": "µm/s",
    "humidity_min_pct": "%", "humidity_max_pct": "%", "temperature_stability_c": "± °C",
    "emi_distance_min_m": "m", "latency_ms_max": "ms", "bandwidth_mbps_min": "Mbit/s", "door_width_m_min": "m",
    "hazards": "", "air_cooling_kw": "kW", "cooling_redundancy_min": "", "power_phases": "phases",
    "supply_voltage_v": "V", "door_height_m_min": "m", "ceiling_height_m_min": "m",
    "crate_length_m": "m", "point_load_kg": "kg", "noise_dba": "dB(A)", "water_flow_l_min": "L/min",
    "water_pressure_bar_min": "bar", "breaker_a_min": "A",
}


def provenance(result: SurveyResult) -> ReportProvenance:
    """The result's provenance; a result built by hand (tests, tools) gets one naming no model file."""
    if result.provenance is None:
        raise ValueError("a survey result without provenance cannot be reported; use run_survey()")
    return result.provenance


def source_text(f: Finding) -> str:
    """Requirement source (confidence), then where the facility figure comes from, unsourced ones said so."""
    parts = [f"{f.source} ({f.confidence})"] if f.source else []
    if f.measured is not None:
        parts.append(f"facility figure: {f.measured_source or 'unsourced'}")
    return "; ".join(parts)


def shown_value(req: Requirement) -> str:
    if isinstance(req.value, tuple):
        return ", ".join(h.value for h in req.value)
    if isinstance(req.value, bool):
        return "yes" if req.value else "no"
    if isinstance(req.value, Redundancy):
        return f"≥ {req.value.value}"
    text = f"{req.value:.2f}".rstrip("0").rstrip(".")
    unit = REQUIREMENT_UNITS.get(req.key, "")
    return f"{text} {unit}".strip()


def where(f: Finding) -> str:
    return " / ".join(p for p in (f.room, f.qpu or f.subject) if p) or "site"


def requirements_by_qpu(result: SurveyResult, site: Site) -> dict[str, dict[str, Requirement]]:
    if result.context is None:
        return {}
    return {q.name: result.context.requirements.get(q.name, {}) for q in site.qpus}


def placement_text(qpu: Qpu) -> str:
    """Where a QPU is, for report headings: off-site QPUs say so and carry no facility requirements."""
    if qpu.room:
        return f"room {qpu.room}"
    if qpu.access.mode == "emulator":
        return "emulated twin, off site: no facility requirements, network only"
    return f"off site ({qpu.access.mode}): no facility requirements, network only"
