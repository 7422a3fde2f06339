"""`qpusite up SITE --twins`: a copy of a site model that one machine can rehearse.

A pure function of the Site model (no files, no podman): every QPU that is not
already an emulator twin becomes one of the same name and shape, served by an
emulator host: a QPU of a type the emulator serves (IBM Quantum System, IQM Server)
keeps its type, any other gets the QRMI type of the emulator's API for its
modality (as the lab's twins are);
each partition keeps a few compute hosts; every other host and role is kept;
host resources are scaled to a container; addresses are kept (the VLANs get one
covering rehearsal VLAN) or, when asked, remapped into one rehearsal subnet.
Every change a person might not expect is returned as a note, to print.

The original model is never changed: the caller writes the result under the
site's rehearsal state directory (rehearsal/twin_site.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from rehearsal.errors import RehearsalInputError
from site_survey import hostrefs
from site_survey.errors import SiteModelError
from site_survey.loader import parse_site
from site_survey.model import (
    PASQAL_CLOUD_DEVICES,
    Access,
    Account,
    EmulatorTwin,
    Host,
    HostRole,
    Modality,
    Partition,
    PolicyProfile,
    PulserDevice,
    Qpu,
    Qrmi,
    QrmiType,
    SecretRef,
    Site,
    Vlan,
)

DEFAULT_PER_PARTITION = 2
# The emulator's bound on a twin's size (qpu_emulator.config.Twin.num_qubits; a test keeps them equal).
EMULATOR_MAX_QUBITS = 64
# One container per host on one machine: Slurm must find at least what slurm.conf says, so the
# model's figures are scaled to what a container here has (lab's sizes).
HOST_CPUS = 2
HOST_MEMORY_MB = {HostRole.emulator: 2048}
DEFAULT_MEMORY_MB = 1024
# Systemd containers have no delegated cgroup tree (the lab model carries the same two keys).
CONTAINER_SLURM_OVERRIDES: dict[str, str | int] = {
    "ProctrackType": "proctrack/linuxproc",
    "TaskPlugin": "task/none",
}
# The acceptance programs run against the twins with these in the node runtime (as in the lab model);
# a real site's runtime holds its vendors' SDKs instead.
TWIN_RUNTIME_EXTRAS = ["qiskit-aer", "pulser-simulation"]
# A rehearsal charges use to fair-share every minute (PriorityCalcPeriod), so acceptance 025 sees it
# move within the smoke tier's budget; a production site keeps its own period.
REHEARSAL_FAIRSHARE_CALC_PERIOD_MINUTES = 1
REHEARSAL_USER = "rehearse"
REHEARSAL_UID = 2900
REHEARSAL_VLAN = "rehearsal"


@dataclass(frozen=True)
class TwinKind:
    """One API the emulator serves, and the QRMI resource type that talks to it."""

    api: str
    qrmi_type: QrmiType
    settings: dict[str, str]
    secret_key: str
    secret_suffix: str


IBM_TWIN = TwinKind(
    "ibm",
    QrmiType.ibm_quantum_compute_service,
    {"QRMI_IBM_QCS_SESSION_MODE": "dedicated"},
    "QRMI_IBM_QCS_IAM_APIKEY",
    "apikey",
)
PASQAL_TWIN = TwinKind(
    "pasqal-cloud",
    QrmiType.pasqal_cloud,
    {"QRMI_PASQAL_CLOUD_PROJECT_ID": "rehearsal-project"},
    "QRMI_PASQAL_CLOUD_AUTH_TOKEN",
    "token",
)
QS_TWIN = TwinKind(
    "ibm-quantum-system",
    QrmiType.ibm_quantum_system,
    {},
    "QRMI_IBM_QS_IAM_APIKEY",
    "apikey",
)
IQM_TWIN = TwinKind("iqm-server", QrmiType.iqm_server, {}, "QRMI_IQM_ISA_TOKEN", "token")
# A real QPU whose QRMI type the emulator also serves keeps that type in its twin, so the rehearsal
# exercises the path (qrmid's routes, the S3 gate, the runtime environment) the real QPU uses.
TWIN_BY_TYPE: dict[QrmiType, TwinKind] = {
    QrmiType.ibm_quantum_system: QS_TWIN,
    QrmiType.iqm_server: IQM_TWIN,
}
# The S3 settings a QS twin keeps from the real QPU (its bucket and region); the store is the rehearsal's
# (the emulator host's twin_s3 store fills QRMI_IBM_QS_S3_ENDPOINT), so no endpoint is kept.
QS_KEPT_SETTINGS = ("QRMI_IBM_QS_S3_BUCKET", "QRMI_IBM_QS_S3_REGION")
QS_DEFAULT_S3 = {"QRMI_IBM_QS_S3_BUCKET": "rehearsal-payloads", "QRMI_IBM_QS_S3_REGION": "us-east-1"}
# The emulator's twin kinds by modality, for the other types. A modality it has no twin for gets a gate-based
# stand-in of the same qubit count (and a note): the rollout and the license path are the
# same; the physics is not.
TWIN_KINDS: dict[Modality, TwinKind] = {
    Modality.superconducting: IBM_TWIN,
    Modality.trapped_ion: IBM_TWIN,
    Modality.neutral_atom: PASQAL_TWIN,
}
STAND_IN = IBM_TWIN
GATE_BASIS = ["cz", "id", "rz", "sx", "x"]


@dataclass
class TwinPlan:
    site: Site
    notes: list[str] = field(default_factory=list)
    renamed_qpus: dict[str, str] = field(default_factory=dict)  # original name -> twin name
    dropped_hosts: list[str] = field(default_factory=list)
    addresses: dict[str, tuple[str, str]] = field(default_factory=dict)  # host -> (model, rehearsal) when remapped
    covering_subnet: ipaddress.IPv4Network | None = None


def twin_site(
    site: Site, *, per_partition: int = DEFAULT_PER_PARTITION, subnet: ipaddress.IPv4Network | None = None
) -> TwinPlan:
    """The rehearsal copy of ``site``; ``subnet`` remaps every address into it (None keeps them)."""
    if per_partition < 1:
        raise RehearsalInputError(f"--twins-per-partition: {per_partition} is not a positive number of hosts")
    plan = TwinPlan(site)
    hosts, partitions = _sample_hosts(site, per_partition, plan)
    emulator_host = _emulator_host(site, hosts, plan)
    hosts = [_scaled(h, emulator_host) for h in hosts]
    qpus = [_twin(q, emulator_host, site, plan) for q in site.qpus]
    qpus = _pasqal_names(qpus, plan)
    network = site.facility.network
    tls = network.tls
    if tls.enabled:
        kept = {h.name for h in hosts}
        # The rehearsal makes its own CA (rehearsal/site_ca.py) and puts it here, beside the copy.
        tls = tls.model_copy(
            update={"ca_certificate_file": ".rehearsal/tls/ca.crt", "hosts": {
                n: ref for n, ref in tls.hosts.items() if n in kept
            }}
        )
    links = [
        link.model_copy(update={"to_qpu": plan.renamed_qpus.get(link.to_qpu, link.to_qpu)}) for link in network.links
    ]
    vlans, admin = list(network.vlans), list(network.admin_cidrs)
    if subnet is not None:
        hosts = _remapped(hosts, subnet, plan)
        vlans = [Vlan(name=REHEARSAL_VLAN, vlan_id=_free_vlan_id(vlans), cidr=str(subnet),
                      purpose="qpusite twin rehearsal: every host")]
        admin = [str(subnet)]
    else:
        vlans = _covering_vlan(vlans, hosts, plan)
    software = site.software
    profiles = [
        p.model_copy(update={"qpus": [plan.renamed_qpus.get(n, n) for n in p.qpus]}) for p in software.policy_profiles
    ]
    profiles, accounts = _acceptance_user(profiles, list(software.accounts), [q.name for q in qpus], plan)
    update: dict[str, object] = {"partitions": partitions}
    if software.scheduler.kind == "slurm":  # conf_overrides are Slurm's (Grid Engine needs no such settings)
        overrides = dict(software.scheduler.conf_overrides)
        added = {k: v for k, v in CONTAINER_SLURM_OVERRIDES.items() if k not in overrides}
        if added:
            overrides.update(added)
            plan.notes.append(
                "slurm: container-only settings added to conf_overrides ("
                + ", ".join(f"{k}={v}" for k, v in added.items()) + ")"
            )
        update["conf_overrides"] = overrides
        accounting = software.scheduler.accounting
        if accounting.enabled and accounting.fairshare_calc_period_minutes > REHEARSAL_FAIRSHARE_CALC_PERIOD_MINUTES:
            update["accounting"] = accounting.model_copy(
                update={"fairshare_calc_period_minutes": REHEARSAL_FAIRSHARE_CALC_PERIOD_MINUTES})
            plan.notes.append(
                f"slurm: fair-share charged every {REHEARSAL_FAIRSHARE_CALC_PERIOD_MINUTES} min "
                f"(accounting.fairshare_calc_period_minutes, {accounting.fairshare_calc_period_minutes} in the model)"
            )
    scheduler = software.scheduler.model_copy(update=update)
    runtime = software.runtime
    missing = [e for e in TWIN_RUNTIME_EXTRAS if e not in runtime.extras]
    if missing and qpus:
        runtime = runtime.model_copy(update={"extras": [*runtime.extras, *missing]})
        plan.notes.append(f"runtime: {', '.join(missing)} added to the node runtime for the acceptance programs")
    twin = site.model_copy(
        update={
            # host sets are expanded in site.hosts; the copy lists its few hosts one by one
            "hosts": hosts,
            "host_sets": [],
            "qpus": qpus,
            "facility": site.facility.model_copy(
                update={"network": network.model_copy(
                    update={"vlans": vlans, "admin_cidrs": admin, "links": links, "tls": tls}
                )}
            ),
            "software": software.model_copy(
                update={"scheduler": scheduler, "policy_profiles": profiles, "accounts": accounts, "runtime": runtime}
            ),
        }
    )
    # Validate the whole copy as a fresh model (model_copy runs no validator), consistency rules included.
    try:
        plan.site = parse_site(twin.model_dump(mode="json", exclude_none=True), f"{site.site.name} (twins)")
    except SiteModelError as exc:
        raise RehearsalInputError(f"the twin copy of {site.site.name} is not a valid model: {exc}") from None
    return plan


def _sample_hosts(site: Site, per_partition: int, plan: TwinPlan) -> tuple[list[Host], list[Partition]]:
    """Keep the first ``per_partition`` hosts of each partition, every non-compute host, and hosts with
    other roles besides compute; a compute host in no partition is kept only when there are no partitions."""
    parts = site.software.scheduler.partitions
    computes = [h for h in site.hosts if h.roles == [HostRole.compute]]
    if parts:
        # Partitions name hosts, hostlists, set:<name> or role:<role>; the copy lists the kept names.
        partitions = []
        for i, p in enumerate(parts):
            names, _problems = hostrefs.resolve(site, p.hosts, f"software.scheduler.partitions[{i}].hosts")
            partitions.append(p.model_copy(update={"hosts": names[:per_partition]}))
        keep = {n for p in partitions for n in p.hosts}
    else:
        partitions = []
        keep = {h.name for h in computes[:per_partition]}
    hosts = [h for h in site.hosts if h.roles != [HostRole.compute] or h.name in keep]
    kept = {h.name for h in hosts}
    plan.dropped_hosts = [h.name for h in site.hosts if h.name not in kept]
    if plan.dropped_hosts:
        plan.notes.append(
            f"hosts: {len(site.hosts)} -> {len(hosts)}; each partition keeps at most {per_partition} compute "
            f"host(s) ({', '.join(f'{p.name}: {len(p.hosts)}' for p in partitions) or 'no partitions'}), "
            f"{len(plan.dropped_hosts)} compute host(s) left out"
        )
    return hosts, partitions


def _emulator_host(site: Site, hosts: list[Host], plan: TwinPlan) -> str:
    """The host that serves the twins: the site's emulator host, else its (first) QPU access host."""
    existing = [h for h in hosts if HostRole.emulator in h.roles]
    if existing:
        return existing[0].name
    chosen = next((h for h in hosts if HostRole.qpu_access in h.roles), None)
    chosen = chosen or next((h for h in hosts if HostRole.controller in h.roles), None)
    if chosen is None:
        raise RehearsalInputError(
            "hosts: no host with role emulator, qpu_access or controller to serve the QPU twins; add one"
        )
    if site.qpus:
        plan.notes.append(f"hosts[{chosen.name}]: gains role emulator and serves the QPU twins (as lab's qgw does)")
    return chosen.name


