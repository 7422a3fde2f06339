"""Values derived from the site model for the rollout: Slurm nodes, partitions and
licenses, QRMI resources, monitoring targets, emulator twins, policy profiles.

The inventory plugin exposes these as ``qpusite_*`` variables; `qpusite render`
writes them out for review. Nothing here holds a secret: secrets appear only as
the names of the vaulted variables that hold them.
"""

from __future__ import annotations

from typing import Any

from site_survey import hostlist, hostrefs
from site_survey.catalogue.components import (
    FEATURE_GROUPS,
    GRIDENGINE_EPILOG,
    GRIDENGINE_JSV,
    GRIDENGINE_PROLOG,
    GRIDENGINE_ROOT,
    feature_groups,
)
from site_survey.catalogue.qrmi_types import qrmi_type
from site_survey.catalogue.runtime_families import RUNTIME_FAMILIES
from site_survey.cloud import hybrid_link_vars
from site_survey.cloud_outputs import merge_into_inventory
from site_survey.model import Connection, HostRole, Qpu, Site

# Enum .value is a descriptor call; a plain dict is several times faster at 10^4 hosts.
ROLE_NAMES: dict[HostRole, str] = {r: r.value for r in HostRole}


# Ansible groups: one per host role, plus the catalogue's feature groups composed from them.
def groups(site: Site) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {role.value: [] for role in HostRole}
    for name in FEATURE_GROUPS:
        out[name] = []  # the other scheduler's group exists, empty: its plays run on no host
    features = feature_groups(site)
    for host in site.hosts:
        for role in host.roles:
            out[role.value].append(host.name)
        for feature, roles in features.items():
            if any(r in host.roles for r in roles):
                out[feature].append(host.name)
    accounting = slurm_accounting(site)
    out["slurmdbd"] = [accounting["host"]] if accounting["enabled"] else []
    for name in out["slurmdbd"]:  # slurmdbd authenticates slurmctld with munge
        if name not in out["munge"]:
            out["munge"].append(name)
    # Placement groups: a prefix per kind, so they cannot meet each other; '-' (not valid in an Ansible
    # group name) becomes '_', which model names never hold, so two names never give one group.
    placement = placement_groups(site)
    clash = sorted(set(placement) & set(out))  # consistency.group_names refuses these models first
    if clash:  # consistency.group_names refuses such a model; never merge two meanings into one group
        raise GroupClash(clash)
    out.update(placement)
    # emulator hosts that run their IBM Quantum System twins' S3-compatible store (roles/twin_s3)
    out["twin_s3"] = sorted(twin_s3_stores(site))
    return out


class GroupClash(ValueError):
    """A placement group would take the name of a role or feature group (e.g. a QPU named 'access')."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(f"inventory group(s) {', '.join(names)} would mean two things")


def group_name(prefix: str, name: str) -> str:
    return f"{prefix}_{name.replace('-', '_')}"


def placement_group_names(site: Site) -> list[str]:
    """The names placement_groups gives, without working out their members (for validation)."""
    parts = [p.name for p in site.software.scheduler.partitions]
    if not parts and site.hosts_with(HostRole.compute):
        parts = ["batch"]
    return [
        *(group_name("partition", p) for p in parts),
        *(group_name("set", s.name) for s in site.host_sets),
        *(group_name("room", r.name) for r in site.facility.rooms),
        *(group_name("qpu", q.name) for q in site.qpus),
    ]


def placement_groups(site: Site) -> dict[str, list[str]]:
    """partition_<name>, set_<name>, room_<name> and qpu_<name> (the hosts serving that QPU)."""
    out: dict[str, list[str]] = {}
    for part in slurm_partitions(site, nodelists=False):
        out[group_name("partition", part["name"])] = list(part["nodes"])
    for i, hs in enumerate(site.host_sets):
        out[group_name("set", hs.name)] = site.set_hosts(i)
    rooms: dict[str, list[str]] = {group_name("room", r.name): [] for r in site.facility.rooms}
    for host in site.hosts:
        if host.room is not None:
            rooms.setdefault(group_name("room", host.room), []).append(host.name)
    out.update(rooms)
    for q in site.qpus:
        serving = [n for n in (q.access.access_host, q.emulator.host if q.emulator else None) if n]
        out[group_name("qpu", q.name)] = [n for i, n in enumerate(serving) if n not in serving[:i]]
    return out


def url_scheme(site: Site) -> str:
    """https when the model turns TLS on for the QPU access path (qrmid, emulators), else http."""
    return "https" if site.facility.network.tls.enabled else "http"


def emulator_base_url(site: Site, qpu: Qpu) -> str | None:
    if qpu.emulator is None:
        return None
    host = site.host(qpu.emulator.host)
    if host is None:
        return None
    return f"{url_scheme(site)}://{host.address}:{site.software.emulator_port}"


def twin_s3_url(site: Site, qpu: Qpu) -> str | None:
    """The S3-compatible store the rollout runs for an emulated QPU on its twin's host (roles/twin_s3)."""
    if qpu.emulator is None:
        return None
    host = site.host(qpu.emulator.host)
    if host is None:
        return None
    return f"{url_scheme(site)}://{host.address}:{site.software.twin_s3_port}"


