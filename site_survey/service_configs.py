"""One shaping of each service's configuration, from the site model to plain dicts:
qrmi_config.json (the SPANK plugin's and the quantum runtime's), qrmid's config.json
and the qpu-emulator's config.yaml.

No secret value passes through here: secrets appear as the names of the vaulted
variables that hold them. Whoever writes a file with values (the roles, the Kubernetes
stack, the services tests) resolves those names with `resolve_credentials` /
`secret_names`; `qpusite render` previews the documents as they are. The shapes are
those services/qrmid/qrmid/config.py and services/qpu-emulator/qpu_emulator/config.py
read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from site_survey import derive
from site_survey.catalogue.components import GRIDENGINE_ROOT
from site_survey.derive import emulator_twins, qpus, qrmi_qpus, qrmi_resources, qrmid_url
from site_survey.model import Host, HostRole, Site


def qrmi_config(site: Site, secret: Callable[[str], str] | None = None) -> dict[str, Any]:
    """qrmi_config.json: each QRMI QPU's type and settings (derive.qrmi_config, the inventory's
    qpusite_qrmi_config). With `secret` (vaulted name -> value), each secret key gets its value too."""
    doc = derive.qrmi_config(site)
    if secret is None:
        return doc
    refs = {r["name"]: r["secrets"] for r in qrmi_resources(site)}
    for res in doc["resources"]:
        values = {key: secret(var) for key, var in refs[res["name"]].items()}
        res["environment"] = dict(sorted({**res["environment"], **values}.items()))
    return doc


@dataclass(frozen=True)
class QrmidService:
    """Where and how one qrmid runs: what the rollout (roles/qrmid) or the Kubernetes stack decides."""

    listen_host: str
    listen_port: int
    public_url: str
    database: str | dict[str, Any]
    secrets_file: str
    cluster: str = "cluster"
    operator_token_file: str | None = None
    munge_socket: str | None = None
    trusted_uids: tuple[int, ...] = (0,)
    job_token_ttl_s: int = 600
    # Key that signs job tokens; kept beside the database so tokens survive a restart.
    job_token_key_file: str | None = None
    reaper: Mapping[str, Any] | None = None
    tls: Mapping[str, str] | None = None


def qrmid_config(site: Site, service: QrmidService) -> dict[str, Any]:
    """qrmid's config.json: resources (with the qrmi.ResourceType each type maps to), QPUs and profiles."""
    doc: dict[str, Any] = {
        "cluster": service.cluster,
        "listen_host": service.listen_host,
        "listen_port": service.listen_port,
        "public_url": service.public_url,
        "database": service.database,
        "timezone": site.site.timezone,
        "secrets_file": service.secrets_file,
        "trusted_uids": list(service.trusted_uids),
        "job_token_ttl_s": service.job_token_ttl_s,
        "resources": qrmi_resources(site),
        "qpus": [q for q in qpus(site) if q["type"] is not None],
        "policy_profiles": [p.model_dump(mode="json") for p in site.software.policy_profiles],
    }
    if service.operator_token_file:
        doc["operator_token_file"] = service.operator_token_file
    if service.job_token_key_file:
        doc["job_token_key_file"] = service.job_token_key_file
    if service.munge_socket:
        doc["munge_socket"] = service.munge_socket
    if service.reaper is not None:
        doc["reaper"] = dict(service.reaper)
    if service.tls is not None:
        doc["tls"] = dict(service.tls)
    sched = site.software.scheduler
    doc["scheduler"] = sched.kind  # the job ids qrmid expects, and what its reaper asks (squeue or qstat)
    if sched.kind == "gridengine":
        doc["gridengine"] = {"sge_root": GRIDENGINE_ROOT, "sge_cell": sched.grid_engine.cell}
    return doc


def secret_names(site: Site) -> list[str]:
    """Every vaulted variable the QPUs' QRMI secrets name (the keys of qrmid's secrets file)."""
    return sorted({ref.vault for q in qrmi_qpus(site) if q.qrmi for ref in q.qrmi.secrets.values()})


def resolve_credentials(refs: Mapping[str, Any], secret: Callable[[str], str | None]) -> dict[str, Any]:
    """The emulator's credentials block: a twin's credential refs (derive.twin_credential_refs) with each
    vaulted name replaced by its value (unknown: left out). roles/emulator's config.yaml.j2 does the same."""
    api_keys = [v for v in (secret(n) for n in refs["api_keys"]) if v is not None]
    tokens = [v for v in (secret(n) for n in refs["tokens"]) if v is not None]
    clients: dict[str, str] = {}
    for c in refs["clients"]:
        client_id = c["id"] if c["id"] else (secret(c["id_secret"]) if c["id_secret"] else None)
        value = secret(c["secret"])
        if client_id and value is not None:
            clients[client_id] = value
    return {"api_keys": api_keys, "tokens": tokens, "clients": clients}


def emulator_config(
    site: Site, host: Host, listen: Mapping[str, Any], state_dir: str, secret: Callable[[str], str | None],
    **service: Any,
) -> dict[str, Any]:
    """The qpu-emulator's configuration for one emulator host: its twins with their credentials resolved by
    `secret`, where it listens, and the service settings the caller passes (workers, limits, …)."""
    twins = [
        {**twin, "credentials": resolve_credentials(twin["credentials"], secret)}
        for twin in emulator_twins(site).get(host.name, [])
    ]
    doc = {"listen": dict(listen), "state_dir": state_dir, **service, "twins": twins}
    stores = derive.emulator_s3_endpoints(site).get(host.name)
    if stores:  # IBM Quantum System twins: the stores their jobs' presigned URLs may point at
        doc["s3_endpoints"] = stores
    return doc


def rollout_qrmid_service(site: Site) -> QrmidService | None:
    """qrmid as roles/qrmid runs it with its defaults on the site's qpu_access host (None without one);
    tests/roles/test_rendered_configs.py holds the role to this."""
    access = site.hosts_with(HostRole.qpu_access)
    url = qrmid_url(site)
    if not access or url is None:
        return None
    tls = None
    if site.facility.network.tls.enabled:
        tls = {"certificate_file": "/etc/qrmid/tls.crt", "key_file": "/etc/qrmid/tls.key"}
    return QrmidService(
        listen_host=access[0].address,
        listen_port=site.software.qrmid_port,
        public_url=url,
        database="/var/lib/qrmid/qrmid.sqlite",
        job_token_key_file="/var/lib/qrmid/job-token.key",  # noqa: S106 (a path, not a password)
        secrets_file="/etc/qrmid/secrets.json",
        cluster=site.site.name,
        operator_token_file="/etc/qrmid/operator.token",  # noqa: S106 (a path, not a password)
        reaper={"slurm": "auto", "interval_s": 15},
        tls=tls,
    )


def rollout_emulator_config(site: Site, host: Host, secret: Callable[[str], str | None]) -> dict[str, Any]:
    """The emulator's configuration as roles/emulator writes it with its defaults (less the TLS files)."""
    return emulator_config(
        site, host, listen={"host": host.address, "port": site.software.emulator_port},
        state_dir="/var/lib/qpu-emulator", secret=secret,
    )
