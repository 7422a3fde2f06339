"""qpu-job-info (roles/spank_qrmid/files/qpu_job_info.py): Slurm's records as scontrol and
sacct print them, the one-line reason, the text a user reads, and its refusals."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "roles" / "spank_qrmid" / "files" / "qpu_job_info.py"

# scontrol -o show job, Slurm 22.05, a --qpu job pending on its license (one line)
PENDING = (
    "JobId=42 JobName=vqe UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A Priority=4294901757 Nice=0 "
    "Account=production QOS=normal JobState=PENDING Reason=Licenses Dependency=(null) Requeue=1 Restarts=0 "
    "BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=00:10:00 TimeMin=N/A "
    "SubmitTime=2026-12-02T19:10:01 EligibleTime=2026-12-02T19:10:01 AccrueTime=2026-12-02T19:10:01 "
    "StartTime=2026-12-02T20:00:00 EndTime=2026-12-02T20:10:00 Deadline=N/A Partition=debug "
    "NodeList=(null) NumNodes=1 Licenses=sc_twin:1 Command=/home/alice/my job.sh WorkDir=/home/alice"
)
RESERVATION = (
    "ReservationName=qpu-sc_twin-nightly-20261202-1930 StartTime=2026-12-02T19:30:00 "
    "EndTime=2026-12-02T20:00:00 Duration=00:30:00 Nodes=(null) NodeCnt=0 CoreCnt=0 Features=(null) "
    "PartitionName=(null) Flags=MAINT,LICENSE_ONLY TRES=(null) Users=root Groups=(null) Accounts=(null) "
    "Licenses=sc_twin:1 State=ACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)"
)
SACCT = ("42|alice|1001|COMPLETED|None|2026-12-02T19:10:01|2026-12-02T19:10:01|2026-12-02T19:10:05|"
         "2026-12-02T19:10:40|00:10:00|debug|c1|billing=65,cpu=1,license/sc_twin=1,node=1|")


def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qpu_job_info", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_scontrol_line_with_spaces_in_values() -> None:
    t = tool()
    job = t.from_scontrol(t.parse_scontrol(PENDING))
    assert job["user"] == "alice" and job["uid"] == 1001 and job["state"] == "PENDING"
    assert job["reason"] == "Licenses" and job["licenses"] == {"sc_twin": 1}
    assert job["start"] is None and job["expected_start"] == ts("2026-12-02T20:00:00")
    assert job["end"] is None and job["nodes"] is None
    assert t.parse_scontrol(PENDING)["Command"] == "/home/alice/my job.sh"


def test_sacct_row_of_a_finished_job() -> None:
    t = tool()
    job = t.from_sacct(SACCT)
    assert job["state"] == "COMPLETED" and job["uid"] == 1001 and job["reason"] is None
    assert job["licenses"] == {"sc_twin": 1}  # from ReqTRES, cpu/node/billing left out
    assert job["start"] == ts("2026-12-02T19:10:05") and job["end"] == ts("2026-12-02T19:10:40")


def test_pending_on_a_license_names_the_window_that_holds_it() -> None:
    t = tool()
    job = t.from_scontrol(t.parse_scontrol(PENDING))
    r = t.parse_scontrol(RESERVATION)
    resv = [{"name": r["ReservationName"], "qpus": ["sc_twin"], "start": ts(r["StartTime"]),
             "end": ts(r["EndTime"]), "flags": r["Flags"]}]
    why = t.why_now(job, None, resv, ts("2026-12-02T19:40:00"))
    assert why.startswith("pending in Slurm (Licenses): every license of its QPU is in use")
    assert "reservation qpu-sc_twin-nightly-20261202-1930 holds sc_twin until 2026-12-02 20:00:00" in why
    assert "expects it to start at 2026-12-02 20:00:00" in why
    # before the window opens: named when the job's 10-minute limit would reach into it, not otherwise
    why = t.why_now(job, None, resv, ts("2026-12-02T19:25:00"))
    assert "its time limit would reach into reservation qpu-sc_twin-nightly-20261202-1930 on sc_twin at " \
           "2026-12-02 19:30:00" in why
    assert "reservation" not in t.why_now(job, None, resv, ts("2026-12-02T19:10:00"))
    assert [t.limit_seconds(x) for x in ("10", "10:30", "01:02:03", "2-00:00:00", "1-2", "UNLIMITED")] == [
        600, 630, 3723, 172800, 93600, None]


def qrmid_answer(state: str, message: str | None, tasks: list[dict]) -> dict:
    acq = {"id": "a1", "profile": "production", "priority": 10, "qpus": ["sc_twin"], "nodes": 1, "state": state,
           "outcome": None, "message": message, "requested_at": ts("2026-12-02T19:10:06"),
           "granted_at": None if state == "waiting" else ts("2026-12-02T19:10:06"), "released_at": None,
           "hold_s": 600, "held_s": 30.0, "wait_s": 0.1, "tasks": tasks, "tasks_truncated": False,
           "executing_s": sum(x["executing_s"] or 0 for x in tasks), "other_s": sum(x["other_s"] or 0 for x in tasks)}
    return {"acquisitions": [acq], "qpus": {"sc_twin": None}, "waiting": message if state == "waiting" else None}


def test_running_job_reasons_from_qrmid() -> None:
    t = tool()
    job = t.from_sacct(SACCT) | {"state": "RUNNING", "end": None}
    waiting = qrmid_answer("waiting", "waiting: QPU sc_twin is held by other jobs", [])
    assert t.why_now(job, waiting, [], 0) == "running, but waiting in qrmid: waiting: QPU sc_twin is held by other jobs"
    task = {"qpu": "sc_twin", "id": "t1", "state": "submitted", "submitted_at": 1.0, "ended_at": None,
            "wall_s": 3.0, "executing_s": None, "other_s": None}
    assert "1 task(s) at the QPU service" in t.why_now(job, qrmid_answer("granted", None, [task]), [], 0)
    assert "a classical phase" in t.why_now(job, qrmid_answer("granted", None, []), [], 0)
    assert "qrmid has no QPU request" in t.why_now(job, None, [], 0)


def test_text_of_a_finished_job_shows_execution_against_transport() -> None:
    t = tool()
    job = t.from_sacct(SACCT)
    task = {"qpu": "sc_twin", "id": "d2f\x1b[31m", "state": "done", "submitted_at": ts("2026-12-02T19:10:08"),
            "ended_at": ts("2026-12-02T19:10:13"), "wall_s": 5.3, "executing_s": 2.1, "other_s": 3.2}
    q = qrmid_answer("released", None, [task])
    info = {"slurm": job, "reservations": [], "qrmid": q, "why": t.why_now(job, q, [], 0)}
    text = t.render(info)
    assert "Why now: not waiting: the job ended (COMPLETED) at 2026-12-02 19:10:40" in text
    assert "started     2026-12-02 19:10:05   (waited 4.0s in Slurm)" in text
    assert "tasks 1 (1 done): executing 2.1s, queue+transport 3.2s" in text
    assert "waited 0.1s for the QPU, held it 30.0s (at most 0h10m00s)" in text
    assert "executing 2.1s, other 3.2s" in text
    assert "\x1b" not in text  # nothing a service returns reaches the terminal as a control character


def fake_slurm(tmp_path: Path, scontrol_out: str) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, out in (("scontrol", scontrol_out), ("sacct", "")):
        script = bindir / name
        script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{out}\nEOF\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"url": "http://127.0.0.1:9", "cluster": "lab", "timeout_s": 5}))
    return {"PATH": f"{bindir}:{os.environ['PATH']}", "config": str(config)}


def test_refusals_exit_2_before_anything_is_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    t = tool()
    assert t.main(["42;rm", "--config", "/nonexistent"]) == 2
    assert "is not a Slurm job id" in capsys.readouterr().err
    env = fake_slurm(tmp_path, PENDING.replace("alice(1001)", "bob(1002)"))
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setattr(os, "getuid", lambda: 1001)
    assert t.main(["42", "--config", env["config"]]) == 2
    err = capsys.readouterr().err
    assert "job 42 is not yours" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"url": "file:///etc/passwd", "cluster": "lab"}))
    assert t.main(["42", "--config", str(bad)]) == 1
    assert "'url' must be qrmid's http(s) URL" in capsys.readouterr().err


def test_tasks_queued_in_qrmid_are_the_reason_and_are_listed() -> None:
    # qrmid with task-level sharing answers GET /v1/accounting/tasks; a queued task is why the job waits
    t = tool()
    job = t.from_sacct(SACCT) | {"state": "RUNNING", "end": None}
    q = qrmid_answer("granted", None, [])
    q["task_queue"] = [{"qpu": "sc_twin", "state": "queued", "queued_at": ts("2026-12-02T19:10:09"),
                        "dispatched_at": None, "ended_at": None, "queued_s": None, "qpu_seconds": None,
                        "message": "behind 2 production tasks"},
                       {"qpu": "sc_twin", "state": "ended", "queued_at": ts("2026-12-02T19:10:07"),
                        "dispatched_at": ts("2026-12-02T19:10:08"), "ended_at": ts("2026-12-02T19:10:09"),
                        "queued_s": 1.0, "qpu_seconds": 0.5, "message": None}]
    why = t.why_now(job, q, [], 0)
    assert why.startswith("running; 1 task(s) queued in qrmid for sc_twin")
    text = t.render({"slurm": job, "reservations": [], "qrmid": q, "why": why})
    assert "task queue (QPU shared task by task)" in text
    assert "sc_twin  queued  queued 2026-12-02 19:10:09  dispatched -" in text and "(behind 2 production tasks)" in text
    assert "waited 1.0s in qrmid, executing 0.5s" in text


def test_a_task_forwarded_to_wait_at_the_service_is_shown_waiting_there() -> None:
    # qrmid's lookahead forwarded the job's next task: it waits in the service's queue, not running
    t = tool()
    job = t.from_sacct(SACCT) | {"state": "RUNNING", "end": None}
    q = qrmid_answer("granted", None, [])
    q["task_queue"] = [{"qpu": "sc_twin", "state": "dispatched", "phase": "running",
                        "queued_at": ts("2026-12-02T19:10:07"), "dispatched_at": ts("2026-12-02T19:10:07"),
                        "started_at": ts("2026-12-02T19:10:08"), "ended_at": None, "queued_s": 0.0,
                        "service_queued_s": 1.0, "qpu_seconds": None, "message": None},
                       {"qpu": "sc_twin", "state": "dispatched", "phase": "waiting at the service",
                        "queued_at": ts("2026-12-02T19:10:09"), "dispatched_at": ts("2026-12-02T19:10:09"),
                        "started_at": None, "ended_at": None, "queued_s": 0.0, "service_queued_s": 2.5,
                        "qpu_seconds": None, "message": None}]
    why = t.why_now(job, q, [], 0)
    assert why.startswith("running; 1 task(s) forwarded by qrmid and waiting in the QPU service's queue for sc_twin")
    text = t.render({"slurm": job, "reservations": [], "qrmid": q, "why": why})
    assert ("sc_twin  waiting at the service  queued 2026-12-02 19:10:09  dispatched 2026-12-02 19:10:09  ended -"
            in text)
    assert "sc_twin  running  queued 2026-12-02 19:10:07" in text and "started 2026-12-02 19:10:08" in text
    assert "waited 0.0s in qrmid, 2.5s at the service" in text
