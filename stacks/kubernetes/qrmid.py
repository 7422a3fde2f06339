"""The QRMI daemon (services/qrmid) as a one-replica StatefulSet: its accounting
database lives on a volume; config.json (the shape qrmid.config.Config reads)
in a ConfigMap with endpoints pointing at the in-cluster emulators; the QPU
credentials in a secrets file and the munge key, both Secrets mounted read-only
(never environment variables); munged runs beside it so qrmid can verify the
munge credentials of Slurm jobs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from site_survey import service_configs
from site_survey.derive import emulator_base_url, qrmi_qpus, qrmi_settings
from site_survey.model import Site
from site_survey.service_configs import QrmidService
from stacks.kubernetes.emulator import emulator_name
from stacks.kubernetes.objects import (
    cluster_service,
    container_security,
    http_probe,
    image,
    metadata,
    resources,
    service_account,
    service_dns,
    single_statefulset,
)

COMPONENT = "qrmid"
CONFIG_DIR = "/etc/qrmid"
SECRETS_DIR = "/run/secrets/qrmid"
STATE_DIR = "/var/lib/qrmid"
MUNGE_DIR = "/run/munge"
MUNGE_SOCKET = f"{MUNGE_DIR}/munge.socket.2"
MUNGE_KEY_INPUT = "mungeKey"  # base64 of the site's munge.key


def in_cluster_settings(site: Site) -> dict[str, dict[str, str]]:
    """Non-secret QRMI settings per QPU, emulator endpoints rewritten to their Services."""
    out: dict[str, dict[str, str]] = {}
    for qpu in qrmi_qpus(site):
        settings = qrmi_settings(site, qpu)
        host_base = emulator_base_url(site, qpu) if qpu.access.mode == "emulator" else None
        if host_base and qpu.emulator is not None:
            service_base = f"http://{service_dns(site, emulator_name(qpu.emulator.host))}:{site.software.emulator_port}"
            settings = {k: v.replace(host_base, service_base) for k, v in settings.items()}
        out[qpu.name] = settings
    return out


def qrmid_config(site: Site) -> dict[str, Any]:
    """qrmid's config.json, shaped as the VM rollout's (site_survey/service_configs.py), endpoints rewritten
    to the in-cluster emulators."""
    port = site.software.qrmid_port
    service = QrmidService(
        # inside the pod; the NetworkPolicy decides who may connect
        listen_host="0.0.0.0",  # noqa: S104
        listen_port=port,
        public_url=f"http://{service_dns(site, COMPONENT)}:{port}",
        database=f"{STATE_DIR}/qrmid.sqlite",
        job_token_key_file=f"{STATE_DIR}/job-token.key",
        secrets_file=f"{SECRETS_DIR}/secrets.json",
        cluster=site.site.name,
        munge_socket=MUNGE_SOCKET,
        # no squeue in the pod: only deadlines reap stale acquisitions
        reaper={"slurm": "off"},
    )
    doc = service_configs.qrmid_config(site, service)
    settings = in_cluster_settings(site)
    doc["resources"] = [{**r, "environment": settings[r["name"]]} for r in doc["resources"]]
    return doc


def secrets_file(site: Site, values: Mapping[str, str]) -> dict[str, str]:
    """qrmid's secrets file, keyed by vaulted variable name like the VM rollout renders it."""
    return {name: values[name] for name in service_configs.secret_names(site) if name in values}


def _munged(site: Site) -> dict[str, Any]:
    return {
        "name": "munged",
        "image": image(site, COMPONENT),
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "munged",
            "--foreground",
            "--key-file=/etc/munge/munge.key",
            f"--socket={MUNGE_SOCKET}",
            f"--pid-file={MUNGE_DIR}/munged.pid",
            f"--seed-file={MUNGE_DIR}/munged.seed",
            "--log-file=/dev/stderr",
        ],
        "resources": resources("20m", "32Mi", "200m", "64Mi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "munge-key", "mountPath": "/etc/munge", "readOnly": True},
            {"name": "munge-run", "mountPath": MUNGE_DIR},
        ],
    }


def _statefulset(site: Site) -> dict[str, Any]:
    port = site.software.qrmid_port
    # one replica: acquisitions and accounting must not be split between brokers
    containers = [
        {
            "name": COMPONENT,
            "image": image(site, COMPONENT),
            "imagePullPolicy": "IfNotPresent",
            "command": ["qrmid", "--config", f"{CONFIG_DIR}/config.json"],
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": http_probe("/healthz", "http", 5),
            "livenessProbe": http_probe("/healthz", "http", 30),
            "resources": resources("100m", "128Mi", "1", "512Mi"),
            "securityContext": container_security(),
            "volumeMounts": [
                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True},
                {"name": "munge-run", "mountPath": MUNGE_DIR, "readOnly": True},
                {"name": "state", "mountPath": STATE_DIR},
            ],
        },
        _munged(site),
    ]
    volumes = [
        {"name": "config", "configMap": {"name": f"{COMPONENT}-config"}},
        {"name": "secrets", "secret": {"secretName": f"{COMPONENT}-secrets", "defaultMode": 0o400}},
        {"name": "munge-key", "secret": {"secretName": "munge-key", "defaultMode": 0o400}},
        {"name": "munge-run", "emptyDir": {"medium": "Memory"}},
    ]
    return single_statefulset(site, COMPONENT, containers, volumes, ("state", "1Gi"))


def qrmid_manifests(site: Site, values: Mapping[str, str]) -> list[dict[str, Any]]:
    if not site.qpus:
        return []
    return [
        service_account(site, COMPONENT, COMPONENT),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(site, f"{COMPONENT}-config", COMPONENT),
            "data": {"config.json": json.dumps(qrmid_config(site), indent=2, sort_keys=True)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(site, f"{COMPONENT}-secrets", COMPONENT),
            "type": "Opaque",
            "stringData": {"secrets.json": json.dumps(secrets_file(site, values), indent=2, sort_keys=True)},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(site, "munge-key", COMPONENT),
            "type": "Opaque",
            # already base64: the key is binary
            "data": {"munge.key": values.get(MUNGE_KEY_INPUT, "")},
        },
        _statefulset(site),
        cluster_service(site, COMPONENT, COMPONENT, site.software.qrmid_port),
    ]
