from __future__ import annotations

import ipaddress
import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from acceptance.slurm_reservations import parse_reservations
from rehearsal.smoke import (
    choose_qpu,
    parse_job_state,
    parse_sinfo_nodes,
    prometheus_targets_up,
    qpu_license_job,
    summarise_targets,
)


def test_sinfo_lines_become_node_states():
    out = "c1 idle\nc2 mixed\nc1 idle\n\n"
    assert parse_sinfo_nodes(out) == {"c1": "idle", "c2": "mixed"}


def test_job_state_from_scontrol_one_liner():
    line = "JobId=7 JobName=qpusite-smoke UserId=root(0) JobState=COMPLETED Reason=None Licenses=sc_twin:1"
    assert parse_job_state(line) == "COMPLETED"
    assert parse_job_state("slurm_load_jobs error: Invalid job id specified") is None


def target(job, url, health, error=""):
    return {"labels": {"job": job}, "scrapeUrl": url, "health": health, "lastError": error}


def test_all_targets_up():
    targets = [target("node", "u1", "up"), target("node", "u2", "up")]
    ok, detail = summarise_targets({"data": {"activeTargets": targets}})
    assert ok and detail == "2 target(s) up"


def test_a_down_target_is_named_with_its_error():
    targets = [target("node", "u1", "up"), target("qrmid", "http://x/metrics", "down", "refused")]
    body = {"data": {"activeTargets": targets}}
    ok, detail = summarise_targets(body)
    assert not ok
    assert "1 of 2" in detail and "qrmid/http://x/metrics down (refused)" in detail


def test_no_targets_is_not_healthy():
    assert summarise_targets({"data": {"activeTargets": []}})[0] is False


