"""Stack configuration generated from the site model.

Plain values (region, site file, …) are written as ordinary stack config;
secret values never come from the model (it holds only references) — they are
read from environment variables at `qpusite cloud up` time and stored as Pulumi
secrets (encrypted in the stack file). :func:`secret_inputs` lists which ones
a program needs, so the CLI can ask for exactly those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from site_survey.model import Site

Program = Literal["ovh", "kubernetes"]
PROGRAMS: tuple[Program, ...] = ("ovh", "kubernetes")
CONFIG_NAMESPACE = "qpusite"
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SecretInput:
    """A value the program needs that is not in the model."""

    config_key: str  # without the "qpusite:" namespace
    env_var: str  # where `qpusite cloud` reads it from
    secret: bool  # stored as a Pulumi secret
    purpose: str


def ovh_api_endpoint(region: str) -> str:
    """OVH API endpoint that manages a region (North America has its own)."""
    upper = region.upper()
    if upper.startswith("BHS"):
        return "ovh-ca"
    if upper.startswith("US-"):
        return "ovh-us"
    return "ovh-eu"


def site_file_setting(site_file: Path) -> str:
    """The site file as the program will find it: repo-relative when inside the repository."""
    resolved = site_file.resolve()
    try:
        return resolved.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(resolved)


def resolve_site_file(setting: str) -> Path:
    path = Path(setting)
    return path if path.is_absolute() else REPO_ROOT / path


def stack_config(site: Site, site_file: Path, program: Program) -> dict[str, str]:
    """Non-secret stack configuration, keys fully qualified (namespace:key)."""
    assert site.cloud is not None
    config = {f"{CONFIG_NAMESPACE}:siteFile": site_file_setting(site_file)}
    if program == "ovh":
        config["openstack:region"] = site.cloud.region
        if site.cloud.provider == "ovh":
            config["ovh:endpoint"] = ovh_api_endpoint(site.cloud.region)
    return config


def secret_inputs(site: Site, program: Program) -> list[SecretInput]:
    assert site.cloud is not None
    out: list[SecretInput] = []
    link = site.cloud.hybrid_link
    if program == "ovh" and link is not None:
        if link.kind == "wireguard":
            out.append(
                SecretInput(
                    "wireguardPrivateKey",
                    "QPUSITE_WIREGUARD_PRIVATE_KEY",
                    True,
                    "private key of the cloud WireGuard end",
                )
            )
            out.append(
                SecretInput(
                    "wireguardPeerPublicKey",
                    "QPUSITE_WIREGUARD_PEER_PUBLIC_KEY",
                    False,
                    "public key of the on-prem WireGuard end",
                )
            )
        else:
            out.append(SecretInput("vpnPreSharedKey", "QPUSITE_VPN_PSK", True, "IPsec pre-shared key of the VPN"))
    if program == "kubernetes":
        seen: set[str] = set()
        for qpu in site.qpus:
            for key, ref in sorted(qpu.qrmi.secrets.items() if qpu.qrmi else ()):
                if ref.vault in seen:
                    continue
                seen.add(ref.vault)
                out.append(SecretInput(ref.vault, f"QPUSITE_{ref.vault.upper()}", True, f"{qpu.name} {key}"))
        if site.qpus:
            # qrmid verifies the munge credentials of Slurm jobs: it needs the site's key
            out.append(SecretInput("mungeKey", "QPUSITE_MUNGE_KEY_B64", True, "the site's munge.key, base64"))
    return out


def missing_secret_env(inputs: list[SecretInput], environ: dict[str, str] | None = None) -> list[SecretInput]:
    env = os.environ if environ is None else environ
    return [i for i in inputs if not env.get(i.env_var)]
