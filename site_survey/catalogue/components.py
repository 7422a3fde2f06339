"""The kit's components: which host roles run them (feature groups), their systemd
units, Debian packages, TCP ports and configuration files.

Read by the inventory (feature groups), port validation, the cloud security rules
and Kubernetes network policies (ports), and acceptance (what each host must run).
A component added to the kit is one entry here; unit names, paths and ports follow
the roles (roles/<component>).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from site_survey.model import Host, HostRole, Site

# Ansible groups composed from host roles: a site enables a component by giving hosts these roles.
FEATURE_GROUPS: dict[str, tuple[HostRole, ...]] = {
    "slurm": (HostRole.controller, HostRole.login, HostRole.compute),
    # the QPU access host too: qrmid's reaper reads qstat there (a submit host, no daemon)
    "gridengine": (HostRole.controller, HostRole.login, HostRole.compute, HostRole.qpu_access),
    "munge": (HostRole.controller, HostRole.login, HostRole.compute, HostRole.qpu_access),
    "quantum_runtime": (HostRole.login, HostRole.compute),
}
ALL_HOSTS: tuple[HostRole, ...] = tuple(HostRole)
DEFAULT_SCHEDULER = "slurm"  # software.scheduler.kind's default
# The feature group each scheduler kind fills; the other scheduler's group stays empty.
SCHEDULER_GROUPS: dict[str, str] = {"slurm": "slurm", "gridengine": "gridengine"}


def feature_groups(site: Site) -> dict[str, tuple[HostRole, ...]]:
    """The feature groups a site fills: every group but the other schedulers' (which stay empty)."""
    kind = site.software.scheduler.kind
    return {
        name: roles for name, roles in FEATURE_GROUPS.items()
        if name not in SCHEDULER_GROUPS.values() or SCHEDULER_GROUPS[kind] == name
    }

# Slurm's documented default ports; a site moves them with software.scheduler.conf_overrides.
SLURMCTLD_PORT = 6817
SLURMD_PORT = 6818
SLURMDBD_PORT = 6819
# srun listens on ephemeral ports that compute nodes call back; without a fixed SrunPortRange no
# firewall can admit them. This is the range the kit assumes when conf_overrides does not set one.
DEFAULT_SRUN_PORT_RANGE = (60001, 63000)

# Where the roles put the files acceptance and the stacks look at.
SLURM_CONF = "/etc/slurm/slurm.conf"
QRMI_CONFIG = "/etc/slurm/qrmi_config.json"  # roles/quantum_runtime, on compute nodes
QRMI_CONFIG_GROUP = "qpusite-qrmi"  # may read it besides root; may hold credentials
MUNGE_KEY = "/etc/munge/munge.key"
SPANK_PLUGIN = "/usr/local/lib/slurm/spank_qrmid.so"  # roles/spank_qrmid, on every Slurm host
JOB_SUBMIT_LUA = "/etc/slurm/job_submit.lua"  # adds the QPUs' licenses, on the controller
QRMID_DIR = "/etc/qrmid"  # roles/qrmid
EMULATOR_CONFIG = "/etc/qpu-emulator/config.yaml"  # roles/emulator
TWIN_S3_CONFIG = "/etc/qpusite-twin-s3/buckets.json"  # roles/twin_s3: buckets and their S3 key pairs
# Grid Engine (Debian's gridengine-* 8.1.9): SGE_ROOT, and where the QPU prolog/epilog are installed
GRIDENGINE_ROOT = "/var/lib/gridengine"
GRIDENGINE_HOOK_DIR = "/usr/local/libexec/qpusite"  # roles/gridengine_exec, from services/ge-qrmid
GRIDENGINE_PROLOG = f"{GRIDENGINE_HOOK_DIR}/qpu-prolog"
GRIDENGINE_EPILOG = f"{GRIDENGINE_HOOK_DIR}/qpu-epilog"
GRIDENGINE_JSV = f"{GRIDENGINE_HOOK_DIR}/qpu-jsv"  # roles/gridengine_master: -l qpu=<name> -> qpu_<name>=1


def slurm_conf_port(site: Site, key: str, default: int) -> int:
    """A Slurm port, as conf_overrides sets it (digits only) or Slurm's default."""
    value = site.software.scheduler.conf_overrides.get(key)
    return int(value) if value is not None and str(value).isdigit() else default


def srun_port_range(site: Site) -> tuple[int, int]:
    value = site.software.scheduler.conf_overrides.get("SrunPortRange")
    if value is None:
        return DEFAULT_SRUN_PORT_RANGE
    low, _, high = str(value).partition("-")
    return int(low), int(high or low)


