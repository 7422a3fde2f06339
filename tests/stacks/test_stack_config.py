"""Configuration validation apart from the resource graph: the cloud rules of
the site model, the programs' preflight checks, and the stack configuration
and secret inputs generated from the model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import SiteModelError, load_site
from site_survey.cloud import hybrid_link_vars, kit_tcp_ports, link_gateway, srun_port_range
from stacks.common.preflight import check_program
from stacks.common.stack_config import (
    REPO_ROOT,
    missing_secret_env,
    ovh_api_endpoint,
    resolve_site_file,
    secret_inputs,
    site_file_setting,
    stack_config,
)
from stacks.kubernetes.manifests import secret_value_names
from stacks.ovh.network import dhcp_pool
from tests.stacks.conftest import HYBRID, OVH_CLOUD
from tests.stacks.helpers import site_from


def problems_of(doc: dict[str, Any]) -> list[str]:
    try:
        site_from(doc)
    except SiteModelError as exc:
        return [f"{p.path}: {p.message}" for p in exc.problems]
    return []


# ------------------------------------------------------------ site model rules


def test_both_example_sites_are_valid():
    assert load_site(OVH_CLOUD).software.topology == "cloud"
    assert load_site(HYBRID).software.topology == "hybrid"


def test_cloud_topology_puts_every_host_in_the_cloud(ovh_cloud_doc):
    ovh_cloud_doc["hosts"][1]["location"] = "onprem"
    assert any(p.startswith("hosts[1].location") for p in problems_of(ovh_cloud_doc))


def test_vrack_and_managed_kubernetes_need_an_ovh_project(ovh_cloud_doc):
    del ovh_cloud_doc["cloud"]["project_id"]
    found = problems_of(ovh_cloud_doc)
    assert any(p.startswith("cloud.project_id") and "vrack" in p and "kubernetes" in p for p in found)
    ovh_cloud_doc["cloud"]["provider"] = "openstack"
    assert any(p.startswith("cloud.provider") for p in problems_of(ovh_cloud_doc))


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("cloud_cidr", "10.99.0.0/24", "cloud.hybrid_link.cloud_cidr"),  # does not contain private_cidr
        ("onprem_cidr", "10.61.0.0/16", "cloud.hybrid_link.onprem_cidr"),  # overlaps the cloud
        ("onprem_cidr", "10.80.0.1/16", "cloud.hybrid_link.onprem_cidr"),  # host bits set
        ("tunnel_cidr", "10.255.255.0/31", "cloud.hybrid_link.tunnel_cidr"),  # too small
        ("gateway_host", "ctl", "cloud.hybrid_link.gateway_host"),  # on-prem host
        ("onprem_endpoint", "vpn.example.org", "cloud.hybrid_link.onprem_endpoint"),  # SG needs an address
    ],
)
def test_hybrid_link_rules(hybrid_doc, field, value, path):
    hybrid_doc["cloud"]["hybrid_link"][field] = value
    assert any(p.startswith(path) for p in problems_of(hybrid_doc)), problems_of(hybrid_doc)


def test_onprem_hosts_must_sit_in_the_onprem_network(hybrid_doc):
    hybrid_doc["cloud"]["hybrid_link"]["onprem_cidr"] = "10.80.0.0/24"  # leaves out the admin VLAN: fine
    assert problems_of(hybrid_doc) == []
    hybrid_doc["hosts"][0]["address"] = "10.81.0.10"
    hybrid_doc["facility"]["network"]["vlans"][0]["cidr"] = "10.81.0.0/24"
    assert any(p.startswith("hosts[0].address") and "onprem_cidr" in p for p in problems_of(hybrid_doc))


def test_a_link_needs_topology_hybrid(ovh_cloud_doc):
    ovh_cloud_doc["cloud"]["hybrid_link"] = {
        "onprem_cidr": "10.80.0.0/16",
        "cloud_cidr": "10.60.0.0/24",
        "onprem_endpoint": "203.0.113.10",
    }
    assert any(p.startswith("cloud.hybrid_link:") for p in problems_of(ovh_cloud_doc))


def test_ports_and_gateway_derivation(hybrid_doc):
    hybrid_doc["software"]["scheduler"]["conf_overrides"] = {"SrunPortRange": "50000-50100", "SlurmctldPort": 7817}
    site = site_from(hybrid_doc)
    assert srun_port_range(site) == (50000, 50100)
    assert kit_tcp_ports(site)["slurmctld"] == 7817
    gateway = link_gateway(site)
    assert gateway is not None and gateway.name == "emu1"
    link = hybrid_link_vars(site)
    assert link is not None
    assert (link["tunnel_cloud_address"], link["tunnel_onprem_address"]) == ("10.255.255.1/30", "10.255.255.2/30")
    assert link["gateway_private_address"] == "10.61.0.21"


def test_without_gateway_host_the_first_cloud_host_terminates_the_link(hybrid_doc):
    del hybrid_doc["cloud"]["hybrid_link"]["gateway_host"]
    gateway = link_gateway(site_from(hybrid_doc))
    assert gateway is not None and gateway.name == "emu1"


# ------------------------------------------------------------ preflight checks


def copy_site(tmp_path: Path, source: Path, doc: dict[str, Any]) -> Path:
    target = tmp_path / source.parent.name
    target.mkdir()
    (target / "site.yaml").write_text(yaml.safe_dump(doc))
    return target


def test_preflight_accepts_a_real_public_key(tmp_path, ovh_cloud_doc, ssh_public_key_file):
    shutil.copy(ssh_public_key_file, tmp_path / "admin.pub")
    ovh_cloud_doc["cloud"]["ssh_public_key_file"] = "admin.pub"
    site = site_from(ovh_cloud_doc)
    assert check_program(site, tmp_path, "ovh") == []
    assert check_program(site, tmp_path, "kubernetes") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n", "not an OpenSSH public key"),
    ],
)
def test_preflight_rejects_a_missing_or_wrong_key(tmp_path, ovh_cloud_doc, content, message):
    if content is not None:
        (tmp_path / "admin.pub").write_text(content)
    ovh_cloud_doc["cloud"]["ssh_public_key_file"] = "admin.pub"
    problems = check_program(site_from(ovh_cloud_doc), tmp_path, "ovh")
    assert [p.path for p in problems] == ["cloud.ssh_public_key_file"]
    assert message in problems[0].message


def test_preflight_needs_a_key_setting(tmp_path, ovh_cloud_doc):
    del ovh_cloud_doc["cloud"]["ssh_public_key_file"]
    problems = check_program(site_from(ovh_cloud_doc), tmp_path, "ovh")
    assert [p.path for p in problems] == ["cloud.ssh_public_key_file"]


def test_preflight_refuses_an_onprem_site(tmp_path):
    lab = load_site("lab")
    assert [p.path for p in check_program(lab, tmp_path, "ovh")] == ["software.topology"]


def test_kubernetes_program_needs_kubernetes_enabled(tmp_path, hybrid_doc):
    problems = check_program(site_from(hybrid_doc), tmp_path, "kubernetes")
    assert [p.path for p in problems] == ["cloud.kubernetes.enabled"]


# ----------------------------------------------------------- generated config


def test_stack_config_comes_from_the_model():
    site = load_site(OVH_CLOUD)
    config = stack_config(site, OVH_CLOUD, "ovh")
    assert config == {
        "qpusite:siteFile": "inventories/ovh-cloud/site.yaml",
        "openstack:region": "GRA11",
        "ovh:endpoint": "ovh-eu",
    }
    assert resolve_site_file(config["qpusite:siteFile"]) == OVH_CLOUD
    assert stack_config(site, OVH_CLOUD, "kubernetes") == {"qpusite:siteFile": "inventories/ovh-cloud/site.yaml"}


def test_site_files_outside_the_repository_stay_absolute(tmp_path):
    outside = tmp_path / "site.yaml"
    assert site_file_setting(outside) == str(outside.resolve())
    assert site_file_setting(REPO_ROOT / "inventories/hybrid/site.yaml") == "inventories/hybrid/site.yaml"


@pytest.mark.parametrize(("region", "endpoint"), [("GRA11", "ovh-eu"), ("BHS5", "ovh-ca"), ("US-EAST-VA-1", "ovh-us")])
def test_ovh_api_endpoint_follows_the_region(region, endpoint):
    assert ovh_api_endpoint(region) == endpoint


def test_secret_inputs_are_never_in_the_plain_config():
    hybrid = load_site(HYBRID)
    inputs = secret_inputs(hybrid, "ovh")
    assert [(i.config_key, i.env_var, i.secret) for i in inputs] == [
        ("wireguardPrivateKey", "QPUSITE_WIREGUARD_PRIVATE_KEY", True),
        ("wireguardPeerPublicKey", "QPUSITE_WIREGUARD_PEER_PUBLIC_KEY", False),
    ]
    plain = stack_config(hybrid, HYBRID, "ovh")
    assert not any("wireguard" in key.lower() for key in plain)
    cloud = load_site(OVH_CLOUD)
    k8s = secret_inputs(cloud, "kubernetes")
    assert [(i.config_key, i.env_var, i.secret) for i in k8s] == [
        ("vault_cloud_sc_apikey", "QPUSITE_VAULT_CLOUD_SC_APIKEY", True),
        ("mungeKey", "QPUSITE_MUNGE_KEY_B64", True),
    ]
    # the CLI asks for exactly what the Kubernetes program consumes
    assert [i.config_key for i in k8s] == secret_value_names(cloud)
    assert secret_inputs(cloud, "ovh") == []
    env = {"QPUSITE_WIREGUARD_PRIVATE_KEY": "x"}
    assert [i.env_var for i in missing_secret_env(inputs, env)] == ["QPUSITE_WIREGUARD_PEER_PUBLIC_KEY"]


@pytest.mark.parametrize(
    ("fixed", "pool"),
    [
        (["10.60.0.10", "10.60.0.21"], ("10.60.0.22", "10.60.0.254")),
        ([], ("10.60.0.2", "10.60.0.254")),
        (["10.60.0.254"], None),
        (["10.99.0.200"], ("10.60.0.2", "10.60.0.254")),  # outside the network: ignored
    ],
)
def test_dhcp_pool_stays_above_the_fixed_addresses(fixed, pool):
    assert dhcp_pool("10.60.0.0/24", fixed) == pool
