"""One passing and one failing case per survey rule, on small sites built in code.

The base site is a single room holding one superconducting QPU with every
facility figure comfortably inside the superconducting profile; each failing
case bends exactly one fact of it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from site_survey import load_site, parse_site
from site_survey.survey import Finding, Severity, SurveyResult, run_survey
from site_survey.survey.context import SurveyContext
from site_survey.survey.safety_doc import document_hash

Doc = dict[str, Any]


def base_doc() -> Doc:
    doc = _unsigned_doc()
    return sign(doc)


def sign(doc: Doc, room: str = "qroom") -> Doc:
    """Record a sign-off of the room's safety file for the content it has now (as an officer would)."""
    site = parse_site(copy.deepcopy(doc))
    ctx = SurveyContext.build(site, today=TODAY)
    now = document_hash(ctx, next(r for r in site.facility.rooms if r.name == room))
    docs = [d for d in doc["facility"]["safety"].get("documents", []) if d["room"] != room]
    docs.append({"room": room, "revision": 1, "signed_by": "hse", "signed_on": "2026-10-01",
                 "content_sha256": now.content, "sections": now.sections})
    doc["facility"]["safety"]["documents"] = docs
    return doc


def _unsigned_doc() -> Doc:
    hazards = ["cryogen_odh", "pressurised_gas", "floor_load", "high_voltage"]
    rated = {"risk_before": {"likelihood": 3, "severity": 4}, "risk_after": {"likelihood": 1, "severity": 4}}
    return {
        "schema_version": 1,
        "site": {
            "name": "t",
            "contacts": [
                {"name": "hse", "full_name": "Safety officer", "role": "safety", "email": "hse@t.example",
                 "phone": "+1 555 0100", "on_call": True},
                {"name": "fac", "full_name": "Facilities", "role": "facility", "email": "fac@t.example"},
            ],
        },
        "facility": {
            "rooms": [
                {"name": "qroom", "area_m2": 50, "floor_load_rating_kg_m2": 1500, "ceiling_height_m": 3.2,
                 "ventilation_m3_h": 600, "gas_supplies": ["compressed_air"], "point_load_rating_kg": 500,
                 "noise_limit_dba": 80,
                 "access_path": {"min_door_width_m": 1.5, "min_door_height_m": 2.4, "lift_capacity_kg": 3000,
                                 "lift_car_depth_m": 2.6}},
            ],
            "cooling_loops": [
                {"name": "cw", "type": "chilled_water", "supply_temp_min_c": 16, "supply_temp_max_c": 20,
                 "capacity_kw": 50, "redundancy": "N+1", "serves_rooms": ["qroom"], "flow_l_min": 60,
                 "pressure_bar": 3, "water_quality": "closed loop, 50 µm filter"},
                {"name": "crac", "type": "air", "supply_temp_min_c": 18, "supply_temp_max_c": 24,
                 "capacity_kw": 10, "serves_rooms": ["qroom"]},
            ],
            "power_feeds": [
                {"name": "ups", "capacity_kva": 100, "breaker_a": 63, "ups_kva": 60, "ups_autonomy_minutes": 20,
                 "generator": True, "serves_rooms": ["qroom"]},
            ],
            "environment": [
                {"room": "qroom", "measured_on": "2026-09-01", "field_dc_ut": 40, "field_ac_ut": 0.3,
                 "vibration_um_s": 20,
                 "humidity_min_pct": 35, "humidity_max_pct": 50, "temperature_stability_c": 0.5,
                 "fluorescent_lighting_distance_m": 5, "emi_sources": [{"kind": "tram", "distance_m": 300}]},
            ],
            "safety": {
                "hazards": [{"kind": k, "room": "qroom", **rated} for k in hazards],
                "cryogens": [{"room": "qroom", "vessel": "LN2 cold-trap dewar", "substance": "nitrogen",
                              "liquid_l": 50}],
                "pressure_reliefs": [{"room": "qroom", "location": "gas handling", "set_pressure_bar": 1.5,
                                      "inspection_interval_months": 12, "last_inspected": "2026-06-01"}],
                "controls": [
                    {"hazard": k, "room": "qroom", "kind": "procedure", "description": f"control for {k}",
                     "responsible": "hse" if k == "cryogen_odh" else "fac"}
                    for k in hazards
                ],
                "odh_monitoring": [{"room": "qroom", "sensors": 2, "linked_ventilation": True}],
                "emergency_stops": [{"room": "qroom", "location": "by the door", "cuts": "compressors"}],
                "sign_off": {"state": "signed", "signed_by": "hse", "signed_on": "2026-10-01"},
            },
            "network": {"links": [{"from_role": "compute", "to_qpu": "sc", "latency_ms": 0.2,
                                   "bandwidth_mbps": 10000}]},
        },
        "qpus": [
            {"name": "sc", "vendor": "Example", "modality": "superconducting", "qubits": 5, "room": "qroom",
             "access": {"mode": "vendor_service", "endpoint_url": "https://sc.t.example"},
             "qrmi": {"type": "ibm-quantum-compute-service",
                      "settings": {"QRMI_IBM_QCS_IAM_ENDPOINT": "https://iam.t.example",
                                   "QRMI_IBM_QCS_SERVICE_CRN": "crn:v1:t:public:quantum-computing:x:a/t::"},
                      "secrets": {"QRMI_IBM_QCS_IAM_APIKEY": {"vault": "vault_t_apikey"}}},
             "requirements": {"door_width_m_min": 1.2, "door_height_m_min": 2.0, "footprint_m2": 4,
                              "ceiling_height_m_min": 2.8, "air_cooling_kw": 4, "supply_voltage_v": 400,
                              "water_flow_l_min": 20, "water_pressure_bar_min": 1.5, "breaker_a_min": 50,
                              "point_load_kg": 300, "noise_dba": 70, "crate_length_m": 2.2}},
        ],
    }


