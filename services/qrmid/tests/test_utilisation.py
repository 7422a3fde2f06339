"""Utilisation figures on a scripted sequence against the loopback emulator: seconds a QPU
was available, held and executing, and node-seconds jobs waited, the same in /metrics, in
the accounting records and in /v1/accounting/utilisation."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import harness
import proxy_attack as pa
from conftest import without_windows
from job_sample import pi_pulse
from qrmid.config import Window
from qrmid.utilisation import ended_task
from qrmid.windows import blocked_seconds
from test_acquire import acquire
from test_policy_windows import open_window_now

OP = f"Bearer {harness.OPERATOR_TOKEN}"


def metric(text: str, name: str, qpu: str) -> float:
    m = re.search(rf'^{name}{{qpu="{qpu}"}} (\S+)$', text, re.M)
    assert m, f"{name} for {qpu} missing from /metrics"
    return float(m.group(1))


def utilisation(client: harness.Client) -> dict[str, dict[str, float]]:
    code, body = client.request("GET", "/v1/accounting/utilisation")
    assert code == 200, body
    return dict(body)


def test_held_executing_and_waiting_of_a_scripted_sequence(make_qrmid, site, munged) -> None:
    q = make_qrmid(qpus=without_windows(site))
    client = harness.Client(q.url, munged.socket)
    # job A: 4 nodes, both QPUs, granted at once
    t_a = time.time()
    code, a = acquire(client, "1401", qpus=["sc_twin", "FRESNEL"], nodes=4)
    t_a_granted = time.time()
    assert code == 201 and a["state"] == "granted", a
    env = a["environment"]
    job = pa.Job(env, pa.iam_token(env), env["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"])
    # job B: 3 nodes, waits for sc_twin (one slot) while A runs its tasks
    t_b = time.time()
    code, b = acquire(client, "1402", nodes=3, wait_s=0)
    t_b_queued = time.time()
    assert code == 202 and b["state"] == "waiting", b
    task = pa.run_ibm_task(job)
    batch, _ = pa.run_pasqal_batch(job, pi_pulse())
    # what the service says the tasks used (the answers qrmid forwarded said the same)
    ibm_s = job.ibm_get(f"/v1/jobs/{task}").body["usage"]["quantum_seconds"]
    doc = job.pasqal_get(f"/core-fast/api/v2/batches/{batch}").body["data"]
    pasqal_s = (datetime.fromisoformat(doc["end_datetime"].replace("Z", "+00:00"))
                - datetime.fromisoformat(doc["start_datetime"].replace("Z", "+00:00"))).total_seconds()
    assert ibm_s > 0 and pasqal_s > 0
    time.sleep(0.5)
    t_release = time.time()
    code, _ = client.request("POST", f"/v1/acquisitions/{a['id']}/release", {})
    assert code == 200
    code, b = client.request("GET", f"/v1/acquisitions/{b['id']}?wait_s=15")
    t_b_granted = time.time()
    assert b["state"] == "granted", b
    client.request("POST", f"/v1/acquisitions/{b['id']}/release", {})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, acct = client.request("GET", "/v1/accounting")
        if all(r["state"] == "released" for r in acct["records"]):
            break
        time.sleep(0.1)
    recs = {(r["job_id"], r["qpu"]): r for r in acct["records"]}
    assert set(recs) == {("1401", "sc_twin"), ("1401", "FRESNEL"), ("1402", "sc_twin")}

    # executing: exactly what the service reported for each ended task, counted once (the
    # task's end was polled several times: by run_*'s loop and once more above)
    assert recs["1401", "sc_twin"]["executing_s"] == round(ibm_s, 3)
    assert abs(recs["1401", "FRESNEL"]["executing_s"] - pasqal_s) < 1e-3
    assert recs["1402", "sc_twin"]["executing_s"] == 0 and recs["1402", "sc_twin"]["tasks"] == 0
    # held: A from its grant to its release (bounded by what the test saw)
    a_held = recs["1401", "sc_twin"]["hold_s"]
    assert t_release - t_a_granted <= a_held + 0.01
    assert a_held <= t_b_granted - t_a
    assert a_held >= recs["1401", "sc_twin"]["executing_s"]
    # waiting: B from its request until A's release; nodes x wait
    rb = recs["1402", "sc_twin"]
    assert rb["nodes"] == 3
    assert t_release - t_b_queued <= rb["wait_s"] + 0.01 and rb["wait_s"] <= t_b_granted - t_b
    assert abs(rb["wait_node_s"] - 3 * rb["wait_s"]) < 0.01
    ra = recs["1401", "sc_twin"]
    assert ra["nodes"] == 4 and ra["wait_s"] <= t_a_granted - t_a and abs(ra["wait_node_s"] - 4 * ra["wait_s"]) < 0.01
    assert acct["totals_wait_node_s"]["by_job"]["1402"] == rb["wait_node_s"]
    assert acct["totals_executing_s"]["by_qpu"]["sc_twin"] == round(ibm_s, 3)

    # the metrics and the utilisation view hold the same figures as the records
    _, m = client.request("GET", "/metrics", auth=None)
    u = utilisation(client)
    for qpu in ("sc_twin", "FRESNEL"):
        mine = [r for r in recs.values() if r["qpu"] == qpu]
        executing = sum(r["executing_s"] for r in mine)
        held = sum(r["hold_s"] for r in mine)
        waited = sum(r["wait_node_s"] for r in mine)
        assert abs(metric(m, "qrmid_qpu_executing_seconds_total", qpu) - executing) < 0.01
        assert abs(metric(m, "qrmid_qpu_held_seconds_total", qpu) - held) < 0.01
        assert abs(metric(m, "qrmid_qpu_wait_node_seconds_total", qpu) - waited) < 0.01
        assert abs(u[qpu]["executing_s"] - executing) < 0.01 and abs(u[qpu]["held_s"] - held) < 0.01
        assert abs(u[qpu]["wait_node_s"] - waited) < 0.01
        # no window: the QPU was available all the time qrmid ran, so at least while held
        assert u[qpu]["available_s"] >= held
    # a user sees the utilisation figures only as the site sees them: trusted callers only
    code, _ = client.request("GET", "/v1/accounting/utilisation", auth=None)
    assert code == 401


def test_available_seconds_leave_out_windows_and_maintenance(make_qrmid, site, munged) -> None:
    # a calibration window on FRESNEL opened two minutes ago and lasts 30: never available here
    q = make_qrmid(qpus=open_window_now(site, "FRESNEL"))
    client = harness.Client(q.url, munged.socket)
    t1 = time.time()
    u1 = utilisation(client)
    t1_after = time.time()
    time.sleep(0.8)
    before_on = time.time()
    code, _ = client.request("PUT", "/v1/qpus/sc_twin/maintenance", {"message": "cryostat refill"}, auth=OP)
    after_on = time.time()
    assert code == 200
    time.sleep(1.2)
    before_off = time.time()
    code, _ = client.request("DELETE", "/v1/qpus/sc_twin/maintenance", auth=OP)
    after_off = time.time()
    assert code == 200
    time.sleep(0.8)
    t2_before = time.time()
    u2 = utilisation(client)
    t2 = time.time()
    assert u1["FRESNEL"]["available_s"] == 0 and u2["FRESNEL"]["available_s"] == 0
    grown = u2["sc_twin"]["available_s"] - u1["sc_twin"]["available_s"]
    # wall time between the two readings minus the maintenance, as the test's own clock bounds them
    most = (t2 - t1) - (before_off - after_on)
    least = (t2_before - t1_after) - (after_off - before_on)
    assert least - 0.002 <= grown <= most + 0.002, (least, grown, most)
    _, m = client.request("GET", "/metrics", auth=None)
    assert metric(m, "qrmid_qpu_available_seconds_total", "FRESNEL") == 0
    assert metric(m, "qrmid_qpu_available_seconds_total", "sc_twin") >= u2["sc_twin"]["available_s"]


# ------------------------------------------------------------ the computations alone
PARIS = ZoneInfo("Europe/Paris")
DAILY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def ts(*args: int, tz: ZoneInfo = PARIS) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def test_blocked_seconds_follow_local_time_across_dst() -> None:
    w = Window(name="cal", weekdays=DAILY, start="02:30", duration_minutes=60)
    # 2026-03-29: clocks go 02:00 -> 03:00 in Paris; a 02:30 start does not exist that night
    # and zoneinfo places it at 03:30 CEST (= 01:30 UTC), an hour of window all the same
    day = blocked_seconds([w], PARIS, ts(2026, 3, 29, 0, 0), ts(2026, 3, 29, 12, 0))
    assert day == 3600
    # a normal night: exactly the hour 02:30-03:30, and a part of it when the range cuts it
    assert blocked_seconds([w], PARIS, ts(2026, 3, 30, 0, 0), ts(2026, 3, 31, 0, 0)) == 3600
    assert blocked_seconds([w], PARIS, ts(2026, 3, 30, 3, 0), ts(2026, 3, 30, 12, 0)) == 1800
    # weekdays only: a week of a Monday window is one hour
    mon = Window(name="m", weekdays=["mon"], start="23:30", duration_minutes=120)
    assert blocked_seconds([mon], PARIS, ts(2026, 6, 1, 0, 0), ts(2026, 6, 8, 0, 0)) == 7200  # Mon 1 June
    # an overlapping maintenance interval is not counted twice
    extra = [(ts(2026, 6, 1, 23, 0), ts(2026, 6, 2, 0, 30))]
    assert blocked_seconds([mon], PARIS, ts(2026, 6, 1, 0, 0), ts(2026, 6, 3, 0, 0), extra) == 3600 * 2.5


def test_ended_task_reads_what_the_services_report() -> None:
    ibm = {"id": "t1", "state": {"status": "Completed"}, "status": "Completed", "usage": {"quantum_seconds": 2.5}}
    assert ended_task("job", ibm) == ("t1", 2.5)
    assert ended_task("job", {**ibm, "state": {"status": "Running"}, "status": "Running"}) is None
    for bad in (-1, float("nan"), True, "3", 10**12):
        assert ended_task("job", {**ibm, "usage": {"quantum_seconds": bad}}) is None
    pasqal = {"data": {"id": "b1", "status": "DONE", "start_datetime": "2026-06-01T10:00:00Z",
                       "end_datetime": "2026-06-01T10:00:04.5Z"}}
    assert ended_task("batch.v2", pasqal) == ("b1", 4.5)
    assert ended_task("batch.v2", {"data": {**pasqal["data"], "status": "RUNNING"}}) is None
    cancelled = {"data": {"id": "b2", "status": "CANCELED", "start_datetime": None, "end_datetime": None}}
    assert ended_task("batch.v1", cancelled) == ("b2", 0.0)
    assert ended_task("devices", pasqal) is None


def test_ended_task_reads_an_iqm_jobs_timeline() -> None:
    def ev(status: str, ts: str) -> dict[str, str]:
        return {"source": "iqm-server", "status": status, "timestamp": ts}

    timeline = [ev("created", "2026-12-02T10:00:00Z"), ev("execution_started", "2026-12-02T10:00:01Z"),
                ev("execution_ended", "2026-12-02T10:00:03.5Z")]
    job = {"id": "j1", "status": "completed", "timeline": timeline}
    assert ended_task("iqm.job", job) == ("j1", 2.5)
    assert ended_task("iqm.job", {**job, "status": "processing"}) is None
    assert ended_task("iqm.job", {"id": "j2", "status": "cancelled", "timeline": timeline[:1]}) == ("j2", 0.0)
    broken = [timeline[0], timeline[1], ev("execution_ended", "not a time")]
    assert ended_task("iqm.job", {**job, "timeline": broken}) is None
