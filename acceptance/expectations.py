"""What a deployed site should look like, per host, derived from the site model.

One table says which component runs where, under which systemd unit, from which
Debian packages, on which TCP port, with which configuration files. The host
checks are expanded from it, so a component added to the kit is checked by
adding one entry here. Unit names, paths and ports follow the roles.
"""

from __future__ import annotations

from dataclasses import dataclass

from site_survey.model import Host, HostRole, Site

# Where the roles put the files the checks look at.
SLURM_CONF = "/etc/slurm/slurm.conf"
QRMI_CONFIG = "/etc/slurm/qrmi_config.json"  # on compute nodes (roles/quantum_runtime)
QRMI_CONFIG_GROUP = "qpusite-qrmi"  # may read it besides root; holds credentials
MUNGE_KEY = "/etc/munge/munge.key"
SPANK_PLUGIN = "/usr/local/lib/slurm/spank_qrmid.so"  # roles/spank_qrmid, on every Slurm host
JOB_SUBMIT_LUA = "/etc/slurm/job_submit.lua"  # adds the QPUs' licenses, on the controller
QRMID_DIR = "/etc/qrmid"  # roles/qrmid
EMULATOR_CONFIG = "/etc/qpu-emulator/config.yaml"  # roles/emulator
SLURMCTLD_PORT_KEY, SLURMD_PORT_KEY = "SlurmctldPort", "SlurmdPort"
DEFAULT_SLURMCTLD_PORT, DEFAULT_SLURMD_PORT = 6817, 6818


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


def _conf_port(site: Site, key: str, default: int) -> int:
    value = site.software.scheduler.conf_overrides.get(key, default)
    return int(value)


def services(site: Site, host: Host) -> list[Service]:
    roles = set(host.roles)
    mon = site.software.monitoring
    out: list[Service] = []
    if roles & {HostRole.controller, HostRole.login, HostRole.compute, HostRole.qpu_access}:
        out.append(Service("munge", "munge", ("munge",)))
    if HostRole.controller in roles:
        out.append(Service("slurmctld", "slurmctld", ("slurmctld",),
                           _conf_port(site, SLURMCTLD_PORT_KEY, DEFAULT_SLURMCTLD_PORT)))
    if HostRole.compute in roles:
        out.append(Service("slurmd", "slurmd", ("slurmd",), _conf_port(site, SLURMD_PORT_KEY, DEFAULT_SLURMD_PORT)))
    if HostRole.qpu_access in roles:
        out.append(Service("qrmid", "qrmid", (), site.software.qrmid_port))
    if HostRole.emulator in roles:
        out.append(Service("qpu-emulator", "qpu-emulator", (), site.software.emulator_port))
    if HostRole.monitoring in roles:
        out.append(Service("prometheus", "prometheus", ("prometheus",), mon.prometheus_port))
        out.append(Service("alertmanager", "prometheus-alertmanager", ("prometheus-alertmanager",),
                           mon.alertmanager_port))
    out.append(Service("node-exporter", "prometheus-node-exporter", ("prometheus-node-exporter",),
                       mon.node_exporter_port))
    return out


def client_packages(host: Host) -> list[tuple[str, str]]:
    """(component, package) installed without a service of their own."""
    if set(host.roles) & {HostRole.controller, HostRole.login, HostRole.compute}:
        return [("slurm-client", "slurm-client")]
    return []


def config_files(site: Site, host: Host) -> list[ConfigFile]:
    roles = set(host.roles)
    out: list[ConfigFile] = []
    if roles & {HostRole.controller, HostRole.login, HostRole.compute, HostRole.qpu_access}:
        out.append(ConfigFile("munge", MUNGE_KEY, "munge", "munge", "0400"))
    if roles & {HostRole.controller, HostRole.login, HostRole.compute}:
        out.append(ConfigFile("slurm", SLURM_CONF, "root", "root", "0644"))
    if HostRole.compute in roles:
        out.append(ConfigFile("quantum runtime", QRMI_CONFIG, "root", QRMI_CONFIG_GROUP, "0640"))
    if site.qpus and roles & {HostRole.controller, HostRole.login, HostRole.compute}:
        out.append(ConfigFile("spank-qrmid plugin", SPANK_PLUGIN, "root", "root", "0755"))
    if site.qpus and HostRole.controller in roles:
        out.append(ConfigFile("spank-qrmid plugin", JOB_SUBMIT_LUA, "root", "root", "0644"))
    if HostRole.qpu_access in roles:
        # Credentials: readable by the daemon only; the configuration by root and the daemon's group.
        out.append(ConfigFile("qrmid", f"{QRMID_DIR}/config.json", "root", "qrmid", "0640"))
        out.append(ConfigFile("qrmid", f"{QRMID_DIR}/secrets.json", "qrmid", "qrmid", "0600"))
        out.append(ConfigFile("qrmid", f"{QRMID_DIR}/operator.token", "qrmid", "qrmid", "0600"))
    if HostRole.emulator in roles and any(q.emulator and q.emulator.host == host.name for q in site.qpus):
        out.append(ConfigFile("qpu-emulator", EMULATOR_CONFIG, "root", "qpu-emulator", "0640"))
    return out


def runtime_hosts(site: Site) -> list[Host]:
    """Hosts that get the quantum runtime and qrmi_config.json (feature group quantum_runtime)."""
    return [h for h in site.hosts if set(h.roles) & {HostRole.login, HostRole.compute}]


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
