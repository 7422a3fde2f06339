"""Typed parameters of checks and the functions that expand a site into them."""

from __future__ import annotations

from dataclasses import dataclass

from acceptance import expectations
from acceptance.expectations import ConfigFile, Service
from site_survey.model import HostRole, Modality, Site


@dataclass(frozen=True)
class HostParam:
    host: str

    def label(self) -> str:
        return self.host


@dataclass(frozen=True)
class PackageParam:
    host: str
    component: str
    package: str

    def label(self) -> str:
        return f"{self.host}:{self.package}"


@dataclass(frozen=True)
class ServiceParam:
    host: str
    address: str
    service: Service

    def label(self) -> str:
        return f"{self.host}:{self.service.unit}"


@dataclass(frozen=True)
class FileParam:
    host: str
    file: ConfigFile

    def label(self) -> str:
        return f"{self.host}:{self.file.path}"


@dataclass(frozen=True)
class PairParam:
    source: str
    target: str

    def label(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass(frozen=True)
class QpuParam:
    qpu: str
    modality: str
    qrmi_type: str

    def label(self) -> str:
        return self.qpu

    @property
    def analog(self) -> bool:
        return self.modality == Modality.neutral_atom.value


@dataclass(frozen=True)
class SiteParam:
    site: str

    def label(self) -> str:
        return ""


def each_host(site: Site) -> list[HostParam]:
    return [HostParam(h.name) for h in site.hosts]


def each_package(site: Site) -> list[PackageParam]:
    out = []
    for h in site.hosts:
        seen: set[str] = set()
        for svc in expectations.services(site, h):
            for pkg in svc.packages:
                if pkg not in seen:
                    seen.add(pkg)
                    out.append(PackageParam(h.name, svc.component, pkg))
        for component, pkg in expectations.client_packages(site, h):
            if pkg not in seen:
                seen.add(pkg)
                out.append(PackageParam(h.name, component, pkg))
    return out


def each_service(site: Site) -> list[ServiceParam]:
    return [ServiceParam(h.name, h.address, s) for h in site.hosts for s in expectations.services(site, h)]


def each_listening_service(site: Site) -> list[ServiceParam]:
    return [p for p in each_service(site) if p.service.port is not None]


def each_config_file(site: Site) -> list[FileParam]:
    return [FileParam(h.name, f) for h in site.hosts for f in expectations.config_files(site, h)]


def each_runtime_host(site: Site) -> list[HostParam]:
    return [HostParam(h.name) for h in expectations.runtime_hosts(site)]


def each_qrmi_config_host(site: Site) -> list[HostParam]:
    return [HostParam(h.name) for h in expectations.qrmi_config_hosts(site)]


def munge_pairs(site: Site) -> list[PairParam]:
    """Controller to every other munge host, and every compute node to every QPU access node
    (qrmid verifies the credentials compute nodes send)."""
    munge_roles = {HostRole.controller, HostRole.login, HostRole.compute, HostRole.qpu_access}
    members = [h.name for h in site.hosts if set(h.roles) & munge_roles]
    controllers = [h.name for h in site.hosts_with(HostRole.controller)]
    pairs: list[PairParam] = []
    if controllers:
        pairs += [PairParam(controllers[0], m) for m in members if m != controllers[0]]
    for c in site.hosts_with(HostRole.compute):
        for a in site.hosts_with(HostRole.qpu_access):
            if c.name != a.name and PairParam(c.name, a.name) not in pairs:
                pairs.append(PairParam(c.name, a.name))
    return pairs


def each_qpu(site: Site) -> list[QpuParam]:
    # QPUs reached through QRMI (an 'external' QPU has no QRMI path to check)
    return [QpuParam(q.name, q.modality.value, q.qrmi.type.value) for q in site.qpus if q.qrmi is not None]


# gate-based QPUs the benchmark programs drive (Qiskit sampler through QRMI); an IQM Server QPU runs
# the probe only (acceptance/node/programs.py)
SAMPLER_TYPES = ("ibm-quantum-compute-service", "qiskit-runtime-service", "ibm-quantum-system")


def each_gate_qpu(site: Site) -> list[QpuParam]:
    return [p for p in each_qpu(site) if not p.analog and p.qrmi_type in SAMPLER_TYPES]


def each_analog_qpu(site: Site) -> list[QpuParam]:
    return [p for p in each_qpu(site) if p.analog]


def the_site(site: Site) -> list[SiteParam]:
    return [SiteParam(site.site.name)]


def site_with_qpus(site: Site, minimum: int = 1) -> list[SiteParam]:
    # QPUs qrmid brokers (an 'external' QPU takes no --qpu job)
    return [SiteParam(site.site.name)] if sum(q.qrmi is not None for q in site.qpus) >= minimum else []


def site_with_two_qpus(site: Site) -> list[SiteParam]:
    return site_with_qpus(site, 2)


def _slurm(site: Site) -> bool:
    return site.software.scheduler.kind == "slurm"


def slurm_site(site: Site) -> list[SiteParam]:
    """The site, for checks of Slurm itself (none under another scheduler)."""
    return the_site(site) if _slurm(site) else []


def slurm_site_with_qpus(site: Site) -> list[SiteParam]:
    return site_with_qpus(site) if _slurm(site) else []


def slurm_each_qpu(site: Site) -> list[QpuParam]:
    """Each QPU, for checks of Slurm's side of QPU jobs (licenses, srun/salloc steps)."""
    return each_qpu(site) if _slurm(site) else []


def each_exclusive_qpu(site: Site) -> list[QpuParam]:
    """QPUs one job holds at a time (slots 1, job-level sharing): a second job for them must wait.
    A QPU in task mode admits sharing.max_jobs jobs at once, so it is not one of them."""
    single = {q.name for q in site.qpus if q.slots == 1 and q.sharing.mode == "job"}
    return [p for p in each_qpu(site) if p.qpu in single]


def each_task_shared_qpu(site: Site) -> list[QpuParam]:
    """QPUs in task mode (sharing.mode task) whose tasks qrmid queues: the IBM and Pasqal cloud
    routes (docs/qrmid.md, "Task-level sharing"); none when no QPU is shared task by task."""
    shared = {q.name for q in site.qpus if q.sharing.mode == "task"}
    return [p for p in each_gate_qpu(site) if p.qpu in shared]


def slurm_each_task_shared_qpu(site: Site) -> list[QpuParam]:
    """Task-shared QPUs, for checks of Slurm's accounting and reservations (none under another scheduler)."""
    return each_task_shared_qpu(site) if _slurm(site) else []


def slurm_each_windowed_qpu(site: Site) -> list[QpuParam]:
    """Slurm sites' QPUs with calibration windows (kept as license reservations by roles/qpu_reservations)."""
    windowed = {q.name for q in site.qpus if q.calibration_windows}
    return [p for p in each_qpu(site) if p.qpu in windowed] if _slurm(site) else []
