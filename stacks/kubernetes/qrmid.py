"""The QRMI daemon as a one-replica StatefulSet (its accounting state lives on
a volume): qrmi_config.json in a ConfigMap with endpoints pointing at the
in-cluster emulators, the QPU credentials and the munge key in Secrets mounted
as files (never environment variables)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from site_survey.derive import emulator_base_url, qpus, qrmi_settings
from site_survey.model import Site
from stacks.kubernetes.emulator import emulator_name
from stacks.kubernetes.objects import (
    cluster_service,
    container_security,
    image,
    metadata,
    pod_security,
    resources,
    selector,
    service_account,
    service_dns,
    tcp_probe,
)

COMPONENT = "qrmid"
CONFIG_DIR = "/etc/qrmid"
SECRETS_DIR = "/run/secrets/qrmi"
STATE_DIR = "/var/lib/qrmid"
MUNGE_KEY_INPUT = "mungeKey"  # base64 of the site's munge.key


def in_cluster_settings(site: Site) -> dict[str, dict[str, str]]:
    """Non-secret QRMI settings per QPU, emulator endpoints rewritten to their Services."""
    out: dict[str, dict[str, str]] = {}
    for qpu in site.qpus:
        settings = qrmi_settings(site, qpu)
        host_base = emulator_base_url(site, qpu) if qpu.access.mode == "emulator" else None
        if host_base and qpu.emulator is not None:
            service_base = f"http://{service_dns(site, emulator_name(qpu.emulator.host))}:{site.software.emulator_port}"
            settings = {k: v.replace(host_base, service_base) for k, v in settings.items()}
        out[qpu.name] = settings
    return out


def qrmi_config(site: Site) -> dict[str, Any]:
    settings = in_cluster_settings(site)
    return {
        "resources": [
            {"name": q.name, "type": q.qrmi.type.value, "is_dynamic": False, "environment": settings[q.name]}
            for q in site.qpus
        ]
    }


def credential_files(site: Site, values: Mapping[str, str]) -> dict[str, str]:
    """Secret file name -> value: one file per '<QPU>_<KEY>' (QRMI's prefixed variable name)."""
    files: dict[str, str] = {}
    for qpu in site.qpus:
        for key, ref in sorted(qpu.qrmi.secrets.items()):
            if ref.vault in values:
                files[f"{qpu.name}_{key}"] = values[ref.vault]
    return files


def _statefulset(site: Site) -> dict[str, Any]:
    port = site.software.qrmid_port
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(site, COMPONENT, COMPONENT),
        "spec": {
            # one broker per site: acquisitions and accounting must not be split between replicas
            "replicas": 1,
            "serviceName": COMPONENT,
            "selector": {"matchLabels": selector(site, COMPONENT)},
            "template": {
                "metadata": {"labels": metadata(site, COMPONENT, COMPONENT)["labels"]},
                "spec": {
                    "serviceAccountName": COMPONENT,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": COMPONENT,
                            "image": image(site, COMPONENT),
                            "imagePullPolicy": "IfNotPresent",
                            "env": [
                                {"name": "QRMID_CONFIG", "value": f"{CONFIG_DIR}/qrmi_config.json"},
                                {"name": "QRMID_SITE", "value": f"{CONFIG_DIR}/site.json"},
                                {"name": "QRMID_SECRETS_DIR", "value": SECRETS_DIR},
                                {"name": "QRMID_STATE_DIR", "value": STATE_DIR},
                                {"name": "QRMID_LISTEN", "value": f"0.0.0.0:{port}"},
                            ],
                            "ports": [{"name": "http", "containerPort": port}],
                            "readinessProbe": tcp_probe("http", 5),
                            "livenessProbe": tcp_probe("http", 30),
                            "resources": resources("100m", "128Mi", "1", "512Mi"),
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                                {"name": "credentials", "mountPath": SECRETS_DIR, "readOnly": True},
                                {"name": "munge-key", "mountPath": "/etc/munge", "readOnly": True},
                                {"name": "state", "mountPath": STATE_DIR},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": f"{COMPONENT}-config"}},
                        {"name": "credentials", "secret": {"secretName": "qrmi-credentials", "defaultMode": 0o400}},
                        {"name": "munge-key", "secret": {"secretName": "munge-key", "defaultMode": 0o400}},
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "state"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


def qrmid_manifests(site: Site, values: Mapping[str, str]) -> list[dict[str, Any]]:
    if not site.qpus:
        return []
    site_json = {
        "site": site.site.name,
        "qpus": qpus(site),
        "policy_profiles": [p.model_dump(mode="json") for p in site.software.policy_profiles],
    }
    return [
        service_account(site, COMPONENT, COMPONENT),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(site, f"{COMPONENT}-config", COMPONENT),
            "data": {
                "qrmi_config.json": json.dumps(qrmi_config(site), indent=2, sort_keys=True),
                "site.json": json.dumps(site_json, indent=2, sort_keys=True),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(site, "qrmi-credentials", COMPONENT),
            "type": "Opaque",
            "stringData": credential_files(site, values),
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
