"""The OVH/OpenStack program under Pulumi's mocks: resource counts, names,
flavors per role, fixed addresses, security-group rules, the hybrid link,
optional services and the outputs the inventory merges."""

from __future__ import annotations

import ipaddress
from typing import Any

import pulumi
import pytest

from stacks.ovh.site import OvhSite, OvhSiteArgs
from tests.stacks.conftest import RecordingMocks, settled
from tests.stacks.helpers import integral, site_from

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrCdBmmJTsjb6uBQ8rUjsO9mvQm1Cx1zGqF0Cdj1Z9p test"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value on the wire

INSTANCE = "openstack:compute/instance:Instance"
PORT = "openstack:networking/port:Port"
FIP = "openstack:networking/floatingIp:FloatingIp"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
GROUP = "openstack:networking/secGroup:SecGroup"


def build(doc: dict[str, Any], **secrets: Any) -> OvhSite:
    site = site_from(doc)
    return OvhSite(site.site.name, OvhSiteArgs(site=site, ssh_public_key=KEY, **secrets))


def hybrid_secrets() -> dict[str, Any]:
    return {
        "wireguard_private_key": pulumi.Output.secret("cloud-end-private-key"),
        "wireguard_peer_public_key": "onprem-end-public-key",
    }


def rules_by_group(mocks: RecordingMocks, site_name: str) -> dict[str, list[dict[str, Any]]]:
    """Recorded rules keyed by security-group key (the part after '<site>-secgroups-')."""
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in mocks.of_type(RULE):
        group = rule.inputs["securityGroupId"].removeprefix(f"{site_name}-secgroups-").removesuffix("-id")
        out.setdefault(group, []).append(integral(rule.inputs))
    return out