def _scaled(host: Host, emulator_host: str) -> Host:
    roles = list(host.roles)
    if host.name == emulator_host and HostRole.emulator not in roles:
        roles.append(HostRole.emulator)
    memory = max((HOST_MEMORY_MB.get(r, DEFAULT_MEMORY_MB) for r in roles), default=DEFAULT_MEMORY_MB)
    connection = host.connection.model_copy(update={"private_key_file": ".rehearsal/id_ed25519"})
    return host.model_copy(
        update={
            "roles": roles,
            "cpus": min(host.cpus, HOST_CPUS),
            "memory_mb": min(host.memory_mb, memory),
            "connection": connection,
        }
    )


def _twin(qpu: Qpu, emulator_host: str, site: Site, plan: TwinPlan) -> Qpu:
    if qpu.access.mode == "emulator" and qpu.emulator is not None:
        return qpu  # already a twin (lab): served as the model says
    if qpu.qrmi is None:  # access.mode external: no QRMI path for a twin to stand in for
        plan.notes.append(f"qpus[{qpu.name}]: reached outside QRMI (access.mode {qpu.access.mode}); kept, no twin")
        return qpu
    kind = TWIN_BY_TYPE.get(qpu.qrmi.type) or TWIN_KINDS.get(qpu.modality)
    if kind is None:
        kind = STAND_IN
        plan.notes.append(
            f"qpus[{qpu.name}]: the emulator has no {qpu.modality.value} twin; a gate-based ({kind.api} API) "
            "stand-in of the same qubit count serves it"
        )
    qubits = min(qpu.qubits, EMULATOR_MAX_QUBITS)
    if qubits < qpu.qubits:
        plan.notes.append(
            f"qpus[{qpu.name}]: {qpu.qubits} qubits -> {qubits}, the most an emulator twin has"
        )
    twin = EmulatorTwin(host=emulator_host, backend_name=qpu.name)
    if kind is PASQAL_TWIN:
        twin = twin.model_copy(update={"pulser_device": _pulser_device(qubits)})
    else:
        # A bidirectional line: every qubit reachable, cheap to transpile onto at any size.
        line = [(a, b) for i in range(qubits - 1) for a, b in ((i, i + 1), (i + 1, i))]
        basis = None if kind is IQM_TWIN else GATE_BASIS  # an IQM twin speaks prx/cz, named by IQM's API
        twin = twin.model_copy(update={"coupling_map": line or None, "basis_gates": basis})
    settings = dict(kind.settings)
    vault = f"vault_twin_{qpu.name.lower().replace('-', '_')}"
    secret = SecretRef(vault=f"{vault}_{kind.secret_suffix}")
    secrets = {kind.secret_key: secret}
    store = ""
    if kind is IBM_TWIN:
        settings["QRMI_IBM_QCS_SERVICE_CRN"] = f"crn:v1:rehearsal:public:quantum-computing:{site.site.name}:a/twin::"
    if kind is QS_TWIN:
        settings["QRMI_IBM_QS_SERVICE_CRN"] = f"crn:v1:rehearsal:onprem:quantum-computing:{site.site.name}:a/twin::"
        real = qpu.qrmi.settings
        settings.update({k: real.get(k, QS_DEFAULT_S3[k]) for k in QS_KEPT_SETTINGS})
        secrets["QRMI_IBM_QS_AWS_ACCESS_KEY_ID"] = SecretRef(vault=f"{vault}_s3_access_key_id")
        secrets["QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY"] = SecretRef(vault=f"{vault}_s3_secret_access_key")
        store = (
            f"; payloads in bucket {settings['QRMI_IBM_QS_S3_BUCKET']} ({settings['QRMI_IBM_QS_S3_REGION']}) of the "
            f"rehearsal's S3 store on {emulator_host}, not the site's store"
        )
    plan.notes.append(
        f"qpus[{qpu.name}]: {qpu.access.mode} {qpu.qrmi.type.value} -> emulator twin on {emulator_host} "
        f"({kind.qrmi_type.value}, rehearsal secret {secret.vault}{store})"
    )
    return qpu.model_copy(
        update={
            "qubits": qubits,
            "room": None,
            "access": Access(mode="emulator"),
            "qrmi": Qrmi(type=kind.qrmi_type, settings=settings, secrets=secrets),
            "emulator": twin,
        }
    )


