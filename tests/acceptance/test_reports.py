"""JUnit XML, HTML report and JSON record are well-formed and say what happened."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from acceptance.history import compare
from acceptance.report import html, junit
from acceptance.results import CheckResult, Metric, RunRecord
from acceptance.spec import Status
from site_survey.model import Site


def record() -> RunRecord:
    def res(i: int, name: str, status: Status, message: str, component: str = "services",
            metrics: list[Metric] | None = None) -> CheckResult:
        return CheckResult(f"{i:03d}_{name}[x]", i, name, "x", "smoke", component, status, message, 0.5,
                           log=f"log of {name} <&>", metrics=metrics or [])

    mirror = Metric("sc_twin", "mirror_survival", 0.88, 0.6,
                    detail={"survival": {"2x2": 0.95, "2x4": 0.93, "4x2": 0.9, "4x4": 0.8}})
    qv = Metric("sc_twin", "quantum_volume", 8.0, 8.0, detail={"per_width": {
        "2": {"mean_hop": 0.76, "lower_bound": 0.68, "passed": True},
        "3": {"mean_hop": 0.79, "lower_bound": 0.70, "passed": True}}})
    quench = Metric("FRESNEL", "ising_quench_error", 0.02, 0.1, higher_is_better=False,
                    detail={"times_ns": [252, 500], "measured": [-0.02, -0.25], "reference": [-0.01, -0.25]})
    return RunRecord("lab", "l1", "2026-11-21T06:00:00+00:00", "2026-11-21T06:02:00+00:00", [
        res(13, "service_running", Status.passed, "active"),
        res(14, "port_bound", Status.failed, "listens on 0.0.0.0:9100", "network"),
        res(13, "service_running", Status.missing, "qrmid not deployed on qgw: no service qrmid"),
        res(73, "ising_quench", Status.skipped, "n/a", "benchmark"),
        res(70, "ghz_fidelity", Status.passed, "0.87", "benchmark", [Metric("sc_twin", "ghz_fidelity", 0.87, 0.8)]),
        res(72, "mirror_survival", Status.passed, "0.88", "benchmark", [mirror, qv, quench]),
    ])


def test_junit_is_well_formed_and_counts_match() -> None:
    root = ET.fromstring(junit.render(record()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "1", "1", "1")
    cases = root.findall(".//testcase")
    assert len(cases) == 6
    failure = root.find(".//testcase[@name='014_port_bound[x]']/failure")
    assert failure is not None and failure.get("message") == "listens on 0.0.0.0:9100"
    assert failure.text == "log of port_bound <&>"
    error = root.find(".//testsuite[@name='services']/testcase/error")
    assert error is not None and error.get("type") == "missing component"
    assert {s.get("name") for s in root.findall("testsuite")} == {"services", "network", "benchmark"}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.open: list[str] = []
        self.urls: list[str] = []

    VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "line", "circle", "polyline", "path"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in ("src", "href")]
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()


def test_html_is_self_contained_balanced_and_has_the_plots(lab_site: Site) -> None:
    rec = record()
    page = html.render(rec, compare(rec, [], lab_site), [], {"JUnit XML": "reports/lab/acceptance/junit.xml"})
    parser = _Collect()
    parser.feed(page)
    parser.close()
    assert parser.open == [], f"unclosed tags: {parser.open}"
    assert "script" not in parser.tags and not parser.urls  # nothing external, nothing executable
    assert parser.tags.count("svg") == 4  # GHZ per QPU, mirror grid, QV HOP, quench
    assert "GHZ fidelity per QPU" in page and "Mirror survival — sc_twin" in page
    for chunk in page.split("<svg")[1:]:  # every chart is well-formed XML on its own
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")
    assert "log of port_bound &lt;&amp;&gt;" in page  # logs are escaped
    assert "FAILED — 2 check(s) failed" in page


def test_history_chart_appears_once_there_are_two_runs(lab_site: Site) -> None:
    rec = record()
    page = html.render(rec, compare(rec, [record()], lab_site), [record()], {})
    assert "ghz_fidelity history — sc_twin" in page


def test_json_record_round_trips() -> None:
    rec = record()
    text = rec.to_json()
    doc = json.loads(text)
    assert doc["counts"] == {"passed": 3, "failed": 1, "missing": 1, "skipped": 1}
    back = RunRecord.from_json(text)
    assert back.to_json() == text
    assert back.metrics()[1].detail["survival"]["4x4"] == 0.8
