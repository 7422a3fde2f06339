"""Pasqal batches with several jobs and sequence variables, through the raw API."""

from __future__ import annotations

import time

from conftest import PASQAL_TOKEN, Emulator
from sequences import parametrised_rotation

PASQAL = {"Authorization": f"Bearer {PASQAL_TOKEN}"}


def test_batch_with_variables(emulator: Emulator) -> None:
    body = {
        "sequence_builder": parametrised_rotation(),
        "device_type": "FRESNEL",
        "project_id": "p",
        "jobs": [{"runs": 200, "variables": {"t": 500}}, {"runs": 200, "variables": {"t": 1000}}],
    }
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", body, PASQAL)
    assert s == 200, b
    bid = b["data"]["id"]
    job_ids = [j["id"] for j in b["data"]["jobs"]]
    assert len(job_ids) == 2 and b["data"]["status"] in ("PENDING", "RUNNING")
    for _ in range(600):
        _, st = emulator.json("GET", f"/core-fast/api/v1/batches/{bid}/status", headers=PASQAL)
        if st["data"]["jobs_count_per_status"]["DONE"] == 2:
            break
        time.sleep(0.1)
    s, res = emulator.json("GET", f"/core-fast/api/v1/batches/{bid}/full_results", headers=PASQAL)
    assert s == 200
    pi, two_pi = (res["data"][j]["counter"] for j in job_ids)
    assert pi.get("1", 0) > 170  # π: excited
    assert two_pi.get("0", 0) > 170  # 2π: back to the ground state
    s, listed = emulator.json("GET", f"/core-fast/api/v2/jobs?batch_id={bid}", headers=PASQAL)
    assert s == 200 and [j["id"] for j in listed["data"]] == job_ids
    assert listed["pagination"]["total"] == 2


def test_parametrised_sequence_needs_its_variables(emulator: Emulator) -> None:
    body = {"sequence_builder": parametrised_rotation(), "device_type": "FRESNEL", "jobs": [{"runs": 10}]}
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", body, PASQAL)
    assert s == 400 and b["status"] == "fail" and "variables" in b["message"], b
