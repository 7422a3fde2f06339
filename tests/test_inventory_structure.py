"""The inventory's shape keeps it linear in the hosts: site-wide facts once, in `all`'s vars,
each host only its own variables (benchmarks/inventory_bench.py measures the times)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import derive, load_site
from tests.conftest import LAB, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from site_model_bench import generate  # noqa: E402

ANSIBLE_INVENTORY = Path(sys.executable).with_name("ansible-inventory")
# What a host may carry itself: its address, its roles, connection settings where it differs.
HOST_VARS = {"ansible_host", "qpusite_host_roles", *derive.CONNECTION_VARS, "qpusite_host_public_address"}


def write_site(tmp_path: Path, hosts: int, qpus: int = 5) -> Path:
    site = tmp_path / f"s{hosts}" / "site.yaml"
    site.parent.mkdir()
    site.write_text(yaml.safe_dump(generate(hosts, qpus), sort_keys=False))
    return site


def exported(site: Path) -> dict[str, Any]:
    """`ansible-inventory --list --export`: group variables in their group, host variables in the host."""
    if not ANSIBLE_INVENTORY.exists():
        pytest.fail("ansible-inventory is not installed in the controller environment (./bootstrap setup)")
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    run = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(site), "--list", "--export"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def site_wide_names(data: dict[str, Any]) -> set[str]:
    return {name for name in data["all"]["vars"] if name.startswith("qpusite_")}


def test_derived_hosts_carry_only_their_own_variables() -> None:
    inv = derive.inventory(load_site(LAB), str(LAB.parent))
    for name, hv in inv["_meta"]["hostvars"].items():
        assert set(hv) <= HOST_VARS, name
        assert not [k for k, v in hv.items() if isinstance(v, (list, dict)) and k != "qpusite_host_roles"], name
    assert {"qpusite_hosts", "qpusite_slurm_nodes", "qpusite_qpus"} <= set(inv["all"]["vars"])


def test_shared_connection_settings_move_to_all_unless_the_model_overrides_them(tmp_path: Path) -> None:
    site = load_site(LAB)
    inv = derive.inventory(site, str(LAB.parent))
    # every lab host connects alike: once in `all`, not per host
    assert inv["all"]["vars"]["ansible_user"] == "root"
    assert inv["all"]["vars"]["ansible_ssh_private_key_file"].endswith("inventories/lab/.rehearsal/id_ed25519")
    assert all("ansible_user" not in hv for hv in inv["_meta"]["hostvars"].values())
    # a host that differs keeps its own value, which wins over `all`'s
    doc = yaml.safe_load(LAB.read_text())
    doc["hosts"][1].setdefault("connection", {})["port"] = 2222
    doc["ansible"] = {"vars": {"ansible_user": "deploy"}, "group_vars": {}}
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    inv = derive.inventory(load_site(tmp_path / "site.yaml"), str(tmp_path))
    hostvars = inv["_meta"]["hostvars"]
    assert hostvars[doc["hosts"][1]["name"]]["ansible_port"] == 2222
    # a port no host sets is not emitted: Ansible's default (22) applies
    assert "ansible_port" not in hostvars[doc["hosts"][0]["name"]]
    assert "ansible_port" not in inv["all"]["vars"]
    # the escape hatch sets ansible_user for all; hosts that set their own user keep it (host vars win)
    assert all(hv["ansible_user"] == "root" for hv in hostvars.values())
    assert inv["all"]["vars"]["ansible_user"] == "deploy"


def test_ansible_sees_site_wide_facts_once_and_small_hosts(tmp_path: Path) -> None:
    data = exported(write_site(tmp_path, 50))
    hostvars = data["_meta"]["hostvars"]
    assert len(hostvars) == 50
    names = site_wide_names(data)
    assert {"qpusite_hosts", "qpusite_slurm_nodes", "qpusite_slurm_partitions", "qpusite_monitoring_targets"} <= names
    for host, hv in hostvars.items():
        assert set(hv) <= HOST_VARS, host
        assert not names & set(hv), host
    assert len(data["all"]["vars"]["qpusite_hosts"]) == 50
    # nothing site-wide hides in another group either
    for group, spec in data.items():
        if group not in ("_meta", "all"):
            assert not names & set(spec.get("vars", {})), group


def test_output_per_host_stays_bounded_as_hosts_grow(tmp_path: Path) -> None:
    small = len(json.dumps(exported(write_site(tmp_path, 20))))
    large = len(json.dumps(exported(write_site(tmp_path, 200))))
    # ten times the hosts: the growth is what the added hosts bring, a few KB each, not ×hosts²
    per_host = (large - small) / 180
    assert per_host < 3000, per_host
    assert large < 10 * small, (small, large)


def listed(site: Path) -> dict[str, Any]:
    """Plain `ansible-inventory --list`, as an operator types it (ansible.cfg's settings apply)."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    run = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(site), "--list"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr
    return dict(json.loads(run.stdout))


def test_plain_list_does_not_copy_site_wide_facts_into_hosts(tmp_path: Path) -> None:
    data = listed(write_site(tmp_path, 50))
    names = site_wide_names(data)
    assert "qpusite_slurm_nodes" in names
    assert all(not names & set(hv) for hv in data["_meta"]["hostvars"].values())


def test_national_lists_groups_per_partition_set_room_and_qpu() -> None:
    data = listed(REPO / "inventories" / "national" / "site.yaml")
    site = load_site(REPO / "inventories" / "national" / "site.yaml")
    for part in site.software.scheduler.partitions:
        assert data[f"partition_{part.name}"]["hosts"] == derive.hostrefs.names(site, part.hosts)
    for i, hs in enumerate(site.host_sets):
        assert data[f"set_{hs.name}"]["hosts"] == site.set_hosts(i)
    assert len(data["room_hpc_hall"]["hosts"]) == len([h for h in site.hosts if h.room == "hpc-hall"]) > 200
    for q in site.qpus:
        assert data[f"qpu_{q.name}"]["hosts"] == [q.access.access_host]
    assert set(data["all"]["children"]) >= {"partition_cpu", "set_gpu", "room_hpc_hall", "qpu_ibm_qhall", "compute"}


def test_a_site_written_with_sets_inventories_like_one_written_out(tmp_path: Path) -> None:
    inventories = []
    for sets in (True, False):
        path = tmp_path / f"sets-{sets}" / "site.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(generate(300, 5, sets), sort_keys=False))
        inventories.append(derive.inventory(load_site(path), str(path.parent)))
    with_sets, written_out = inventories
    assert with_sets["_meta"]["hostvars"].keys() == written_out["_meta"]["hostvars"].keys()
    for group in ("compute", "slurm", "partition_batch", "partition_quantum"):
        assert with_sets[group] == written_out[group], group
    assert with_sets["set_compute"]["hosts"] == with_sets["compute"]["hosts"]
    parts = with_sets["all"]["vars"]["qpusite_slurm_partitions"]
    assert [p["nodelist"] for p in parts] == ["n[00000-00145]", "n[00146-00292]"]