# Measurement ages are counted to this day, so the tests do not age with the calendar.
TODAY = date(2026, 11, 1)


def survey(doc: Doc) -> SurveyResult:
    return run_survey(parse_site(copy.deepcopy(doc)), today=TODAY)


def of(result: SurveyResult, check: str) -> list[Finding]:
    return [f for f in result.findings if f.check == check]


def worst(result: SurveyResult, check: str) -> Severity | None:
    found = of(result, check)
    return min((f.severity for f in found), key=lambda s: s.rank) if found else None


# ------------------------------------------------------------------ passing

PASSING_CHECKS = [
    "floor.load", "floor.area", "access.door_width", "access.lift", "cooling.capacity",
    "cooling.water_temperature", "cooling.redundancy", "cooling.air", "power.capacity", "power.ups",
    "power.ups_autonomy", "power.phases", "power.voltage", "environment.measurement_age", "access.door_height",
    "room.ceiling_height", "siteprep.water_flow", "siteprep.water_pressure", "siteprep.breaker", "siteprep.gases",
    "siteprep.point_load", "siteprep.noise", "siteprep.crate",
    "environment.field_dc", "environment.field_ac", "environment.vibration", "environment.humidity",
    "environment.temperature_stability", "environment.emi", "network.latency", "network.bandwidth",
    "safety.control", "safety.odh", "safety.emergency_stop", "safety.sign_off", "safety.risk_rating",
    "safety.cryogen_inventory", "safety.pressure_relief",
]


def test_base_site_has_no_blocker_and_no_warning() -> None:
    result = survey(base_doc())
    problems = [f.id for f in result.findings if f.severity != Severity.info]
    assert problems == []


@pytest.mark.parametrize("check", PASSING_CHECKS)
def test_rule_passes_on_base_site(check: str) -> None:
    found = of(survey(base_doc()), check)
    assert found, f"{check} produced no finding"
    assert all(f.passed and f.severity == Severity.info for f in found)


# ------------------------------------------------------------------ failing


def _room(doc: Doc) -> Doc:
    room: Doc = doc["facility"]["rooms"][0]
    return room


def _loop(doc: Doc) -> Doc:
    loop: Doc = doc["facility"]["cooling_loops"][0]
    return loop


def _feed(doc: Doc) -> Doc:
    feed: Doc = doc["facility"]["power_feeds"][0]
    return feed


def _env(doc: Doc) -> Doc:
    env: Doc = doc["facility"]["environment"][0]
    return env


