"""Private network, subnet and router (Neutron, or an OVH vRack network), and
the route that sends on-prem traffic through the hybrid link's gateway."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
import pulumi_ovh as ovh

from site_survey.model import Cloud


@dataclass(frozen=True)
class PrivateNetworkArgs:
    site_name: str
    cloud: Cloud
    fixed_addresses: list[str]  # model addresses of the cloud hosts, kept out of the DHCP pool
    gateway_address: str | None = None  # private address of the WireGuard gateway (hybrid), if any


def dhcp_pool(cidr: str, fixed_addresses: list[str]) -> tuple[str, str] | None:
    """The DHCP allocation pool: every address above the highest fixed one.

    Hosts get the addresses the model gives them (fixed-IP ports); the router,
    DHCP agent and Kubernetes nodes take theirs from this pool, so they can
    never collide with a host."""
    net = ipaddress.IPv4Network(cidr)
    usable = list(net.hosts())
    taken = [ipaddress.IPv4Address(a) for a in fixed_addresses if ipaddress.IPv4Address(a) in net]
    # the first usable address is the subnet's gateway (router interface)
    start = max([usable[0], *taken]) + 1
    end = usable[-1]
    return (str(start), str(end)) if start <= end else None


class PrivateNetwork(pulumi.ComponentResource):
    network_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    router_id: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:openstack:PrivateNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        net = args.cloud.network
        gateway_ip = str(next(ipaddress.IPv4Network(net.private_cidr).hosts()))
        pool = dhcp_pool(net.private_cidr, args.fixed_addresses)
        if net.vrack:
            self.network_id, self.subnet_id = self._vrack(name, args, pool, child)
        else:
            network = openstack.networking.Network(
                f"{name}-net", name=f"{args.site_name}-private", admin_state_up=True, opts=child
            )
            subnet = openstack.networking.Subnet(
                f"{name}-subnet",
                name=f"{args.site_name}-private",
                network_id=network.id,
                cidr=net.private_cidr,
                ip_version=4,
                gateway_ip=gateway_ip,
                enable_dhcp=True,
                allocation_pools=[{"start": pool[0], "end": pool[1]}] if pool else None,
                opts=child,
            )
            self.network_id, self.subnet_id = network.id, subnet.id
        external = openstack.networking.get_network_output(name=net.external_network, external=True)
        router = openstack.networking.Router(
            f"{name}-router", name=f"{args.site_name}-router", external_network_id=external.id, opts=child
        )
        interface = openstack.networking.RouterInterface(
            f"{name}-router-interface", router_id=router.id, subnet_id=self.subnet_id, opts=child
        )
        self.router_id = router.id
        link = args.cloud.hybrid_link
        if link is not None and args.gateway_address is not None:
            # VMs send on-prem traffic to their default gateway (the router), which hands it to the link's end
            openstack.networking.RouterRoute(
                f"{name}-route-onprem",
                router_id=router.id,
                destination_cidr=link.onprem_cidr,
                next_hop=args.gateway_address,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[interface]),
            )
        self.register_outputs({"network_id": self.network_id, "subnet_id": self.subnet_id, "router_id": self.router_id})

    def _vrack(
        self,
        name: str,
        args: PrivateNetworkArgs,
        pool: tuple[str, str] | None,
        child: pulumi.ResourceOptions,
    ) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """An OVH vRack private network; its OpenStack ids are looked up, not created twice."""
        cloud = args.cloud
        region = cloud.region
        private = ovh.cloudproject.NetworkPrivate(
            f"{name}-vrack",
            service_name=cloud.project_id,
            name=f"{args.site_name}-private",
            regions=[region],
            vlan_id=cloud.network.vrack_vlan_id,
            opts=child,
        )
        start, end = pool if pool else (None, None)
        subnet = ovh.cloudproject.NetworkPrivateSubnet(
            f"{name}-vrack-subnet",
            service_name=cloud.project_id,
            network_id=private.id,
            region=region,
            network=cloud.network.private_cidr,
            start=start,
            end=end,
            dhcp=True,
            no_gateway=False,
            opts=child,
        )

        def field(attr: object, key: str) -> object:
            # the engine hands back typed output objects, the mocks plain dicts
            return attr.get(key) if isinstance(attr, dict) else getattr(attr, key, None)

        def openstack_id(attributes: Sequence[object]) -> str:
            for attr in attributes:
                found = field(attr, "openstackid")
                if field(attr, "region") == region and found:
                    return str(found)
            raise ValueError(f"vRack network has no OpenStack network in region {region}")

        network_id = private.regions_attributes.apply(openstack_id)
        subnet_info = openstack.networking.get_subnet_output(
            network_id=network_id, cidr=cloud.network.private_cidr, opts=pulumi.InvokeOutputOptions(depends_on=[subnet])
        )
        return network_id, subnet_info.id
