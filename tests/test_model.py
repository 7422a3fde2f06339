"""The site model: valid documents load, invalid ones fail with every problem named."""

from __future__ import annotations

from typing import Any

import pytest

from site_survey import SiteModelError, parse_site
from site_survey.model import HostRole


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(SiteModelError) as info:
        parse_site(doc, "site.yaml")
    return [p.render() for p in info.value.problems]


def test_lab_is_valid(lab: dict[str, Any]) -> None:
    site = parse_site(lab)
    assert site.site.name == "lab"
    assert [h.name for h in site.hosts_with(HostRole.compute)] == ["c1", "c2"]
    assert {q.name for q in site.qpus} == {"sc_twin", "FRESNEL", "spark"}


def test_unknown_key_is_rejected_with_its_path(lab: dict[str, Any]) -> None:
    lab["hosts"][1]["cpu"] = 4  # typo of cpus
    found = problems(lab)
    assert any("hosts[1].cpu" in p and "unknown key" in p for p in found)


def test_all_shape_errors_are_reported_at_once(lab: dict[str, Any]) -> None:
    lab["hosts"][0]["address"] = "10.77.0.300"
    lab["facility"]["rooms"][0]["area_m2"] = -5
    lab["qpus"][0]["slots"] = 0
    found = problems(lab)
    assert len(found) == 3
    assert any("hosts[0].address" in p and "not an IPv4 address" in p and "10.77.0.300" in p for p in found)
    assert any("facility.rooms[0].area_m2" in p and "greater than 0" in p for p in found)
    assert any("qpus[0].slots" in p for p in found)


def test_missing_required_field_is_named(lab: dict[str, Any]) -> None:
    del lab["qpus"][0]["modality"]
    assert any("qpus[0].modality" in p and "required" in p for p in problems(lab))


