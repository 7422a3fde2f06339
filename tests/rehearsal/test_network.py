from __future__ import annotations

import ipaddress

import pytest

from rehearsal.errors import RehearsalInputError
from rehearsal.network import site_network


def test_lab_network_is_the_cluster_vlan(make_site):
    spec = site_network(make_site())
    assert spec.name == "qpusite-lab"
    assert spec.subnet == ipaddress.IPv4Network("10.77.0.0/24")
    assert spec.gateway == ipaddress.IPv4Address("10.77.0.1")
    assert "cluster" in spec.source


def test_the_narrowest_vlan_holding_every_host_is_chosen(make_site):
    def edit(doc):
        doc["facility"]["network"]["vlans"].insert(0, {"name": "wide", "vlan_id": 1, "cidr": "10.77.0.0/16"})

    assert site_network(make_site(edit)).subnet == ipaddress.IPv4Network("10.77.0.0/24")


def test_hosts_split_across_vlans_are_refused_naming_the_fix(make_site):
    def edit(doc):
        doc["facility"]["network"]["vlans"][0]["routed_to"] = ["other"]
        doc["facility"]["network"]["vlans"].append({"name": "other", "vlan_id": 78, "cidr": "10.78.0.0/24"})
        doc["facility"]["network"]["admin_cidrs"] = []
        doc["hosts"][3]["address"] = "10.78.0.20"

    with pytest.raises(RehearsalInputError, match="no single VLAN contains every host"):
        site_network(make_site(edit))


def test_a_host_on_the_gateway_address_is_refused(make_site):
    def edit(doc):
        doc["hosts"][0]["address"] = "10.77.0.1"

    with pytest.raises(RehearsalInputError, match=r"hosts\[ctl\]\.address: 10\.77\.0\.1"):
        site_network(make_site(edit))


def test_without_vlans_the_first_hosts_slash_24_is_used(make_site):
    def edit(doc):
        doc["facility"]["network"]["vlans"] = []

    assert site_network(make_site(edit)).subnet == ipaddress.IPv4Network("10.77.0.0/24")
