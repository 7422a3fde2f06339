"""What a deployed site should look like, per host, derived from the site model.

The catalogue (site_survey/catalogue/components.py) says which component runs
where, under which systemd unit, from which Debian packages, on which TCP port,
with which configuration files; the host checks are expanded from it, so a
component added to the kit is checked by adding one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass

from site_survey.catalogue.components import (
    COMPONENTS,
    EMULATOR_CONFIG,
    JOB_SUBMIT_LUA,
    MUNGE_KEY,
    QRMI_CONFIG,
    QRMI_CONFIG_GROUP,
    QRMID_DIR,
    SLURM_CONF,
    SPANK_PLUGIN,
    host_components,
)
from site_survey.model import Host, HostRole, Site

__all__ = [
    "EMULATOR_CONFIG", "JOB_SUBMIT_LUA", "MUNGE_KEY", "QRMI_CONFIG", "QRMI_CONFIG_GROUP", "QRMID_DIR", "SLURM_CONF",
    "SPANK_PLUGIN", "ConfigFile", "Service", "client_packages", "config_files", "login_host", "qrmi_config_hosts",
    "runtime_hosts", "services",
]


@dataclass(frozen=True)
class Service:
    component: str  # what the report calls it (munge, slurmctld, qrmid, …)
    unit: str  # systemd unit
    packages: tuple[str, ...]  # Debian packages; empty when installed otherwise (pip, wheelhouse)
    port: int | None = None  # TCP port it must listen on, at the host's model address only


@dataclass(frozen=True)
class ConfigFile:
    component: str
    path: str
    owner: str
    group: str
    mode: str  # octal, exact (e.g. "0400")


def services(site: Site, host: Host) -> list[Service]:
    """The catalogue's services (components with a systemd unit) that run on the host."""
    return [
        Service(c.name, c.unit, c.packages, c.port(site) if c.port else None)
        for c in host_components(host, site)
        if c.unit is not None
    ]


def client_packages(site: Site, host: Host) -> list[tuple[str, str]]:
    """(component, package) installed without a service of their own, for the site's scheduler."""
    return [(c.name, pkg) for c in host_components(host, site) if c.unit is None for pkg in c.packages]


def config_files(site: Site, host: Host) -> list[ConfigFile]:
    return [
        ConfigFile(c.name, f.path, f.owner, f.group, f.mode)
        for c in host_components(host, site)
        for f in c.files
        if f.needed is None or f.needed(site, host)
    ]


def runtime_hosts(site: Site) -> list[Host]:
    """Hosts that get the quantum runtime (the catalogue's quantum runtime component)."""
    runtime = next(c for c in COMPONENTS if c.name == "quantum runtime")
    return [h for h in site.hosts if runtime.runs_on(h)]


def qrmi_config_hosts(site: Site) -> list[Host]:
    """Hosts that get qrmi_config.json: the compute nodes, where jobs run."""
    return site.hosts_with(HostRole.compute)


def login_host(site: Site) -> Host | None:
    """Where users submit jobs: the first login host, else the controller."""
    for role in (HostRole.login, HostRole.controller):
        hosts = site.hosts_with(role)
        if hosts:
            return hosts[0]
    return None