def _uses_twin_store(qpu: Qpu) -> bool:
    """An emulated QPU whose type takes payloads through S3 and whose model names no store of its own."""
    if qpu.access.mode != "emulator" or qpu.emulator is None or qpu.qrmi is None:
        return False
    spec = qrmi_type(qpu.qrmi.type.value)
    return bool(spec.emulator_store_settings) and not any(k in qpu.qrmi.settings for k in spec.emulator_store_settings)


def twin_s3_stores(site: Site) -> dict[str, dict[str, Any]]:
    """Per emulator host that needs one, its twins' S3-compatible store (roles/twin_s3): the buckets to keep
    (each QPU's S3_BUCKET in its S3_REGION) and the vaulted variables of each QPU's S3 key pair (the values
    never pass through here). A QPU whose model names its own S3_ENDPOINT uses that store instead."""
    out: dict[str, dict[str, Any]] = {}
    for q in site.qpus:
        if not _uses_twin_store(q):
            continue
        assert q.emulator is not None and q.qrmi is not None
        store = out.setdefault(q.emulator.host, {"buckets": []})
        secrets = q.qrmi.secrets
        access, secret = secrets.get("QRMI_IBM_QS_AWS_ACCESS_KEY_ID"), secrets.get("QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY")
        store["buckets"].append({
            "qpu": q.name,
            "name": q.qrmi.settings.get("QRMI_IBM_QS_S3_BUCKET", ""),
            "region": q.qrmi.settings.get("QRMI_IBM_QS_S3_REGION", ""),
            "access_key_id": access.vault if access else None,
            "secret_access_key": secret.vault if secret else None,
        })
    return out


def qrmid_url(site: Site) -> str | None:
    """The URL jobs, the SPANK plugin and acceptance use to reach qrmid (the first qpu_access host)."""
    access = site.hosts_with(HostRole.qpu_access)
    if not access:
        return None
    return f"{url_scheme(site)}://{access[0].address}:{site.software.qrmid_port}"


def tls_vault_name(host: str, what: str) -> str:
    """Default vaulted variable of a service host's certificate or key: vault_tls_<host>_<what>."""
    return f"vault_tls_{host.replace('-', '_')}_{what}"


def tls(site: Site) -> dict[str, Any]:
    """TLS settings for the rollout: the CA file as the model names it, and per service host the vaulted
    variables of its certificate and key (the values never pass through here)."""
    conf = site.facility.network.tls
    hosts: dict[str, dict[str, str]] = {}
    if conf.enabled:
        for h in site.hosts:
            if HostRole.qpu_access not in h.roles and HostRole.emulator not in h.roles:
                continue
            ref = conf.hosts.get(h.name)
            hosts[h.name] = {
                "certificate": ref.certificate.vault if ref else tls_vault_name(h.name, "certificate"),
                "key": ref.key.vault if ref else tls_vault_name(h.name, "key"),
            }
    return {"enabled": conf.enabled, "ca_certificate_file": conf.ca_certificate_file or "", "hosts": hosts}