def _safety(doc: Doc) -> Doc:
    safety: Doc = doc["facility"]["safety"]
    return safety


def _drop_hazard(doc: Doc, kind: str) -> None:
    s = _safety(doc)
    s["hazards"] = [h for h in s["hazards"] if h["kind"] != kind]
    s["controls"] = [c for c in s["controls"] if c["hazard"] != kind]


def _drop_controls(doc: Doc, kind: str) -> None:
    s = _safety(doc)
    s["controls"] = [c for c in s["controls"] if c["hazard"] != kind]


def _air(doc: Doc) -> Doc:
    air: Doc = doc["facility"]["cooling_loops"][1]
    return air


def _inert_gas_unmonitored(doc: Doc) -> None:
    _room(doc)["fire_suppression"] = "inert_gas"
    _safety(doc)["odh_monitoring"] = []


def _short_autonomy(doc: Doc, generator: bool) -> None:
    _feed(doc).update(ups_autonomy_minutes=5, generator=generator)


FAILING: list[tuple[str, Callable[[Doc], object], Severity]] = [
    ("floor.load", lambda d: _room(d).update(floor_load_rating_kg_m2=800), Severity.blocker),
    ("floor.area", lambda d: _room(d).update(area_m2=3), Severity.blocker),
    ("access.door_width", lambda d: _room(d)["access_path"].update(min_door_width_m=0.9), Severity.blocker),
    ("access.lift", lambda d: _room(d)["access_path"].update(lift_capacity_kg=500), Severity.blocker),
    ("cooling.loop", lambda d: _loop(d).update(type="air"), Severity.blocker),
    ("cooling.capacity", lambda d: _loop(d).update(capacity_kw=20), Severity.blocker),
    ("cooling.water_temperature", lambda d: _loop(d).update(supply_temp_min_c=8, supply_temp_max_c=12),
     Severity.blocker),
    ("cooling.redundancy", lambda d: _loop(d).update(redundancy="N"), Severity.warning),
    ("cooling.air", lambda d: _air(d).update(capacity_kw=2), Severity.blocker),
    ("cooling.air", lambda d: d["facility"].update(cooling_loops=[_loop(d)]), Severity.warning),
    ("power.feed", lambda d: d["facility"].update(power_feeds=[]), Severity.blocker),
    ("power.phases", lambda d: _feed(d).update(phases=1, voltage_v=230), Severity.blocker),
    ("power.voltage", lambda d: _feed(d).update(voltage_v=208), Severity.blocker),
    ("power.capacity", lambda d: _feed(d).update(capacity_kva=20), Severity.blocker),
    ("power.ups", lambda d: _feed(d).update(ups_kva=0, ups_autonomy_minutes=0), Severity.blocker),
    ("power.ups", lambda d: _feed(d).update(ups_kva=10), Severity.blocker),
    ("power.ups_autonomy", lambda d: _short_autonomy(d, generator=False), Severity.blocker),
    ("power.ups_autonomy", lambda d: _short_autonomy(d, generator=True), Severity.warning),
    ("environment.field_dc", lambda d: _env(d).update(field_dc_ut=150), Severity.warning),
    ("environment.field_ac", lambda d: _env(d).update(field_ac_ut=2.5), Severity.warning),
    ("environment.vibration", lambda d: _env(d).update(vibration_um_s=80), Severity.warning),
    ("environment.humidity", lambda d: _env(d).update(humidity_max_pct=70), Severity.warning),
    ("environment.humidity", lambda d: _env(d).update(humidity_min_pct=15), Severity.warning),
    ("environment.temperature_stability", lambda d: _env(d).update(temperature_stability_c=2), Severity.warning),
    ("environment.emi", lambda d: _env(d).update(emi_sources=[{"kind": "railway", "distance_m": 40}]),
     Severity.warning),
    ("environment.measurement_age", lambda d: _env(d).update(measured_on="2011-05-03"), Severity.warning),
    ("environment.measurement_age", lambda d: _env(d).pop("measured_on"), Severity.warning),
    ("access.door_height", lambda d: _room(d)["access_path"].update(min_door_height_m=1.9), Severity.blocker),
    ("room.ceiling_height", lambda d: _room(d).update(ceiling_height_m=2.5), Severity.blocker),
    ("room.ceiling_height", lambda d: _room(d).pop("ceiling_height_m", None), Severity.warning),
    ("siteprep.water_flow", lambda d: _loop(d).update(flow_l_min=10), Severity.blocker),
    ("siteprep.water_flow", lambda d: _loop(d).pop("flow_l_min"), Severity.warning),
    ("siteprep.water_pressure", lambda d: _loop(d).update(pressure_bar=1), Severity.blocker),
    ("siteprep.water_quality", lambda d: _loop(d).pop("water_quality"), Severity.warning),
    ("siteprep.breaker", lambda d: _feed(d).update(breaker_a=32), Severity.blocker),
    ("siteprep.breaker", lambda d: _feed(d).pop("breaker_a"), Severity.warning),
    ("siteprep.gases", lambda d: _room(d).update(gas_supplies=[]), Severity.warning),
    ("siteprep.point_load", lambda d: _room(d).update(point_load_rating_kg=200), Severity.blocker),
    ("siteprep.point_load", lambda d: _room(d).pop("point_load_rating_kg"), Severity.warning),
    ("siteprep.noise", lambda d: _room(d).update(noise_limit_dba=60), Severity.warning),
    ("siteprep.crate", lambda d: _room(d)["access_path"].update(lift_car_depth_m=2.0), Severity.blocker),
    ("siteprep.crate", lambda d: _room(d)["access_path"].pop("lift_car_depth_m"), Severity.warning),
    ("safety.fire_suppression", lambda d: _inert_gas_unmonitored(d), Severity.warning),
    ("environment.lighting", lambda d: _env(d).update(fluorescent_lighting_distance_m=1), Severity.warning),
    ("network.link", lambda d: d["facility"]["network"].update(links=[]), Severity.warning),
    ("network.latency", lambda d: d["facility"]["network"]["links"][0].update(latency_ms=40), Severity.warning),
    ("network.bandwidth", lambda d: d["facility"]["network"]["links"][0].update(bandwidth_mbps=10),
     Severity.warning),
    ("safety.hazard_register", lambda d: _drop_hazard(d, "cryogen_odh"), Severity.blocker),
    ("safety.control", lambda d: _drop_controls(d, "pressurised_gas"), Severity.blocker),
    ("safety.odh", lambda d: _safety(d).update(odh_monitoring=[]), Severity.blocker),
    ("safety.odh", lambda d: _safety(d)["odh_monitoring"][0].update(linked_ventilation=False), Severity.warning),
    ("safety.emergency_stop", lambda d: _safety(d).update(emergency_stops=[]), Severity.blocker),
    ("safety.sign_off", lambda d: _safety(d).update(documents=[]), Severity.warning),
    ("safety.risk_rating", lambda d: _safety(d)["hazards"][0].pop("risk_after"), Severity.warning),
    ("safety.risk_rating", lambda d: _safety(d)["hazards"][0].update(risk_after={"likelihood": 4, "severity": 4}),
     Severity.warning),
    ("safety.cryogen_inventory", lambda d: _safety(d).update(cryogens=[]), Severity.warning),
    ("safety.pressure_relief", lambda d: _safety(d)["pressure_reliefs"][0].update(last_inspected="2024-01-01"),
     Severity.warning),
    ("safety.pressure_relief", lambda d: _safety(d).update(pressure_reliefs=[]), Severity.warning),
]


