from __future__ import annotations

import ipaddress
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rehearsal.smoke import parse_job_state, parse_sinfo_nodes, prometheus_targets_up, summarise_targets


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
