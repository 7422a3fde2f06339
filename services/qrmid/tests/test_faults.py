"""Faults (issue 11): a full disk under qrmid's database, a QPU service that is down when a job
releases (reaper off), the reaper reading array and heterogeneous job ids, the database's
retention of job credentials. Against the real daemon, real munged, the real emulator."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import harness
import pytest
from conftest import without_windows
from test_acquire import acquire
from test_job_credentials import iam
from test_reliability import open_sessions

OP = f"Bearer {harness.OPERATOR_TOKEN}"


@pytest.fixture
def backend() -> str:
    return "sqlite"


def wait_until(check, timeout: float = 20.0, every: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


# ------------------------------------------------------------------ disk full
def test_a_full_disk_gives_503_keeps_releases_and_recovers(tmp_path: Path, site, emulator, munged) -> None:
    """The database on a 2 MiB tmpfs in qrmid's own mount namespace (unshare -m; gone with the
    process). Filled: /healthz says the database cannot be written (503), calls fail with a clear
    503 and never 500, a job's release is not lost and its credentials die at once; freed: the
    release completes (the session is closed at the service) and /healthz is ok again."""
    dbdir = tmp_path / "db"
    dbdir.mkdir()
    port = harness.free_port()
    cfg = harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port,
                               qpus=without_windows(site), database=str(dbdir / "qrmid.sqlite"))
    log = tmp_path / "qrmid.log"
    script = 'mount -t tmpfs -o size=2m tmpfs "$1" && shift && exec "$@"'
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(dbdir),
             sys.executable, "-m", "qrmid", "--config", str(cfg)],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    state = Path(emulator.log).parent / "state"
    started = time.time()
    try:
        harness.wait_http(url + "/healthz", 60, proc)
        client = harness.Client(url, munged.socket)
        code, a = acquire(client, "8001")
        assert code == 201, a
        key = a["environment"]["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"]
        iam_url = a["environment"]["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"]
        assert iam(iam_url, key)[0] == 200

        def ns(cmd: str) -> None:
            subprocess.run(["nsenter", "-t", str(proc.pid), "-m", "sh", "-c", cmd], timeout=30,
                           capture_output=True)

        ns(f"cat /dev/zero > {dbdir}/fill; true")
        code, health = client.request("GET", "/healthz", auth=None)
        assert code == 503 and "database" in json.dumps(health) and "write" in json.dumps(health), health
        codes = []
        for _ in range(3):
            code, answer = acquire(client, f"80{10 + len(codes)}", qpus=["FRESNEL"], wait_s=0)
            codes.append(code)
            assert code != 500, answer
            if code == 503:
                assert "database" in answer["detail"], answer
        # the job ends: its release must not be lost, its credentials die now
        code, answer = client.request("DELETE", "/v1/jobs/8001/acquisitions?wait_s=2")
        assert code in (200, 202, 503), answer
        assert code != 500
        assert iam(iam_url, key)[0] == 401
        ns(f"rm -f {dbdir}/fill")
        assert wait_until(lambda: client.request("GET", "/healthz", auth=None)[0] == 200, 20)

        def released() -> bool:
            _, row = client.request("GET", f"/v1/acquisitions/{a['id']}", auth=OP)
            return row["state"] == "released"

        assert wait_until(released, 30), client.request("GET", f"/v1/acquisitions/{a['id']}", auth=OP)
        assert iam(iam_url, key)[0] == 401
        assert wait_until(lambda: open_sessions(state, started) == {}, 20), open_sessions(state, started)
        for job in ("8010", "8011", "8012"):
            client.request("DELETE", f"/v1/jobs/{job}/acquisitions?wait_s=10")
    finally:
        harness.stop(proc)


# ------------------------------------------------------------------ release failure, reaper off
def start_emulator_at(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "qpu_emulator", "--config", str(config), "--log-level",
                                 "warning"], stdout=out, stderr=subprocess.STDOUT)


def test_a_failed_release_is_retried_and_its_slot_not_granted_meanwhile(tmp_path: Path, site, munged,
                                                                        make_qrmid) -> None:
    """Reaper off (the lab's setting). The QPU service is down when job A releases: the slot is
    not granted to job B while A's session may still be open; once the service is back qrmid
    retries on its own, A's session is closed at the service, and B is granted."""
    emu = harness.start_emulator(tmp_path / "emu", site)
    emu_cfg = tmp_path / "emu" / "emulator.json"
    try:
        q = make_qrmid(qpus=without_windows(site), reaper={"slurm": "off", "interval_s": 1})
        cfg = json.loads(q.config.read_text())
        for r in cfg["resources"]:
            for k, v in r["environment"].items():
                if v.startswith(("http://", "https://")):  # the lab serves https; tests use plain loopback
                    rest = v.split("/", 3)[3] if v.count("/") >= 3 else ""
                    r["environment"][k] = emu.url + ("/" + rest if rest else "")
        q.stop()
        q.config.write_text(json.dumps(cfg))
        q.start()
        client = harness.Client(q.url, munged.socket)
        started = time.time()
        code, a = acquire(client, "8101")
        assert code == 201, a
        harness.stop(emu.proc)
        code, rows = client.request("DELETE", "/v1/jobs/8101/acquisitions?wait_s=15")
        assert code == 200
        _, row = client.request("GET", f"/v1/acquisitions/{a['id']}", auth=OP)
        assert any(h["state"] == "release_failed" for h in row["holds"]), row
        code, b = acquire(client, "8102", wait_s=2)
        assert code == 202 and b["state"] == "waiting", b
        _, qpu = client.request("GET", "/v1/qpus/sc_twin", auth=None)
        assert qpu["in_use"] == 1
        emu.proc = start_emulator_at(emu_cfg, emu.log)
        harness.wait_http(emu.url + "/health", 90, emu.proc)

        def a_released() -> bool:
            _, row = client.request("GET", f"/v1/acquisitions/{a['id']}", auth=OP)
            return row["state"] == "released" and all(h["state"] == "released" for h in row["holds"])

        assert wait_until(a_released, 40)
        code, b = client.request("GET", f"/v1/acquisitions/{b['id']}?wait_s=20", auth=OP)
        assert b["state"] == "granted", b
        client.request("DELETE", "/v1/jobs/8102/acquisitions?wait_s=15")
        assert wait_until(lambda: open_sessions(tmp_path / "emu" / "state", started) == {}, 20)
    finally:
        harness.stop(emu.proc)


# ------------------------------------------------------------------ reaper: array and het job ids
FAKE_SQUEUE = r'''#!{python}
import json, sys
fmt = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--format=")), "%i %T")
for job in json.load(open({listing!r})):
    out = fmt
    for code in ("%A", "%i", "%T", "%F", "%K"):
        out = out.replace(code, job.get(code[1], ""))
    print(out)
'''


def test_the_reaper_knows_array_tasks_and_het_jobs(site, munged, emulator, tmp_path: Path) -> None:
    """squeue prints what Slurm prints: `10_1` (%i) for the array task whose job id (%A, what the
    plugin sends) is 11, `20+0`/`20+1` for the components of het job 20 (ids 20, 21). Running
    ones keep their QPU; an ended array task and a vanished job are reaped."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    listing = tmp_path / "squeue.json"
    squeue = bindir / "squeue"
    squeue.write_text(FAKE_SQUEUE.format(python=sys.executable, listing=str(listing)))
    squeue.chmod(squeue.stat().st_mode | stat.S_IXUSR)
    jobs = [
        {"A": "10", "i": "10_[2-5]", "T": "PENDING", "F": "10", "K": "2-5"},
        {"A": "11", "i": "10_1", "T": "RUNNING", "F": "10", "K": "1"},
        {"A": "12", "i": "10_0", "T": "RUNNING", "F": "10", "K": "0"},
        {"A": "20", "i": "20+0", "T": "RUNNING", "F": "20", "K": "N/A"},
        {"A": "21", "i": "20+1", "T": "RUNNING", "F": "21", "K": "N/A"},
        {"A": "30", "i": "30", "T": "RUNNING", "F": "30", "K": "N/A"},
    ]
    listing.write_text(json.dumps(jobs))
    qpus = [{**q, "slots": 8} for q in without_windows(site)]
    port = harness.free_port()
    q = harness.Qrmid(
        harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port, qpus=qpus,
                             reaper={"slurm": "on", "interval_s": 1, "grace_s": 0}),
        f"http://127.0.0.1:{port}", tmp_path / "qrmid.log")
    q.env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    q.start()
    try:
        client = harness.Client(q.url, munged.socket)
        for job in ("11", "12", "20", "21", "30"):
            code, a = acquire(client, job, qpus=["FRESNEL"])
            assert code == 201, a
        time.sleep(3.5)  # three reaper rounds

        def states() -> dict[str, tuple[str, str | None]]:
            _, rows = client.request("GET", "/v1/acquisitions", auth=OP)
            return {r["job_id"]: (r["state"], r["outcome"]) for r in rows}

        assert all(s == ("granted", None) for s in states().values()), states()
        # array task 10_0 (job 12) ends, job 30 vanishes; 10_1 and the het job keep running
        jobs[2]["T"] = "COMPLETED"
        listing.write_text(json.dumps([j for j in jobs if j["A"] != "30"]))
        assert wait_until(lambda: states()["12"][0] == states()["30"][0] == "released", 10), states()
        s = states()
        assert s["12"] == ("released", "reaped") and s["30"] == ("released", "reaped")
        assert s["11"] == s["20"] == s["21"] == ("granted", None), s
    finally:
        q.stop()


# ------------------------------------------------------------------ retention
def test_job_credentials_are_bounded_and_pruned(make_qrmid, site, munged) -> None:
    """One job minting bearer tokens in a loop does not grow the database without bound, and
    credentials past their expiry are pruned."""
    q = make_qrmid(qpus=without_windows(site), job_token_ttl_s=2)
    client = harness.Client(q.url, munged.socket)
    code, a = acquire(client, "8301")
    assert code == 201, a
    env = a["environment"]
    url, key = env["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"], env["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"]
    for _ in range(300):
        code, tok = iam(url, key)
        assert code in (200, 429), tok
    code, tok = iam(url, key)
    db = json.loads(q.config.read_text())["database"]

    def count() -> int:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        n = con.execute("SELECT COUNT(*) FROM credentials WHERE kind='bearer'").fetchone()[0]
        con.close()
        return int(n)

    assert count() <= 64, count()
    # expired bearer tokens (ttl 2 s) disappear from the database
    assert wait_until(lambda: count() == 0, 30), count()