@pytest.mark.parametrize(
    ("check", "bend", "severity"), FAILING, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(FAILING)]
)
def test_rule_fails_when_the_facility_falls_short(
    check: str, bend: Callable[[Doc], object], severity: Severity
) -> None:
    doc = base_doc()
    bend(doc)
    result = survey(doc)
    assert worst(result, check) == severity, [f.message for f in of(result, check)]
    failing = [f for f in of(result, check) if f.severity == severity]
    assert all(not f.passed and f.hint for f in failing)


def test_failing_finding_names_measured_required_and_source() -> None:
    doc = base_doc()
    _loop(doc).update(capacity_kw=20)
    (finding,) = [f for f in of(survey(doc), "cooling.capacity") if f.severity == Severity.blocker]
    assert finding.measured == "capacity 20 kW"
    assert finding.required is not None and finding.required.startswith("30 kW")
    assert finding.source is not None and "Open Compute Project" in finding.source
    assert finding.confidence == "low"
    assert finding.subject == "cw" and finding.room == "qroom"


# ------------------------------------------------------- sums and overrides


def _second_qpu(doc: Doc, name: str = "sc2") -> None:
    doc["facility"]["rooms"].append(
        {"name": "qroom2", "area_m2": 50, "floor_load_rating_kg_m2": 1500,
         "access_path": {"min_door_width_m": 1.5, "min_door_height_m": 2.4}}
    )
    _loop(doc)["serves_rooms"].append("qroom2")
    _feed(doc)["serves_rooms"].append("qroom2")
    qpu = copy.deepcopy(doc["qpus"][0])
    qpu.update(name=name, room="qroom2")
    doc["qpus"].append(qpu)


