"""Bad requests change nothing; forged, replayed and mis-claimed credentials are
refused; kill -9 during acquisitions loses and leaks nothing; the reaper releases
acquisitions of jobs Slurm no longer has and of holds past their deadline."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import harness
from conftest import without_windows
from test_acquire import acquire


def snapshot(client: harness.Client) -> str:
    _, rows = client.request("GET", "/v1/acquisitions", auth=f"Bearer {harness.OPERATOR_TOKEN}")
    _, qpus = client.request("GET", "/v1/qpus", auth=None)
    return json.dumps([rows, [(q["name"], q["in_use"]) for q in qpus]], sort_keys=True)


def test_bad_requests_get_4xx_and_change_nothing(client: harness.Client, munged: harness.Munged) -> None:
    before = snapshot(client)
    good = {"job_id": "1", "user": "bob", "uid": 1001, "qpus": ["sc_twin"], "wait_s": 10}
    cases = [
        ({**good, "qpus": ["no_such_qpu"]}, 404),
        ({**good, "qpus": []}, 422),
        ({**good, "job_id": "1; rm -rf /"}, 422),
        ({**good, "unexpected": True}, 422),
        ({k: v for k, v in good.items() if k != "user"}, 422),
    ]
    for body, want in cases:
        code, answer = client.request("POST", "/v1/acquisitions", body)
        assert code == want, (body, answer)
    code, _ = client.request("POST", "/v1/acquisitions", raw=b"{not json")
    assert code == 422
    code, _ = client.request("POST", "/v1/acquisitions/acq-nope/release", {})
    assert code == 404
    # no credential, a forged one, a credential made for another request, a replayed one
    assert client.request("POST", "/v1/acquisitions", good, auth=None)[0] == 401
    assert client.request("POST", "/v1/acquisitions", good, auth="Munge MUNGE:AAAAforged:")[0] == 401
    from qrmid.munge_auth import request_payload

    other = client.munge.encode(request_payload("POST", "/v1/acquisitions", b"{}"))
    assert client.request("POST", "/v1/acquisitions", good, auth=f"Munge {other}")[0] == 401
    payload = json.dumps({**good, "job_id": "2"}).encode()
    cred = client.munge.encode(request_payload("POST", "/v1/acquisitions", payload))
    code, first = client.request("POST", "/v1/acquisitions", raw=payload, auth=f"Munge {cred}")
    assert code == 201, first
    code, replay = client.request("POST", "/v1/acquisitions", raw=payload, auth=f"Munge {cred}")
    assert code == 401 and "replayed" in replay["detail"].lower()
    client.request("POST", f"/v1/acquisitions/{first['id']}/release?wait_s=10", {})
    after = json.loads(snapshot(client))
    # the one legitimate request is the only trace
    assert [r["job_id"] for r in after[0]] == ["2"]
    assert json.loads(before)[1] == after[1]


def as_user(uid: int, munge_socket: str, payload: bytes) -> str:
    """A munge credential made by another uid (a user on a Slurm host)."""
    out = subprocess.run(
        ["munge", "-S", munge_socket, "-s", payload.decode()],
        capture_output=True,
        check=True,
        preexec_fn=lambda: os.setuid(uid),
        timeout=10,
    )
    return out.stdout.decode().strip()


def test_users_cannot_claim_another_uid_or_acquire(client: harness.Client, munged: harness.Munged) -> None:
    from qrmid.munge_auth import request_payload

    body = json.dumps({"job_id": "5", "user": "bob", "uid": 1001, "qpus": ["sc_twin"]}).encode()
    cred = as_user(65534, munged.socket, request_payload("POST", "/v1/acquisitions", body))
    code, answer = client.request("POST", "/v1/acquisitions", raw=body, auth=f"Munge {cred}")
    assert code == 403 and "uid 65534" in answer["detail"] and "claims uid 1001" in answer["detail"]
    body = json.dumps({"job_id": "5", "user": "nobody", "uid": 65534, "qpus": ["sc_twin"]}).encode()
    cred = as_user(65534, munged.socket, request_payload("POST", "/v1/acquisitions", body))
    code, answer = client.request("POST", "/v1/acquisitions", raw=body, auth=f"Munge {cred}")
    assert code == 403 and "sbatch --qpu" in answer["detail"]
    # a user sees only their own records
    code, a = acquire(client, "6")
    cred = as_user(65534, munged.socket, request_payload("GET", "/v1/acquisitions", b""))
    code, rows = client.request("GET", "/v1/acquisitions", auth=f"Munge {cred}")
    assert code == 200 and rows == []
    cred = as_user(65534, munged.socket, request_payload("GET", f"/v1/acquisitions/{a['id']}", b""))
    assert client.request("GET", f"/v1/acquisitions/{a['id']}", auth=f"Munge {cred}")[0] == 404


def open_sessions(emulator_state: Path, since: float) -> dict[str, int]:
    db = sqlite3.connect(f"file:{emulator_state / 'jobs.sqlite3'}?mode=ro", uri=True)
    rows = db.execute("SELECT id, max_ttl FROM sessions WHERE created>=? AND state!='closed'", (since,)).fetchall()
    db.close()
    return dict(rows)


def acquirer_children(parent: int) -> set[int]:
    """pids of the qrmid acquirer processes (python -m qrmid.acquirer) a qrmid process started."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == parent and b"qrmid.acquirer" in (d / "cmdline").read_bytes():
                    out.add(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


KILL_ROUNDS = 4


def assert_round_left_nothing(client: harness.Client, emulator_state: Path, since: float, rnd: int) -> None:
    """sc_twin's slots are all free, and (the service's own view) every session opened since `since` is closed."""
    _, qpu = client.request("GET", "/v1/qpus/sc_twin", auth=None)
    assert qpu["in_use"] == 0
    orphans = open_sessions(emulator_state, since)
    assert orphans == {}, f"round {rnd}: {len(orphans)} session(s) left open at the service: {orphans}"


def assert_exited(pids: set[int], within_s: float = 10.0) -> None:
    """Every process in `pids` has exited within `within_s` (polled, bounded)."""
    deadline = time.monotonic() + within_s
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], pids


