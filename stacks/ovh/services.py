"""Optional provider services the model asks for: OVH managed Kubernetes,
object storage for results, and the provider's IPsec VPN as the hybrid link."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
import pulumi_ovh as ovh

from site_survey.model import Cloud


@dataclass(frozen=True)
class ManagedKubernetesArgs:
    site_name: str
    cloud: Cloud
    private_network_id: pulumi.Input[str] | None  # attach nodes to the vRack network when there is one


class ManagedKubernetes(pulumi.ComponentResource):
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: ManagedKubernetesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:ovh:ManagedKubernetes", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        k8s = args.cloud.kubernetes
        cluster = ovh.cloudproject.Kube(
            f"{name}-cluster",
            service_name=args.cloud.project_id,
            name=f"{args.site_name}-k8s",
            region=args.cloud.region,
            version=k8s.version,
            private_network_id=args.private_network_id,
            opts=child,
        )
        ovh.cloudproject.KubeNodePool(
            f"{name}-nodes",
            service_name=args.cloud.project_id,
            kube_id=cluster.id,
            name=f"{args.site_name}-nodes",
            flavor_name=k8s.node_flavor,
            desired_nodes=k8s.nodes,
            min_nodes=k8s.nodes,
            max_nodes=k8s.nodes,
            opts=child,
        )
        self.kubeconfig = pulumi.Output.secret(cluster.kubeconfig)
        self.register_outputs({"kubeconfig": self.kubeconfig})


@dataclass(frozen=True)
class ObjectStorageArgs:
    site_name: str
    cloud: Cloud


class ObjectStorage(pulumi.ComponentResource):
    container_name: pulumi.Output[str]

    def __init__(self, name: str, args: ObjectStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:openstack:ObjectStorage", name, None, opts)
        # private: no container_read ACL, so nothing is readable without credentials
        container = openstack.objectstorage.Container(
            f"{name}-results",
            name=f"{args.site_name}-results",
            region=args.cloud.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.container_name = container.name
        self.register_outputs({"container_name": self.container_name})


@dataclass(frozen=True)
class ProviderVpnArgs:
    site_name: str
    cloud: Cloud
    router_id: pulumi.Input[str]
    subnet_id: pulumi.Input[str]
    pre_shared_key: pulumi.Input[str]


class ProviderVpn(pulumi.ComponentResource):
    """IPsec site-to-site VPN (OpenStack VPNaaS) between the router and the on-prem gateway."""

    def __init__(self, name: str, args: ProviderVpnArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("qpusite:openstack:ProviderVpn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        link = args.cloud.hybrid_link
        assert link is not None
        prefix = f"{args.site_name}-vpn"
        ike = openstack.vpnaas.IkePolicy(
            f"{name}-ike",
            name=prefix,
            ike_version="v2",
            encryption_algorithm="aes-256",
            auth_algorithm="sha256",
            pfs="group14",
            opts=child,
        )
        ipsec = openstack.vpnaas.IpSecPolicy(
            f"{name}-ipsec",
            name=prefix,
            encryption_algorithm="aes-256",
            auth_algorithm="sha256",
            pfs="group14",
            opts=child,
        )
        service = openstack.vpnaas.Service(f"{name}-service", name=prefix, router_id=args.router_id, opts=child)
        local = openstack.vpnaas.EndpointGroup(
            f"{name}-local", name=f"{prefix}-local", type="subnet", endpoints=[args.subnet_id], opts=child
        )
        peer = openstack.vpnaas.EndpointGroup(
            f"{name}-peer", name=f"{prefix}-peer", type="cidr", endpoints=[link.onprem_cidr], opts=child
        )
        openstack.vpnaas.SiteConnection(
            f"{name}-connection",
            name=prefix,
            ikepolicy_id=ike.id,
            ipsecpolicy_id=ipsec.id,
            vpnservice_id=service.id,
            psk=pulumi.Output.secret(args.pre_shared_key),
            peer_address=link.onprem_endpoint,
            peer_id=link.onprem_endpoint,
            local_ep_group_id=local.id,
            peer_ep_group_id=peer.id,
            opts=child,
        )
        self.register_outputs({})