def test_cooling_is_summed_over_every_qpu_on_the_loop() -> None:
    doc = base_doc()
    _second_qpu(doc)
    result = survey(doc)
    (finding,) = of(result, "cooling.capacity")
    assert finding.severity == Severity.blocker  # 2 x 30 kW on a 50 kW loop; each alone fits
    assert "sc 30 kW" in (finding.required or "") and "sc2 30 kW" in (finding.required or "")


def test_power_is_summed_per_feed_including_the_ups() -> None:
    doc = base_doc()
    _second_qpu(doc)
    result = survey(doc)
    assert worst(result, "power.ups") == Severity.blocker  # 2 x 33.3 kVA on a 60 kVA UPS
    assert worst(result, "power.capacity") == Severity.info  # 66.7 kVA on a 100 kVA feed


def test_a_qpu_without_a_room_is_skipped_with_an_info_finding() -> None:
    doc = base_doc()
    doc["qpus"][0]["room"] = None
    result = survey(doc)
    (skipped,) = of(result, "placement.room")
    assert skipped.severity == Severity.info and skipped.qpu == "sc"
    facility = [f for f in result.findings if f.check.split(".")[0] in ("floor", "cooling", "power", "safety")]
    assert facility == []


def test_site_model_override_replaces_the_profile_figure() -> None:
    doc = base_doc()
    _loop(doc).update(capacity_kw=20)
    doc["qpus"][0]["requirements"]["cooling_kw"] = 18
    (finding,) = of(survey(doc), "cooling.capacity")
    assert finding.passed
    assert finding.source is not None and "unsourced" in finding.source


def test_a_sourced_override_names_its_document_revision_and_date() -> None:
    doc = base_doc()
    doc["qpus"][0]["requirements"]["cooling_kw"] = {
        "value": 18, "source": "Example Corp", "document": "Site preparation guide", "revision": "C",
        "date": "2026-03-01", "confidence": "medium",
    }
    (finding,) = of(survey(doc), "cooling.capacity")
    assert finding.source == "Example Corp, Site preparation guide rev C (2026-03-01)"
    assert finding.confidence == "medium"


def test_a_sourced_override_keeps_the_bounds_of_a_plain_one() -> None:
    doc = base_doc()
    doc["qpus"][0]["requirements"]["mass_kg"] = {"value": -5, "source": "Example Corp"}
    with pytest.raises(Exception, match="mass_kg"):
        parse_site(doc)


# ---------------------------------------------- the three cases of issue 15


def test_single_phase_230v_feed_blocks_a_dilution_refrigerator_with_the_fix() -> None:
    doc = base_doc()
    del doc["qpus"][0]["requirements"]["supply_voltage_v"]
    _feed(doc).update(phases=1, voltage_v=230)
    (finding,) = of(survey(doc), "power.phases")
    assert finding.severity == Severity.blocker
    assert finding.measured == "1-phase 230 V" and finding.required == "3-phase"
    assert "3-phase supply" in finding.hint and finding.source and "compressor" in finding.source


def test_n_redundant_single_loop_is_flagged_for_a_dilution_refrigerator() -> None:
    doc = base_doc()
    _loop(doc).update(redundancy="N")
    (finding,) = of(survey(doc), "cooling.redundancy")
    assert finding.severity == Severity.warning and not finding.passed
    assert (finding.measured, finding.required) == ("N", "≥ N+1")
    assert "standby chiller" in finding.hint