def test_kill_9_while_acquiring_loses_and_leaks_nothing(make_qrmid, site, munged, emulator, backend) -> None:
    """Repeatedly kill -9 qrmid while 12 acquisitions open IBM sessions at the service. After each
    restart every job gets exactly one grant, slots in use equal grants, and once everything is
    released the service has no open session at all: none orphaned by a kill."""
    n = 12
    qpus = [{**q, "slots": n} for q in without_windows(site)]
    q = make_qrmid(qpus=qpus)
    client = harness.Client(q.url, munged.socket)
    state = Path(emulator.log).parent / "state"
    orphaned_helpers: set[int] = set()  # acquirer processes of the killed daemons
    interrupted = 0
    for rnd in range(KILL_ROUNDS):
        started = time.time()
        jobs = [str(1000 + 100 * rnd + i) for i in range(n)]
        answers: dict[str, int] = {}

        def ask(job: str, answers: dict[str, int] = answers) -> None:
            try:
                code, _ = acquire(client, job, wait_s=10)
                answers[job] = code
            except OSError:
                answers[job] = 0  # connection died with the daemon

        threads = [threading.Thread(target=ask, args=(job,)) for job in jobs]
        for t in threads:
            t.start()
            time.sleep(0.005)
        time.sleep(0.02 + 0.03 * rnd)  # kill at a different point of the burst each round
        assert q.proc is not None
        orphaned_helpers |= acquirer_children(q.proc.pid)
        q.kill9()
        for t in threads:
            t.join(30)
        interrupted += sum(1 for code in answers.values() if code != 201)
        q.start()
        # every job retries (the plugin does) and ends with exactly one granted acquisition
        for job in jobs:
            code, a = acquire(client, job, wait_s=20)
            assert code == 201, a
        _, rows = client.request("GET", "/v1/acquisitions", auth=f"Bearer {harness.OPERATOR_TOKEN}")
        rows = [r for r in rows if r["job_id"] in jobs]
        by_job: dict[str, list] = {}
        for r in rows:
            by_job.setdefault(r["job_id"], []).append(r)
        assert sorted(by_job) == sorted(jobs)
        for job, acqs in by_job.items():
            assert [a["state"] for a in acqs].count("granted") == 1, (job, acqs)
        _, qpu = client.request("GET", "/v1/qpus/sc_twin", auth=None)
        assert qpu["in_use"] == n
        for r in rows:
            if r["state"] == "granted":
                code, _ = client.request("POST", f"/v1/acquisitions/{r['id']}/release?wait_s=10", {})
                assert code == 200
        assert_round_left_nothing(client, state, started, rnd)
    print(f"kill -9 rounds: {KILL_ROUNDS}, requests cut by the kill: {interrupted}, orphaned sessions: 0")
    # the killed daemons' acquirer processes finished their calls and exited
    assert_exited(orphaned_helpers)


