"""Grid Engine job ids and the Grid Engine reaper: `qstat -u * -xml` as Grid Engine 8.1.9 prints
it (qstat_xml.c: running jobs and tasks under <queue_info>, pending ones and pending task ranges
under the inner <job_info>), parsed, and acted on by a real qrmid (scheduler: gridengine) with a
stand-in qstat on PATH that prints that listing. A real qmaster cannot run here (it binds every
address); the Grid Engine rehearsal (lab-ge) runs this reaper against the real one."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import harness
import pytest
from conftest import without_windows
from qrmid.jobids import check, ge_job_id, ge_split, scheduler_fields
from qrmid.reaper_gridengine import parse_qstat_xml, parse_tasks
from test_acquire import acquire
from test_faults import OP, wait_until


def job_list(number: str, state: str, tasks: str = "", running: bool = True) -> str:
    when = ("<JAT_start_time>2026-12-02T19:00:01</JAT_start_time>" if running
            else "<JB_submission_time>2026-12-02T18:59:40</JB_submission_time>")
    return (f'    <job_list state="{"running" if running else "pending"}">\n'
            f"      <JB_job_number>{number}</JB_job_number>\n      <JAT_prio>0.55500</JAT_prio>\n"
            f"      <JB_name>job.sh</JB_name>\n      <JB_owner>alice</JB_owner>\n      <state>{state}</state>\n"
            f"      {when}\n      <queue_name>{'all.q@c1' if running else ''}</queue_name>\n"
            f"      <slots>1</slots>\n" + (f"      <tasks>{tasks}</tasks>\n" if tasks else "") + "    </job_list>\n")


def listing(jobs: list[dict[str, Any]]) -> str:
    running = "".join(job_list(j["n"], j["s"], j.get("t", ""), True) for j in jobs if "q" not in j["s"])
    pending = "".join(job_list(j["n"], j["s"], j.get("t", ""), False) for j in jobs if "q" in j["s"])
    return ("<?xml version='1.0'?>\n<job_info  xmlns:xsd=\"https://github.com/gridengine/gridengine/raw/master/"
            "source/dist/util/resources/schemas/qstat/qstat.xsd\">\n"
            f"  <queue_info>\n{running}  </queue_info>\n  <job_info>\n{pending}  </job_info>\n</job_info>\n")


JOBS = [
    {"n": "10", "s": "r", "t": "1"},        # array job 10: task 1 runs
    {"n": "10", "s": "Rr", "t": "3"},       # task 3 runs again after a reschedule
    {"n": "10", "s": "qw", "t": "4-10:2"},  # tasks 4, 6, 8, 10 pending
    {"n": "10", "s": "hqw", "t": "11,13-14:1"},
    {"n": "20", "s": "r"},                  # a plain job
    {"n": "21", "s": "dr"},                 # being deleted: its epilog has not run yet
    {"n": "22", "s": "Eqw"},                # error state: runs nothing
]


def test_ge_job_ids() -> None:
    assert ge_split("1234") == ("1234", None) and ge_split("1234.5") == ("1234", "5")
    assert [ge_split(j) for j in ("0", "1234.0", "12_1", "1.2.3", "01", "12345678901", "1234.")] == [None] * 7
    assert ge_job_id("1234", "0") == "1234" and ge_job_id("1234", "5") == "1234.5"
    assert check("gridengine", "10_1") and "1234.5" in str(check("gridengine", "x"))
    assert check("slurm", "10_1") is None and check("gridengine", "7.2") is None
    assert scheduler_fields("gridengine", "1234.5") == {"scheduler": "gridengine", "job_number": "1234",
                                                         "task_id": "5"}
    assert scheduler_fields("slurm", "42") == {"scheduler": "slurm", "job_number": "42", "task_id": None}


def test_parse_qstat_xml_with_array_tasks() -> None:
    jobs = parse_qstat_xml(listing(JOBS))
    expect = {"10.1": "r", "10.3": "Rr", "10.4": "qw", "10.10": "qw", "10.11": "hqw", "10.14": "hqw",
              "10.2": None, "10.5": None, "10.12": None, "10.16": None, "10": "r", "20": "r", "20.1": "r",
              "21": "dr", "22": "Eqw", "23": None, "x": None}
    assert {j: jobs.state(j) for j in expect} == expect
    assert [jobs.ended(s) for s in ("r", "Rr", "qw", "hqw", "dr", "t", "s", "Eqw")] == [False] * 7 + [True]
    assert parse_tasks("4-10:2, 12,bogus,13-14") == ([12], [(4, 10, 2), (13, 14, 1)])
    empty = "<?xml version='1.0'?>\n<job_info>\n  <queue_info/>\n  <job_info/>\n</job_info>\n"
    assert parse_qstat_xml(empty).jobs == {}
    for bad in ("error: commlib error: got select error (Connection refused)", "<html/>", ""):
        with pytest.raises(ValueError, match="qstat"):
            parse_qstat_xml(bad)


FAKE_QSTAT = r'''#!{python}
import sys
if sys.argv[1:] != ["-u", "*", "-xml"]:
    sys.exit("unexpected arguments: " + repr(sys.argv[1:]))
text = open({listing!r}).read()
if text == "FAIL":
    sys.exit("error: unable to contact qmaster using port 6444 on host qmaster")
sys.stdout.write(text)
'''


def test_the_gridengine_reaper(site: dict[str, Any], munged: harness.Munged, emulator: harness.Emulator,
                               tmp_path: Path) -> None:
    """Running and pending tasks keep their QPU; a task that left the listing, a job in error state
    and a vanished job are reaped; a failing qstat releases nothing. Job ids that are not Grid
    Engine's are refused for qrmid's cluster, and accounting names the job number and task."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    out = tmp_path / "qstat.xml"
    qstat = bindir / "qstat"
    qstat.write_text(FAKE_QSTAT.format(python=sys.executable, listing=str(out)))
    qstat.chmod(qstat.stat().st_mode | stat.S_IXUSR)
    out.write_text(listing(JOBS))
    qpus = [{**q, "slots": 16} for q in without_windows(site)]
    port = harness.free_port()
    q = harness.Qrmid(
        harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port, qpus=qpus, cluster="labge",
                             scheduler="gridengine",
                             reaper={"query": "on", "slurm": "off", "interval_s": 1, "grace_s": 0}),
        f"http://127.0.0.1:{port}", tmp_path / "qrmid.log")
    q.env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    q.start()
    try:
        client = harness.Client(q.url, munged.socket)
        code, a = acquire(client, "10_1", qpus=["FRESNEL"])
        assert code == 422 and "not a Grid Engine job id" in a["detail"], a
        code, a = acquire(client, "10_1", qpus=["FRESNEL"], cluster="otherslurm")  # another cluster's ids
        assert code == 201, a
        alive = ["10.1", "10.3", "10.4", "10.11", "20", "21"]
        for job in [*alive, "10.2", "22", "30"]:
            code, a = acquire(client, job, qpus=["FRESNEL"])
            assert code == 201, (job, a)

        def states() -> dict[str, tuple[str, str | None]]:
            _, rows = client.request("GET", "/v1/acquisitions?cluster=labge", auth=OP)
            return {r["job_id"]: (r["state"], r["outcome"]) for r in rows}

        gone = ("10.2", "22", "30")
        assert wait_until(lambda: all(states()[j][0] == "released" for j in gone), 15), states()
        s = states()
        assert all(s[j] == ("released", "reaped") for j in gone), s
        assert all(s[j] == ("granted", None) for j in alive), s

        out.write_text("FAIL")  # qmaster unreachable: nothing is released
        time.sleep(3.5)
        assert all(states()[j] == ("granted", None) for j in alive), states()
        out.write_text(listing([j for j in JOBS if j["n"] != "20" and j.get("t") != "1"]))
        assert wait_until(lambda: states()["20"][0] == states()["10.1"][0] == "released", 15), states()
        assert all(states()[j] == ("granted", None) for j in ("10.3", "10.4", "10.11", "21"))
        _, other = client.request("GET", "/v1/acquisitions?cluster=otherslurm", auth=OP)
        assert [(r["job_id"], r["state"]) for r in other] == [("10_1", "granted")]  # not this reaper's to judge

        code, acct = client.request("GET", "/v1/accounting?job_id=10.3", auth=OP)
        assert code == 200, acct
        [rec] = acct["records"]
        assert (rec["scheduler"], rec["job_number"], rec["task_id"], rec["cluster"]) == (
            "gridengine", "10", "3", "labge")
        assert "qstat unavailable" not in q.log.read_text()
        assert json.loads(q.config.read_text())["scheduler"] == "gridengine"
    finally:
        q.stop()
