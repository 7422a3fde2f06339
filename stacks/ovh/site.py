"""`qpusite:openstack:Site`: the whole cloud side of one site, composed from
the smaller components. Its outputs are what `qpusite cloud up` writes to
cloud-outputs.json for the inventory to merge."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import pulumi

from site_survey.cloud import cloud_hosts, link_gateway
from site_survey.model import Host, Site
from stacks.common.naming import resource_name
from stacks.ovh import security_rules
from stacks.ovh.cloud_init import WireguardEnd, cloud_config
from stacks.ovh.instances import HostPlan, Instances, InstancesArgs, flavor_for
from stacks.ovh.network import PrivateNetwork, PrivateNetworkArgs
from stacks.ovh.security_groups import SecurityGroups, SecurityGroupsArgs
from stacks.ovh.services import (
    ManagedKubernetes,
    ManagedKubernetesArgs,
    ObjectStorage,
    ObjectStorageArgs,
    ProviderVpn,
    ProviderVpnArgs,
)


@dataclass(frozen=True)
class OvhSiteArgs:
    site: Site
    ssh_public_key: str
    wireguard_private_key: pulumi.Input[str] | None = None
    wireguard_peer_public_key: pulumi.Input[str] | None = None
    vpn_pre_shared_key: pulumi.Input[str] | None = None


def _gateway_user_data(site: Site, host: Host, ssh_public_key: str, keys: list[Any]) -> str:
    return cloud_config(site, host, ssh_public_key, WireguardEnd(str(keys[0]), str(keys[1])))


def _missing_secret(name: str) -> ValueError:
    return ValueError(f"the site's hybrid link needs {name}; `qpusite cloud` reads it from the environment")


class OvhSite(pulumi.ComponentResource):
    hosts: pulumi.Output[dict[str, Any]]
    network_id: pulumi.Output[str]
    gateway_public_address: pulumi.Output[str | None]
    kubeconfig: pulumi.Output[str] | None
    object_storage_container: pulumi.Output[str] | None

    def __init__(self, name: str, args: OvhSiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:openstack:Site", name, None, opts)
        site = args.site
        cloud = site.cloud
        assert cloud is not None, "preflight guarantees a cloud section"
        site_name = site.site.name
        child = pulumi.ResourceOptions(parent=self)
        hosts = cloud_hosts(site)
        gateway = link_gateway(site)
        link = cloud.hybrid_link

        # plan first (pure data, policy-checked), then declare resources
        rules = security_rules.checked_rules(site)
        group_keys = sorted({k for h in hosts for k in security_rules.groups_of(site, h)})

        network = PrivateNetwork(
            resource_name(site_name, "network"),
            PrivateNetworkArgs(
                site_name=site_name,
                cloud=cloud,
                fixed_addresses=[h.address for h in hosts],
                gateway_address=gateway.address if gateway else None,
            ),
            child,
        )
        self.network_id = network.network_id
        public_addresses: dict[str, pulumi.Output[str]] = {}
        if hosts:
            groups = SecurityGroups(
                resource_name(site_name, "secgroups"),
                SecurityGroupsArgs(site_name=site_name, rules=rules, groups=group_keys),
                child,
            )
            plans = []
            for host in hosts:
                is_gateway = gateway is not None and gateway.name == host.name
                user_data: pulumi.Input[str]
                if is_gateway:
                    assert link is not None
                    if args.wireguard_private_key is None:
                        raise _missing_secret("wireguardPrivateKey")
                    if args.wireguard_peer_public_key is None:
                        raise _missing_secret("wireguardPeerPublicKey")
                    user_data = pulumi.Output.all(args.wireguard_private_key, args.wireguard_peer_public_key).apply(
                        functools.partial(_gateway_user_data, site, host, args.ssh_public_key)
                    )
                else:
                    user_data = cloud_config(site, host, args.ssh_public_key)
                plans.append(
                    HostPlan(
                        host=host,
                        flavor=flavor_for(cloud, host),
                        security_groups=security_rules.groups_of(site, host),
                        user_data=user_data,
                        # a cloud-only site is administered from outside; a hybrid one over its link
                        public=site.software.topology == "cloud" or is_gateway,
                        routes_for=[link.onprem_cidr, link.tunnel_cidr] if is_gateway and link else [],
                    )
                )
            instances = Instances(
                resource_name(site_name, "vms"),
                InstancesArgs(
                    site_name=site_name,
                    cloud=cloud,
                    ssh_public_key=args.ssh_public_key,
                    network_id=network.network_id,
                    subnet_id=network.subnet_id,
                    security_group_ids=groups.ids,
                    plans=plans,
                ),
                child,
            )
            public_addresses = instances.public_addresses

        if link is not None and link.kind == "provider_vpn":
            if args.vpn_pre_shared_key is None:
                raise _missing_secret("vpnPreSharedKey")
            ProviderVpn(
                resource_name(site_name, "vpn"),
                ProviderVpnArgs(
                    site_name=site_name,
                    cloud=cloud,
                    router_id=network.router_id,
                    subnet_id=network.subnet_id,
                    pre_shared_key=args.vpn_pre_shared_key,
                ),
                child,
            )

        self.kubeconfig = None
        if cloud.kubernetes.enabled and cloud.kubernetes.managed:
            cluster = ManagedKubernetes(
                resource_name(site_name, "k8s"),
                ManagedKubernetesArgs(
                    site_name=site_name,
                    cloud=cloud,
                    private_network_id=network.network_id if cloud.network.vrack else None,
                ),
                child,
            )
            self.kubeconfig = cluster.kubeconfig

        self.object_storage_container = None
        if cloud.object_storage:
            self.object_storage_container = ObjectStorage(
                resource_name(site_name, "storage"), ObjectStorageArgs(site_name=site_name, cloud=cloud), child
            ).container_name

        def host_table(public: dict[str, str]) -> dict[str, Any]:
            return {
                h.name: {
                    "private_address": h.address,
                    "public_address": public.get(h.name),
                    "roles": [r.value for r in h.roles],
                }
                for h in hosts
            }

        # Output.all() of nothing is a list, not a dict
        publics = pulumi.Output.all(**public_addresses) if public_addresses else pulumi.Output.from_input({})
        self.hosts = publics.apply(host_table)
        self.gateway_public_address = (
            public_addresses[gateway.name]
            if gateway is not None and gateway.name in public_addresses
            else pulumi.Output.from_input(None)
        )
        self.register_outputs(
            {
                "hosts": self.hosts,
                "network_id": self.network_id,
                "gateway_public_address": self.gateway_public_address,
            }
        )


def export_outputs(component: OvhSite) -> None:
    """The stack outputs `qpusite cloud up` turns into cloud-outputs.json (kubeconfig stays a secret)."""
    pulumi.export("hosts", component.hosts)
    pulumi.export("network_id", component.network_id)
    pulumi.export("gateway_public_address", component.gateway_public_address)
    if component.kubeconfig is not None:
        pulumi.export("kubeconfig", component.kubeconfig)
    if component.object_storage_container is not None:
        pulumi.export("object_storage_container", component.object_storage_container)