def test_measurements_from_2011_are_stale_against_a_configurable_age() -> None:
    doc = base_doc()
    _env(doc)["measured_on"] = "2011-05-03"
    (finding,) = of(survey(doc), "environment.measurement_age")
    assert finding.severity == Severity.warning and "2011-05-03" in finding.message
    assert finding.measured == f"{(TODAY - date(2011, 5, 3)).days} days old" and "Re-measure" in finding.hint
    doc["facility"]["measurement_max_age_days"] = 36500
    assert worst(survey(doc), "environment.measurement_age") == Severity.info


def test_a_measurement_date_that_is_not_iso_is_refused() -> None:
    doc = base_doc()
    _env(doc)["measured_on"] = "14/09/2026"
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        parse_site(doc)


def test_air_side_heat_is_power_minus_water_heat_unless_given() -> None:
    doc = base_doc()
    del doc["qpus"][0]["requirements"]["air_cooling_kw"]
    doc["qpus"][0]["requirements"].update(power_kw=30, cooling_kw=22)
    (finding,) = of(survey(doc), "cooling.air")
    assert finding.required == "8 kW" and "electrical power minus water-side heat" in finding.message


def test_missing_measurements_are_warnings_not_crashes() -> None:
    doc = base_doc()
    doc["facility"]["environment"] = []
    result = survey(doc)
    for check in ("environment.field_dc", "environment.field_ac", "environment.vibration",
                  "environment.humidity", "environment.temperature_stability", "environment.emi"):
        (finding,) = of(result, check)
        assert finding.severity == Severity.warning and finding.measured == "not measured"
        assert finding.required and finding.source, check


def test_missing_access_path_is_a_warning() -> None:
    doc = base_doc()
    del _room(doc)["access_path"]
    assert worst(survey(doc), "access.door_width") == Severity.warning


def test_seismic_zone_implies_a_seismic_hazard() -> None:
    doc = base_doc()
    _room(doc)["seismic_zone"] = 2
    result = survey(doc)
    missing = [f for f in of(result, "safety.hazard_register") if f.subject == "seismic"]
    assert [f.severity for f in missing] == [Severity.blocker]


def test_class_4_laser_must_be_interlocked() -> None:
    doc = base_doc()
    doc["qpus"][0]["requirements"]["hazards"] = ["laser"]
    _safety(doc)["hazards"].append({"kind": "laser", "room": "qroom"})
    _safety(doc)["controls"].append(
        {"hazard": "laser", "room": "qroom", "kind": "interlock", "description": "door interlock",
         "responsible": "hse"}
    )
    _safety(doc)["lasers"] = [{"room": "qroom", "laser_class": "4", "interlocked": True, "controlled_zone": True}]
    assert [f.passed for f in of(survey(doc), "safety.laser")] == [True]
    _safety(doc)["lasers"][0]["interlocked"] = False
    assert worst(survey(doc), "safety.laser") == Severity.blocker
    _safety(doc)["lasers"] = []
    assert worst(survey(doc), "safety.laser") == Severity.warning


def test_control_without_a_known_responsible_person_is_a_blocker() -> None:
    # The loader refuses an unknown contact, so bend the validated model instead.
    site = parse_site(base_doc())
    site.facility.safety.controls[0].responsible = "ghost"
    result = run_survey(site)
    assert worst(result, "safety.responsible") == Severity.blocker


def test_headroom_reports_used_and_available_per_loop_feed_and_room() -> None:
    charts = {(h.kind, h.subject): h for h in survey(base_doc()).headroom}
    assert set(charts) == {("water loop", "cw"), ("air cooling", "crac"), ("power feed", "ups"), ("room", "qroom")}
    (water,) = charts[("water loop", "cw")].bars
    assert (water.used, water.available) == (30, 50)
    power, ups = charts[("power feed", "ups")].bars
    assert power.used == pytest.approx(30 / 0.9) and power.available == 100 and ups.available == 60
    floor, area = charts[("room", "qroom")].bars
    assert (floor.used, floor.available) == (1000, 1500) and (area.used, area.available) == (4, 50)