def test_kill_9_while_releasing_leaves_no_session_open(make_qrmid, site, munged, emulator, backend) -> None:
    """The acquirer process also releases the sessions it opened (on the instance that opened
    them, which it then reuses). kill -9 of qrmid while 12 releases are under way (the count of
    releases the kill left unfinished is printed for SQLite): after the
    restart every acquisition ends released, the slots are free, the service has no open session
    from the round, and the killed daemon's acquirer process finished its calls and exited."""
    n = 12
    qpus = [{**q, "slots": n} for q in without_windows(site)]
    q = make_qrmid(qpus=qpus)
    client = harness.Client(q.url, munged.socket)
    state = Path(emulator.log).parent / "state"
    helpers: set[int] = set()
    cut = 0  # releases still in state releasing when qrmid died (recovery finished them)
    for rnd in range(3):
        started = time.time()
        jobs = [str(5000 + 100 * rnd + i) for i in range(n)]
        ids = []
        for job in jobs:  # sequential: later ones reuse the instances earlier rounds released
            code, a = acquire(client, job, wait_s=20)
            assert code == 201, a
            ids.append(a["id"])

        def release(acq_id: str) -> None:
            with contextlib.suppress(OSError):  # the daemon may die under the call
                client.request("POST", f"/v1/acquisitions/{acq_id}/release", {})

        threads = [threading.Thread(target=release, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        time.sleep(0.01 + 0.02 * rnd)
        assert q.proc is not None
        helpers |= acquirer_children(q.proc.pid)
        q.kill9()
        for t in threads:
            t.join(30)
        cut += sum(1 for i in ids if acquisition_state(q, i) == "releasing")
        q.start()
        for acq_id in ids:  # a release the kill cut is asked again, as the plugin's retry does
            code, done = client.request("POST", f"/v1/acquisitions/{acq_id}/release?wait_s=20", {})
            assert code == 200 and done["state"] == "released", done
            assert all(h["state"] == "released" for h in done["holds"]), done
        assert_round_left_nothing(client, state, started, rnd)
    print(f"kill -9 during releases: 3 rounds, {cut} releases unfinished at the kill, orphaned sessions: 0")
    assert_exited(helpers)


def acquisition_state(q: harness.Qrmid, acq_id: str) -> str | None:
    """The state a (stopped) qrmid left in its store, read directly (SQLite only; else None)."""
    cfg = json.loads(q.config.read_text())
    if not isinstance(cfg["database"], str):
        return None
    db = sqlite3.connect(f"file:{cfg['database']}?mode=ro", uri=True)
    row = db.execute("SELECT state FROM acquisitions WHERE id=?", (acq_id,)).fetchone()
    db.close()
    return row[0] if row else None


def test_reaper_releases_jobs_slurm_no_longer_has(site, munged, emulator, tmp_path) -> None:
    # a stand-in squeue on PATH: the reaper only runs a command, so this exercises its parsing and decisions
    bindir = tmp_path / "bin"
    bindir.mkdir()
    listing = tmp_path / "squeue.out"
    squeue = bindir / "squeue"
    squeue.write_text(f"#!/bin/sh\ncat {listing}\n")
    squeue.chmod(squeue.stat().st_mode | stat.S_IXUSR)
    # what `squeue --format=%A|%i|%T` prints
    listing.write_text("1201|1201|RUNNING\n1202|1202|RUNNING\n1203|1203|RUNNING\n")
    qpus = [{**q, "slots": 3} for q in without_windows(site)]
    q = harness.Qrmid(
        harness.qrmid_config(
            tmp_path,
            site,
            emulator.url,
            munged.socket,
            harness.free_port(),
            qpus=qpus,
            reaper={"slurm": "on", "interval_s": 1, "grace_s": 0},
        ),
        "",
        tmp_path / "qrmid.log",
    )
    q.url = "http://127.0.0.1:" + str(json.loads(q.config.read_text())["listen_port"])
    q.env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    q.start()
    try:
        client = harness.Client(q.url, munged.socket)
        for job in ("1201", "1202", "1203"):
            code, _ = acquire(client, job, qpus=["FRESNEL"])
            assert code == 201
        listing.write_text("1201|1201|RUNNING\n1202|1202|COMPLETED\n")  # 1203 vanished, 1202 ended
        deadline = time.monotonic() + 10
        states = {}
        while time.monotonic() < deadline:
            _, rows = client.request("GET", "/v1/acquisitions", auth=f"Bearer {harness.OPERATOR_TOKEN}")
            states = {r["job_id"]: (r["state"], r["outcome"]) for r in rows}
            if states["1202"][0] == states["1203"][0] == "released":
                break
            time.sleep(0.3)
        assert states["1201"] == ("granted", None)
        assert states["1202"] == ("released", "reaped") and states["1203"] == ("released", "reaped")
        _, m = client.request("GET", "/metrics", auth=None)
        assert 'qrmid_reaped_total{qpu="FRESNEL",reason="reaped"} 2.0' in m
        # squeue failing proves nothing: no release
        squeue.write_text("#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n")
        time.sleep(2.5)
        _, a = client.request("GET", "/v1/acquisitions?job_id=1201", auth=f"Bearer {harness.OPERATOR_TOKEN}")
        assert a[0]["state"] == "granted"
    finally:
        q.stop()


def test_hold_deadline_expires_the_acquisition(make_qrmid, site, munged) -> None:
    q = make_qrmid(qpus=without_windows(site))
    client = harness.Client(q.url, munged.socket)
    code, a = acquire(client, "1301", qpus=["FRESNEL"], time_limit_s=2)
    assert code == 201
    code, a = client.request("GET", f"/v1/acquisitions/{a['id']}")
    deadline = time.monotonic() + 10
    while a["state"] != "released" and time.monotonic() < deadline:
        time.sleep(0.3)
        _, a = client.request("GET", f"/v1/acquisitions/{a['id']}")
    assert a["state"] == "released" and a["outcome"] == "expired"


def test_openapi_describes_the_api(client: harness.Client) -> None:
    code, doc = client.request("GET", "/openapi.json", auth=None)
    assert code == 200 and doc["openapi"].startswith("3.")
    for path in (
        "/v1/acquisitions",
        "/v1/acquisitions/{acq_id}/release",
        "/v1/qpus/{name}/maintenance",
        "/v1/accounting",
        "/iam/{qpu}/identity/token",
        "/healthz",
        "/metrics",
    ):
        assert path in doc["paths"], path
