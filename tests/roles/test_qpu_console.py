"""The QPU console page (roles/prometheus/files/consoles/qpu.html) rendered by a real Prometheus
on loopback, scraping qrmid-shaped counters and evaluating the QPU recording rules; and the
Grafana dashboard reading the same recorded series."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

FILES = REPO / "roles" / "prometheus" / "files"
START = time.time()


def exposition() -> str:
    """sc_twin: available 1 s/s, held 0.5 s/s, executing 0.25 s/s, 2 jobs waiting (3 nodes each);
    FRESNEL: in maintenance, nothing available."""
    t = time.time() - START
    return "\n".join([
        'qrmid_qpu_up{qpu="sc_twin"} 1', 'qrmid_qpu_up{qpu="FRESNEL"} 1',
        'qrmid_qpu_maintenance{qpu="sc_twin"} 0', 'qrmid_qpu_maintenance{qpu="FRESNEL"} 1',
        'qrmid_qpu_calibrating{qpu="sc_twin"} 0', 'qrmid_qpu_calibrating{qpu="FRESNEL"} 0',
        'qrmid_waiting_acquisitions{qpu="sc_twin"} 2', 'qrmid_waiting_acquisitions{qpu="FRESNEL"} 0',
        'qrmid_active_acquisitions{qpu="sc_twin",profile="production"} 1',
        f'qrmid_qpu_available_seconds_total{{qpu="sc_twin"}} {t}', 'qrmid_qpu_available_seconds_total{qpu="FRESNEL"} 0',
        f'qrmid_qpu_held_seconds_total{{qpu="sc_twin"}} {t / 2}', 'qrmid_qpu_held_seconds_total{qpu="FRESNEL"} 0',
        f'qrmid_qpu_executing_seconds_total{{qpu="sc_twin"}} {t / 4}',
        f'qrmid_qpu_wait_node_seconds_total{{qpu="sc_twin"}} {6 * t}', "",
    ])


class Exporter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = exposition().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not shutil.which("prometheus"):
        pytest.skip("prometheus is not installed")
    tmp = tmp_path_factory.mktemp("prom")
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(FILES / "rules" / "qpusite-qpu.yml")],
        "scrape_configs": [{"job_name": "qrmid",
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_address[1]}"]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603
        ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", f"--web.console.templates={FILES / 'consoles'}",
         f"--web.console.libraries={FILES / 'console_libraries'}"],
        stdout=subprocess.DEVNULL, stderr=(tmp / "log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                q = urllib.request.urlopen(  # noqa: S310
                    url + "/api/v1/query?query=qpu:executing_over_available:ratio_rate15m", timeout=2)
                if json.load(q)["data"]["result"]:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("Prometheus never recorded the QPU series: " + (tmp / "log").read_text()[-2000:])
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        exporter.shutdown()


def cells(html: str, qpu: str) -> list[str]:
    """The first table row of the QPU: its cells' text (tags removed)."""
    row = re.search(rf"<tr><td>{qpu}</td>(.*?)</tr>", html, re.S)
    assert row, f"no row for {qpu}"
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row.group(1), re.S)]


def test_console_page_shows_each_qpu_with_its_figures(prometheus: str) -> None:
    with urllib.request.urlopen(prometheus + "/consoles/qpu.html", timeout=30) as resp:  # noqa: S310
        assert resp.status == 200
        html = resp.read().decode()
    assert "error" not in html.lower()
    online, calibrating, maintenance, exe15, held15, exe1h, held1h, holding, waiting, _, nodes, queued, running = \
        cells(html, "sc_twin")
    assert (queued, running) == ("-", "-")  # no task queue: sc_twin is held job by job here
    assert (online, calibrating, maintenance) == ("yes", "no", "no")
    assert exe15 == exe1h == "25%" and held15 == held1h == "50%"
    assert (holding, waiting) == ("1", "2") and float(nodes) > 0  # an hourly rate over seconds of data
    fresnel = cells(html, "FRESNEL")
    assert fresnel[2] == "yes" and fresnel[3] == "-"  # maintenance; no available time: no ratio
    assert 'class="bar" style="width: 25px"' in html


def test_grafana_dashboard_and_console_read_the_same_recorded_series() -> None:
    rules = yaml.safe_load((FILES / "rules" / "qpusite-qpu.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    console = set(re.findall(r"\bqpu:[a-z_0-9:]+", (FILES / "consoles" / "qpu.html").read_text()))
    template = (REPO / "roles/grafana_dashboards/templates/dashboards/qpusite-overview.json.j2").read_text()
    grafana = set(re.findall(r"\bqpu:[a-z_0-9:]+", template))
    assert console <= recorded and grafana <= recorded
    # every figure the console shows per QPU now is on the dashboard too
    assert {s for s in console if "15m" in s or "length" in s or "waiting" in s or "count" in s} <= grafana
