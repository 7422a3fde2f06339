"""Property: whatever the facility data (absent, partial or out of range), the
survey finishes, every finding is complete, and the verdict follows the blockers."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_survey import parse_site
from site_survey.survey import Severity, run_survey
from tests.test_survey_rules import base_doc

maybe = st.one_of(st.none(), st.floats(min_value=0, max_value=500, allow_nan=False))
percent = st.one_of(st.none(), st.floats(min_value=0, max_value=100, allow_nan=False))

environment = st.fixed_dictionaries({
    "field_dc_ut": maybe, "field_ac_ut": maybe, "vibration_um_s": maybe, "temperature_stability_c": maybe,
    "fluorescent_lighting_distance_m": maybe,
    "humidity": st.one_of(st.none(), st.tuples(percent, percent)),
    "emi": st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=3),
})

facility = st.fixed_dictionaries({
    "environment": st.one_of(st.none(), environment),
    "loop_kw": st.floats(min_value=0.1, max_value=200, allow_nan=False),
    "loop_type": st.sampled_from(["chilled_water", "warm_water", "air"]),
    "feeds": st.booleans(),
    "ups_kva": st.floats(min_value=0, max_value=100, allow_nan=False),
    "modality": st.sampled_from(["superconducting", "neutral-atom", "photonic", "trapped-ion", "annealer"]),
    "links": st.booleans(),
    "access_path": st.booleans(),
})


def build(draw: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base_doc())
    f = doc["facility"]
    env = draw["environment"]
    if env is None:
        f["environment"] = []
    else:
        entry: dict[str, Any] = {"room": "qroom"}
        for key in ("field_dc_ut", "field_ac_ut", "vibration_um_s", "temperature_stability_c",
                    "fluorescent_lighting_distance_m"):
            if env[key] is not None:
                entry[key] = env[key]
        if env["humidity"] is not None and None not in env["humidity"]:
            entry["humidity_min_pct"], entry["humidity_max_pct"] = sorted(env["humidity"])
        entry["emi_sources"] = [{"kind": "other", "distance_m": d} for d in env["emi"]]
        f["environment"] = [entry]
    f["cooling_loops"][0].update(capacity_kw=draw["loop_kw"], type=draw["loop_type"])
    if draw["feeds"]:
        f["power_feeds"][0]["ups_kva"] = draw["ups_kva"]
    else:
        f["power_feeds"] = []
    if not draw["links"]:
        f["network"]["links"] = []
    if not draw["access_path"]:
        del f["rooms"][0]["access_path"]
    doc["qpus"][0]["modality"] = draw["modality"]
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facility)
def test_survey_never_crashes_and_findings_are_complete(draw: dict[str, Any]) -> None:
    result = run_survey(parse_site(build(draw)))
    assert result.findings
    for f in result.findings:
        assert f.check and f.message and isinstance(f.severity, Severity)
        if f.passed:
            assert f.severity == Severity.info
        if f.severity != Severity.info:
            assert f.hint, f.id  # every problem says how to fix it
        if f.measured == "not measured":
            assert f.severity == Severity.warning


CAPACITY_CHECKS = ("cooling.capacity", "power.capacity", "power.ups")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facility)
def test_more_capacity_never_adds_a_capacity_blocker(draw: dict[str, Any]) -> None:
    doc = build(draw)
    before = [f.id for f in run_survey(parse_site(doc)).blockers if f.check in CAPACITY_CHECKS]
    for loop in doc["facility"]["cooling_loops"]:
        loop["capacity_kw"] *= 2
    for feed in doc["facility"]["power_feeds"]:
        feed["capacity_kva"] *= 2
        feed["ups_kva"] = feed.get("ups_kva", 0) * 2
    after = [f.id for f in run_survey(parse_site(doc)).blockers if f.check in CAPACITY_CHECKS]
    assert set(after) <= set(before)
