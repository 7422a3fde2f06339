"""GET /v1/jobs/{job}/timeline: a job's admission, waits, hold and tasks, as its owner (munge
uid) or a trusted caller sees them; another user gets the same 404 as for an unknown job."""

from __future__ import annotations

import time

import harness
import proxy_attack as pa
from conftest import without_windows
from qrmid.munge_auth import request_payload
from test_acquire import acquire
from test_policy_windows import open_window_now
from test_reliability import as_user


def as_uid(client: harness.Client, munged: harness.Munged, uid: int, path: str) -> tuple[int, dict]:
    cred = as_user(uid, munged.socket, request_payload("GET", path, b""))
    return client.request("GET", path, auth=f"Munge {cred}")


def test_owner_sees_wait_hold_and_tasks_others_see_nothing(make_qrmid, site, munged) -> None:
    q = make_qrmid(qpus=without_windows(site))
    client = harness.Client(q.url, munged.socket)
    code, a = acquire(client, "1501", uid=1001, nodes=2)
    assert code == 201, a
    env = a["environment"]
    job = pa.Job(env, pa.iam_token(env), env["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"])
    code, b = acquire(client, "1502", user="bob", uid=1001, wait_s=0)
    assert code == 202, b
    task = pa.run_ibm_task(job)
    quantum_s = job.ibm_get(f"/v1/jobs/{task}").body["usage"]["quantum_seconds"]

    # job B waits: its owner is told why in one line
    code, tl = as_uid(client, munged, 1001, "/v1/jobs/1502/timeline")
    assert code == 200, tl
    assert tl["job_id"] == "1502" and tl["user"] == "bob"
    assert tl["waiting"] == "waiting: QPU sc_twin is held by other jobs"
    [acq] = tl["acquisitions"]
    assert acq["state"] == "waiting" and acq["granted_at"] is None and acq["tasks"] == []
    assert acq["wait_s"] > 0 and acq["profile"] == "production"

    # job A: granted, its one task done with the service's QPU seconds and the rest of its wall time
    code, tl = as_uid(client, munged, 1001, "/v1/jobs/1501/timeline")
    assert code == 200, tl
    assert tl["waiting"] is None
    [acq] = tl["acquisitions"]
    assert acq["state"] == "granted" and acq["nodes"] == 2
    [t] = acq["tasks"]
    assert t["id"] == task and t["qpu"] == "sc_twin" and t["state"] == "done"
    assert t["executing_s"] == round(quantum_s, 3)
    assert abs(t["wall_s"] - (t["ended_at"] - t["submitted_at"])) < 1e-3
    assert abs(t["other_s"] - max(0.0, t["wall_s"] - t["executing_s"])) < 2e-3
    assert acq["executing_s"] == t["executing_s"]

    # another user: the same 404 as an unknown job, naming neither owner nor contents
    for path in ("/v1/jobs/1501/timeline", "/v1/jobs/999999/timeline"):
        code, answer = as_uid(client, munged, 65534, path)
        assert code == 404 and "for uid 65534" in answer["detail"] and "bob" not in str(answer)
    # trusted (root on a Slurm host) sees any job; a malformed id or cluster is refused
    code, tl = client.request("GET", "/v1/jobs/1501/timeline")
    assert code == 200 and tl["acquisitions"][0]["tasks"][0]["id"] == task
    assert client.request("GET", "/v1/jobs/1501;x/timeline")[0] == 422
    assert client.request("GET", "/v1/jobs/1501/timeline?cluster=a%20b")[0] == 422
    assert client.request("GET", "/v1/jobs/1501/timeline", auth=None)[0] == 401

    # after the release the wait of B ends at its grant
    client.request("POST", f"/v1/acquisitions/{a['id']}/release", {})
    code, b = client.request("GET", f"/v1/acquisitions/{b['id']}?wait_s=15")
    assert b["state"] == "granted", b
    code, tl = client.request("GET", "/v1/jobs/1502/timeline")
    acq = tl["acquisitions"][0]
    assert tl["waiting"] is None
    assert abs(acq["wait_s"] - (acq["granted_at"] - acq["requested_at"])) < 1e-3
    # A, released: held from its grant to its release, not its allowed hold (the time limit)
    code, tl = client.request("GET", "/v1/jobs/1501/timeline")
    acq = tl["acquisitions"][0]
    assert acq["hold_s"] == 600 and acq["released_at"]
    assert abs(acq["held_s"] - (acq["released_at"] - acq["granted_at"])) < 1e-3 and acq["held_s"] < 600


def test_a_calibration_window_is_the_reason_and_is_listed(make_qrmid, site, munged) -> None:
    q = make_qrmid(qpus=open_window_now(site))
    client = harness.Client(q.url, munged.socket)
    code, a = acquire(client, "1601", wait_s=0)
    assert code == 202, a
    time.sleep(0.2)
    code, tl = as_uid(client, munged, 1001, "/v1/jobs/1601/timeline")
    assert code == 200, tl
    assert tl["waiting"].startswith("waiting: QPU sc_twin is unavailable (calibration")
    assert tl["qpus"]["sc_twin"]["kind"] == "calibration" and tl["qpus"]["sc_twin"]["until"]


def test_a_task_held_in_qrmid_s_queue_is_why_the_job_waits(make_qrmid, site, munged) -> None:
    # a QPU shared task by task, a window in 4 minutes: a 1000-shot task (~1000 s estimated) stays
    # queued, a 10-shot one runs; the owner's timeline lists both and says why the first waits
    from test_task_sharing import status, submit, wait_final, window_in_four_minutes

    q = window_in_four_minutes(make_qrmid, site)
    client = harness.Client(q.url, munged.socket)
    job = pa.new_job(client, "1701", "bob", 2002)
    big, _ = submit(job, shots=1000)
    small, _ = submit(job, shots=10)
    assert wait_final(job, small) == "Completed"
    time.sleep(1.5)
    assert status(job, big) == "Queued"
    code, tl = as_uid(client, munged, 2002, "/v1/jobs/1701/timeline")
    assert code == 200, tl
    # the id the job got: qrmid's minted one while queued, the service's once dispatched at once
    rows = {r[k]: r for r in tl["task_queue"] for k in ("task_id", "remote_id") if r.get(k)}
    assert rows[big]["state"] == "queued" and rows[small]["state"] == "ended" and rows[small]["qpu_seconds"] > 0
    # the service's task is listed with its execution time; qrmid's minted ids only in the queue rows
    listed = {t["id"] for a in tl["acquisitions"] for t in a["tasks"]}
    assert not listed & {r["task_id"] for r in tl["task_queue"]}
    assert rows[small]["remote_id"] in listed or rows[small]["task_id"] == small
    assert tl["waiting"].startswith("1 task(s) queued in qrmid for sc_twin: ")
    assert "would run into the next calibration window" in tl["waiting"]
    # another user sees neither the job nor its tasks
    assert as_uid(client, munged, 2001, "/v1/jobs/1701/timeline")[0] == 404
