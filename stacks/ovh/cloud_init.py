"""cloud-init user data that prepares a VM for the Ansible rollout: host name,
the SSH user Ansible connects as, Python for Ansible's modules, a marker file
with the host's roles, and — on the hybrid gateway — the WireGuard end of the
link with forwarding on."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

import yaml

from site_survey.cloud import tunnel_addresses
from site_survey.model import Host, Site

BASE_PACKAGES = ["python3", "python3-apt", "sudo", "ca-certificates"]


@dataclass(frozen=True)
class WireguardEnd:
    private_key: str
    peer_public_key: str


def _wireguard_conf(site: Site, end: WireguardEnd) -> str:
    assert site.cloud is not None and site.cloud.hybrid_link is not None
    link = site.cloud.hybrid_link
    tunnel = tunnel_addresses(site)
    assert tunnel is not None
    onprem_tunnel = ipaddress.IPv4Interface(tunnel[1]).ip
    return "\n".join(
        [
            "[Interface]",
            f"Address = {tunnel[0]}",
            f"ListenPort = {link.port}",
            f"PrivateKey = {end.private_key}",
            "",
            "[Peer]",
            f"PublicKey = {end.peer_public_key}",
            f"AllowedIPs = {link.onprem_cidr}, {onprem_tunnel}/32",
            f"Endpoint = {link.onprem_endpoint}:{link.port}",
            # keeps NAT state on the on-prem side open
            "PersistentKeepalive = 25",
            "",
        ]
    )


def cloud_config(site: Site, host: Host, ssh_public_key: str, wireguard: WireguardEnd | None = None) -> str:
    user = host.connection.user
    doc: dict[str, Any] = {
        "hostname": host.name,
        "fqdn": f"{host.name}.{site.facility.network.domain}",
        "manage_etc_hosts": True,
        "package_update": True,
        "packages": list(BASE_PACKAGES),
        "write_files": [
            {
                "path": "/etc/qpusite/host.json",
                "permissions": "0644",
                "content": json.dumps(
                    {"site": site.site.name, "host": host.name, "roles": [r.value for r in host.roles]}, indent=2
                )
                + "\n",
            }
        ],
        "runcmd": [],
    }
    if user == "root":
        doc["disable_root"] = False
        doc["users"] = [{"name": "root", "ssh_authorized_keys": [ssh_public_key]}]
    else:
        doc["users"] = [
            "default",
            {
                "name": user,
                "shell": "/bin/bash",
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "ssh_authorized_keys": [ssh_public_key],
            },
        ]
    if host.connection.port != 22:
        doc["write_files"].append(
            {"path": "/etc/ssh/sshd_config.d/60-qpusite-port.conf", "content": f"Port {host.connection.port}\n"}
        )
        doc["runcmd"].append(["systemctl", "restart", "ssh"])
    if wireguard is not None:
        doc["packages"].append("wireguard-tools")
        doc["write_files"] += [
            {"path": "/etc/wireguard/wg0.conf", "permissions": "0600", "content": _wireguard_conf(site, wireguard)},
            {"path": "/etc/sysctl.d/60-qpusite-forward.conf", "content": "net.ipv4.ip_forward = 1\n"},
        ]
        doc["runcmd"] += [["sysctl", "--system"], ["systemctl", "enable", "--now", "wg-quick@wg0"]]
    if not doc["runcmd"]:
        del doc["runcmd"]
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False)