def test_secret_value_pasted_in_settings_is_refused(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["qrmi"]["settings"]["QRMI_IBM_QCS_IAM_APIKEY"] = "s3cr3t-value"
    found = problems(lab)
    assert any("qpus[0].qrmi.settings" in p and "QRMI_IBM_QCS_IAM_APIKEY" in p and "qrmi.secrets" in p for p in found)
    # the secret itself must not be echoed back into logs
    assert not any("s3cr3t-value" in p for p in found)


def test_secret_value_pasted_where_reference_belongs(lab: dict[str, Any]) -> None:
    lab["qpus"][1]["qrmi"]["secrets"]["QRMI_PASQAL_CLOUD_AUTH_TOKEN"] = "tok-abc"
    found = problems(lab)
    assert any("qpus[1].qrmi.secrets" in p and "reference" in p for p in found)
    assert not any("tok-abc" in p for p in found)


def test_qpu_in_missing_room(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["room"] = "cellar"
    found = problems(lab)
    assert any("qpus[0].room" in p and "no such room" in p and "server-room" in p for p in found)


def test_two_hosts_with_one_address(lab: dict[str, Any]) -> None:
    lab["hosts"][2]["address"] = lab["hosts"][1]["address"]
    found = problems(lab)
    assert any("hosts[2].address" in p and "already used by host 'c1'" in p for p in found)


def test_compute_host_without_path_to_access_node(lab: dict[str, Any]) -> None:
    lab["facility"]["network"]["vlans"].append(
        {"name": "isolated", "vlan_id": 99, "cidr": "10.99.0.0/24", "purpose": "cut off"}
    )
    lab["hosts"][1]["address"] = "10.99.0.11"
    found = problems(lab)
    assert any("compute host 'c1'" in p and "no network path" in p and "qgw" in p for p in found)


def test_routed_vlans_give_a_path(lab: dict[str, Any]) -> None:
    lab["facility"]["network"]["vlans"][0]["routed_to"] = ["isolated"]
    lab["facility"]["network"]["vlans"].append({"name": "isolated", "vlan_id": 99, "cidr": "10.99.0.0/24"})
    lab["hosts"][1]["address"] = "10.99.0.11"
    parse_site(lab)


def test_host_outside_every_vlan(lab: dict[str, Any]) -> None:
    lab["hosts"][3]["address"] = "192.0.2.20"
    assert any("hosts[3].address" in p and "in no VLAN" in p for p in problems(lab))


def test_pasqal_cloud_name_must_be_a_device(lab: dict[str, Any]) -> None:
    lab["qpus"][1]["name"] = "fresnel_twin"
    lab["software"]["policy_profiles"][0]["qpus"] = ["sc_twin"]
    lab["software"]["policy_profiles"][1]["qpus"] = ["sc_twin"]
    lab["facility"]["network"]["links"].pop()
    assert any("pasqal-cloud resource must be named after its device" in p for p in problems(lab))


def test_emulated_qpu_needs_a_twin_on_an_emulator_host(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["emulator"]["host"] = "c1"
    assert any("qpus[0].emulator.host" in p and "does not have role 'emulator'" in p for p in problems(lab))


def test_coupling_map_outside_the_device(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["emulator"]["coupling_map"].append([7, 8])
    assert any("coupling_map names qubits outside 0..7" in p for p in problems(lab))


def test_policy_profile_naming_unknown_qpu(lab: dict[str, Any]) -> None:
    lab["software"]["policy_profiles"][0]["qpus"].append("nope")
    assert any("policy_profiles[0].qpus[3]" in p and "no such QPU" in p for p in problems(lab))


def test_partition_with_non_compute_host(lab: dict[str, Any]) -> None:
    lab["software"]["scheduler"]["partitions"][0]["hosts"].append("ctl")
    assert any("not a compute host" in p for p in problems(lab))


def test_exactly_one_controller(lab: dict[str, Any]) -> None:
    lab["hosts"][1]["roles"].append("controller")
    assert any("exactly one host needs role 'controller' (found 2)" in p for p in problems(lab))


def test_cooling_range_inverted(lab: dict[str, Any]) -> None:
    lab["facility"]["cooling_loops"][0]["supply_temp_min_c"] = 30
    assert any("supply_temp_min_c (30.0) is above supply_temp_max_c" in p for p in problems(lab))


def test_cloud_topology_needs_cloud_section(lab: dict[str, Any]) -> None:
    lab["software"]["topology"] = "cloud"
    assert any(p.startswith("cloud:") and "needs a 'cloud:' section" in p for p in problems(lab))


def test_port_clash(lab: dict[str, Any]) -> None:
    lab["software"]["qrmid_port"] = 9090
    assert any("software.monitoring.prometheus_port" in p and "already used" in p for p in problems(lab))


def test_document_must_be_a_mapping() -> None:
    found = problems(["not", "a", "mapping"])  # type: ignore[arg-type]
    assert found == ["<document>: the document must be a mapping with schema_version, site, …"]


def test_secret_reference_errors_never_echo_the_value(lab: dict[str, Any]) -> None:
    lab["qpus"][0]["qrmi"]["secrets"]["QRMI_IBM_QCS_IAM_APIKEY"] = {"vault": "AKIA-Pasted-Secret"}
    found = problems(lab)
    assert any("qpus[0].qrmi.secrets.QRMI_IBM_QCS_IAM_APIKEY.vault" in p for p in found)
    assert not any("AKIA-Pasted-Secret" in p for p in found)


def test_schema_version_is_checked(lab: dict[str, Any]) -> None:
    lab["schema_version"] = 2
    assert any("schema_version" in p for p in problems(lab))


def test_every_field_has_a_description() -> None:
    from site_survey.schema import json_schema

    schema = json_schema()
    missing = []
    for name, definition in {"Site": schema, **schema["$defs"]}.items():
        for field, spec in definition.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{field}")
    assert missing == []


def test_accounts_need_distinct_uids(lab: dict[str, Any]) -> None:
    lab["software"]["accounts"][1]["uid"] = lab["software"]["accounts"][0]["uid"]
    assert any("software.accounts[1].uid" in p and "already used by account 'alice'" in p for p in problems(lab))


def test_accounts_refuse_system_uids(lab: dict[str, Any]) -> None:
    lab["software"]["accounts"][0]["uid"] = 0
    assert any("software.accounts[0].uid" in p and "greater than or equal to 1000" in p for p in problems(lab))


def test_task_sharing_sets_the_license_count_and_reaches_qrmid(lab: dict[str, Any]) -> None:
    from site_survey import derive
    from site_survey.service_configs import qrmid_config, rollout_qrmid_service

    lab["qpus"][0]["sharing"] = {"mode": "task", "max_jobs": 4}
    site = parse_site(lab)
    licenses = derive.qpu_licenses(site)
    assert (licenses["sc_twin"], licenses["FRESNEL"]) == (4, 1)  # admitted jobs; slots stay 1
    service = rollout_qrmid_service(site)
    assert service is not None
    by_name = {q["name"]: q for q in qrmid_config(site, service)["qpus"]}
    # the lookahead defaults to 1 (one task waits in the service's own queue); a job-held QPU has none
    assert by_name["sc_twin"]["sharing"] == {"mode": "task", "max_jobs": 4, "lookahead": 1}
    assert by_name["sc_twin"]["slots"] == 1
    assert by_name["sc_twin"]["licenses"] == 4  # what qpu_reservations reserves for a window
    assert by_name["FRESNEL"]["sharing"] == {"mode": "job", "max_jobs": 1, "lookahead": 0}


@pytest.mark.parametrize("lookahead", [0, 3, 8])
def test_a_task_shared_qpus_lookahead_reaches_qrmid(lab: dict[str, Any], lookahead: int) -> None:
    from site_survey.service_configs import qrmid_config, rollout_qrmid_service

    lab["qpus"][0]["sharing"] = {"mode": "task", "max_jobs": 2, "lookahead": lookahead}
    site = parse_site(lab)
    service = rollout_qrmid_service(site)
    assert service is not None
    (sc,) = [q for q in qrmid_config(site, service)["qpus"] if q["name"] == "sc_twin"]
    assert sc["sharing"]["lookahead"] == lookahead


@pytest.mark.parametrize(("sharing", "message"), [
    ({"mode": "task"}, "sharing.mode 'task' needs sharing.max_jobs"),
    ({"mode": "task", "max_jobs": 1, "slots": 2}, "sharing.max_jobs (1) is below slots (2)"),
    ({"mode": "job", "max_jobs": 3}, "sharing.max_jobs applies to sharing.mode 'task' only"),
    ({"mode": "job", "lookahead": 2}, "sharing.lookahead applies to sharing.mode 'task' only"),
    ({"mode": "task", "max_jobs": 2, "lookahead": 9}, "qpus[0].sharing.lookahead"),
    ({"mode": "task", "max_jobs": 2, "lookahead": -1}, "qpus[0].sharing.lookahead"),
    ({"mode": "round-robin"}, "qpus[0].sharing.mode"),
])
def test_bad_sharing_is_refused_with_the_field(lab: dict[str, Any], sharing: dict[str, Any], message: str) -> None:
    slots = sharing.pop("slots", None)
    if slots is not None:
        lab["qpus"][0]["slots"] = slots
    lab["qpus"][0]["sharing"] = sharing
    assert any(message in p for p in problems(lab)), problems(lab)
