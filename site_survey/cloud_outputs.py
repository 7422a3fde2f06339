"""cloud-outputs.json: what `qpusite cloud up` learnt from the provider (public
addresses of the VMs, the hybrid gateway's address), written beside site.yaml
and merged by the inventory so `ansible-playbook site.yml` reaches the VMs.

The file is generated (never hand-written, never committed). A file that no
longer matches the model — a host that is gone, an address that moved — is
an error, not something to merge silently: re-run `qpusite cloud up`.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from site_survey.errors import Problem, SiteModelError
from site_survey.model import Site

FILE_NAME = "cloud-outputs.json"
FORMAT_VERSION = 1


def _ipv4(value: str | None) -> str | None:
    if value is not None:
        ipaddress.IPv4Address(value)
    return value


class HostAddresses(BaseModel):
    model_config = ConfigDict(extra="ignore")
    private_address: str = Field(description="Address on the site's private network (the model's address).")
    public_address: str | None = Field(default=None, description="Floating IP, when the host has one.")

    _check = field_validator("private_address", "public_address")(_ipv4)


class CloudOutputs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: int = Field(description="Format version of this file.")
    site: str = Field(description="Site name the stack was built for.")
    stack: str = Field(description="Pulumi stack name.")
    hosts: dict[str, HostAddresses] = Field(default_factory=dict)
    gateway_public_address: str | None = None
    object_storage_container: str | None = None

    _check = field_validator("gateway_public_address")(_ipv4)


def outputs_path(site_dir: str | Path) -> Path:
    return Path(site_dir) / FILE_NAME


def read_cloud_outputs(site: Site, site_dir: str | Path) -> CloudOutputs | None:
    """The merged outputs for this site, or None when the cloud side was never brought up."""
    path = outputs_path(site_dir)
    if not path.is_file():
        return None
    source = str(path)
    try:
        outputs = CloudOutputs.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as exc:
        raise SiteModelError(
            source, [Problem("", f"unreadable ({exc}); delete it and re-run `qpusite cloud up`")]
        ) from None
    problems = []
    if outputs.site != site.site.name:
        problems.append(
            Problem(
                "site",
                f"written for site {outputs.site!r}, not {site.site.name!r}; re-run `qpusite cloud up`",
                outputs.site,
            )
        )
    for name, addresses in outputs.hosts.items():
        host = site.host(name)
        if host is None or host.location != "cloud":
            problems.append(Problem(f"hosts.{name}", "no such cloud host in the model; re-run `qpusite cloud up`"))
        elif host.address != addresses.private_address:
            problems.append(
                Problem(
                    f"hosts.{name}.private_address",
                    f"the model now says {host.address}; re-run `qpusite cloud up`",
                    addresses.private_address,
                )
            )
    if problems:
        raise SiteModelError(source, problems)
    return outputs


def merge_into_inventory(
    site: Site, site_dir: str | Path, hostvars: dict[str, dict[str, Any]], all_vars: dict[str, Any]
) -> None:
    """Point Ansible at the VMs' public addresses and give the link's public end to both sides."""
    outputs = read_cloud_outputs(site, site_dir)
    if outputs is None:
        return
    for name, addresses in outputs.hosts.items():
        hv = hostvars[name]
        if addresses.public_address:
            hv["ansible_host"] = addresses.public_address
            hv["qpusite_host_public_address"] = addresses.public_address
    link = all_vars.get("qpusite_hybrid_link")
    if isinstance(link, dict):
        link["gateway_public_address"] = outputs.gateway_public_address
    if outputs.object_storage_container:
        all_vars["qpusite_object_storage_container"] = outputs.object_storage_container