def _pulser_device(atoms: int) -> PulserDevice:
    # Figures of a Fresnel-class device (as in the lab model), sized to the twin.
    return PulserDevice(
        name="RehearsalTwin",
        max_atom_num=atoms,
        min_atom_distance_um=5,
        max_radial_distance_um=35 if atoms <= 25 else 70,
        max_sequence_duration_ns=6000,
        max_runs=1000,
    )


def _pasqal_names(qpus: list[Qpu], plan: TwinPlan) -> list[Qpu]:
    """QRMI's pasqal-cloud resource id is the device name: a twin named otherwise takes a free device name."""
    taken = {q.name for q in qpus}
    out = []
    for q in qpus:
        if q.qrmi is None or q.qrmi.type != QrmiType.pasqal_cloud or q.name in PASQAL_CLOUD_DEVICES:
            out.append(q)
            continue
        free = [d for d in PASQAL_CLOUD_DEVICES if d not in taken]
        if not free:
            raise RehearsalInputError(
                f"qpus[{q.name}]: its twin needs a Pasqal device name and all of "
                f"{', '.join(PASQAL_CLOUD_DEVICES)} are taken by other QPUs"
            )
        taken.add(free[0])
        plan.renamed_qpus[q.name] = free[0]
        plan.notes.append(
            f"qpus[{q.name}]: renamed {free[0]} in the rehearsal (QRMI's pasqal-cloud resource is named after its "
            f"device); its Slurm license and policy profiles follow"
        )
        out.append(q.model_copy(update={"name": free[0]}))
    return out


