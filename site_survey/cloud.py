"""Cloud and hybrid facts derived from the site model, shared by the consistency
rules, the inventory and the Pulumi stacks (stacks/): which TCP ports the kit's
services listen on, which host terminates the hybrid link and with which
tunnel addresses, and the cross-field rules of the ``cloud:`` section.

Kept free of any Pulumi import so the inventory plugin can use it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from site_survey.catalogue.components import (
    DEFAULT_SRUN_PORT_RANGE,
    SLURMCTLD_PORT,
    SLURMD_PORT,
    SLURMDBD_PORT,
    kit_tcp_ports,
    srun_port_range,
)
from site_survey.errors import Problem
from site_survey.model import Host, Site

# The kit's ports live in the catalogue (site_survey/catalogue/components.py); re-exported for the stacks.
__all__ = ["DEFAULT_SRUN_PORT_RANGE", "SLURMCTLD_PORT", "SLURMD_PORT", "SLURMDBD_PORT", "kit_tcp_ports",
           "srun_port_range"]


def ssh_ports(site: Site) -> set[int]:
    return {22} | {h.connection.port for h in site.hosts}


def cloud_hosts(site: Site) -> list[Host]:
    return [h for h in site.hosts if h.location == "cloud"]


def link_gateway(site: Site) -> Host | None:
    """The cloud host that terminates a WireGuard hybrid link (None when there is no such link)."""
    if site.cloud is None or site.cloud.hybrid_link is None or site.cloud.hybrid_link.kind != "wireguard":
        return None
    link = site.cloud.hybrid_link
    hosts = cloud_hosts(site)
    if link.gateway_host is not None:
        return next((h for h in hosts if h.name == link.gateway_host), None)
    return hosts[0] if hosts else None


def tunnel_addresses(site: Site) -> tuple[str, str] | None:
    """(cloud end, on-prem end) interface addresses with prefix length, e.g. ('10.255.255.1/30', …)."""
    if site.cloud is None or site.cloud.hybrid_link is None:
        return None
    net = ipaddress.IPv4Network(site.cloud.hybrid_link.tunnel_cidr)
    hosts = list(net.hosts())
    return f"{hosts[0]}/{net.prefixlen}", f"{hosts[1]}/{net.prefixlen}"


def hybrid_link_vars(site: Site) -> dict[str, Any] | None:
    """What the on-prem side of the rollout needs to bring up its end of the link (no secrets)."""
    if site.cloud is None or site.cloud.hybrid_link is None:
        return None
    link = site.cloud.hybrid_link
    gateway = link_gateway(site)
    tunnel = tunnel_addresses(site)
    return {
        "kind": link.kind,
        "onprem_cidr": link.onprem_cidr,
        "cloud_cidr": link.cloud_cidr,
        "onprem_endpoint": link.onprem_endpoint,
        "port": link.port,
        "gateway_host": gateway.name if gateway else None,
        "gateway_private_address": gateway.address if gateway else None,
        "tunnel_cloud_address": tunnel[0] if tunnel else None,
        "tunnel_onprem_address": tunnel[1] if tunnel else None,
    }


# ------------------------------------------------------------------ consistency


def _network(path: str, value: str) -> tuple[ipaddress.IPv4Network | None, Problem | None]:
    try:
        return ipaddress.IPv4Network(value, strict=True), None
    except ValueError as exc:
        return None, Problem(path, f"not an IPv4 network with host bits zero (e.g. 10.1.0.0/16): {exc}", value)


def _placement_problems(site: Site) -> Iterable[Problem]:
    topology = site.software.topology
    assert site.cloud is not None
    on_cloud = cloud_hosts(site)
    if topology == "cloud":
        for i, h in enumerate(site.hosts):
            if h.location != "cloud":
                yield Problem(
                    f"hosts[{i}].location",
                    "topology 'cloud' places every host in the cloud; set location: cloud or use topology 'hybrid'",
                    h.location,
                )
        if not site.hosts:
            yield Problem("hosts", "topology 'cloud' needs at least one host to create")
    if topology == "hybrid" and not on_cloud and not site.cloud.kubernetes.enabled:
        yield Problem(
            "hosts",
            "topology 'hybrid' but nothing runs in the cloud; place a host with location: cloud "
            "or enable cloud.kubernetes",
        )


def _exposure_problems(site: Site) -> Iterable[Problem]:
    """SSH only from admin networks; kit services never world-open."""
    assert site.cloud is not None
    if cloud_hosts(site):
        cidrs = site.facility.network.admin_cidrs
        if not cidrs:
            yield Problem(
                "facility.network.admin_cidrs",
                "cloud VMs admit SSH only from the admin networks; list the networks administrators connect from",
            )
        for i, cidr in enumerate(cidrs):
            if ipaddress.ip_network(cidr).prefixlen == 0:
                yield Problem(
                    f"facility.network.admin_cidrs[{i}]",
                    "an admin network that is the whole Internet would open SSH to the world; name your networks",
                    cidr,
                )
    forbidden = {port: name for name, port in kit_tcp_ports(site).items()}
    forbidden.update({port: "ssh" for port in ssh_ports(site)})
    low, high = srun_port_range(site)
    for role, ports in site.cloud.network.public_tcp_ports.items():
        for j, port in enumerate(ports):
            reason = forbidden.get(port) or ("srun" if low <= port <= high else None)
            if reason:
                yield Problem(
                    f"cloud.network.public_tcp_ports.{role.value}[{j}]",
                    f"port {port} is the {reason} port; it stays inside the private network or admin networks",
                    port,
                )


def _provider_problems(site: Site) -> Iterable[Problem]:
    cloud = site.cloud
    assert cloud is not None
    needs_project = []
    if cloud.network.vrack:
        needs_project.append("network.vrack")
    if cloud.kubernetes.enabled and cloud.kubernetes.managed:
        needs_project.append("kubernetes.managed")
    if cloud.provider != "ovh" and needs_project:
        yield Problem(
            "cloud.provider",
            f"{' and '.join(needs_project)} are OVH services; use provider 'ovh' or switch them off",
            cloud.provider,
        )
    elif needs_project and not cloud.project_id:
        yield Problem(
            "cloud.project_id", f"{' and '.join(needs_project)} need the OVH Public Cloud project id (service name)"
        )


def _link_problems(site: Site) -> Iterable[Problem]:
    cloud = site.cloud
    assert cloud is not None
    link = cloud.hybrid_link
    if link is None:
        return
    if site.software.topology != "hybrid":
        yield Problem("cloud.hybrid_link", "a private link to on-prem only makes sense with topology 'hybrid'")
    onprem, p1 = _network("cloud.hybrid_link.onprem_cidr", link.onprem_cidr)
    cloud_net, p2 = _network("cloud.hybrid_link.cloud_cidr", link.cloud_cidr)
    tunnel, p3 = _network("cloud.hybrid_link.tunnel_cidr", link.tunnel_cidr)
    yield from (p for p in (p1, p2, p3) if p is not None)
    private = ipaddress.IPv4Network(cloud.network.private_cidr)
    if cloud_net is not None and not private.subnet_of(cloud_net):
        yield Problem(
            "cloud.hybrid_link.cloud_cidr",
            f"must contain cloud.network.private_cidr {private} so the VMs are reachable over the link",
            link.cloud_cidr,
        )
    if onprem is not None and cloud_net is not None and onprem.overlaps(cloud_net):
        yield Problem("cloud.hybrid_link.onprem_cidr", f"overlaps cloud_cidr {cloud_net}; routes would be ambiguous")
    if tunnel is not None:
        if tunnel.num_addresses < 4:
            yield Problem(
                "cloud.hybrid_link.tunnel_cidr", "needs two usable addresses (a /30 or wider)", link.tunnel_cidr
            )
        for other in (onprem, cloud_net):
            if other is not None and tunnel.overlaps(other):
                yield Problem(
                    "cloud.hybrid_link.tunnel_cidr", f"overlaps {other}; pick an unused range", link.tunnel_cidr
                )
    if onprem is not None:
        for i, h in enumerate(site.hosts):
            if h.location == "onprem" and ipaddress.IPv4Address(h.address) not in onprem:
                yield Problem(
                    f"hosts[{i}].address",
                    f"on-prem host is outside cloud.hybrid_link.onprem_cidr {onprem}; the cloud could not reach it",
                    h.address,
                )
    if link.kind == "wireguard":
        names = [h.name for h in cloud_hosts(site)]
        if link.gateway_host is not None and link.gateway_host not in names:
            yield Problem(
                "cloud.hybrid_link.gateway_host",
                f"must be a host with location: cloud; cloud hosts are: {', '.join(names) or 'none'}",
                link.gateway_host,
            )
        if not names:
            yield Problem("cloud.hybrid_link", "a WireGuard link needs a cloud host to terminate it (gateway_host)")
        try:
            ipaddress.IPv4Address(link.onprem_endpoint)
        except ValueError:
            yield Problem(
                "cloud.hybrid_link.onprem_endpoint",
                "give the on-prem end's public IPv4 address: the gateway's security group admits WireGuard "
                "from it only",
                link.onprem_endpoint,
            )


def cloud_section_problems(site: Site) -> Iterable[Problem]:
    """Rules of the cloud: section beyond the basic ones in consistency.cloud_consistency."""
    if site.cloud is None:
        return
    yield from _placement_problems(site)
    yield from _exposure_problems(site)
    yield from _provider_problems(site)
    yield from _link_problems(site)
