"""Benchmark: survey and reports for a large facility.

Builds (in memory) a site with 50 QPUs of mixed modalities spread over 10
rooms, with cooling loops, power feeds, environment measurements and a full
safety register, then times, best of N runs: the survey (every rule) and
writing every report (Markdown, HTML, JSON, a safety file per QPU room in Markdown and printable HTML).
Target on the project's 2-core machine: under 1 s for survey + reports.

    .venv/bin/python benchmarks/survey_bench.py [--qpus 50] [--rooms 10] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from site_survey import parse_site
from site_survey.reports import write_reports
from site_survey.survey import run_survey

MODALITIES = ["superconducting", "neutral-atom", "photonic", "trapped-ion", "annealer"]
# Per-type QRMI validation requires these; the values only have to be well-formed.
QRMI = {
    "type": "ibm-quantum-compute-service",
    "settings": {"QRMI_IBM_QCS_IAM_ENDPOINT": "https://iam.big.example",
                 "QRMI_IBM_QCS_SERVICE_CRN": "crn:v1:big:public:quantum-computing:x:a/big::"},
    "secrets": {"QRMI_IBM_QCS_IAM_APIKEY": {"vault": "vault_big_apikey"}},
}
HAZARDS = ["cryogen_odh", "pressurised_gas", "floor_load", "high_voltage", "laser", "uhv_vacuum"]


def generate(qpus: int, rooms: int) -> dict[str, Any]:
    room_names = [f"room-{r:02d}" for r in range(rooms)]
    return {
        "schema_version": 1,
        "site": {"name": "bench", "contacts": [
            {"name": "hse", "full_name": "Safety", "role": "safety", "email": "hse@bench.example", "on_call": True},
        ]},
        "facility": {
            "rooms": [{"name": r, "area_m2": 200, "floor_load_rating_kg_m2": 1500,
                       "access_path": {"min_door_width_m": 1.5, "min_door_height_m": 2.4}} for r in room_names],
            "cooling_loops": [{"name": f"cw-{i}", "type": "chilled_water", "supply_temp_min_c": 16,
                               "supply_temp_max_c": 20, "capacity_kw": 150, "serves_rooms": room_names[i::2]}
                              for i in range(2)],
            "power_feeds": [{"name": f"feed-{r}", "capacity_kva": 200, "ups_kva": 120, "ups_autonomy_minutes": 15,
                             "generator": True, "serves_rooms": [r]} for r in room_names],
            "environment": [{"room": r, "field_dc_ut": 40, "field_ac_ut": 0.4, "vibration_um_s": 30,
                             "humidity_min_pct": 35, "humidity_max_pct": 55, "temperature_stability_c": 0.4,
                             "emi_sources": [{"kind": "tram", "distance_m": 60 + 10 * i}]}
                            for i, r in enumerate(room_names)],
            "safety": {
                "hazards": [{"kind": h, "room": r} for r in room_names for h in HAZARDS],
                "controls": [{"hazard": h, "room": r, "kind": "procedure", "description": "control",
                              "responsible": "hse"} for r in room_names for h in HAZARDS],
                "lasers": [{"room": r, "laser_class": "4", "interlocked": True, "controlled_zone": True}
                           for r in room_names],
                "odh_monitoring": [{"room": r, "sensors": 2, "linked_ventilation": True} for r in room_names],
                "emergency_stops": [{"room": r, "location": "door"} for r in room_names],
                "sign_off": {"state": "reviewed"},
            },
            "network": {"links": [{"from_role": "compute", "to_qpu": f"q{i:02d}", "latency_ms": 0.3,
                                   "bandwidth_mbps": 10000} for i in range(0, qpus, 2)]},
        },
        "qpus": [{"name": f"q{i:02d}", "vendor": "Example", "modality": MODALITIES[i % len(MODALITIES)],
                  "qubits": 20, "room": room_names[i % rooms],
                  "access": {"mode": "vendor_service", "endpoint_url": f"https://q{i}.bench.example"},
                  "qrmi": QRMI} for i in range(qpus)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qpus", type=int, default=50)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    site = parse_site(generate(args.qpus, args.rooms))
    best_survey = best_reports = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = run_survey(site)
            t1 = time.perf_counter()
            written = write_reports(result, site, Path(tmp))
            t2 = time.perf_counter()
            best_survey, best_reports = min(best_survey, t1 - t0), min(best_reports, t2 - t1)
    total = best_survey + best_reports
    counts = {s.value: n for s, n in result.counts().items()}
    print(f"site: {len(site.qpus)} QPUs in {len(site.facility.rooms)} rooms; findings {counts}")
    print(f"survey (all rules):        {best_survey:.3f} s (best of {args.runs})")
    print(f"reports ({len(written)} files):      {best_reports:.3f} s")
    print(f"total: {total:.3f} s — target < 1 s: {'met' if total < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
