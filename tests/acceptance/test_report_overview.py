"""The acceptance report leads with provenance, says which QPUs are real and which are
twins, puts failures first and keeps its host × component summary short at 200 nodes."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import yaml

from acceptance.history import compare
from acceptance.report import html, junit, overview
from acceptance.results import CheckResult, RunRecord
from acceptance.spec import Status
from site_survey.hostlist import expand
from site_survey.model import Site
from site_survey.provenance import model_hash, provenance_for
from tests.acceptance.conftest import LAB, site_from

HOSTS = [f"cn{i:03d}" for i in range(1, 201)]
BROKEN_HOST, NO_MUNGE_HOST, SKIPPED_HOST = "cn017", "cn150", "cn042"


def _res(n: int, name: str, label: str, component: str, status: Status, hosts: list[str]) -> CheckResult:
    return CheckResult(f"{n:03d}_{name}[{label}]", n, name, label, "smoke", component, status, f"{name} {status.value}",
                       0.1, hosts=hosts)


def big_record(site: Site) -> RunRecord:
    """200 compute nodes, three checks each; one host fails, one misses munge, one skips; a QPU job fails."""
    results = []
    for host in HOSTS:
        results.append(_res(10, "host_reachable", host, "host",
                            Status.failed if host == BROKEN_HOST else Status.passed, [host]))
        results.append(_res(20, "munge_pair", f"ctl->{host}", "munge",
                            Status.missing if host == NO_MUNGE_HOST else Status.passed, ["ctl", host]))
        results.append(_res(30, "gpu_driver", host, "host",
                            Status.skipped if host == SKIPPED_HOST else Status.passed, [host]))
    results.append(_res(50, "qpu_job", "sc_twin", "jobs", Status.failed, []))
    results.append(_res(51, "qpu_job", "FRESNEL", "jobs", Status.passed, []))
    now = datetime(2026, 12, 2, 16, 0, 5, tzinfo=UTC)
    return RunRecord(site.site.name, "smoke", "2026-12-02T16:00:00+00:00", "2026-12-02T16:05:00+00:00", results,
                     provenance=provenance_for(site, LAB, now=now), qpus=overview.qpu_kinds(site))


def mixed_site(lab_site: Site) -> Site:
    """lab with FRESNEL reached through the vendor's service instead of the twin."""
    doc = copy.deepcopy(yaml.safe_load(LAB.read_text()))
    fresnel = next(q for q in doc["qpus"] if q["name"] == "FRESNEL")
    fresnel["access"] = {"mode": "vendor_service", "endpoint_url": "https://api.pasqal.cloud"}
    return site_from(doc)


def test_each_qpu_is_marked_real_or_emulated_twin(lab_site: Site) -> None:
    assert {q.qpu: q.kind for q in overview.qpu_kinds(lab_site)} == {"sc_twin": "emulated twin",
                                                                      "FRESNEL": "emulated twin",
                                                                      "spark": "emulated twin"}
    kinds = {q.qpu: q for q in overview.qpu_kinds(mixed_site(lab_site))}
    assert kinds["FRESNEL"].kind == "real" and "vendor service" in kinds["FRESNEL"].detail
    assert kinds["sc_twin"].kind == "emulated twin" and "qgw" in kinds["sc_twin"].detail


def test_200_hosts_summarise_in_a_few_rows_failures_first(lab_site: Site) -> None:
    summary = overview.host_summary(big_record(lab_site).results)
    assert summary.grouped and summary.components == ("host", "jobs", "munge")
    assert len(summary.rows) <= 6, [r.hosts for r in summary.rows]
    first = [r.hosts for r in summary.rows if r.failed]
    assert set(first) == {BROKEN_HOST, NO_MUNGE_HOST, "ctl", overview.SITE_WIDE}  # ctl: one munge pair missing
    assert [r.hosts for r in summary.rows[: len(first)]] == first  # every failing row before any passing one
    # The rows together cover every host once, and the all-passing hosts are one compressed row.
    covered = [h for r in summary.rows if r.hosts != overview.SITE_WIDE for h in expand(r.hosts)]
    assert sorted(covered) == sorted([*HOSTS, "ctl"])
    clean = max(summary.rows, key=lambda r: r.count)
    assert clean.count == 197 and clean.failed == 0 and len(clean.hosts) < 40
    assert set(expand(clean.hosts)) == set(HOSTS) - {BROKEN_HOST, NO_MUNGE_HOST, SKIPPED_HOST}
    ctl = next(r for r in summary.rows if r.hosts == "ctl")
    munge = summary.components.index("munge")
    assert ctl.cells[munge].failed == 1 and ctl.cells[munge].passed == 199


