"""The policy: no security-group rule may open SSH or a service API to the
world. Checked three ways: on every rule the example sites actually declare
(as recorded by the mocks), on the planner that refuses such rules before any
resource exists, and on the site model that refuses to ask for them."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest

from site_survey import SiteModelError
from stacks.common.policy import ExposureError, RuleSpec, world_exposures
from stacks.ovh import security_rules
from stacks.ovh.site import OvhSite, OvhSiteArgs
from tests.stacks.conftest import RecordingMocks, settled
from tests.stacks.helpers import integral, site_from

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrCdBmmJTsjb6uBQ8rUjsO9mvQm1Cx1zGqF0Cdj1Z9p test"


def violations(recorded: list[dict[str, Any]], protected: set[int]) -> list[dict[str, Any]]:
    """Recorded rules from the world that reach a protected TCP port or every port."""
    bad = []
    for rule in recorded:
        if ipaddress.ip_network(rule["remoteIpPrefix"], strict=False).prefixlen != 0:
            continue
        low, high = rule.get("portRangeMin"), rule.get("portRangeMax")
        every_port = low is None and rule["protocol"] in ("tcp", "udp")
        if every_port or (rule["protocol"] == "tcp" and any(low <= p <= high for p in protected)):
            bad.append(rule)
    return bad


def build(doc: dict[str, Any]) -> OvhSite:
    site = site_from(doc)
    secrets: dict[str, Any] = {}
    if site.cloud and site.cloud.hybrid_link:
        secrets = {"wireguard_private_key": pulumi.Output.secret("k"), "wireguard_peer_public_key": "p"}
    return OvhSite(site.site.name, OvhSiteArgs(site=site, ssh_public_key=KEY, **secrets))


@pytest.mark.parametrize("example", ["ovh_cloud_doc", "hybrid_doc"])
@pulumi.runtime.test
def test_no_declared_rule_opens_ssh_or_an_api_to_the_world(mocks: RecordingMocks, example, request):
    doc = request.getfixturevalue(example)
    site = site_from(doc)
    component = build(doc)
    protected = security_rules.protected_tcp_ports(site)

    def check(_: Any) -> None:
        recorded = [integral(r.inputs) for r in mocks.of_type("openstack:networking/secGroupRule:SecGroupRule")]
        assert recorded, "no rules recorded: the check would prove nothing"
        assert violations(recorded, protected) == []
        assert not [r for r in recorded if ipaddress.ip_network(r["remoteIpPrefix"]).prefixlen == 0]

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_an_explicit_public_port_is_the_only_world_rule(mocks: RecordingMocks, ovh_cloud_doc):
    ovh_cloud_doc["cloud"]["network"]["public_tcp_ports"] = {"login": [443]}
    site = site_from(ovh_cloud_doc)
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        recorded = [integral(r.inputs) for r in mocks.of_type("openstack:networking/secGroupRule:SecGroupRule")]
        world = [r for r in recorded if r["remoteIpPrefix"] == "0.0.0.0/0"]
        assert [(r["portRangeMin"], r["securityGroupId"]) for r in world] == [(443, "ovh-cloud-secgroups-login-id")]
        assert violations(recorded, security_rules.protected_tcp_ports(site)) == []

    return settled(component.hosts).apply(lambda v: check(v[0]))


def test_the_violation_finder_catches_ssh_api_and_all_port_rules():
    # guards the policy helper itself: each of these must be caught
    protected = {22, 8470}
    rules = [
        {"protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "0.0.0.0/0"},
        {"protocol": "tcp", "portRangeMin": 8000, "portRangeMax": 9000, "remoteIpPrefix": "0.0.0.0/0"},
        {"protocol": "tcp", "remoteIpPrefix": "::/0"},
        {"protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22, "remoteIpPrefix": "10.0.0.0/8"},
        {"protocol": "tcp", "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0"},
    ]
    assert violations(rules, protected) == rules[:3]
    specs = [
        RuleSpec("base", "tcp", 22, 22, "0.0.0.0/0", "ssh"),
        RuleSpec("base", "tcp", 8000, 9000, "0.0.0.0/0", "range over qrmid"),
        RuleSpec("base", "udp", None, None, "0.0.0.0/0", "every udp port"),
        RuleSpec("base", "tcp", 22, 22, "10.0.0.0/8", "ssh inside"),
        RuleSpec("base", "tcp", 443, 443, "0.0.0.0/0", "https"),
        RuleSpec("base", "icmp", None, None, "0.0.0.0/0", "ping"),
    ]
    assert world_exposures(specs, protected) == specs[:3]


def test_the_planner_refuses_a_world_rule_even_if_the_model_slipped_one_through(ovh_cloud_doc, monkeypatch):
    site = site_from(ovh_cloud_doc)
    leaky = [*security_rules.planned_rules(site), RuleSpec("base", "tcp", 22, 22, "0.0.0.0/0", "oops")]
    monkeypatch.setattr(security_rules, "planned_rules", lambda _site: leaky)
    with pytest.raises(ExposureError, match="0.0.0.0/0"):
        security_rules.checked_rules(site)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["cloud"]["network"].update(public_tcp_ports={"login": [22]}), "public_tcp_ports.login[0]"),
        (lambda d: d["cloud"]["network"].update(public_tcp_ports={"qpu_access": [8470]}), "qpu_access[0]"),
        (lambda d: d["cloud"]["network"].update(public_tcp_ports={"monitoring": [9090]}), "monitoring[0]"),
        (lambda d: d["cloud"]["network"].update(public_tcp_ports={"compute": [61000]}), "compute[0]"),
        (lambda d: d["facility"]["network"].update(admin_cidrs=["0.0.0.0/0"]), "admin_cidrs[0]"),
        (lambda d: d["facility"]["network"].update(admin_cidrs=[]), "facility.network.admin_cidrs"),
    ],
)
def test_the_model_refuses_to_open_ssh_or_an_api_to_the_world(ovh_cloud_doc, change, path):
    change(ovh_cloud_doc)
    with pytest.raises(SiteModelError) as caught:
        site_from(ovh_cloud_doc)
    assert any(path in p.path for p in caught.value.problems), caught.value.render()