@dataclass(frozen=True)
class ConfigFile:
    path: str
    owner: str
    group: str
    mode: str  # octal, exact (e.g. "0400")
    # only on hosts (and sites) where this holds; None: wherever the component runs
    needed: Callable[[Site, Host], bool] | None = None


@dataclass(frozen=True)
class Component:
    name: str  # what reports call it (munge, slurmctld, qrmid, …)
    roles: tuple[HostRole, ...]  # hosts with any of these roles run it
    unit: str | None = None  # systemd unit; None: no service of its own (a client, a library)
    packages: tuple[str, ...] = ()  # Debian packages; empty when installed otherwise (wheelhouse)
    # the TCP port it listens on (at the host's model address only), and the model field that sets it
    port: Callable[[Site], int] | None = None
    port_field: str | None = None
    files: tuple[ConfigFile, ...] = ()
    # hosts whose firewall admits the port (default: the roles that run it) and what the rule says
    port_roles: tuple[HostRole, ...] | None = None
    purpose: str = ""
    # the scheduler kind it belongs to (software.scheduler.kind); None: every site
    scheduler: str | None = None
    # why the daemon listens on every interface when it cannot bind one address (empty: it binds the
    # host's model address only); such a port must be closed to the outside by the site's firewall
    wildcard_bind: str = ""
    # only on the hosts (of a site) where this holds besides the roles; None: every host with the roles
    needed: Callable[[Site, Host], bool] | None = None

    def runs_on(self, host: Host, site: Site | None = None) -> bool:
        """Whether the host runs it: a component of no scheduler or of the site's (without the site: of the
        default scheduler, Slurm, as callers written before Grid Engine expect), where it is needed."""
        if not (any(r in host.roles for r in self.roles) and self.applies_to(site)):
            return False
        return self.needed is None or site is None or self.needed(site, host)

    def applies_to(self, site: Site | None) -> bool:
        kind = site.software.scheduler.kind if site is not None else DEFAULT_SCHEDULER
        return self.scheduler is None or self.scheduler == kind

    @property
    def firewall_roles(self) -> tuple[HostRole, ...]:
        return self.roles if self.port_roles is None else self.port_roles


def _has_qpus(site: Site, host: Host) -> bool:
    return bool(site.qpus)


def _serves_twins(site: Site, host: Host) -> bool:
    return any(q.emulator and q.emulator.host == host.name for q in site.qpus)


def _runs_twin_s3(site: Site, host: Host) -> bool:
    from site_survey.derive import twin_s3_stores  # derive imports this catalogue

    return host.name in twin_s3_stores(site)


def _is_controller(site: Site, host: Host) -> bool:
    return bool(site.qpus) and HostRole.controller in host.roles


def _is_compute(site: Site, host: Host) -> bool:
    return HostRole.compute in host.roles


