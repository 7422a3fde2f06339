"""Task-level sharing (docs/qrmid.md): QPUs in ``task`` mode admit several jobs and qrmid
queues their tasks for the QPU's one slot, against the real emulator, through the job proxy
with the jobs' own credentials: two jobs progress together (and finish sooner than
job-exclusive holds), priority and preemption order the queue, a task that would run into a
calibration window is held while a short one runs, another job's queued id is refused, and
every task is in the accounting export (JSON and CSV)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import harness
import pytest
from conftest import QrmidFactory, without_windows
from proxy_attack import BELL, Job, new_job, refused_by_qrmid, send

OP = f"Bearer {harness.OPERATOR_TOKEN}"
FINAL = ("Completed", "Failed", "Cancelled")


def task_mode(site: dict[str, Any], max_jobs: int = 2, windows: list[dict[str, Any]] | None = None,
              lookahead: int = 0) -> list[dict[str, Any]]:
    """One slot; no lookahead unless asked (these tests pin when a task is forwarded: only into the free
    slot; test_lookahead.py tests tasks forwarded to wait at the service)."""
    qpus = without_windows(site)
    for q in qpus:
        q["slots"] = 1
        q["sharing"] = {"mode": "task", "max_jobs": max_jobs, "lookahead": lookahead}
        if windows is not None and q["name"] == "sc_twin":
            q["calibration_windows"] = windows
    return qpus


def window_in_four_minutes(make_qrmid: QrmidFactory, site: dict[str, Any]) -> harness.Qrmid:
    """A qrmid whose sc_twin is shared task by task and has a 10-minute calibration window starting
    in 4 minutes; every shot is estimated at one second until the QPU's own figure is learned, so a
    1000-shot task would run into the window and a 10-shot one would not."""
    start = (datetime.now(ZoneInfo(site["qpusite_timezone"])) + timedelta(minutes=4)).strftime("%H:%M")
    window = {"name": "soon", "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": start,
              "duration_minutes": 10}
    return make_qrmid(qpus=task_mode(site, windows=[window]),
                      task_sharing={"seconds_per_shot": 1.0, "overhead_s": 1.0, "learn_after": 1000})


def submit(job: Job, shots: int = 10) -> tuple[str, str]:
    """(id the job got, its status in that answer's follow-up poll)."""
    params = {"pubs": [[BELL, None, shots]], "version": 2, "support_qiskit": False}
    doc = {"program_id": "sampler", "backend": "sc_twin", "params": params}
    r = send(job.ibm, "POST", "/v1/jobs", token=job.ibm_token, body=json.dumps(doc).encode())
    assert r.status == 200, r.body
    task = str(r.body["id"])
    return task, status(job, task)


def status(job: Job, task: str) -> str:
    r = job.ibm_get(f"/v1/jobs/{task}")
    assert r.status == 200, r.body
    return str(r.body["state"]["status"])


def wait_final(job: Job, task: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = status(job, task)
        if s in FINAL:
            return s
        time.sleep(0.2)
    raise TimeoutError(task)


def bell_counts(job: Job, task: str) -> dict[str, int]:
    r = job.ibm_get(f"/v1/jobs/{task}/results")
    assert r.status == 200, r.body
    doc = json.loads(r.body) if isinstance(r.body, str) else r.body  # the service sends the result as a JSON string
    data = doc["results"][0]["data"]["c"]
    counts: dict[str, int] = {}
    for s in data["samples"]:
        key = format(int(s, 16), "02b")
        counts[key] = counts.get(key, 0) + 1
    return counts


def hybrid(job: Job, iterations: int, classical_s: float, out: dict[str, Any]) -> None:
    """A variational loop: a short quantum task, then a classical step, repeated."""
    try:
        for _ in range(iterations):
            task, _ = submit(job, shots=100)
            assert wait_final(job, task) == "Completed"
            counts = bell_counts(job, task)  # a Bell pair on a noisy twin: mostly 00 and 11
            assert sum(counts.values()) == 100 and counts.get("00", 0) + counts.get("11", 0) >= 70, counts
            out.setdefault("tasks", []).append(task)
            time.sleep(classical_s)
    except BaseException as exc:  # reported by the test thread
        out["error"] = exc


def run_together(a: Job, b: Job, iterations: int, classical_s: float) -> float:
    """Wall seconds for both jobs' loops run at the same time."""
    outs: list[dict[str, Any]] = [{}, {}]
    start = time.monotonic()
    threads = [threading.Thread(target=hybrid, args=(j, iterations, classical_s, o))
               for j, o in zip((a, b), outs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    took = time.monotonic() - start
    for o in outs:
        if "error" in o:
            raise o["error"]
    return took


def tasks(client: harness.Client, **query: str) -> list[dict[str, Any]]:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    code, body = client.request("GET", "/v1/accounting/tasks" + (f"?{q}" if q else ""))
    assert code == 200, body
    return list(body["tasks"])


def wait_tasks(client: harness.Client, done: int, timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = tasks(client)
        if sum(r["state"] in ("ended", "cancelled", "failed") for r in rows) >= done:
            return rows
        time.sleep(0.3)
    raise TimeoutError(rows)


def test_two_jobs_share_one_qpu_task_by_task(make_qrmid: QrmidFactory, site: dict[str, Any],
                                              munged: harness.Munged) -> None:
    iterations, classical = 4, 1.0
    # today: job-exclusive holds; with one slot the second job gets the QPU when the first releases it
    exclusive = make_qrmid(qpus=without_windows(site))
    ex = harness.Client(exclusive.url, munged.socket)
    t_exclusive = 0.0
    for job_id in ("951", "952"):
        j = new_job(ex, job_id, "bob", 2002)
        out: dict[str, Any] = {}
        began = time.monotonic()
        hybrid(j, iterations, classical, out)
        t_exclusive += time.monotonic() - began
        assert "error" not in out, out
        ex.request("DELETE", f"/v1/jobs/{job_id}/acquisitions?wait_s=10")
    exclusive.stop()

    shared = make_qrmid(qpus=task_mode(site))
    client = harness.Client(shared.url, munged.socket)
    a = new_job(client, "961", "bob", 2002)
    b = new_job(client, "962", "alice", 2001)  # admitted at once: two jobs hold the QPU (a 202 before)
    code, qpu = client.request("GET", "/v1/qpus/sc_twin", auth=None)
    assert code == 200 and qpu["in_use"] == 2 and qpu["sharing"] == {"mode": "task", "max_jobs": 2, "lookahead": 0}, qpu
    t_shared = run_together(a, b, iterations, classical)

    rows = [r for r in wait_tasks(client, 2 * iterations) if r["state"] == "ended"]
    assert len(rows) == 2 * iterations and all(r["status"] == "Completed" for r in rows), rows
    order = [r["job_id"] for r in sorted(rows, key=lambda r: r["dispatched_at"])]
    # interleaved: each job had a task dispatched while the other still had tasks to come
    assert order.index("962") < len(order) - 1 - order[::-1].index("961"), order
    assert order.index("961") < len(order) - 1 - order[::-1].index("962"), order
    # one slot: dispatched tasks never overlapped
    spans = sorted((r["dispatched_at"], r["ended_at"]) for r in rows)
    assert all(s2 >= e1 for (_, e1), (s2, _) in zip(spans, spans[1:], strict=False)), spans
    qpu_s = sum(r["qpu_seconds"] for r in rows)
    assert qpu_s > 0 and all(r["shots"] == 100 and r["cluster"] for r in rows)
    # the same QPU work in less wall time: higher utilisation than job-exclusive holds
    assert t_shared < 0.8 * t_exclusive, (t_shared, t_exclusive)
    print(f"two hybrid jobs: exclusive {t_exclusive:.1f} s, shared {t_shared:.1f} s; "
          f"utilisation {qpu_s / t_exclusive:.3f} -> {qpu_s / t_shared:.3f}")

    # the export as CSV (the same rows, a header; a trusted caller sees every job's)
    code, text = client.request("GET", "/v1/accounting/tasks?format=csv&qpu=sc_twin")
    assert code == 200
    parsed = list(csv.DictReader(io.StringIO(text if isinstance(text, str) else text.decode())))
    assert {r["job_id"] for r in parsed} == {"961", "962"} and len(parsed) == len(tasks(client, qpu="sc_twin"))
    client.request("DELETE", "/v1/jobs/961/acquisitions")
    client.request("DELETE", "/v1/jobs/962/acquisitions")


def test_priority_order_and_preemption_of_queued_tasks(make_qrmid: QrmidFactory, site: dict[str, Any],
                                                       munged: harness.Munged) -> None:
    q = make_qrmid(qpus=task_mode(site, max_jobs=3))
    client = harness.Client(q.url, munged.socket)
    low = new_job(client, "971", "alice", 2001)  # development, priority 10
    high = new_job(client, "972", "bob", 2002)  # production, priority 50
    # the operator's maintenance holds every task in the queue (jobs keep their QPU)
    code, _ = client.request("PUT", "/v1/qpus/sc_twin/maintenance", {"message": "test hold"}, auth=OP)
    assert code == 200
    a1, s1 = submit(low)
    a2, s2 = submit(low)
    b1, s3 = submit(high)
    assert (s1, s2, s3) == ("Queued", "Queued", "Queued")
    rows = {r["task_id"]: r for r in tasks(client)}
    assert set(rows) == {a1, a2, b1}  # minted ids: what the jobs were answered with
    # the high-priority task overtook both queued low-priority ones (preempted, still queued)
    assert (rows[a1]["preempted"], rows[a2]["preempted"], rows[b1]["preempted"]) == (1, 1, 0)
    assert all(r["state"] == "queued" and "maintenance" in (r["message"] or "") for r in rows.values()), rows
    # the queue in the metrics: QPUs in task mode only, by name
    deadline = time.monotonic() + 10
    while 'qrmid_qpu_task_queue_length{qpu="sc_twin"} 3.0' not in str(client.request("GET", "/metrics", auth=None)[1]):
        assert time.monotonic() < deadline, "the queue gauge never showed 3 queued tasks"
        time.sleep(0.3)
    text = str(client.request("GET", "/metrics", auth=None)[1])
    assert 'qrmid_qpu_tasks_total{event="queued",qpu="sc_twin"} 3.0' in text and 'qpu="other"' not in text
    # qrmid answers polls of queued tasks as the service would
    m = high.ibm_get(f"/v1/jobs/{b1}/metrics")
    assert m.status == 200 and m.body["usage"]["status"] == "pending"
    # a queued task the job cancels never runs
    a3, _ = submit(low)
    assert send(low.ibm, "POST", f"/v1/jobs/{a3}/cancel", token=low.ibm_token).status == 204
    assert status(low, a3) == "Cancelled"

    code, _ = client.request("DELETE", "/v1/qpus/sc_twin/maintenance", auth=OP)
    assert code == 200
    for job, task in ((low, a1), (low, a2), (high, b1)):
        assert wait_final(job, task) == "Completed"
        counts = bell_counts(job, task)
        assert sum(counts.values()) == 10 and counts.get("00", 0) + counts.get("11", 0) >= 6, counts
    rows = {r["task_id"]: r for r in wait_tasks(client, 4)}  # qrmid's own poll sees the last one end
    assert rows[a3]["state"] == "cancelled" and rows[a3]["dispatched_at"] is None
    assert rows[b1]["dispatched_at"] < rows[a1]["dispatched_at"] < rows[a2]["dispatched_at"], rows
    text = str(client.request("GET", "/metrics", auth=None)[1])
    assert 'qrmid_qpu_task_queued_seconds_total{qpu="sc_twin"}' in text
    assert all(rows[t]["state"] == "ended" and rows[t]["remote_id"] != t for t in (a1, a2, b1))


def test_another_jobs_queued_task_is_refused(make_qrmid: QrmidFactory, site: dict[str, Any],
                                             munged: harness.Munged) -> None:
    q = make_qrmid(qpus=task_mode(site))
    client = harness.Client(q.url, munged.socket)
    victim = new_job(client, "981", "bob", 2002)
    attacker = new_job(client, "982", "alice", 2001)
    client.request("PUT", "/v1/qpus/sc_twin/maintenance", {"message": "hold"}, auth=OP)
    client.request("PUT", "/v1/qpus/FRESNEL/maintenance", {"message": "hold"}, auth=OP)
    task, s = submit(victim)
    assert s == "Queued"
    batch_doc = {"sequence_builder": "{}", "jobs": [{"runs": 10}], "device_type": "FRESNEL",
                 "project_id": victim.env.get("FRESNEL_QRMI_PASQAL_CLOUD_PROJECT_ID", "")}
    r = send(victim.pasqal, "POST", "/core-fast/api/v1/batches", token=victim.pasqal_token,
             body=json.dumps(batch_doc).encode())
    assert r.status == 200 and r.body["data"]["status"] == "PENDING", r.body
    batch, part = r.body["data"]["id"], r.body["data"]["jobs"][0]["id"]
    assert victim.pasqal_get(f"/core-fast/api/v2/batches/{batch}").body["data"]["job_ids"] == [part]
    for path in (f"/v1/jobs/{task}", f"/v1/jobs/{task}/results", f"/v1/jobs/{task}/metrics",
                 f"/v1/jobs/{task}/logs"):
        got = attacker.ibm_get(path)
        assert got.status == 404 and refused_by_qrmid(got), (path, got.body)
    got = send(attacker.ibm, "POST", f"/v1/jobs/{task}/cancel", token=attacker.ibm_token)
    assert got.status == 404 and refused_by_qrmid(got)
    for path in (f"/core-fast/api/v1/batches/{batch}", f"/core-fast/api/v1/jobs/{part}",
                 f"/core-fast/api/v2/jobs?batch_id={batch}"):
        got = attacker.pasqal_get(path)
        assert got.status == 404 and refused_by_qrmid(got), (path, got.body)
    got = send(attacker.pasqal, "PUT", f"/core-fast/api/v1/batches/{batch}/cancel", token=attacker.pasqal_token)
    assert got.status == 404 and refused_by_qrmid(got)
    assert status(victim, task) == "Queued"  # untouched
    assert {r["job_id"] for r in tasks(client)} == {"981"}  # the attacker queued nothing


def test_a_task_that_would_run_into_a_window_is_held(make_qrmid: QrmidFactory, site: dict[str, Any],
                                                     munged: harness.Munged) -> None:
    q = window_in_four_minutes(make_qrmid, site)
    client = harness.Client(q.url, munged.socket)
    job = new_job(client, "991", "bob", 2002)
    big, s_big = submit(job, shots=1000)  # ~1000 s: would run into the window in under 4 min
    assert s_big == "Queued"
    small, _ = submit(job, shots=10)  # ~11 s: ends before the window
    assert wait_final(job, small) == "Completed"
    time.sleep(2.5)  # a few dispatch rounds
    assert status(job, big) == "Queued"
    rows = {r["task_id"]: r for r in tasks(client)}
    assert rows[big]["state"] == "queued" and "would run into the next calibration window" in rows[big]["message"]
    assert rows[big]["estimate_s"] == pytest.approx(1001.0)


def test_a_queued_pasqal_batch_runs_under_its_minted_ids(make_qrmid: QrmidFactory, site: dict[str, Any],
                                                         munged: harness.Munged) -> None:
    from job_sample import pi_pulse

    q = make_qrmid(qpus=task_mode(site))
    client = harness.Client(q.url, munged.socket)
    job = new_job(client, "993", "bob", 2002)
    client.request("PUT", "/v1/qpus/FRESNEL/maintenance", {"message": "hold"}, auth=OP)
    doc = {"sequence_builder": pi_pulse(), "jobs": [{"runs": 10}, {"runs": 20}], "device_type": "FRESNEL",
           "project_id": job.env.get("FRESNEL_QRMI_PASQAL_CLOUD_PROJECT_ID", "")}
    r = send(job.pasqal, "POST", "/core-fast/api/v1/batches", token=job.pasqal_token, body=json.dumps(doc).encode())
    assert r.status == 200 and r.body["data"]["status"] == "PENDING", r.body
    batch = r.body["data"]["id"]
    parts = [j["id"] for j in r.body["data"]["jobs"]]
    assert len(parts) == 2 and job.pasqal_get(f"/core-fast/api/v1/jobs/{parts[1]}").body["data"]["runs"] == 20
    assert job.pasqal_get(f"/core-fast/api/v1/batches/{batch}/full_results").status == 409  # not run yet
    client.request("DELETE", "/v1/qpus/FRESNEL/maintenance", auth=OP)
    deadline = time.monotonic() + 120
    while job.pasqal_get(f"/core-fast/api/v2/batches/{batch}").body["data"]["status"] != "DONE":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    # the minted ids now reach the service's batch and jobs
    results = job.pasqal_get(f"/core-fast/api/v1/batches/{batch}/full_results")
    assert results.status == 200 and len(results.body["data"]) == 2, results.body
    assert job.pasqal_get(f"/core-fast/api/v1/jobs/{parts[0]}").body["data"]["status"] == "DONE"
    (row,) = wait_tasks(client, 1)
    assert row["task_id"] == batch and row["remote_id"] != batch and row["shots"] == 30 and row["status"] == "DONE"


def test_vendor_sdks_run_unchanged_on_task_shared_qpus(make_qrmid: QrmidFactory, site: dict[str, Any],
                                                      munged: harness.Munged) -> None:
    """qiskit-ibm-runtime, pasqal-cloud and Pulser (services/qpu-emulator/tests/vendor_job.py) inside
    a job whose QPUs are task-shared: every task goes through qrmid's queue (dispatched at once
    here: the slot is free), and each is in the task records."""
    import importlib.util

    if not all(importlib.util.find_spec(m) for m in ("qiskit_ibm_runtime", "pasqal_cloud")):
        pytest.skip("needs the vendors' SDKs")
    from test_vendor_clients import JOB, SHOTS, run

    q = make_qrmid(qpus=task_mode(site))
    client = harness.Client(q.url, munged.socket)
    code, a = client.request("POST", "/v1/acquisitions", {
        "job_id": "995", "user": "bob", "uid": 2002, "qpus": ["sc_twin", "FRESNEL"], "time_limit_s": 600,
        "wait_s": 20})
    assert code == 201, a
    done = run(a["environment"])
    assert done.returncode == 0, done.stderr[-4000:]
    import sys
    sys.path.insert(0, str(JOB.parent))
    try:
        import vendor_job
    finally:
        sys.path.remove(str(JOB.parent))
    seen = {d["qpu"]: d for d in map(json.loads, done.stdout.splitlines())}
    vendor_job.check(seen, "sc_twin", "FRESNEL", SHOTS)
    rows = wait_tasks(client, 1)
    assert {r["qpu"] for r in rows} == {"sc_twin", "FRESNEL"} and all(r["state"] != "failed" for r in rows), rows