def test_a_shared_loop_stacks_each_rooms_share_and_is_charted_once() -> None:
    doc = base_doc()
    _second_qpu(doc)
    doc["qpus"][1]["requirements"]["cooling_kw"] = 12
    doc["facility"]["rooms"].append({"name": "empty", "area_m2": 20, "floor_load_rating_kg_m2": 500})
    charts = survey(doc).headroom
    loops = [h for h in charts if h.kind == "water loop"]
    assert len(loops) == 1 and loops[0].serves == ("qroom", "qroom2")
    (bar,) = loops[0].bars
    assert [(s.label, s.value) for s in bar.segments] == [("sc (qroom)", 30), ("sc2 (qroom2)", 12)]
    assert bar.used == 42
    assert "empty" not in {h.subject for h in charts}


def test_emulated_and_cloud_qpus_get_no_facility_requirements() -> None:
    doc = base_doc()
    doc["qpus"][0]["room"] = None
    result = survey(doc)
    assert result.context is not None
    assert set(result.context.requirements["sc"]) <= {"latency_ms_max", "bandwidth_mbps_min"}
    assert result.headroom == []


def test_lab_and_national_survey_outcomes() -> None:
    assert run_survey(load_site("lab")).blockers == []
    national = run_survey(load_site("national"))
    assert [f.check for f in national.blockers] == ["cooling.capacity"]
    assert national.counts()[Severity.warning] >= 3


def test_annealer_without_power_figure_still_needs_ups_and_says_power_is_unknown() -> None:
    doc = base_doc()
    doc["qpus"][0].update(modality="annealer")  # the annealer profile has no kW figure, but needs UPS
    result = survey(doc)
    assert [f.message for f in of(result, "power.capacity")] == ["no power figure for QPU sc"]
    assert worst(result, "power.ups") == Severity.warning  # UPS present, its load cannot be checked
    assert worst(result, "cooling.water_temperature") == Severity.info
    _feed(doc).update(ups_kva=0, ups_autonomy_minutes=0)
    assert worst(survey(doc), "power.ups") == Severity.blocker


# ------------------------------------------------------------ safety files


def test_worst_case_oxygen_matches_a_hand_computed_case() -> None:
    """Room 10 m × 6 m × 3 m = 180 m³; a 100 L liquid-helium dewar gives 100 × 0.738 = 73.8 m³ of gas.
    O2 = 20.9 × (180 − 73.8) / 180 = 12.331 %. With 360 m³/h of fresh air, back to 19.5 % after
    (180 / 360) h × ln((20.9 − 12.331) / (20.9 − 19.5)) = 0.5 h × 1.8117 = 54.35 min."""
    from site_survey.survey.odh import recovery_minutes, worst_o2_pct

    assert worst_o2_pct(180, 100 * 0.738) == pytest.approx(12.331, abs=1e-3)
    assert recovery_minutes(180, 360, 12.331, 19.5) == pytest.approx(54.35, abs=0.01)
    doc = base_doc()
    _room(doc).update(area_m2=60, ceiling_height_m=3, ventilation_m3_h=360)
    _safety(doc)["cryogens"] = [
        {"room": "qroom", "vessel": "LHe transport dewar", "substance": "helium", "liquid_l": 100},
        {"room": "qroom", "vessel": "compressor charge", "substance": "helium", "gas_m3": 2},
    ]
    (finding,) = of(survey(doc), "safety.cryogen_inventory")
    assert finding.measured == "12.33%" and "LHe transport dewar" in finding.message
    assert "an oxygen-deficiency zone" in finding.message and "BCGA" in (finding.source or "")