def qrmi_settings(site: Site, qpu: Qpu) -> dict[str, str]:
    """Non-secret QRMI environment for one QPU (keys without the '<name>_' prefix): the model's settings,
    plus the endpoint the catalogue maps access.endpoint_url (or the emulator twin's address) to."""
    if qpu.qrmi is None:
        return {}
    spec = qrmi_type(qpu.qrmi.type.value)
    settings = dict(qpu.qrmi.settings)
    emulated = qpu.access.mode == "emulator"
    base = emulator_base_url(site, qpu) if emulated else qpu.access.endpoint_url
    if base and spec.endpoint_key:
        base = base.rstrip("/")
        path = spec.emulator_endpoint_path if emulated else ""
        settings.setdefault(spec.endpoint_key, spec.endpoint_value(base + path))
        if emulated:
            for key, path in spec.emulator_settings.items():
                settings.setdefault(key, base + path)
    store = twin_s3_url(site, qpu) if _uses_twin_store(qpu) else None
    if store:
        for key in spec.emulator_store_settings:
            settings.setdefault(key, store)
    return dict(sorted(settings.items()))


def qrmi_qpus(site: Site) -> list[Qpu]:
    """The QPUs reached through QRMI (all but access.mode 'external')."""
    return [q for q in site.qpus if q.qrmi is not None]


def qrmi_resources(site: Site) -> list[dict[str, Any]]:
    out = []
    for q in qrmi_qpus(site):
        assert q.qrmi is not None
        out.append(
            {
                "name": q.name,
                "type": q.qrmi.type.value,
                # the qrmi.ResourceType member: qrmid takes it from here, it keeps no table of its own
                "resource_type": qrmi_type(q.qrmi.type.value).resource_type,
                "environment": qrmi_settings(site, q),
                # key -> name of the vaulted variable holding the value
                "secrets": {key: ref.vault for key, ref in sorted(q.qrmi.secrets.items())},
            }
        )
    return out


def runtime_families(site: Site) -> list[dict[str, Any]]:
    """The vendor runtime families of the site's QPUs (catalogue/runtime_families.py), in the catalogue's
    order: each with its qrmi extra, whether it shares the main runtime, and the QPU types and names it
    serves. roles/quantum_runtime builds one environment per family that does not share, and writes the
    type → environment table `qpu-env` reads."""
    out: dict[str, dict[str, Any]] = {}
    for q in qrmi_qpus(site):
        assert q.qrmi is not None
        family = qrmi_type(q.qrmi.type.value).runtime_family
        if family is None:
            continue
        spec = RUNTIME_FAMILIES[family]
        entry = out.setdefault(family, {"name": family, "qrmi_extra": spec.qrmi_extra, "packages": list(spec.packages),
                                        "shares_main": spec.shares_main, "types": [], "qpus": []})
        if q.qrmi.type.value not in entry["types"]:
            entry["types"].append(q.qrmi.type.value)
        entry["qpus"].append(q.name)
    return [out[f] for f in RUNTIME_FAMILIES if f in out]


def qrmi_config(site: Site) -> dict[str, Any]:
    """qrmi_config.json as the SPANK plugin and qrmi read it, without any secret (roles/quantum_runtime adds
    the vaulted values where no qrmid brokers access; site_survey/service_configs.py does the same)."""
    return {
        "resources": [
            {"name": r["name"], "type": r["type"], "is_dynamic": False, "environment": r["environment"]}
            for r in qrmi_resources(site)
        ]
    }


def slurm_nodes(site: Site) -> list[dict[str, Any]]:
    return [
        {"name": h.name, "address": h.address, "cpus": h.cpus, "memory_mb": h.memory_mb}
        for h in site.hosts_with(HostRole.compute)
    ]


