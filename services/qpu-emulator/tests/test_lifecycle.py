"""Job lifecycle: bounded queue, cancellation of queued and running jobs, records
across a restart, retention, sessions, and the service endpoints (health, metrics, OpenAPI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    PASQAL_TOKEN,
    Emulator,
    bell_qasm,
    free_port,
    ibm_headers,
    qrmi_ibm,
    sampler_job,
    start,
    stop,
    twins,
    wait_final,
    wait_ibm_final,
)
from sequences import long_sequence, pi_pulse

PASQAL = {"Authorization": f"Bearer {PASQAL_TOKEN}"}
BATCHES = "/core-fast/api/v1/batches"


@pytest.fixture
def one_worker(tmp_path: Path) -> Iterator[Emulator]:
    emu = start(tmp_path / "one", workers=1, queue_limit=3)
    yield emu
    stop(emu)


def submit_batch(emu: Emulator, sequence: str, runs: int = 50) -> str:
    s, b = emu.json(
        "POST",
        BATCHES,
        {"sequence_builder": sequence, "jobs": [{"runs": runs}], "device_type": "FRESNEL", "project_id": "p"},
        PASQAL,
    )
    assert s == 200, b
    return str(b["data"]["id"])


def batch_status(emu: Emulator, batch_id: str) -> str:
    s, b = emu.json("GET", f"/core-fast/api/v2/batches/{batch_id}", headers=PASQAL)
    assert s == 200, b
    return str(b["data"]["status"])


def wait_batch(emu: Emulator, batch_id: str, want: set[str], timeout: float = 120) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = batch_status(emu, batch_id)
        if st in want:
            return st
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} never reached {want}")


def test_cancel_queued_and_running(one_worker: Emulator) -> None:
    emu = one_worker
    long_id = submit_batch(emu, long_sequence())
    queued_id = submit_batch(emu, pi_pulse())
    wait_batch(emu, long_id, {"RUNNING"})
    assert batch_status(emu, queued_id) == "PENDING"

    s, b = emu.json("PATCH", f"/core-fast/api/v2/batches/{queued_id}/cancel", headers=PASQAL)
    assert s == 200 and b["data"]["status"] == "CANCELED", b

    t0 = time.perf_counter()
    s, b = emu.json("PATCH", f"/core-fast/api/v2/batches/{long_id}/cancel", headers=PASQAL)
    took = time.perf_counter() - t0
    assert s == 200 and b["data"]["status"] == "CANCELED", b
    assert took < 2.0, f"cancelling a running job took {took:.2f}s"  # the simulation alone takes seconds

    # The slot got a fresh worker: later jobs still run.
    after = submit_batch(emu, pi_pulse())
    assert wait_batch(emu, after, {"DONE", "ERROR"}) == "DONE"
    s, _ = emu.json("GET", f"/core-fast/api/v1/batches/{queued_id}/full_results", headers=PASQAL)
    assert s == 409


def test_qrmi_task_stop_cancels_a_queued_job(one_worker: Emulator) -> None:
    import json

    import qrmi

    emu = one_worker
    blocker = submit_batch(emu, long_sequence())
    wait_batch(emu, blocker, {"RUNNING"})
    r = qrmi_ibm(emu)
    token = r.acquire()
    inp = json.dumps({"pubs": [[bell_qasm(), None, 100]], "version": 2})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    assert r.task_status(task) == qrmi.TaskStatus.Queued
    r.task_stop(task)
    assert r.task_status(task) == qrmi.TaskStatus.Cancelled
    r.release(token)  # pending jobs gone: the session closes normally
    emu.json("PATCH", f"/core-fast/api/v2/batches/{blocker}/cancel", headers=PASQAL)


def test_queue_limit(one_worker: Emulator) -> None:
    emu = one_worker
    ids = [submit_batch(emu, long_sequence())]
    wait_batch(emu, ids[0], {"RUNNING"})
    h = ibm_headers(emu)
    codes = [emu.json("POST", "/v1/jobs", sampler_job(bell_qasm()), h)[0] for _ in range(4)]
    assert codes[:3] == [200, 200, 200]
    s, b = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm()), h)
    assert s == 429 and "queue is full" in b["errors"][0]["message"]
    emu.json("PATCH", f"/core-fast/api/v2/batches/{ids[0]}/cancel", headers=PASQAL)


def test_records_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    port = free_port()
    emu = start(tmp_path / "persist", port=port, workers=1)
    try:
        h = ibm_headers(emu)
        s, done = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm()), h)
        assert s == 200
        assert wait_ibm_final(emu, done["id"], h)["status"] == "Completed"
        _, _, before = emu.request("GET", f"/v1/jobs/{done['id']}/results", headers=h)
        running = submit_batch(emu, long_sequence())
        wait_batch(emu, running, {"RUNNING"})
        s, waiting = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm()), h)
        assert s == 200
    finally:
        stop(emu)
    emu = start(tmp_path / "persist", port=port, workers=1)
    try:
        # The token issued before the restart is still good; the finished job kept its result.
        s, _, after = emu.request("GET", f"/v1/jobs/{done['id']}/results", headers=h)
        assert s == 200 and after == before
        # Interrupted and queued jobs were queued again and run to the end.
        assert wait_batch(emu, running, {"DONE", "ERROR"}, timeout=180) == "DONE"
        assert wait_ibm_final(emu, waiting["id"], h)["status"] == "Completed"
        s, body = emu.json("GET", f"/core-fast/api/v1/batches/{running}/full_results", headers=PASQAL)
        assert s == 200 and len(body["data"]) == 1
    finally:
        stop(emu)


def test_retention_limit(tmp_path: Path) -> None:
    emu = start(tmp_path / "retain", workers=1, retention={"max_jobs": 3, "max_age_s": 3600})
    try:
        h = ibm_headers(emu)
        ids = []
        for _ in range(5):
            s, b = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=10), h)
            assert s == 200
            wait_ibm_final(emu, b["id"], h)
            ids.append(b["id"])
        kept = [emu.json("GET", f"/v1/jobs/{i}", headers=h)[0] for i in ids]
        assert kept == [404, 404, 200, 200, 200]
    finally:
        stop(emu)


def test_session_lifecycle(emulator: Emulator) -> None:
    h = ibm_headers(emulator)
    s, sess = emulator.json("POST", "/v1/sessions", {"mode": "dedicated", "max_ttl": 600, "backend": "ideal_twin"}, h)
    assert s == 200 and sess["state"] == "open" and sess["accepting_jobs"] is True, sess
    sid = sess["id"]
    s, job = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm()) | {"session_id": sid}, h)
    assert s == 200 and job["session_id"] == sid
    wait_ibm_final(emulator, job["id"], h)
    s, listed = emulator.json("GET", f"/v1/jobs?session_id={sid}", headers=h)
    assert s == 200 and [j["id"] for j in listed["jobs"]] == [job["id"]]
    s, pending = emulator.json("GET", f"/v1/jobs?pending=true&session_id={sid}", headers=h)
    assert s == 200 and pending["jobs"] == []
    s, _ = emulator.json("PATCH", f"/v1/sessions/{sid}", {"accepting_jobs": False}, h)
    assert s == 204
    s, got = emulator.json("GET", f"/v1/sessions/{sid}", headers=h)
    assert got["accepting_jobs"] is False and got["state"] == "closed"
    s, b = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm()) | {"session_id": sid}, h)
    assert s == 409 and "not accepting jobs" in b["errors"][0]["message"]


def test_health_metrics_openapi(emulator: Emulator) -> None:
    s, health = emulator.json("GET", "/health")
    assert s == 200 and health["workers_ready"] == health["workers"] == 2
    assert {t["name"] for t in health["twins"]} == {"ideal_twin", "noisy_twin", "FRESNEL"}
    h = ibm_headers(emulator)
    _, b = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=123), h)
    wait_ibm_final(emulator, b["id"], h)
    _, _, raw = emulator.request("GET", "/metrics")
    text = raw.decode()
    assert 'qpu_emulator_jobs{state="completed",twin="ideal_twin"}' in text
    assert "qpu_emulator_queue_depth 0.0" in text
    assert 'qpu_emulator_execution_seconds_count{program="sampler",twin="ideal_twin"}' in text
    shots = next(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('qpu_emulator_shots_total{twin="ideal_twin"}')
    )
    assert shots >= 123
    s, spec = emulator.json("GET", "/openapi.json")
    assert s == 200
    for path in (
        "/identity/token",
        "/v1/jobs",
        "/v1/jobs/{job_id}/results",
        "/v1/sessions",
        "/core-fast/api/v1/batches",
        "/core-fast/api/v2/batches/{batch_id}",
        "/auth/token",
        "/health",
    ):
        assert path in spec["paths"], path


def deep_noisy_qasm() -> str:
    from qiskit import QuantumCircuit, qasm3

    qc = QuantumCircuit(5, 5)
    for layer in range(600):
        for q in range(5):
            qc.sx(q)
            qc.rz(0.1 * layer, q)
        for q in range(0, 4, 2 if layer % 2 else 1):
            qc.cz(q, q + 1)
    qc.measure(range(5), range(5))
    return str(qasm3.dumps(qc))


def test_job_time_limit_from_qrmi(emulator: Emulator) -> None:
    """QRMI's job timeout travels as the IBM job's `cost`; a job running longer is cancelled."""
    import json

    import qrmi

    r = qrmi_ibm(emulator, "noisy_twin", QRMI_IBM_QCS_TIMEOUT_SECONDS="1")
    inp = json.dumps({"pubs": [[deep_noisy_qasm(), None, 20000]], "version": 2})  # ~4 s of simulation here
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    status, seen = wait_final(r, task)
    assert status == qrmi.TaskStatus.Cancelled, seen
    s, job = emulator.json("GET", f"/v1/jobs/{task}", headers=ibm_headers(emulator, "noisy_twin"))
    assert job["status"] == "Cancelled - Ran too long" and job["state"]["status"] == "Cancelled", job
    assert "1 s" in job["state"]["reason"]
    assert 1.0 <= job["usage"]["seconds"] < 1.6  # stopped at its limit, not when the simulation ended


def test_anonymous_use_only_when_configured(tmp_path: Path) -> None:
    emu = start(tmp_path / "anon", workers=1, allow_anonymous=True)
    try:
        s, body = emu.json("GET", "/v1/backends")
        assert s == 200 and {d["name"] for d in body["devices"]} == {"ideal_twin", "noisy_twin"}
        s, b = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=50))
        assert s == 200
        assert wait_ibm_final(emu, b["id"], {})["status"] == "Completed"
        # A wrong token is still refused: anonymous means no credentials, not any credentials.
        s, _ = emu.json("GET", "/v1/backends", headers={"Authorization": "Bearer wrong"})
        assert s == 401
    finally:
        stop(emu)


def test_qrmi_task_stop_cancels_a_running_ibm_job(emulator: Emulator) -> None:
    import json

    import qrmi

    r = qrmi_ibm(emulator, "noisy_twin")
    inp = json.dumps({"pubs": [[deep_noisy_qasm(), None, 20000]], "version": 2})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    deadline = time.time() + 60
    while r.task_status(task) != qrmi.TaskStatus.Running and time.time() < deadline:
        time.sleep(0.02)
    r.task_stop(task)
    assert r.task_status(task) == qrmi.TaskStatus.Cancelled
    s, job = emulator.json("GET", f"/v1/jobs/{task}", headers=ibm_headers(emulator, "noisy_twin"))
    assert job["status"] == "Cancelled" and job["state"]["reason"] == "cancelled by the user", job


def test_shot_time_holds_the_slot(tmp_path: Path) -> None:
    """A twin's `shot_time_s` makes a job occupy its slot for shots × that time (what a trace
    replay needs of a QPU); the next job waits behind it; a cancel still stops it at once."""
    slow = [{**t, "shot_time_s": 0.01} if t["name"] == "ideal_twin" else t for t in twins()]
    emu = start(tmp_path / "slow", workers=1, twins=slow)
    try:
        hdrs = ibm_headers(emu)
        _, first = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=150), hdrs)
        _, second = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=50), hdrs)
        a, b = wait_ibm_final(emu, first["id"], hdrs), wait_ibm_final(emu, second["id"], hdrs)
        assert a["status"] == b["status"] == "Completed", (a, b)
        assert 1.5 <= a["usage"]["seconds"] < 3.0, a["usage"]  # 150 × 0.01 s, not the milliseconds it computes in
        assert 0.5 <= b["usage"]["seconds"] < 2.0, b["usage"]
        _, m1 = emu.json("GET", f"/v1/jobs/{first['id']}/metrics", headers=hdrs)
        _, m2 = emu.json("GET", f"/v1/jobs/{second['id']}/metrics", headers=hdrs)
        assert m2["timestamps"]["running"] >= m1["timestamps"]["finished"]  # one slot: the second waited
        _, third = emu.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=1000), hdrs)  # 10 s
        deadline = time.time() + 30
        while emu.json("GET", f"/v1/jobs/{third['id']}", headers=hdrs)[1]["state"]["status"] != "Running":
            assert time.time() < deadline
            time.sleep(0.05)
        t0 = time.perf_counter()
        s, _ = emu.json("POST", f"/v1/jobs/{third['id']}/cancel", headers=hdrs)
        assert s in (200, 204) and time.perf_counter() - t0 < 2.0
        assert wait_ibm_final(emu, third["id"], hdrs)["state"]["status"] == "Cancelled"
    finally:
        stop(emu)
