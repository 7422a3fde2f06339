"""Security-group rules derived from the site model, as plain data.

Least privilege: SSH only from the admin networks; each kit service only on
the hosts that run it and only from inside (the private network, plus the
on-prem network over a hybrid link); nothing from the whole Internet except
ports the model lists in cloud.network.public_tcp_ports. Munge has no network
port (its credentials travel inside Slurm and qrmid traffic).
"""

from __future__ import annotations

from site_survey.catalogue.components import COMPONENTS
from site_survey.cloud import cloud_hosts, kit_tcp_ports, link_gateway, srun_port_range, ssh_ports
from site_survey.model import Host, HostRole, Site
from stacks.common.policy import WORLD_V4, ExposureError, RuleSpec, world_exposures

BASE = "base"
LINK = "link"


def inside_cidrs(site: Site) -> list[str]:
    """Where kit traffic legitimately comes from."""
    assert site.cloud is not None
    cidrs = [site.cloud.network.private_cidr]
    link = site.cloud.hybrid_link
    if link is not None:
        cidrs.append(link.onprem_cidr)
    return cidrs


def _tcp(group: str, port: int, cidrs: list[str], what: str, port_max: int | None = None) -> list[RuleSpec]:
    return [RuleSpec(group, "tcp", port, port_max or port, cidr, what) for cidr in cidrs]


def planned_rules(site: Site) -> list[RuleSpec]:
    """Every ingress rule of every security group the program creates."""
    assert site.cloud is not None
    ports = kit_tcp_ports(site)
    inside = inside_cidrs(site)
    hosts = cloud_hosts(site)
    roles = {r for h in hosts for r in h.roles}
    rules: list[RuleSpec] = []
    for port in sorted({h.connection.port for h in hosts}):
        rules += _tcp(BASE, port, list(site.facility.network.admin_cidrs), "SSH from the admin networks")
    rules += [RuleSpec(BASE, "icmp", None, None, cidr, "ping from inside") for cidr in inside]
    low, high = srun_port_range(site)
    # every component's port, on the security group of the roles that run it (catalogue); all roles: the base group
    per_role: dict[HostRole, list[tuple[int, int, str]]] = {role: [] for role in HostRole}
    for comp in COMPONENTS:
        if comp.port is None or not comp.firewall_roles or not comp.applies_to(site):
            continue  # no port, no firewall rule, or another scheduler's daemon
        if comp.needed is not None and not any(comp.runs_on(h, site) for h in hosts):
            continue  # a component only some hosts of its roles run (the twins' S3 store), run by none here
        port = ports[comp.name]
        if set(comp.firewall_roles) == set(HostRole):
            rules += _tcp(BASE, port, inside, comp.purpose)
            continue
        for role in comp.firewall_roles:
            per_role[role].append((port, port, comp.purpose))
    for role in (HostRole.compute, HostRole.login):
        per_role[role].append((low, high, "srun call-backs"))
    for role in HostRole:
        if role not in roles:
            continue
        for pmin, pmax, what in per_role[role]:
            rules += _tcp(role.value, pmin, inside, what, pmax)
        for port in site.cloud.network.public_tcp_ports.get(role, []):
            rules.append(RuleSpec(role.value, "tcp", port, port, WORLD_V4, "opened to the world by the model"))
    link = site.cloud.hybrid_link
    if link is not None and link_gateway(site) is not None:
        source = f"{link.onprem_endpoint}/32"
        rules.append(RuleSpec(LINK, "udp", link.port, link.port, source, "WireGuard from on-prem"))
    return rules


def protected_tcp_ports(site: Site) -> set[int]:
    low, high = srun_port_range(site)
    return ssh_ports(site) | set(kit_tcp_ports(site).values()) | set(range(low, high + 1))


def checked_rules(site: Site) -> list[RuleSpec]:
    """planned_rules, refusing any that opens SSH or an API to the world."""
    rules = planned_rules(site)
    bad = world_exposures(rules, protected_tcp_ports(site))
    if bad:
        raise ExposureError(bad)
    return rules


def groups_of(site: Site, host: Host) -> list[str]:
    """Security-group keys attached to a host's port."""
    keys = [BASE, *(r.value for r in host.roles)]
    gateway = link_gateway(site)
    if gateway is not None and gateway.name == host.name:
        keys.append(LINK)
    return keys