def slurm_node_groups(site: Site) -> list[dict[str, Any]]:
    """Compute nodes grouped by identical Slurm attributes, each group as hostlists: one NodeName line
    per group (``NodeName=cn[001-192] NodeAddr=10.41.1.[1-192] CPUs=128 …``), not one per node.
    ``addresses`` lists each name's address in the order ``names`` expands to."""
    by_shape: dict[tuple[int, int], list[tuple[str, str]]] = {}
    for h in site.hosts_with(HostRole.compute):
        by_shape.setdefault((h.cpus, h.memory_mb), []).append((h.name, h.address))
    out = []
    for (cpus, memory_mb), members in by_shape.items():
        names, addresses = hostlist.compress_paired([n for n, _ in members], [a for _, a in members])
        out.append({
            "names": names,
            "addresses": addresses,
            "count": len(members),
            "cpus": cpus,
            "memory_mb": memory_mb,
        })
    return out


def slurm_partitions(site: Site, nodelists: bool = True) -> list[dict[str, Any]]:
    """Partitions with their node names resolved (``nodes``) and as one compressed hostlist (``nodelist``,
    left out with ``nodelists=False`` for callers that only need the members)."""
    parts = site.software.scheduler.partitions
    if not parts:
        computes = [h.name for h in site.hosts_with(HostRole.compute)]
        if not computes:
            return []
        return [{
            "name": "batch", "nodes": computes, "nodelist": hostlist.compress_sorted(computes) if nodelists else "",
            "default": True,
            "max_time_minutes": None,
        }]
    has_default = any(p.default for p in parts)
    out = []
    for i, p in enumerate(parts):
        nodes = hostrefs.names(site, p.hosts)
        out.append({
            "name": p.name,
            "nodes": nodes,
            "nodelist": hostlist.compress_sorted(nodes) if nodelists else "",
            "default": p.default or (not has_default and i == 0),
            "max_time_minutes": p.max_time_minutes,
        })
    return out


def slurm_accounting(site: Site) -> dict[str, Any]:
    """Where slurmdbd runs (the model's accounting host, else the controller) and the fair-share
    associations: one Slurm account per policy profile, its users (named, or members of its
    groups among the model's accounts). A user's default account is their highest-priority profile."""
    acct = site.software.scheduler.accounting
    slurm = site.software.scheduler.kind == "slurm"  # slurmdbd is Slurm's; Grid Engine keeps its own accounting
    controller = site.hosts_with(HostRole.controller)
    host = site.host(acct.host) if acct.host else (controller[0] if controller else None)
    users: dict[str, list[str]] = {}
    profiles = sorted(site.software.policy_profiles, key=lambda p: -p.priority)
    for p in profiles:
        members = set(p.users) | {a.name for a in site.software.accounts if set(a.groups) & set(p.groups)}
        for user in sorted(members):
            users.setdefault(user, []).append(p.name)
    return {
        "enabled": slurm and acct.enabled and host is not None,
        "host": host.name if host else None,
        "address": host.address if host else None,
        "qpu_billing_weight": acct.qpu_billing_weight,
        "fairshare_calc_period_minutes": acct.fairshare_calc_period_minutes,
        "accounts": [{"name": p.name, "description": f"QPU policy profile {p.name}"} for p in profiles],
        "users": [{"name": u, "accounts": names, "default_account": names[0]} for u, names in sorted(users.items())],
    }


def qpu_licenses(site: Site) -> dict[str, int]:
    """One Slurm license per QPU; its count is how many jobs may hold the QPU at once (task-level
    sharing: sharing.max_jobs, while qrmid runs `slots` of their tasks at a time)."""
    return {q.name: admitted_jobs(q) for q in site.qpus}


def admitted_jobs(q: Qpu) -> int:
    return q.sharing.max_jobs or q.slots if q.sharing.mode == "task" else q.slots


