"""Parsing what site tools print, and comparing a host's QRMI configuration with the model."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import zipfile
from pathlib import Path

from acceptance import slurm_jobs
from acceptance.checks.cluster import parse_licenses, parse_sinfo_nodes
from acceptance.checks.monitoring import expected_rule_names, target_health
from acceptance.checks.runtime import compare_qrmi_config
from site_survey.derive import qrmi_resources
from site_survey.model import Site


def test_sinfo_and_licenses() -> None:
    assert parse_sinfo_nodes("c1 idle\nc2 drain*\nc1 idle\n") == {"c1": "idle", "c2": "drain*"}
    text = ("LicenseName=sc_twin Total=1 Used=0 Free=1 Reserved=0 Remote=no\n"
            "LicenseName=FRESNEL Total=2 Used=1 Free=1 Reserved=0 Remote=no\n")
    assert parse_licenses(text) == {"sc_twin": 1, "FRESNEL": 2}


def test_scontrol_job_fields() -> None:
    fields = slurm_jobs.parse_scontrol_job("JobId=7 JobName=x JobState=COMPLETED BatchHost=c1 RunTime=00:00:03")
    assert (fields["JobState"], fields["BatchHost"]) == ("COMPLETED", "c1")
    assert slurm_jobs._elapsed_s("1-00:00:03") == 86403.0


def _host_view(site: Site, embedded: bool = False) -> dict:
    """What the on-host inspector prints for a correct deployment (secrets redacted)."""
    resources = []
    for r in qrmi_resources(site):
        env = dict(r["environment"])
        if embedded:
            env.update({k: "<set>" for k in r["secrets"]})
        resources.append({"name": r["name"], "type": r["type"], "environment": env})
    return {"resources": resources, "reach": {"10.77.0.20:8480": "ok"}}


def test_matching_qrmi_config_has_no_problems(lab_site: Site) -> None:
    assert compare_qrmi_config(qrmi_resources(lab_site), _host_view(lab_site), brokered=True) == []
    assert compare_qrmi_config(qrmi_resources(lab_site), _host_view(lab_site, embedded=True), brokered=False) == []


def test_credential_on_a_node_fails_where_qrmid_brokers(lab_site: Site) -> None:
    problems = compare_qrmi_config(qrmi_resources(lab_site), _host_view(lab_site, embedded=True), brokered=True)
    assert "sc_twin: secret QRMI_IBM_QCS_IAM_APIKEY is on this host although qrmid brokers access" in problems


def test_qrmi_config_differences_are_named(lab_site: Site) -> None:
    view = _host_view(lab_site, embedded=True)
    sc = next(r for r in view["resources"] if r["name"] == "sc_twin")
    sc["environment"]["QRMI_IBM_QCS_ENDPOINT"] = "http://10.77.0.99:8480/v1"
    sc["environment"]["QRMI_IBM_QCS_IAM_APIKEY"] = "<empty>"
    view["resources"] = [r for r in view["resources"] if r["name"] != "FRESNEL"] + [
        {"name": "extra", "type": "pasqal-cloud", "environment": {}}]
    view["reach"]["10.77.0.99:8480"] = "[Errno 111] Connection refused"
    problems = compare_qrmi_config(qrmi_resources(lab_site), view, brokered=False)
    text = "\n".join(problems)
    assert "sc_twin: QRMI_IBM_QCS_ENDPOINT is 'http://10.77.0.99:8480/v1'" in text
    assert "sc_twin: secret QRMI_IBM_QCS_IAM_APIKEY is empty" in text
    assert "resource FRESNEL missing" in text and "resource extra is not in the model" in text
    assert "endpoint 10.77.0.99:8480 unreachable" in text


def test_target_health_and_rule_names() -> None:
    body = {"data": {"activeTargets": [
        {"labels": {"job": "node"}, "scrapeUrl": "http://10.77.0.10:9100/metrics", "health": "up"},
        {"labels": {"job": "qrmid"}, "scrapeUrl": "http://10.77.0.20:8470/metrics", "health": "down"}]}}
    assert target_health(body) == {("node", "10.77.0.10:9100"): "up", ("qrmid", "10.77.0.20:8470"): "down"}
    assert "QpuAccessServiceDown" in expected_rule_names()


def test_node_bundle_runs_as_a_zip_application_and_the_batch_script_cleans_up(tmp_path: Path) -> None:
    names = zipfile.ZipFile(io.BytesIO(slurm_jobs.node_bundle())).namelist()
    assert "__main__.py" in names and "acceptance/node/programs.py" in names
    assert not any("checks" in n or "suite" in n for n in names)  # node side only
    script = slurm_jobs.batch_script(sys.executable, [["--help"], ["probe", "--shots", "x"]])
    payload = script.split("<<'QPUSITE_BUNDLE'\n")[1].split("\nQPUSITE_BUNDLE\n")[0]
    assert base64.b64decode(payload.replace("\n", "")) == slurm_jobs.node_bundle()
    done = subprocess.run(["bash", "-s"], input=script, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})
    assert "usage: python -m acceptance.node" in done.stdout  # the first program ran
    assert done.returncode == 1  # the second had bad arguments: the job fails, after both ran
    assert list(tmp_path.iterdir()) == []  # the unpacked programs are gone
