"""Host sets: a hostlist, a first address and shared attributes, expanded at load into ordinary hosts;
host references (names, hostlists, set:, role:) wherever the model lists hosts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from site_survey import derive, load_site
from site_survey.errors import SiteModelError
from site_survey.loader import parse_site
from site_survey.render import slurm_conf_preview
from tests.conftest import LAB, REPO

NATIONAL = REPO / "inventories" / "national" / "site.yaml"


@pytest.fixture()
def doc() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(LAB.read_text())
    data["host_sets"] = [
        {"name": "cpu", "hosts": "cn[001-020]", "first_address": "10.77.0.100", "roles": ["compute"],
         "cpus": 4, "memory_mb": 8192, "room": "server-room"},
    ]
    data["software"]["scheduler"]["partitions"] = [
        {"name": "debug", "hosts": ["c[1-2]"], "default": True},
        {"name": "cpu", "hosts": "set:cpu"},
    ]
    return data


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(SiteModelError) as err:
        parse_site(data)
    return err.value.render()


def test_a_set_expands_into_hosts_with_consecutive_addresses(doc: dict[str, Any]) -> None:
    site = parse_site(doc)
    made = [h for h in site.hosts if h.name.startswith("cn")]
    assert [h.name for h in made] == [f"cn{i:03d}" for i in range(1, 21)]
    assert [h.address for h in made] == [f"10.77.0.{100 + i}" for i in range(20)]
    assert {(h.cpus, h.memory_mb, h.room, tuple(h.roles)) for h in made} == {(4, 8192, "server-room", ("compute",))}
    assert site.host("cn007") is made[6] and site.host_set_of("cn007") == 0 and site.host_set_of("c1") is None
    # explicit hosts stay first and as written; a dump keeps the set a set
    dumped = site.model_dump(mode="json")
    assert [h["name"] for h in dumped["hosts"]] == [h["name"] for h in doc["hosts"]]
    assert len(parse_site(dumped).hosts) == len(site.hosts)


def test_references_resolve_to_names_in_order(doc: dict[str, Any]) -> None:
    doc["software"]["scheduler"]["partitions"][1]["hosts"] = ["cn[010-011]", "set:cpu", "role:compute", "c1"]
    parts = derive.slurm_partitions(parse_site(doc))
    nodes = parts[1]["nodes"]
    assert nodes[:3] == ["cn010", "cn011", "cn001"] and len(nodes) == len(set(nodes)) == 22
    assert parts[1]["nodelist"] == "c[1-2],cn[001-020]"


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("set:gpu", "partitions[1].hosts[0]: no such host set; host_sets are: cpu"),
        ("role:wizard", "partitions[1].hosts[0]: no such host role; roles are: controller"),
        ("cn[019-025]", "partitions[1].hosts[0]: no such host 'cn021' (and 4 more)"),
        ("role:login", "host 'ctl' is not a compute host"),
        ("cn[001-", "'[' is not closed"),
        ("group:x", "each entry is a host name, a hostlist (cn[001-192]), set:<host set name> or role:<host role>"),
        ("n[0-9999999]", "stands for 10,000,000 hosts"),
    ],
)
def test_unknown_or_malformed_references_are_refused_with_the_path(
    doc: dict[str, Any], entry: str, says: str
) -> None:
    doc["software"]["scheduler"]["partitions"][1]["hosts"] = [entry]
    assert says in problems(doc)


def test_set_addresses_stay_in_their_vlan_and_off_other_hosts(doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(doc)
    bad["host_sets"][0]["first_address"] = "10.77.0.240"  # 20 hosts run past .254
    assert "host_sets[0].first_address: the set's 20 addresses run 10.77.0.240–10.77.1.3, outside" in problems(bad)
    bad["host_sets"][0]["first_address"] = "10.77.0.5"  # cn007 lands on c1's 10.77.0.11
    text = problems(bad)
    assert "host_sets[0].first_address: address of host 'cn006' is already used by host 'ctl'" in text
    assert text.count("already used") == 1  # one problem per set, not per host


def test_set_shape_errors_name_the_set_field(doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(doc)
    bad["host_sets"][0]["hosts"] = "CN[1-2]"
    assert "host_sets[0].hosts: 'CN1' is not a host name" in problems(bad)
    bad["host_sets"][0]["hosts"] = "cn[1-200000]"
    assert "a set holds at most 100,000" in problems(bad)
    bad = copy.deepcopy(doc)
    bad["host_sets"][0]["room"] = "cellar"
    assert "host_sets[0].room: no such room" in problems(bad)
    bad = copy.deepcopy(doc)
    bad["host_sets"].append(dict(bad["host_sets"][0], first_address="10.77.0.200"))
    assert "host set 'cpu' is defined 2 times" in problems(bad)


def test_groups_per_partition_set_room_and_qpu(doc: dict[str, Any]) -> None:
    site = parse_site(doc)
    groups = derive.groups(site)
    assert groups["partition_debug"] == ["c1", "c2"]
    assert groups["partition_cpu"] == groups["set_cpu"] == [f"cn{i:03d}" for i in range(1, 21)]
    assert groups["room_server_room"] == groups["set_cpu"]
    for q in site.qpus:  # the hosts that serve each QPU
        serving = {q.access.access_host, q.emulator.host if q.emulator else None} - {None}
        assert set(groups[f"qpu_{q.name}"]) == serving and serving
    assert set(groups) >= {"compute", "slurm", "munge"}  # role and feature groups stay


def test_a_group_name_that_would_mean_two_things_is_refused(doc: dict[str, Any]) -> None:
    doc["qpus"][0]["name"] = "access"
    assert "qpus[0].name: gives the inventory group 'qpu_access', which is already a host role" in problems(doc)


def test_slurm_lines_group_alike_nodes_as_hostlists(doc: dict[str, Any]) -> None:
    lines = slurm_conf_preview(parse_site(doc)).splitlines()
    nodes = [line for line in lines if line.startswith("NodeName=")]
    assert "NodeName=cn[001-020] NodeAddr=10.77.0.[100-119] CPUs=4 RealMemory=8192 State=UNKNOWN" in nodes
    assert len(nodes) == 2  # lab's c1, c2 share a shape, the set another
    assert "PartitionName=cpu Nodes=cn[001-020] Default=NO MaxTime=INFINITE State=UP" in lines


def test_national_is_a_two_hundred_node_centre_written_with_sets() -> None:
    site = load_site(NATIONAL)
    assert len(site.hosts) == 205 and len(site.hosts_with(derive.HostRole.compute)) == 200
    text = yaml.safe_load(NATIONAL.read_text())
    assert len(text["hosts"]) == 3  # the rest come from host sets
    for part in text["software"]["scheduler"]["partitions"]:  # sampling a rehearsal down edits sets/patterns
        refs = [part["hosts"]] if isinstance(part["hosts"], str) else part["hosts"]
        assert all(r.startswith("set:") or "[" in r for r in refs), part
    preview = slurm_conf_preview(site)
    assert preview.count("NodeName=") == 2 and "NodeName=cn[001-192] NodeAddr=10.41.1.[1-192]" in preview
    groups = derive.groups(site)
    assert len(groups["partition_cpu"]) == 192 and len(groups["partition_hybrid"]) == 16