def gridengine_host_name(site: Site, name: str) -> str:
    """The name Grid Engine is given for a host: its short name (roles/gridengine_client sets ignore_fqdn, so
    Grid Engine compares hosts by short name whatever the resolver puts first)."""
    del site  # one rule for every site; kept for a site-specific rule (default_domain) later
    return name


def gridengine_complex(qpu: str) -> str:
    """The consumable complex of a QPU: users request `qsub -l qpu_<name>=1`."""
    return f"qpu_{qpu}"


def gridengine_h_rt(minutes: int | None) -> str:
    """A queue's h_rt from a partition's max_time_minutes (INFINITY when unlimited)."""
    if minutes is None:
        return "INFINITY"
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def gridengine(site: Site) -> dict[str, Any]:
    """Grid Engine from the same vocabulary as Slurm: the controller is the qmaster (and an admin and submit
    host), compute hosts are execution hosts (slots = the model's cpus), login hosts submit hosts; each
    partition is a host group @<name> and a cluster queue <name>.q; each QPU a consumable complex
    qpu_<name> whose capacity (its slots) is set on the `global` host, so it is one pool for the whole
    cluster and a job that finds it taken waits in qw, not on a node. QPU access hosts are submit hosts
    too, for qrmid's reaper (qstat)."""
    sched = site.software.scheduler
    if sched.kind != "gridengine":
        return {"enabled": False}
    opts = sched.grid_engine
    controller = site.hosts_with(HostRole.controller)
    fqdn = {h.name: gridengine_host_name(site, h.name) for h in site.hosts}
    # users submit from login hosts (and the controller); qrmid's reaper reads qstat on the QPU access hosts,
    # the QPU prolog on the execution hosts (services/ge-qrmid)
    submit_roles = (HostRole.login, HostRole.controller, HostRole.qpu_access, HostRole.compute)
    submit = [h.name for h in site.hosts if any(r in h.roles for r in submit_roles)]
    queues = [
        {
            "name": f"{p['name']}.q",
            "host_group": f"@{p['name']}",
            "hosts": [fqdn[n] for n in p["nodes"]],
            "h_rt": gridengine_h_rt(p["max_time_minutes"]),
            "default": p["default"],
        }
        for p in slurm_partitions(site, nodelists=False)
    ]
    return {
        "enabled": True,
        "root": GRIDENGINE_ROOT,
        "cell": opts.cell,
        "cluster_name": opts.cluster_name,
        "qmaster_port": opts.qmaster_port,
        "execd_port": opts.execd_port,
        "min_uid": opts.min_uid,
        "qmaster": fqdn[controller[0].name] if controller else None,
        "qmaster_address": controller[0].address if controller else None,
        "admin_hosts": [fqdn[h.name] for h in controller],
        "submit_hosts": [fqdn[n] for n in submit],
        "exec_hosts": [
            {"name": fqdn[h.name], "address": h.address, "slots": h.cpus}
            for h in site.hosts_with(HostRole.compute)
        ],
        "queues": queues,
        "complexes": [
            # as Slurm's license count: how many jobs may hold the QPU at once
            {"name": gridengine_complex(q.name), "qpu": q.name, "capacity": admitted_jobs(q)} for q in site.qpus
        ],
        "prolog": GRIDENGINE_PROLOG,
        "epilog": GRIDENGINE_EPILOG,
        "jsv": GRIDENGINE_JSV,
    }


def qpus(site: Site) -> list[dict[str, Any]]:
    return [
        {
            "name": q.name,
            "vendor": q.vendor,
            "modality": q.modality.value,
            "qubits": q.qubits,
            "type": q.qrmi.type.value if q.qrmi else None,
            "slots": q.slots,
            "sharing": {"mode": q.sharing.mode, "max_jobs": admitted_jobs(q),
                        "lookahead": q.sharing.lookahead if q.sharing.mode == "task" else 0},
            "licenses": admitted_jobs(q),  # the Slurm license count (qpu_reservations reserves all of it)
            "access_mode": q.access.mode,
            "access_host": q.access.access_host,
            "emulator_host": q.emulator.host if q.emulator else None,
            "calibration_windows": [w.model_dump(mode="json") for w in q.calibration_windows],
            "benchmarks": q.benchmarks.model_dump(mode="json"),
        }
        for q in site.qpus
    ]