def test_odh_is_decided_by_inventory_and_volume_not_by_modality() -> None:
    doc = base_doc()
    _safety(doc)["cryogens"] = [{"room": "qroom", "vessel": "compressor charge", "substance": "helium",
                                 "gas_m3": 1.5}]  # 160 m³ room: 20.9 × 158.5 / 160 = 20.7 %
    _safety(doc)["odh_monitoring"] = []
    _drop_hazard(doc, "cryogen_odh")
    result = survey(doc)
    (finding,) = of(result, "safety.cryogen_inventory")
    assert "not an ODH zone" in finding.message
    assert of(result, "safety.odh") == [] and worst(result, "safety.hazard_register") is None
    # A nitrogen dewar in a room whose QPU brings no cryogen still makes an ODH zone.
    doc = base_doc()
    doc["qpus"][0]["requirements"]["hazards"] = ["high_voltage"]
    _safety(doc)["odh_monitoring"] = []
    _safety(doc)["cryogens"] = [{"room": "qroom", "vessel": "LN2 dewar", "substance": "nitrogen",
                                 "liquid_l": 100}]
    result = survey(doc)
    assert worst(result, "safety.odh") == Severity.blocker


def test_a_signed_file_whose_content_changed_is_no_longer_signed_and_says_why() -> None:
    doc = base_doc()
    assert worst(survey(doc), "safety.sign_off") == Severity.info
    _safety(doc)["controls"][0]["description"] = "one O2 sensor, alarm only"
    (finding,) = of(survey(doc), "safety.sign_off")
    assert finding.severity == Severity.warning and "no longer signed" in finding.message
    assert "sections: controls)" in finding.message and "rev 2" in finding.hint
    # Changing something outside the room (a host, another room) does not unsign it.
    doc = base_doc()
    doc["facility"]["rooms"].append({"name": "other", "area_m2": 10, "floor_load_rating_kg_m2": 500})
    assert worst(survey(doc), "safety.sign_off") == Severity.info


def test_class_4_laser_figures_are_required_and_nohd_is_computed() -> None:
    from site_survey.model import LaserInstallation
    from site_survey.survey.safety import nohd_m

    laser = LaserInstallation(room="r", laser_class="4", interlocked=True, power_w=1.0, mpe_w_m2=10,
                              beam_diameter_mm=2, divergence_mrad=1)
    # √(4 × 1 / (π × 10)) = 0.35682 m; (0.35682 − 0.002) / 0.001 = 354.8 m
    assert nohd_m(laser) == pytest.approx(354.8, abs=0.1)
    doc = base_doc()
    doc["qpus"][0]["requirements"]["hazards"] = ["laser"]
    _safety(doc)["hazards"].append({"kind": "laser", "room": "qroom"})
    _safety(doc)["controls"].append({"hazard": "laser", "room": "qroom", "kind": "interlock",
                                     "description": "door interlock", "responsible": "hse"})
    _safety(doc)["lasers"] = [{"room": "qroom", "laser_class": "4", "interlocked": True, "controlled_zone": True,
                               "power_w": 1.0, "mpe_w_m2": 10, "beam_diameter_mm": 2, "divergence_mrad": 1,
                               "nohd_m": 100}]
    (finding,) = of(survey(doc), "safety.laser_figures")
    assert finding.severity == Severity.warning
    assert "missing wavelength_nm, eyewear, safety_officer, key_control" in finding.message
    assert "below 354.82 m computed" in finding.message


def test_safety_references_name_known_rooms_and_contacts() -> None:
    doc = base_doc()
    _safety(doc)["cryogens"][0]["room"] = "nowhere"
    with pytest.raises(Exception, match=r"facility.safety.cryogens\[0\].room"):
        parse_site(doc)
    doc = base_doc()
    _safety(doc)["rooms"] = [{"room": "qroom", "vendor_contact": "ghost"}]
    with pytest.raises(Exception, match=r"facility.safety.rooms\[0\].vendor_contact"):
        parse_site(doc)


def test_inert_gas_fire_suppression_is_an_oxygen_hazard_even_without_cryogens() -> None:
    doc = base_doc()
    doc["qpus"][0]["requirements"]["hazards"] = ["high_voltage"]
    _safety(doc)["cryogens"] = []
    _drop_hazard(doc, "cryogen_odh")
    _room(doc)["fire_suppression"] = "inert_gas"
    result = survey(doc)
    missing = [f for f in of(result, "safety.hazard_register") if f.subject == "cryogen_odh"]
    assert [f.severity for f in missing] == [Severity.blocker] and "inert-gas" in missing[0].message
    (finding,) = of(result, "safety.fire_suppression")
    assert finding.passed and "ISO 14520" in (finding.source or "")
