"""Keypair and one VM per cloud host: a fixed-address port carrying the host's
security groups, the instance with the flavor of its role and cloud-init, and
a floating IP where the host must be reachable from outside."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_openstack as openstack

from site_survey.model import Cloud, Host


@dataclass(frozen=True)
class HostPlan:
    host: Host
    flavor: str
    security_groups: list[str]  # keys into InstancesArgs.security_group_ids
    user_data: pulumi.Input[str]
    public: bool  # gets a floating IP
    routes_for: list[str] = field(default_factory=list)  # foreign CIDRs this host forwards (link gateway)


@dataclass(frozen=True)
class InstancesArgs:
    site_name: str
    cloud: Cloud
    ssh_public_key: str
    network_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    security_group_ids: Mapping[str, pulumi.Input[str]]
    plans: list[HostPlan]


def flavor_for(cloud: Cloud, host: Host) -> str:
    """The flavor of the host's first role that has one (consistency guarantees every role has one)."""
    for role in host.roles:
        if role in cloud.flavors:
            return cloud.flavors[role]
    raise ValueError(f"no flavor for any role of host {host.name}")


class Instances(pulumi.ComponentResource):
    private_addresses: dict[str, pulumi.Output[str]]
    public_addresses: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: InstancesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:openstack:Instances", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        keypair = openstack.compute.Keypair(
            f"{name}-keypair", name=f"{args.site_name}-admin", public_key=args.ssh_public_key, opts=child
        )
        self.private_addresses = {}
        self.public_addresses = {}
        for plan in args.plans:
            host = plan.host
            port = openstack.networking.Port(
                f"{name}-{host.name}-port",
                name=f"{args.site_name}-{host.name}",
                network_id=args.network_id,
                fixed_ips=[{"subnet_id": args.subnet_id, "ip_address": host.address}],
                security_group_ids=[args.security_group_ids[key] for key in plan.security_groups],
                # anti-spoofing would drop packets the gateway forwards for other networks
                allowed_address_pairs=[{"ip_address": cidr} for cidr in plan.routes_for] or None,
                opts=child,
            )
            openstack.compute.Instance(
                f"{name}-{host.name}",
                name=f"{args.site_name}-{host.name}",
                flavor_name=plan.flavor,
                image_name=args.cloud.image,
                key_pair=keypair.name,
                networks=[{"port": port.id}],
                user_data=plan.user_data,
                metadata={"qpusite_site": args.site_name, "qpusite_roles": ",".join(r.value for r in host.roles)},
                opts=child,
            )
            self.private_addresses[host.name] = pulumi.Output.from_input(host.address)
            if plan.public:
                fip = openstack.networking.FloatingIp(
                    f"{name}-{host.name}-fip",
                    pool=args.cloud.network.external_network,
                    port_id=port.id,
                    description=f"{args.site_name} {host.name}",
                    opts=child,
                )
                self.public_addresses[host.name] = fip.address
        self.register_outputs({"private_addresses": self.private_addresses, "public_addresses": self.public_addresses})