def twin_credential_refs(site: Site, qpu: Qpu) -> dict[str, Any]:
    """Which vaulted variables a twin accepts as credentials: the very secrets qrmid holds for its QPU, sorted
    by what the catalogue says each is to the emulator (API key, static token, OAuth client). Whoever writes
    the emulator's file replaces each name by its value (service_configs.resolve_credentials, roles/emulator)."""
    refs: dict[str, Any] = {"api_keys": [], "tokens": [], "clients": []}
    if qpu.qrmi is None:
        return refs
    spec = qrmi_type(qpu.qrmi.type.value)
    secrets = {key: ref.vault for key, ref in qpu.qrmi.secrets.items()}
    refs["api_keys"] = [secrets[k] for k in spec.emulator_api_keys if k in secrets]
    refs["tokens"] = [secrets[k] for k in spec.emulator_tokens if k in secrets]
    if spec.emulator_client is not None:
        id_key, secret_key = spec.emulator_client
        plain_id = qpu.qrmi.settings.get(id_key)
        if secret_key in secrets and (id_key in secrets or plain_id):
            # the client id is a plain setting or a secret of its own
            refs["clients"].append(
                {"id": None if id_key in secrets else plain_id, "id_secret": secrets.get(id_key),
                 "secret": secrets[secret_key]}
            )
    return refs


def emulator_twins(site: Site) -> dict[str, list[dict[str, Any]]]:
    """Per emulator host, the twins it serves (shape from the model), with the vaulted variables of the
    credentials each accepts (twin_credential_refs)."""
    out: dict[str, list[dict[str, Any]]] = {h.name: [] for h in site.hosts_with(HostRole.emulator)}
    for q in site.qpus:
        if q.emulator is None:
            continue
        twin = q.emulator
        out.setdefault(twin.host, []).append(
            {
                "name": q.name,
                "backend_name": twin.backend_name or q.name,
                "api": qrmi_type(q.qrmi.type.value).emulator_api if q.qrmi else None,
                "modality": q.modality.value,
                "num_qubits": q.qubits,
                "coupling_map": [list(p) for p in twin.coupling_map] if twin.coupling_map else None,
                "basis_gates": twin.basis_gates,
                "noise": twin.noise.model_dump(mode="json"),
                "pulser_device": twin.pulser_device.model_dump(mode="json") if twin.pulser_device else None,
                "max_shots": twin.max_shots,
                "credentials": twin_credential_refs(site, q),
            }
        )
    return out


def emulator_s3_endpoints(site: Site) -> dict[str, list[str]]:
    """Per emulator host, the S3-compatible stores its IBM Quantum System twins' jobs name (the store as the
    QPU service reaches it: S3_ENDPOINT_FOR_QSAPI, else S3_ENDPOINT). The emulator connects to no other."""
    out: dict[str, list[str]] = {}
    for q in site.qpus:
        if q.emulator is None or q.qrmi is None or qrmi_type(q.qrmi.type.value).emulator_api != "ibm-quantum-system":
            continue
        s = qrmi_settings(site, q)  # the twin's own store (twin_s3_url) when the model names none
        url = s.get("QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI") or s.get("QRMI_IBM_QS_S3_ENDPOINT")
        if url and url not in out.setdefault(q.emulator.host, []):
            out[q.emulator.host].append(url)
    return out


def monitoring_targets(site: Site) -> dict[str, list[str]]:
    mon = site.software.monitoring
    targets: dict[str, list[str]] = {
        "node": [f"{h.address}:{mon.node_exporter_port}" for h in site.hosts],
        "prometheus": [f"{h.address}:{mon.prometheus_port}" for h in site.hosts_with(HostRole.monitoring)],
        "alertmanager": [f"{h.address}:{mon.alertmanager_port}" for h in site.hosts_with(HostRole.monitoring)],
        "qrmid": [f"{h.address}:{site.software.qrmid_port}" for h in site.hosts_with(HostRole.qpu_access)],
        "emulator": [f"{h.address}:{site.software.emulator_port}" for h in site.hosts_with(HostRole.emulator)],
    }
    return {job: addrs for job, addrs in targets.items() if addrs}


