"""The site's podman network: its subnet is the site's own VLAN, so hosts keep their model addresses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from rehearsal.errors import RehearsalError, RehearsalInputError
from rehearsal.podman import Podman
from site_survey.model import Site

NAME_PREFIX = "qpusite-"


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    source: str  # where the subnet came from, for messages


def network_name(site_name: str) -> str:
    return f"{NAME_PREFIX}{site_name}"


def site_network(site: Site) -> NetworkSpec:
    """The one subnet holding every host: the narrowest VLAN that contains them all.

    Podman takes the subnet's first address as the bridge's gateway, so no host may sit there.
    """
    if not site.hosts:
        raise RehearsalInputError("hosts: the site model has no hosts; there is nothing to rehearse")
    addresses = {h.name: ipaddress.IPv4Address(h.address) for h in site.hosts}
    vlans = [(v.name, ipaddress.IPv4Network(v.cidr)) for v in site.facility.network.vlans]
    holding = [(name, net) for name, net in vlans if all(a in net for a in addresses.values())]
    if holding:
        vlan, subnet = max(holding, key=lambda item: item[1].prefixlen)
        source = f"facility.network.vlans[{vlan}]"
    elif not vlans:
        first = next(iter(addresses.values()))
        subnet = ipaddress.IPv4Network(f"{first}/24", strict=False)
        outside = sorted(n for n, a in addresses.items() if a not in subnet)
        if outside:
            raise RehearsalInputError(
                f"hosts {', '.join(outside)} are not in {subnet}, the /24 of the first host, and the model has no "
                "VLANs; add the hosts' network under facility.network.vlans so the rehearsal can create it"
            )
        source = "the /24 of the first host (no VLAN in the model)"
    else:
        raise RehearsalInputError(
            "facility.network.vlans: no single VLAN contains every host address "
            f"({', '.join(f'{n}={a}' for n, a in addresses.items())}); the rehearsal puts all hosts on one podman "
            "network — give the hosts addresses in one VLAN, or rehearse a copy on one covering network with "
            f"`qpusite up {site.site.name} --twins`"
        )
    gateway = subnet.network_address + 1
    clash = [n for n, a in addresses.items() if a == gateway]
    if clash:
        raise RehearsalInputError(
            f"hosts[{clash[0]}].address: {gateway} is the first address of {subnet}, which the rehearsal network's "
            "gateway takes; give the host another address"
        )
    return NetworkSpec(network_name(site.site.name), subnet, gateway, source)


def ensure_network(podman: Podman, spec: NetworkSpec) -> str:
    """Create the network, or keep it when it already has the right subnet. Returns what was done."""
    if podman.ok(["network", "exists", spec.name]):
        info = podman.json(["network", "inspect", spec.name])
        subnets = {s.get("subnet") for item in info for s in item.get("subnets") or []}
        if str(spec.subnet) in subnets:
            return "reused"
        raise RehearsalInputError(
            f"podman network {spec.name} exists with subnet(s) {', '.join(sorted(map(str, subnets)))} but the model "
            f"says {spec.subnet}; run `qpusite down {spec.name.removeprefix(NAME_PREFIX)}` first"
        )
    for other in podman.json(["network", "ls", "--format", "json"]):
        for entry in other.get("subnets") or []:
            subnet = ipaddress.ip_network(entry.get("subnet", "0.0.0.0/32"), strict=False)
            if other.get("name") != spec.name and subnet.overlaps(spec.subnet):
                raise RehearsalInputError(
                    f"the site's subnet {spec.subnet} overlaps podman network {other.get('name')} ({subnet}); "
                    "bring that site down first (`qpusite down <site>`) or give this site another VLAN"
                )
    try:
        podman.run(
            [
                "network", "create",
                "--subnet", str(spec.subnet),
                "--gateway", str(spec.gateway),
                "--label", "qpusite=rehearsal",
                spec.name,
            ]
        )
    except RehearsalError as exc:
        if "already used" in str(exc):  # podman found the subnet on one of this machine's interfaces
            raise RehearsalInputError(
                f"{spec.subnet} ({spec.source}) is already in use on this machine; the rehearsal needs the "
                f"site's own subnet free: {exc}"
            ) from None
        raise
    return "created"


def remove_network(podman: Podman, name: str) -> bool:
    if not name.startswith(NAME_PREFIX) or not podman.ok(["network", "exists", name]):
        return False
    # Without --force: podman would otherwise also remove any container still attached,
    # including ones this kit did not create. Ours are gone by now.
    podman.run(["network", "rm", name])
    return True

