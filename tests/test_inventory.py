"""The inventory as Ansible itself sees it, through the repository's inventory plugin."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LAB, REPO
from tests.inventory_view import list_inventory as inventory
from tests.inventory_view import plain, seen_by


@pytest.fixture(scope="module")
def lab_inventory() -> dict[str, Any]:
    run = inventory(LAB)
    assert run.returncode == 0, run.stderr
    return plain(json.loads(run.stdout))


def test_groups_per_role(lab_inventory: dict[str, Any]) -> None:
    assert lab_inventory["compute"]["hosts"] == ["c1", "c2"]
    assert lab_inventory["controller"]["hosts"] == ["ctl"]
    assert set(lab_inventory["munge"]["hosts"]) == {"ctl", "c1", "c2", "qgw"}
    assert set(lab_inventory["slurm"]["hosts"]) == {"ctl", "c1", "c2"}


def test_host_connection_vars(lab_inventory: dict[str, Any]) -> None:
    qgw = seen_by(lab_inventory, "qgw")
    assert qgw["ansible_host"] == "10.77.0.20"
    assert qgw["ansible_user"] == "root"
    assert qgw["ansible_ssh_private_key_file"].endswith("inventories/lab/.rehearsal/id_ed25519")


def test_site_vars_from_the_model(lab_inventory: dict[str, Any]) -> None:
    hv = seen_by(lab_inventory, "c1")
    # sc_twin is shared task by task by two jobs: two licenses; the others one job at a time
    assert hv["qpusite_qpu_licenses"] == {"sc_twin": 2, "FRESNEL": 1, "spark": 1}
    assert [n["name"] for n in hv["qpusite_slurm_nodes"]] == ["c1", "c2"]
    assert hv["qpusite_slurm_partitions"][0] == {
        "name": "debug", "nodes": ["c1", "c2"], "nodelist": "c[1-2]", "default": True, "max_time_minutes": 60
    }
    assert hv["qpusite_monitoring_targets"]["node"] == [
        "10.77.0.10:9100", "10.77.0.11:9100", "10.77.0.12:9100", "10.77.0.20:9100"
    ]
    assert hv["qpusite_slurm_conf_overrides"]["ProctrackType"] == "proctrack/linuxproc"
    assert [(a["name"], a["uid"]) for a in hv["qpusite_accounts"]] == [("alice", 2001), ("bob", 2002)]
    assert {r["name"]: r["secrets"] for r in hv["qpusite_qrmi_resources"]} == {
        "sc_twin": {"QRMI_IBM_QCS_IAM_APIKEY": "vault_lab_sc_twin_apikey"},
        "FRESNEL": {"QRMI_PASQAL_CLOUD_AUTH_TOKEN": "vault_lab_fresnel_token"},
        "spark": {"QRMI_IQM_ISA_TOKEN": "vault_lab_spark_token"},
    }


def test_broken_model_fails_the_inventory_with_every_problem(tmp_path: Path) -> None:
    site_dir = tmp_path / "broken"
    site_dir.mkdir()
    text = LAB.read_text().replace("address: 10.77.0.12", "address: 10.77.0.11")
    text = text.replace("access: {mode: emulator}", "access: {mode: emulator}\n    room: cellar", 1)
    (site_dir / "site.yaml").write_text(text)
    run = inventory(site_dir / "site.yaml")
    assert run.returncode != 0
    assert "qpus[0].room" in run.stderr and "already used by host 'c1'" in run.stderr


def test_example_sites_all_produce_inventories() -> None:
    for site in sorted((REPO / "inventories").glob("*/site.yaml")):
        run = inventory(site)
        assert run.returncode == 0, f"{site}: {run.stderr}"
        assert json.loads(run.stdout)["all"]["children"], site


def test_model_strings_are_never_templated(tmp_path: Path) -> None:
    """A template expression in the model stays text: the model is data, not code."""
    site_dir = tmp_path / "tpl"
    site_dir.mkdir()
    crn = '"crn:v1:lab:public:quantum-computing:lab:a/lab::"'
    assert crn in LAB.read_text()
    text = LAB.read_text().replace(crn, "\"{{ lookup('pipe', 'id') }}\"")
    (site_dir / "site.yaml").write_text(text)
    run = inventory(site_dir / "site.yaml")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    env = seen_by(data, "c1")["qpusite_qrmi_resources"][0]["environment"]
    # marked unsafe, so Ansible will never template (execute) it
    assert env["QRMI_IBM_QCS_SERVICE_CRN"] == {"__ansible_unsafe": "{{ lookup('pipe', 'id') }}"}


def test_no_generated_files_needed(tmp_path: Path) -> None:
    """The inventory comes straight from site.yaml: a copy of it alone is enough."""
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(LAB, copy / "site.yaml")
    run = inventory(copy / "site.yaml")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["compute"]["hosts"] == ["c1", "c2"]