def alert_receivers(site: Site) -> list[dict[str, Any]]:
    return [
        {"name": c.name, "email": c.email, "on_call": c.on_call, "role": c.role.value}
        for c in site.site.contacts
        if c.role.value in ("operator", "security", "facility") or c.on_call
    ]


def site_vars(site: Site) -> dict[str, Any]:
    """Every variable the inventory gives to all hosts."""
    controller = site.hosts_with(HostRole.controller)
    monitoring = site.hosts_with(HostRole.monitoring)
    access = site.hosts_with(HostRole.qpu_access)
    return {
        "qpusite_site_name": site.site.name,
        "qpusite_timezone": site.site.timezone,
        "qpusite_domain": site.facility.network.domain,
        "qpusite_topology": site.software.topology,
        "qpusite_hosts": [
            {"name": h.name, "address": h.address, "roles": [ROLE_NAMES[r] for r in h.roles]} for h in site.hosts
        ],
        "qpusite_controller": controller[0].name if controller else None,
        "qpusite_controller_address": controller[0].address if controller else None,
        "qpusite_monitoring_address": monitoring[0].address if monitoring else None,
        "qpusite_qrmid_address": access[0].address if access else None,
        "qpusite_qrmid_port": site.software.qrmid_port,
        "qpusite_emulator_port": site.software.emulator_port,
        "qpusite_twin_s3_port": site.software.twin_s3_port,
        "qpusite_qrmid_url": qrmid_url(site),
        "qpusite_tls": tls(site),
        "qpusite_scheduler_kind": site.software.scheduler.kind,
        "qpusite_gridengine": gridengine(site),
        "qpusite_slurm_nodes": slurm_nodes(site),
        "qpusite_slurm_node_groups": slurm_node_groups(site),
        "qpusite_slurm_partitions": slurm_partitions(site),
        "qpusite_slurm_conf_overrides": dict(site.software.scheduler.conf_overrides),
        "qpusite_qpu_licenses": qpu_licenses(site),
        "qpusite_slurm_accounting": slurm_accounting(site),
        "qpusite_qpus": qpus(site),
        "qpusite_qrmi_resources": qrmi_resources(site),
        "qpusite_qrmi_config": qrmi_config(site),
        "qpusite_policy_profiles": [p.model_dump(mode="json") for p in site.software.policy_profiles],
        "qpusite_accounts": [a.model_dump(mode="json") for a in site.software.accounts],
        "qpusite_monitoring": site.software.monitoring.model_dump(mode="json"),
        "qpusite_monitoring_targets": monitoring_targets(site),
        "qpusite_alert_receivers": alert_receivers(site),
        "qpusite_emulator_twins": emulator_twins(site),
        "qpusite_emulator_s3_endpoints": emulator_s3_endpoints(site),
        "qpusite_twin_s3_stores": twin_s3_stores(site),
        "qpusite_runtime": site.software.runtime.model_dump(mode="json"),
        "qpusite_runtime_families": runtime_families(site),
        "qpusite_admin_cidrs": list(site.facility.network.admin_cidrs),
        "qpusite_hybrid_link": hybrid_link_vars(site),
    }


# Connection settings: a value every host shares is written once, in `all`'s vars; a host keeps its own
# only where hosts differ (host vars win over `all`'s). Kept per host when the model's `ansible` escape
# hatch sets the same variable, so that it still loses to the host's own value as before.
CONNECTION_VARS = (
    "ansible_user", "ansible_port", "ansible_become", "ansible_ssh_private_key_file", "ansible_ssh_common_args"
)