def test_a_small_site_has_one_row_per_host_in_natural_order() -> None:
    results = [_res(10, "host_reachable", h, "host", Status.passed, [h]) for h in ("c10", "c2", "c1")]
    results.append(_res(10, "host_reachable", "c3", "host", Status.failed, ["c3"]))
    summary = overview.host_summary(results)
    assert not summary.grouped
    assert [r.hosts for r in summary.rows] == ["c3", "c1", "c2", "c10"]
    assert summary.rows[0].cells[0].text() == "1 fail / 0 pass"


def test_html_leads_with_provenance_and_lists_failures_first(lab_site: Site) -> None:
    rec = big_record(mixed_site(lab_site))
    page = html.render(rec, compare(rec, [], lab_site), [], {})
    assert rec.provenance is not None
    for label, value in rec.provenance.lines():
        assert f"<th>{label}</th><td><code>{value}</code></td>" in page
    assert rec.provenance.model_sha256 == model_hash(mixed_site(lab_site))
    assert rec.provenance.generated_at == "2026-12-02T16:00:05Z"
    assert page.index("Provenance") < page.index("Hosts × components") < page.index("Checks (failures first)")
    assert '<td class="twin">emulated twin</td>' in page and '<td class="real">real</td>' in page
    checks = page.split("Checks (failures first)")[1].split("</table>")[0]
    statuses = re.findall(r'<td class="(passed|failed|missing|skipped)">', checks)
    assert len(statuses) == len(rec.results)
    rank = {"failed": 0, "missing": 1, "skipped": 2, "passed": 3}
    assert [rank[s] for s in statuses] == sorted(rank[s] for s in statuses)
    assert statuses[:3] == ["failed", "failed", "missing"]
    summary = page.split("Hosts × components")[1].split("</table>")[0]
    assert summary.count("<tr>") <= 7  # header and at most six rows for 200 hosts
    assert "(197 hosts)" in summary


def test_junit_stays_valid_with_properties_and_failures_first(lab_site: Site) -> None:
    rec = big_record(mixed_site(lab_site))
    root = ET.fromstring(junit.render(rec))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites][0] in {"host", "jobs"} and suites[-1].get("name") == "munge"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("602", "2", "1")
    assert rec.provenance is not None
    for suite in suites:
        # properties come first in a testsuite, as the JUnit schema wants
        assert suite[0].tag == "properties"
        props = {p.get("name"): p.get("value") for p in suite[0]}
        assert props["provenance.model_sha256"] == rec.provenance.model_sha256
        assert props["provenance.kit_version"] == rec.provenance.kit_version
        assert props["qpu.sc_twin"] == "emulated twin" and props["qpu.FRESNEL"] == "real"
    host_cases = next(s for s in suites if s.get("name") == "host").findall("testcase")
    assert host_cases[0].find("failure") is not None
    assert host_cases[0].get("name") == f"010_host_reachable[{BROKEN_HOST}]"


def test_json_record_keeps_provenance_qpus_and_hosts(lab_site: Site) -> None:
    rec = big_record(lab_site)
    text = rec.to_json()
    back = RunRecord.from_json(text)
    assert back.provenance == rec.provenance and back.qpus == rec.qpus
    assert back.results[1].hosts == ["ctl", "cn001"]
    assert back.to_json() == text
    # A record written before provenance was kept still reads.
    old = json.loads(text)
    for key in ("provenance", "qpus"):
        del old[key]
    for r in old["results"]:
        del r["hosts"]
    assert RunRecord.from_json(json.dumps(old)).provenance is None