class _Targets(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).calls += 1
        health = "up" if type(self).calls >= 2 else "unknown"  # the first scrape has not happened yet
        body = json.dumps({"status": "success", "data": {"activeTargets": [target("node", "u", health)]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def prometheus_stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Targets)
    _Targets.calls = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_polls_the_http_api_until_every_target_is_up(prometheus_stub, monkeypatch):
    monkeypatch.setattr("rehearsal.smoke.time.sleep", lambda _s: None)
    result = prometheus_targets_up("127.0.0.1", prometheus_stub, ipaddress.IPv4Network("127.0.0.0/8"), timeout_s=5)
    assert result.ok, result.detail
    assert _Targets.calls >= 2


def test_an_address_outside_the_site_network_is_never_queried(prometheus_stub):
    result = prometheus_targets_up("127.0.0.1", prometheus_stub, ipaddress.IPv4Network("10.77.0.0/24"), timeout_s=1)
    assert result.ok is False and "outside the site network" in result.detail
    assert _Targets.calls == 0


def test_unreachable_prometheus_fails_after_the_bound(monkeypatch):
    monkeypatch.setattr("rehearsal.smoke.time.sleep", lambda _s: None)
    result = prometheus_targets_up("127.0.0.1", 9, ipaddress.IPv4Network("127.0.0.0/8"), timeout_s=0.2)
    assert result.ok is False and "127.0.0.1:9" in result.detail


# --- the license job picks a QPU no reservation holds now --------------------------------------------

NOW = 1_796_270_400.0  # 2026-12-03T04:00:00Z
RESERVATIONS = "\n".join([
    # national's daily calibration of ibm_qhall, 05:00-05:45 Europe/Paris, in force now
    ("ReservationName=qpu_ibm_qhall_daily-cal_20261203T0500 StartTime=2026-12-03T04:00:00 "
     "EndTime=2026-12-03T04:45:00 Flags=MAINT,LICENSE_ONLY Licenses=ibm_qhall:1 State=ACTIVE"),
    # pasqal's window starts one minute from now: inside a 2-minute job's limit
    ("ReservationName=qpu_pasqal_qhall_reload_20261203T0501 StartTime=2026-12-03T04:01:00 "
     "EndTime=2026-12-03T05:00:00 Flags=MAINT,LICENSE_ONLY Licenses=pasqal_qhall:1 State=INACTIVE"),
    # spark's window is later today
    ("ReservationName=qpu_spark_nightly_20261203T1000 StartTime=2026-12-03T10:00:00 "
     "EndTime=2026-12-03T10:30:00 Flags=MAINT,LICENSE_ONLY Licenses=spark:1 State=INACTIVE"),
])


def test_the_job_goes_to_the_first_qpu_no_reservation_holds_within_its_limit():
    found = parse_reservations(RESERVATIONS)
    assert choose_qpu(["ibm_qhall", "pasqal_qhall", "spark"], found, NOW) == ("spark", [])
    assert choose_qpu(["spark", "ibm_qhall"], found, NOW) == ("spark", [])
    # the window ended: ibm_qhall is free again
    assert choose_qpu(["ibm_qhall", "spark"], found, NOW + 45 * 60) == ("ibm_qhall", [])


def test_when_every_qpu_is_held_the_first_one_is_tried_with_its_reservations():
    qpu, held = choose_qpu(["ibm_qhall", "pasqal_qhall"], parse_reservations(RESERVATIONS), NOW)
    assert qpu == "ibm_qhall"
    assert [r.name for r in held] == ["qpu_ibm_qhall_daily-cal_20261203T0500"]


class _ScriptedLogin:
    """The login host's answers to the smoke job's commands (what a real slurmctld prints)."""

    def __init__(self, reservations: str, job_line: str):
        self.reservations, self.job_line, self.commands = reservations, job_line, []

    def run(self, _target, command, timeout=30):
        self.commands.append(command)
        out = {"date": f"{NOW:.0f}\n", "env TZ=UTC scontrol show reservation": self.reservations,
               "sbatch": "41\n", "scontrol -o show job": self.job_line, "scancel": ""}
        stdout = next(v for k, v in out.items() if command.startswith(k))
        return subprocess.CompletedProcess(command, 0, stdout, "")


def test_a_job_held_by_the_window_when_every_qpu_is_reserved_is_not_applicable(monkeypatch):
    monkeypatch.setattr("rehearsal.smoke.time.sleep", lambda _s: None)
    monkeypatch.setattr("rehearsal.smoke.HELD_OBSERVE_S", 0.05)
    login = _ScriptedLogin(RESERVATIONS, "JobId=41 JobState=PENDING Reason=Licenses Licenses=ibm_qhall:1")
    result = qpu_license_job(login, None, ["ibm_qhall"])
    assert result.ok is None, result.detail
    assert "qpu_ibm_qhall_daily-cal_20261203T0500" in result.detail and "2026-12-03T04:45:00" in result.detail
    assert any(c.startswith("sbatch") and "-L ibm_qhall:1" in c for c in login.commands)
    assert any(c == "scancel 41" for c in login.commands)


def test_a_held_job_pending_for_another_reason_fails(monkeypatch):
    monkeypatch.setattr("rehearsal.smoke.time.sleep", lambda _s: None)
    monkeypatch.setattr("rehearsal.smoke.HELD_OBSERVE_S", 0.05)
    login = _ScriptedLogin(RESERVATIONS, "JobId=41 JobState=PENDING Reason=AssocGrpCpuLimit")
    result = qpu_license_job(login, None, ["ibm_qhall"])
    assert result.ok is False and "AssocGrpCpuLimit" in result.detail


def test_a_free_qpu_must_complete(monkeypatch):
    monkeypatch.setattr("rehearsal.smoke.time.sleep", lambda _s: None)
    login = _ScriptedLogin(RESERVATIONS, "JobId=41 JobState=PENDING Reason=Licenses")
    result = qpu_license_job(login, None, ["spark"], timeout_s=0.05)
    assert result.ok is False and "(cancelled)" in result.detail  # no window excuses a free QPU
    done = _ScriptedLogin(RESERVATIONS, "JobId=41 JobState=COMPLETED Reason=None")
    assert qpu_license_job(done, None, ["ibm_qhall", "spark"]).ok is True
    assert any("-L spark:1" in c for c in done.commands)
