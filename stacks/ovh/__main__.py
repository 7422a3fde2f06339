"""Entry point the pulumi CLI runs for stacks/ovh (see Pulumi.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

# the program runs with this directory as cwd; the kit's packages live at the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pulumi  # noqa: E402

from site_survey.cloud import cloud_hosts  # noqa: E402
from stacks.common.preflight import read_ssh_public_key  # noqa: E402
from stacks.common.site_input import load_checked_site  # noqa: E402
from stacks.ovh.site import OvhSite, OvhSiteArgs, export_outputs  # noqa: E402


def main() -> None:
    site, site_dir = load_checked_site("ovh")
    config = pulumi.Config("qpusite")
    link = site.cloud.hybrid_link if site.cloud else None
    wireguard = link is not None and link.kind == "wireguard"
    vpn = link is not None and link.kind == "provider_vpn"
    component = OvhSite(
        site.site.name,
        OvhSiteArgs(
            site=site,
            ssh_public_key=read_ssh_public_key(site, site_dir) if cloud_hosts(site) else "",
            wireguard_private_key=config.require_secret("wireguardPrivateKey") if wireguard else None,
            wireguard_peer_public_key=config.require("wireguardPeerPublicKey") if wireguard else None,
            vpn_pre_shared_key=config.require_secret("vpnPreSharedKey") if vpn else None,
        ),
    )
    export_outputs(component)


main()
