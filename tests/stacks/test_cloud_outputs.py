"""cloud-outputs.json from stack outputs to the inventory: `ansible-inventory`
(through the repository's plugin) points Ansible at the VMs' public
addresses, hands the hybrid link's public end to both sides, and refuses a
file that no longer matches the model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from site_survey import SiteModelError, load_site
from site_survey.cloud_outputs import read_cloud_outputs
from stacks.common.outputs_file import cloud_outputs_document, remove_cloud_outputs, write_cloud_outputs
from tests.inventory_view import list_inventory, plain, seen_by
from tests.stacks.conftest import HYBRID, OVH_CLOUD

OVH_OUTPUTS: dict[str, Any] = {
    "hosts": {
        name: {"private_address": f"10.60.0.{n}", "public_address": f"203.0.113.{n}", "roles": []}
        for name, n in (("ctl", 10), ("c1", 11), ("c2", 12), ("qgw", 20), ("emu1", 21))
    },
    "network_id": "net-1",
    "gateway_public_address": None,
    "object_storage_container": "ovh-cloud-results",
    "kubeconfig": "apiVersion: v1\nkind: Config\nusers: [{name: admin, user: {token: secret}}]\n",
}


def site_copy(tmp_path: Path, source: Path) -> Path:
    target = tmp_path / source.parent.name
    target.mkdir()
    shutil.copy(source, target / "site.yaml")
    return target


def ansible_inventory(site_dir: Path) -> subprocess.CompletedProcess[str]:
    return list_inventory(site_dir / "site.yaml")




def test_the_document_keeps_addresses_and_drops_secrets():
    doc = cloud_outputs_document("ovh-cloud", "ovh-cloud", OVH_OUTPUTS)
    assert "kubeconfig" not in json.dumps(doc) and "token" not in json.dumps(doc)
    assert doc["hosts"]["c1"] == {"private_address": "10.60.0.11", "public_address": "203.0.113.11"}


def test_inventory_uses_public_addresses_after_up(tmp_path):
    site_dir = site_copy(tmp_path, OVH_CLOUD)
    before = plain(json.loads(ansible_inventory(site_dir).stdout))
    assert before["_meta"]["hostvars"]["c1"]["ansible_host"] == "10.60.0.11"
    write_cloud_outputs(site_dir, cloud_outputs_document("ovh-cloud", "ovh-cloud", OVH_OUTPUTS))
    run = ansible_inventory(site_dir)
    assert run.returncode == 0, run.stderr
    after = plain(json.loads(run.stdout))
    c1 = seen_by(after, "c1")
    assert c1["ansible_host"] == "203.0.113.11"
    assert c1["qpusite_host_public_address"] == "203.0.113.11"
    assert c1["qpusite_qrmid_address"] == "10.60.0.20"  # services keep talking over the private network
    assert c1["qpusite_object_storage_container"] == "ovh-cloud-results"
    assert remove_cloud_outputs(site_dir) and not (site_dir / "cloud-outputs.json").exists()


def test_hybrid_inventory_gives_both_ends_the_link(tmp_path):
    site_dir = site_copy(tmp_path, HYBRID)
    outputs = {
        "hosts": {"emu1": {"private_address": "10.61.0.21", "public_address": "198.51.100.7"}},
        "gateway_public_address": "198.51.100.7",
    }
    write_cloud_outputs(site_dir, cloud_outputs_document("hybrid", "hybrid", outputs))
    run = ansible_inventory(site_dir)
    assert run.returncode == 0, run.stderr
    data = plain(json.loads(run.stdout))
    hostvars = data["_meta"]["hostvars"]
    for host in ("ctl", "emu1"):  # the on-prem end and the cloud end see the same link
        link = seen_by(data, host)["qpusite_hybrid_link"]
        assert link["gateway_public_address"] == "198.51.100.7"
        assert link["gateway_host"] == "emu1"
        assert link["tunnel_onprem_address"] == "10.255.255.2/30"
    assert hostvars["ctl"]["ansible_host"] == "10.80.0.10"  # on-prem hosts untouched
    assert hostvars["emu1"]["ansible_host"] == "198.51.100.7"


@pytest.mark.parametrize(
    ("hosts", "site_name", "path"),
    [
        ({"gone": {"private_address": "10.60.0.99"}}, "ovh-cloud", "hosts.gone"),
        ({"c1": {"private_address": "10.60.0.50"}}, "ovh-cloud", "hosts.c1.private_address"),
        ({}, "other-site", "site"),
    ],
)
def test_a_stale_file_is_an_error_naming_the_fix(tmp_path, hosts, site_name, path):
    site_dir = site_copy(tmp_path, OVH_CLOUD)
    write_cloud_outputs(site_dir, cloud_outputs_document(site_name, "s", {"hosts": hosts}))
    with pytest.raises(SiteModelError) as caught:
        read_cloud_outputs(load_site(site_dir), site_dir)
    assert [p.path for p in caught.value.problems] == [path]
    run = ansible_inventory(site_dir)
    assert run.returncode != 0 and "qpusite cloud up" in run.stderr


def test_a_corrupt_file_is_an_error(tmp_path):
    site_dir = site_copy(tmp_path, OVH_CLOUD)
    (site_dir / "cloud-outputs.json").write_text("{not json")
    with pytest.raises(SiteModelError, match="re-run `qpusite cloud up`"):
        read_cloud_outputs(load_site(site_dir), site_dir)