def connection_vars(conn: Connection, site_dir: str | None = None) -> dict[str, Any]:
    """The Ansible variables for the connection fields the model sets (an unset field is not emitted, so
    Ansible's own default, `all`'s value or `ansible.vars` applies)."""
    import os

    out: dict[str, Any] = {}
    for name, value in conn.set_fields().items():
        if value is None:
            continue
        if name == "user":
            out["ansible_user"] = value
        elif name == "port":
            out["ansible_port"] = value
        elif name == "become":
            out["ansible_become"] = value
        elif name == "private_key_file":
            key = value
            if site_dir and not os.path.isabs(key):
                key = os.path.normpath(os.path.join(site_dir, key))
            out["ansible_ssh_private_key_file"] = key
        elif name == "proxy_jump":
            # PROXY_JUMP allows no space, quote or leading '-': one ssh option, nothing else.
            out["ansible_ssh_common_args"] = f"-o ProxyJump={value}"
    return out


def rollout_vars(site: Site, site_dir: str | None = None) -> dict[str, Any]:
    """Site-wide: the connection defaults the model sets, and per host role how many hosts may be missing."""
    members = groups(site)
    budget = {role: site.rollout.budget(role, len(members.get(role, []))) for role in site.rollout.may_be_unavailable}
    return {
        **connection_vars(site.rollout.connection, site_dir),
        "qpusite_rollout_may_be_unavailable": budget,
    }


def host_vars(site: Site, site_dir: str | None = None) -> dict[str, dict[str, Any]]:
    """Each host's own variables: its address, roles and the connection fields it sets (nothing site-wide)."""
    out: dict[str, dict[str, Any]] = {}
    # Hosts of one host set share their Connection: work its variables out once (10^4 hosts).
    by_connection: dict[int, dict[str, Any]] = {}
    for h in site.hosts:
        conn = by_connection.get(id(h.connection))
        if conn is None:
            conn = by_connection[id(h.connection)] = connection_vars(h.connection, site_dir)
        out[h.name] = {
            "ansible_host": h.address,
            "qpusite_host_roles": [ROLE_NAMES[r] for r in h.roles],
            **conn,
        }
    return out


def _hoist_shared_connection_vars(site: Site, hostvars: dict[str, dict[str, Any]], all_vars: dict[str, Any]) -> None:
    """Move connection variables every host has with the same value from the hosts to `all`."""
    if not hostvars:
        return
    overridden = set(site.ansible.vars)
    for extra in site.ansible.group_vars.values():
        overridden.update(extra)
    missing = object()
    for name in CONNECTION_VARS:
        if name in overridden:
            continue
        values = iter(hostvars.values())
        first = next(values).get(name, missing)
        if first is missing or any(hv.get(name, missing) != first for hv in values):
            continue
        all_vars[name] = first
        for hv in hostvars.values():
            del hv[name]


def inventory(site: Site, site_dir: str | None = None) -> dict[str, Any]:
    """The inventory as `ansible-inventory --list --export` shapes it (without its bookkeeping order).

    Site-wide facts are in `all`'s vars, once; each host carries only its own address, roles and the
    connection settings in which it differs from the others, so the inventory grows linearly with the
    hosts (docs/benchmarks.md)."""
    hostvars = host_vars(site, site_dir)
    all_vars = site_vars(site)
    if site_dir:
        # addresses learnt by `qpusite cloud up` (cloud-outputs.json beside site.yaml)
        merge_into_inventory(site, site_dir, hostvars, all_vars)
    all_vars.update(rollout_vars(site, site_dir))
    _hoist_shared_connection_vars(site, hostvars, all_vars)
    all_vars.update(site.ansible.vars)
    members = groups(site)
    out: dict[str, Any] = {
        "_meta": {"hostvars": hostvars},
        "all": {"children": ["ungrouped", *members], "vars": all_vars},
    }
    for group, hosts in members.items():
        out[group] = {"hosts": hosts}
        extra = site.ansible.group_vars.get(group)
        if extra:
            out[group]["vars"] = dict(extra)
    return out