def _acceptance_user(
    profiles: list[PolicyProfile], accounts: list[Account], qpus: list[str], plan: TwinPlan
) -> tuple[list[PolicyProfile], list[Account]]:
    """Acceptance jobs need a user in a profile allowed on every QPU; a directory-backed site lists none."""
    everything = set(qpus)
    covering = [i for i, p in enumerate(profiles) if everything <= set(p.qpus)]
    if not covering or any(profiles[i].users for i in covering):
        return profiles, accounts
    covering.sort(key=lambda i: profiles[i].during_calibration != "fail")
    i = covering[0]
    uids = {a.uid for a in accounts}
    uid = next(u for u in range(REHEARSAL_UID, 60001) if u not in uids)
    profiles = list(profiles)
    profiles[i] = profiles[i].model_copy(update={"users": [REHEARSAL_USER]})
    accounts = [*accounts, Account(name=REHEARSAL_USER, uid=uid, comment="qpusite twin rehearsal acceptance user")]
    plan.notes.append(
        f"software: account {REHEARSAL_USER} (uid {uid}) added to policy profile {profiles[i].name} "
        "so acceptance jobs have a user"
    )
    return profiles, accounts


def _free_vlan_id(vlans: list[Vlan]) -> int:
    used = {v.vlan_id for v in vlans}
    return next(i for i in range(4000, 4095) if i not in used)


