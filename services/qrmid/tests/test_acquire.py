"""Acquire and release through the API against the real emulator, and what the job gets."""

from __future__ import annotations

import sqlite3

import harness


def acquire(client: harness.Client, job: str, user: str = "bob", qpus: list[str] | None = None,
            uid: int = 1001, **extra: object) -> tuple[int, dict]:
    body = {"job_id": job, "user": user, "uid": uid, "qpus": qpus or ["sc_twin"], "time_limit_s": 600,
            "wait_s": 20, **extra}
    return client.request("POST", "/v1/acquisitions", body)


def test_acquire_release_ibm_and_pasqal(client: harness.Client) -> None:
    code, a = acquire(client, "101", qpus=["sc_twin", "FRESNEL"])
    assert code == 201, a
    assert a["state"] == "granted" and a["profile"] == "production"
    env = a["environment"]
    assert env["QRMI_JOB_QPU_RESOURCES"] == "sc_twin,FRESNEL"
    assert env["QRMI_JOB_QPU_TYPES"] == "ibm-quantum-compute-service,pasqal-cloud"
    assert env["SLURM_JOB_QPU_RESOURCES"] == env["QRMI_JOB_QPU_RESOURCES"]
    assert env["QRMI_JOB_ID"] == "101" and env["QRMI_JOB_UID"] == "1001"
    assert env["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"]  # the IBM session qrmid opened
    assert 0 < int(env["sc_twin_QRMI_JOB_TIMEOUT_SECONDS"]) <= 600
    assert env["sc_twin_QRMI_IBM_QCS_ENDPOINT"] == client.url + "/proxy/sc_twin/v1"
    assert env["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"] == client.url + "/iam/sc_twin"
    assert env["FRESNEL_QRMI_PASQAL_CLOUD_BASE_URL"] == client.url + "/proxy/FRESNEL"
    for secret in harness.SITE_SECRETS:
        assert secret not in str(a)

    # a second request for the same job is the same acquisition (retries are safe)
    code, again = acquire(client, "101", qpus=["sc_twin", "FRESNEL"])
    assert code == 201 and again["id"] == a["id"]

    code, qpu = client.request("GET", "/v1/qpus/sc_twin", auth=None)
    assert code == 200 and qpu["in_use"] == 1

    # the job's credentials die at once; the release at the service may still be running
    code, done = client.request("POST", f"/v1/acquisitions/{a['id']}/release", {})
    assert code == 200 and done["state"] in ("releasing", "released") and done["outcome"] == "released"
    # asking again is harmless, and can wait for the service side
    code, done = client.request("POST", f"/v1/acquisitions/{a['id']}/release?wait_s=10", {})
    assert code == 200 and done["state"] == "released" and done["outcome"] == "released"
    assert all(h["state"] == "released" for h in done["holds"])
    code, qpu = client.request("GET", "/v1/qpus/sc_twin", auth=None)
    assert qpu["in_use"] == 0

    code, acct = client.request("GET", "/v1/accounting?job_id=101")
    assert code == 200
    recs = acct["records"]
    assert sorted(r["qpu"] for r in recs) == ["FRESNEL", "sc_twin"]
    for r in recs:
        assert r["user"] == "bob" and r["profile"] == "production" and r["outcome"] == "released"
        assert r["requested_at"] <= r["granted_at"] <= r["hold_released_at"]
        assert r["hold_s"] >= 0


def test_slot_is_exclusive_and_freed_on_release(client: harness.Client) -> None:
    code, first = acquire(client, "201")
    assert code == 201
    code, second = acquire(client, "202", wait_s=1)
    assert code == 202 and second["state"] == "waiting"
    assert "held by other jobs" in second["message"]
    client.request("POST", f"/v1/acquisitions/{first['id']}/release", {})
    code, granted = client.request("GET", f"/v1/acquisitions/{second['id']}?wait_s=10")
    assert code == 201 and granted["state"] == "granted" and "environment" in granted


def test_higher_priority_waiter_goes_first(client: harness.Client) -> None:
    code, holder = acquire(client, "301", user="bob")
    assert code == 201
    _, low = acquire(client, "302", user="alice", uid=1002, wait_s=0)  # development, priority 10
    _, high = acquire(client, "303", user="bob", wait_s=0)  # production, priority 50, asked later
    assert low["state"] == high["state"] == "waiting"
    client.request("POST", f"/v1/acquisitions/{holder['id']}/release", {})
    code, h = client.request("GET", f"/v1/acquisitions/{high['id']}?wait_s=10")
    assert h["state"] == "granted"
    _, low_now = client.request("GET", f"/v1/acquisitions/{low['id']}")
    assert low_now["state"] == "waiting"
    client.request("DELETE", "/v1/jobs/303/acquisitions")
    _, low_now = client.request("GET", f"/v1/acquisitions/{low['id']}?wait_s=10")
    assert low_now["state"] == "granted"


def test_env_format_for_the_plugin(client: harness.Client) -> None:
    code, text = client.request("POST", "/v1/acquisitions?format=env",
                                {"job_id": "401", "user": "bob", "uid": 1001, "qpus": ["FRESNEL"], "wait_s": 10})
    assert code == 201
    lines = text.splitlines()
    assert lines[0] == "state=granted"
    env = dict(line[4:].split("=", 1) for line in lines if line.startswith("env="))
    assert env["QRMI_JOB_QPU_RESOURCES"] == "FRESNEL"
    assert env["FRESNEL_QRMI_PASQAL_CLOUD_PROJECT_ID"] == "lab-project"


def test_an_instance_is_reused_only_after_its_own_release(tmp_path, site, emulator, munged) -> None:
    """What the acquirer process relies on, with the real qrmi against the emulator: an instance
    that acquired hands the same session out again until it is released (so it is owned by its
    token until then); after its release its next acquire opens a new session, and the
    pool hands that ready instance out again instead of making one."""
    from qrmid.config import load
    from qrmid.resources import build

    cfg = harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, harness.free_port())
    config, secrets, _ = load(str(cfg))
    res = build(config, secrets)["sc_twin"]
    res.acquirer = None  # in this process

    raw = res._new()
    first = str(raw.acquire())
    assert str(raw.acquire()) == first  # the hazard: not released yet, the same session again
    raw.release(first)
    second = str(raw.acquire())
    assert second != first
    raw.release(second)

    made = 0
    new = res._new

    def counting() -> object:
        nonlocal made
        made += 1
        return new()

    res._new = counting  # type: ignore[method-assign]
    a = res.acquire_blocking()
    b = res.acquire_blocking()  # the first is owned by `a`: a second instance
    assert a != b and made == 2
    res.release_owned(a)
    c = res.acquire_blocking()  # the instance `a` released, reused
    assert c not in (a, b) and made == 2
    res.release_owned(b)
    res.release_owned(c)
    res.release_owned(c)  # unknown now (already released): a release-only instance does it
    state = emulator.log.parent / "state"
    db = sqlite3.connect(f"file:{state / 'jobs.sqlite3'}?mode=ro", uri=True)
    marks = ",".join("?" * 5)
    rows = db.execute(f"SELECT id, state FROM sessions WHERE id IN ({marks})", (first, second, a, b, c)).fetchall()  # noqa: S608
    db.close()
    assert len(rows) == 5 and all(st == "closed" for _, st in rows), rows