@pulumi.runtime.test
def test_cloud_site_creates_one_vm_port_and_floating_ip_per_host(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        names = sorted(r.inputs["name"] for r in mocks.of_type(INSTANCE))
        assert names == ["ovh-cloud-c1", "ovh-cloud-c2", "ovh-cloud-ctl", "ovh-cloud-emu1", "ovh-cloud-qgw"]
        assert len(mocks.of_type(PORT)) == 5
        assert len(mocks.of_type(FIP)) == 5
        assert len(mocks.of_type("openstack:compute/keypair:Keypair")) == 1
        assert mocks.of_type("openstack:compute/keypair:Keypair")[0].inputs["publicKey"] == KEY

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_flavor_and_image_follow_the_host_role(mocks: RecordingMocks, ovh_cloud_doc):
    ovh_cloud_doc["cloud"]["flavors"]["login"] = "b3-16"
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        flavors = {r.inputs["name"]: r.inputs["flavorName"] for r in mocks.of_type(INSTANCE)}
        # ctl is controller, login and monitoring: its first role with a flavor wins
        assert flavors == {
            "ovh-cloud-ctl": "b3-8",
            "ovh-cloud-c1": "c3-8",
            "ovh-cloud-c2": "c3-8",
            "ovh-cloud-qgw": "b3-8",
            "ovh-cloud-emu1": "c3-16",
        }
        assert {r.inputs["imageName"] for r in mocks.of_type(INSTANCE)} == {"Debian 12"}

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_ports_carry_the_model_addresses_and_role_groups(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        ports = {r.inputs["name"]: r.inputs for r in mocks.of_type(PORT)}
        assert ports["ovh-cloud-c1"]["fixedIps"][0]["ipAddress"] == "10.60.0.11"
        assert sorted(ports["ovh-cloud-c1"]["securityGroupIds"]) == [
            "ovh-cloud-secgroups-base-id",
            "ovh-cloud-secgroups-compute-id",
        ]
        assert sorted(ports["ovh-cloud-ctl"]["securityGroupIds"]) == sorted(
            f"ovh-cloud-secgroups-{k}-id" for k in ("base", "controller", "login", "monitoring")
        )
        assert "allowedAddressPairs" not in ports["ovh-cloud-c1"]

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_ssh_is_admitted_only_from_the_admin_networks(mocks: RecordingMocks, ovh_cloud_doc):
    ovh_cloud_doc["facility"]["network"]["admin_cidrs"] = ["198.51.100.0/24", "192.0.2.0/28"]
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        ssh = [r for rules in rules_by_group(mocks, "ovh-cloud").values() for r in rules if r.get("portRangeMin") == 22]
        assert sorted(r["remoteIpPrefix"] for r in ssh) == ["192.0.2.0/28", "198.51.100.0/24"]
        assert all(r["direction"] == "ingress" and r["protocol"] == "tcp" for r in ssh)

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_service_ports_open_only_on_their_role_and_only_inside(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        groups = rules_by_group(mocks, "ovh-cloud")
        assert set(groups) == {"base", "controller", "login", "monitoring", "compute", "qpu_access", "emulator"}
        where = {
            6817: "controller",
            6818: "compute",
            8470: "qpu_access",
            8480: "emulator",
            9090: "monitoring",
            9093: "monitoring",
            9100: "base",
        }
        for port, group in where.items():
            holders = {g for g, rules in groups.items() for r in rules if r.get("portRangeMin") == port}
            assert holders == {group}, port
        inside = ipaddress.ip_network("10.60.0.0/24")
        for group, rules in groups.items():
            for r in rules:
                if r.get("portRangeMin") == 22:
                    continue
                assert ipaddress.ip_network(r["remoteIpPrefix"]).subnet_of(inside), (group, r)
        srun = [r for r in groups["compute"] if r.get("portRangeMin") == 60001]
        assert srun and srun[0]["portRangeMax"] == 63000

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_vrack_network_replaces_the_neutron_network(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(network_id: str) -> None:
        assert network_id == "os-net-gra11"
        assert not mocks.of_type("openstack:networking/network:Network")
        private = mocks.of_type("ovh:CloudProject/networkPrivate:NetworkPrivate")
        assert len(private) == 1
        assert integral(private[0].inputs["vlanId"]) == 60
        assert private[0].inputs["serviceName"] == "0123456789abcdef0123456789abcdef"
        subnet = mocks.of_type("ovh:CloudProject/networkPrivateSubnet:NetworkPrivateSubnet")[0].inputs
        assert (subnet["start"], subnet["end"]) == ("10.60.0.22", "10.60.0.254")
        ports = mocks.of_type(PORT)
        assert {p.inputs["networkId"] for p in ports} == {"os-net-gra11"}

    return settled(component.network_id).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_neutron_network_keeps_host_addresses_out_of_dhcp(mocks: RecordingMocks, ovh_cloud_doc):
    ovh_cloud_doc["cloud"]["network"]["vrack"] = False
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        subnet = mocks.of_type("openstack:networking/subnet:Subnet")[0].inputs
        assert subnet["cidr"] == "10.60.0.0/24"
        assert subnet["gatewayIp"] == "10.60.0.1"
        assert subnet["allocationPools"] == [{"start": "10.60.0.22", "end": "10.60.0.254"}]
        router = mocks.of_type("openstack:networking/router:Router")[0].inputs
        assert router["externalNetworkId"] == "ext-Ext-Net"
        assert len(mocks.of_type("openstack:networking/routerInterface:RouterInterface")) == 1

    return settled(component.network_id).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_managed_kubernetes_and_object_storage_when_the_model_asks(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)
    assert component.kubeconfig is not None and component.object_storage_container is not None

    def check(values: list[Any]) -> None:
        pool = mocks.of_type("ovh:CloudProject/kubeNodePool:KubeNodePool")[0].inputs
        assert pool["flavorName"] == "b3-8" and integral(pool["desiredNodes"]) == 3
        cluster = mocks.of_type("ovh:CloudProject/kube:Kube")[0].inputs
        assert cluster["version"] == "1.31" and cluster["region"] == "GRA11"
        assert cluster["privateNetworkId"] == "os-net-gra11"
        assert values[1] == "ovh-cloud-results"
        container = mocks.of_type("openstack:objectstorage/container:Container")[0].inputs
        assert "containerRead" not in container  # private

    return settled(component.kubeconfig, component.object_storage_container).apply(check)


@pulumi.runtime.test
def test_no_optional_services_unless_asked(mocks: RecordingMocks, ovh_cloud_doc):
    ovh_cloud_doc["cloud"]["kubernetes"]["enabled"] = False
    ovh_cloud_doc["cloud"]["object_storage"] = False
    component = build(ovh_cloud_doc)
    assert component.kubeconfig is None and component.object_storage_container is None

    def check(_: Any) -> None:
        assert not mocks.of_type("ovh:CloudProject/kube:Kube")
        assert not mocks.of_type("openstack:objectstorage/container:Container")

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_outputs_give_private_and_public_address_per_host(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(hosts: dict[str, Any]) -> None:
        assert set(hosts) == {"ctl", "c1", "c2", "qgw", "emu1"}
        assert hosts["c1"]["private_address"] == "10.60.0.11"
        publics = [h["public_address"] for h in hosts.values()]
        assert len(set(publics)) == 5 and all(ipaddress.ip_address(p) for p in publics)
        assert hosts["ctl"]["roles"] == ["controller", "login", "monitoring"]

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_cloud_init_prepares_the_ansible_user(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        import yaml

        data = mocks.named("ovh-cloud-vms-c1").inputs["userData"]
        assert data.startswith("#cloud-config\n")
        doc = yaml.safe_load(data)
        assert doc["hostname"] == "c1" and doc["fqdn"] == "c1.cloud.internal"
        user = doc["users"][1]
        assert user["name"] == "debian" and user["ssh_authorized_keys"] == [KEY]
        assert "python3" in doc["packages"]
        assert "wireguard-tools" not in doc["packages"]

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_hybrid_gateway_terminates_wireguard(mocks: RecordingMocks, hybrid_doc):
    component = build(hybrid_doc, **hybrid_secrets())

    def check(values: list[Any]) -> None:
        hosts, gateway_public = values
        assert list(hosts) == ["emu1"]  # on-prem hosts are not created
        assert gateway_public == hosts["emu1"]["public_address"]
        route = mocks.of_type("openstack:networking/routerRoute:RouterRoute")[0].inputs
        assert (route["destinationCidr"], route["nextHop"]) == ("10.80.0.0/16", "10.61.0.21")
        port = mocks.named("hybrid-vms-emu1-port").inputs
        assert [p["ipAddress"] for p in port["allowedAddressPairs"]] == ["10.80.0.0/16", "10.255.255.0/30"]
        link = rules_by_group(mocks, "hybrid")["link"]
        assert [(r["protocol"], r["portRangeMin"], r["remoteIpPrefix"]) for r in link] == [
            ("udp", 51820, "203.0.113.10/32")
        ]
        # the private key travels only as a secret
        user_data = mocks.named("hybrid-vms-emu1").inputs["userData"]
        assert isinstance(user_data, dict) and SECRET_SIG in user_data
        assert "PrivateKey = cloud-end-private-key" in user_data["value"]
        assert "PublicKey = onprem-end-public-key" in user_data["value"]
        assert "AllowedIPs = 10.80.0.0/16, 10.255.255.2/32" in user_data["value"]

    return settled(component.hosts, component.gateway_public_address).apply(check)


@pulumi.runtime.test
def test_hybrid_admits_services_from_onprem_over_the_link(mocks: RecordingMocks, hybrid_doc):
    component = build(hybrid_doc, **hybrid_secrets())

    def check(_: Any) -> None:
        emulator = rules_by_group(mocks, "hybrid")["emulator"]
        assert sorted(r["remoteIpPrefix"] for r in emulator) == ["10.61.0.0/24", "10.80.0.0/16"]
        ssh = rules_by_group(mocks, "hybrid")["base"]
        assert [r["remoteIpPrefix"] for r in ssh if r.get("portRangeMin") == 22] == ["10.80.9.0/24"]

    return settled(component.hosts).apply(lambda v: check(v[0]))


@pulumi.runtime.test
def test_provider_vpn_link_uses_vpnaas_with_a_secret_key(mocks: RecordingMocks, hybrid_doc):
    hybrid_doc["cloud"]["hybrid_link"]["kind"] = "provider_vpn"
    del hybrid_doc["cloud"]["hybrid_link"]["gateway_host"]
    component = build(hybrid_doc, vpn_pre_shared_key=pulumi.Output.secret("psk-value"))

    def check(values: list[Any]) -> None:
        hosts, gateway_public = values
        assert gateway_public is None
        assert hosts["emu1"]["public_address"] is None  # reached over the VPN, no floating IP
        kinds = {r.type.split(":")[-1] for r in mocks.resources if r.type.startswith("openstack:vpnaas/")}
        assert kinds == {"IkePolicy", "IpSecPolicy", "Service", "EndpointGroup", "SiteConnection"}
        connection = mocks.of_type("openstack:vpnaas/siteConnection:SiteConnection")[0].inputs
        assert SECRET_SIG in connection["psk"] and connection["psk"]["value"] == "psk-value"
        assert connection["peerAddress"] == "203.0.113.10"
        groups = mocks.of_type("openstack:vpnaas/endpointGroup:EndpointGroup")
        peer = [g.inputs for g in groups if g.inputs["type"] == "cidr"]
        assert peer[0]["endpoints"] == ["10.80.0.0/16"]
        assert "link" not in rules_by_group(mocks, "hybrid")
        assert not mocks.of_type("openstack:networking/routerRoute:RouterRoute")

    return settled(component.hosts, component.gateway_public_address).apply(check)


@pulumi.runtime.test
def test_hybrid_without_the_wireguard_key_is_refused(mocks: RecordingMocks, hybrid_doc):
    with pytest.raises(ValueError, match="wireguardPrivateKey"):
        build(hybrid_doc)


@pulumi.runtime.test
def test_components_are_parented_under_the_site(mocks: RecordingMocks, ovh_cloud_doc):
    component = build(ovh_cloud_doc)

    def check(_: Any) -> None:
        components = {r.type for r in mocks.resources if not r.custom}
        assert {
            "qpusite:openstack:Site",
            "qpusite:openstack:PrivateNetwork",
            "qpusite:openstack:SecurityGroups",
            "qpusite:openstack:Instances",
            "qpusite:ovh:ManagedKubernetes",
            "qpusite:openstack:ObjectStorage",
        } <= components

    return settled(component.urn).apply(lambda v: check(v[0]))
