"""One emulator Deployment per emulator host of the model, serving that host's
digital twins (the shape site_survey.derive.emulator_twins gives) with the
credentials qrmid will present. The configuration holds those credentials, so
it is a Secret, not a ConfigMap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from site_survey import service_configs
from site_survey.derive import emulator_twins
from site_survey.model import Host, Site
from stacks.kubernetes.objects import (
    cluster_service,
    container_security,
    http_probe,
    image,
    metadata,
    pod_security,
    resources,
    selector,
    service_account,
)

COMPONENT = "emulator"
CONFIG_DIR = "/etc/qpu-emulator"
STATE_DIR = "/var/lib/qpu-emulator"


def emulator_name(host: str) -> str:
    return f"emulator-{host}"


def emulator_config(site: Site, host: Host, values: Mapping[str, str]) -> dict[str, Any]:
    """The qpu-emulator configuration file, shaped as the VM rollout's (site_survey/service_configs.py): each
    twin accepts the very credentials qrmid holds for its QPU."""
    return service_configs.emulator_config(
        site,
        host,
        # inside the pod; the NetworkPolicy decides who may connect
        listen={"host": "0.0.0.0", "port": site.software.emulator_port},  # noqa: S104
        state_dir=STATE_DIR,
        secret=values.get,
        workers=max(1, min(host.cpus, 8)),
    )


def _deployment(site: Site, host: Host) -> dict[str, Any]:
    name = emulator_name(host.name)
    extra = {"qpusite.io/emulator-host": host.name}
    memory_mi = host.memory_mb
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(site, name, COMPONENT, **extra),
        "spec": {
            # one replica: a twin's job queue lives in its state directory
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(site, COMPONENT, **extra)},
            "template": {
                "metadata": {"labels": metadata(site, name, COMPONENT, **extra)["labels"]},
                "spec": {
                    "serviceAccountName": name,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": "emulator",
                            "image": image(site, COMPONENT),
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["qpu-emulator", "--config", f"{CONFIG_DIR}/config.yaml"],
                            "ports": [{"name": "http", "containerPort": site.software.emulator_port}],
                            "readinessProbe": http_probe("/health", "http", 5),
                            "livenessProbe": http_probe("/health", "http", 30),
                            "resources": resources(
                                f"{max(250, host.cpus * 500)}m",
                                f"{max(256, memory_mi // 2)}Mi",
                                str(host.cpus),
                                f"{memory_mi}Mi",
                            ),
                            "securityContext": container_security(),
                            "volumeMounts": [
                                {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                                {"name": "state", "mountPath": STATE_DIR},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "config", "secret": {"secretName": f"{name}-config", "defaultMode": 0o440}},
                        {"name": "state", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def emulator_manifests(site: Site, values: Mapping[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    twins = emulator_twins(site)
    for host in site.hosts:
        if not twins.get(host.name):
            continue
        name = emulator_name(host.name)
        extra = {"qpusite.io/emulator-host": host.name}
        out += [
            service_account(site, name, COMPONENT),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata(site, f"{name}-config", COMPONENT, **extra),
                "type": "Opaque",
                "stringData": {"config.yaml": yaml.safe_dump(emulator_config(site, host, values), sort_keys=False)},
            },
            _deployment(site, host),
            cluster_service(site, name, COMPONENT, site.software.emulator_port, **extra),
        ]
    return out