def covering_subnet(addresses: list[str]) -> ipaddress.IPv4Network:
    """The smallest network holding every address (its first address must stay free for the gateway)."""
    ips = [ipaddress.IPv4Address(a) for a in addresses]
    net = ipaddress.IPv4Network(f"{ips[0]}/24", strict=False)
    while not all(ip in net for ip in ips):
        net = net.supernet()
    return net


def _covering_vlan(vlans: list[Vlan], hosts: list[Host], plan: TwinPlan) -> list[Vlan]:
    """The rehearsal puts every host on one podman network: add a VLAN covering the ones the hosts are in.

    It comes last, so each host's own VLAN (found first) and the routes between VLANs stay as modelled.
    """
    if not hosts:
        return vlans
    addresses = [ipaddress.IPv4Address(h.address) for h in hosts]
    if any(all(a in ipaddress.IPv4Network(v.cidr) for a in addresses) for v in vlans):
        plan.covering_subnet = min(
            (ipaddress.IPv4Network(v.cidr) for v in vlans
             if all(a in ipaddress.IPv4Network(v.cidr) for a in addresses)),
            key=lambda n: n.num_addresses,
        )
        return vlans
    subnet = covering_subnet([h.address for h in hosts])
    plan.covering_subnet = subnet
    plan.notes.append(
        f"network: addresses kept; one rehearsal network {subnet} covers VLANs "
        + ", ".join(v.name for v in vlans if any(a in ipaddress.IPv4Network(v.cidr) for a in addresses))
    )
    return [*vlans, Vlan(name=REHEARSAL_VLAN, vlan_id=_free_vlan_id(vlans), cidr=str(subnet),
                         purpose="qpusite twin rehearsal: covers every host VLAN")]


def _remapped(hosts: list[Host], subnet: ipaddress.IPv4Network, plan: TwinPlan) -> list[Host]:
    usable = [a for a in subnet.hosts() if a != subnet.network_address + 1][9:]  # .1 is the gateway; start at .11
    if len(usable) < len(hosts):
        raise RehearsalInputError(
            f"--twins-subnet {subnet}: {len(hosts)} hosts do not fit; give a larger network (e.g. a /24)"
        )
    out = []
    for host, address in zip(hosts, usable, strict=False):
        plan.addresses[host.name] = (host.address, str(address))
        out.append(host.model_copy(update={"address": str(address)}))
    plan.covering_subnet = subnet
    plan.notes.append(
        f"network: addresses remapped into {subnet}: "
        + ", ".join(f"{n} {old}->{new}" for n, (old, new) in plan.addresses.items())
    )
    return out