COMPONENTS: tuple[Component, ...] = (
    Component(
        "munge", FEATURE_GROUPS["munge"], "munge", ("munge",),
        files=(ConfigFile(MUNGE_KEY, "munge", "munge", "0400"),),
    ),
    Component(
        "slurmctld", (HostRole.controller,), "slurmctld", ("slurmctld",),
        port=lambda s: slurm_conf_port(s, "SlurmctldPort", SLURMCTLD_PORT),
        port_field="software.scheduler.conf_overrides.SlurmctldPort", purpose="slurmctld", scheduler="slurm",
    ),
    Component(
        "slurmd", (HostRole.compute,), "slurmd", ("slurmd",),
        port=lambda s: slurm_conf_port(s, "SlurmdPort", SLURMD_PORT),
        port_field="software.scheduler.conf_overrides.SlurmdPort", purpose="slurmd", scheduler="slurm",
    ),
    # the accounting daemon's port is reserved for it wherever it runs (not deployed by a host role yet)
    Component(
        "slurmdbd", (), "slurmdbd", ("slurmdbd",),
        port=lambda s: slurm_conf_port(s, "AccountingStoragePort", SLURMDBD_PORT),
        port_field="software.scheduler.conf_overrides.AccountingStoragePort",
        port_roles=(HostRole.controller,), purpose="slurmdbd", scheduler="slurm",
    ),
    Component(
        "slurm-client", FEATURE_GROUPS["slurm"], None, ("slurm-client",),
        files=(
            ConfigFile(SLURM_CONF, "root", "root", "0644"),
            ConfigFile(SPANK_PLUGIN, "root", "root", "0755", needed=_has_qpus),
            ConfigFile(JOB_SUBMIT_LUA, "root", "root", "0644", needed=_is_controller),
        ),
        scheduler="slurm",
    ),
    Component(
        "sge_qmaster", (HostRole.controller,), "gridengine-master", ("gridengine-master",),
        port=lambda s: s.software.scheduler.grid_engine.qmaster_port,
        port_field="software.scheduler.gridengine.qmaster_port",
        purpose="Grid Engine qmaster", scheduler="gridengine",
        wildcard_bind="Grid Engine 8.1.9 has no listen-address setting",
        files=(ConfigFile(GRIDENGINE_JSV, "root", "root", "0755", needed=_has_qpus),),
    ),
    Component(
        "sge_execd", (HostRole.compute,), "gridengine-exec", ("gridengine-exec",),
        port=lambda s: s.software.scheduler.grid_engine.execd_port,
        port_field="software.scheduler.gridengine.execd_port",
        purpose="Grid Engine execution daemon", scheduler="gridengine",
        wildcard_bind="Grid Engine 8.1.9 has no listen-address setting",
        files=(
            ConfigFile(GRIDENGINE_PROLOG, "root", "root", "0755", needed=_has_qpus),
            ConfigFile(GRIDENGINE_EPILOG, "root", "root", "0755", needed=_has_qpus),
        ),
    ),
    Component(
        "gridengine-client", FEATURE_GROUPS["gridengine"], None, ("gridengine-client",), scheduler="gridengine",
    ),
    Component(
        "quantum runtime", FEATURE_GROUPS["quantum_runtime"],
        files=(ConfigFile(QRMI_CONFIG, "root", QRMI_CONFIG_GROUP, "0640", needed=_is_compute),),
    ),
    Component(
        "qrmid", (HostRole.qpu_access,), "qrmid",
        port=lambda s: s.software.qrmid_port, port_field="software.qrmid_port", purpose="QRMI daemon",
        # credentials: readable by the daemon only; the configuration by root and the daemon's group
        files=(
            ConfigFile(f"{QRMID_DIR}/config.json", "root", "qrmid", "0640"),
            ConfigFile(f"{QRMID_DIR}/secrets.json", "qrmid", "qrmid", "0600"),
            ConfigFile(f"{QRMID_DIR}/operator.token", "qrmid", "qrmid", "0600"),
        ),
    ),
    Component(
        "qpu-emulator", (HostRole.emulator,), "qpu-emulator",
        port=lambda s: s.software.emulator_port, port_field="software.emulator_port", purpose="QPU emulator APIs",
        files=(ConfigFile(EMULATOR_CONFIG, "root", "qpu-emulator", "0640", needed=_serves_twins),),
    ),
    Component(
        # moto's S3 server for the IBM Quantum System twins of an emulator host whose model names no store
        "twin-s3", (HostRole.emulator,), "qpusite-twin-s3",
        port=lambda s: s.software.twin_s3_port, port_field="software.twin_s3_port",
        purpose="S3-compatible store of IBM Quantum System twins", needed=_runs_twin_s3,
        files=(ConfigFile(TWIN_S3_CONFIG, "root", "qpusite-twin-s3", "0640"),),
    ),
    Component(
        "prometheus", (HostRole.monitoring,), "prometheus", ("prometheus",),
        port=lambda s: s.software.monitoring.prometheus_port, port_field="software.monitoring.prometheus_port",
        purpose="Prometheus",
    ),
    Component(
        "alertmanager", (HostRole.monitoring,), "prometheus-alertmanager", ("prometheus-alertmanager",),
        port=lambda s: s.software.monitoring.alertmanager_port, port_field="software.monitoring.alertmanager_port",
        purpose="Alertmanager",
    ),
    Component(
        "node-exporter", ALL_HOSTS, "prometheus-node-exporter", ("prometheus-node-exporter",),
        port=lambda s: s.software.monitoring.node_exporter_port,
        port_field="software.monitoring.node_exporter_port", purpose="node exporter, scraped by Prometheus",
    ),
)


def component(name: str) -> Component:
    return next(c for c in COMPONENTS if c.name == name)


def host_components(host: Host, site: Site | None = None) -> list[Component]:
    """What runs on the host; given the site, without the components of the scheduler it does not use."""
    return [c for c in COMPONENTS if c.runs_on(host, site)]


def kit_tcp_ports(site: Site) -> dict[str, int]:
    """Every single TCP port a kit service of this site's scheduler (and the rest) listens on, by component."""
    return {c.name: c.port(site) for c in COMPONENTS if c.port is not None and c.applies_to(site)}


def port_fields(site: Site) -> dict[str, tuple[str, int]]:
    """Component name -> (the model field that sets its port, the port), for this site's scheduler."""
    return {
        c.name: (c.port_field or c.name, c.port(site)) for c in COMPONENTS if c.port is not None and c.applies_to(site)
    }
