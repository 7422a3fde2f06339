"""Prometheus with the site's alert rules (the same rule files the prometheus
role installs on VMs, roles/prometheus/files/rules/) scraping the in-cluster
services and the site's node exporters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from site_survey.model import HostRole, Site
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

COMPONENT = "prometheus"
RULES_DIR = Path(__file__).resolve().parents[2] / "roles" / "prometheus" / "files" / "rules"
CONFIG_DIR = "/etc/prometheus"
DATA_DIR = "/prometheus"


def site_rule_files() -> dict[str, str]:
    """The site's rule files by name, as shipped with the prometheus role."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(RULES_DIR.glob("*.yml"))}


def prometheus_config(site: Site) -> dict[str, Any]:
    sw = site.software
    mon = sw.monitoring
    emulators = sorted({q.emulator.host for q in site.qpus if q.emulator is not None})
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "prometheus",
            "static_configs": [
                {"targets": [f"localhost:{mon.prometheus_port}"], "labels": {"instance_name": "prometheus"}}
            ],
        },
    ]
    if site.qpus:
        jobs.append(
            {
                "job_name": "qrmid",
                "static_configs": [
                    {"targets": [f"{service_dns(site, 'qrmid')}:{sw.qrmid_port}"], "labels": {"instance_name": "qrmid"}}
                ],
            }
        )
    if emulators:
        jobs.append(
            {
                "job_name": "emulator",
                "static_configs": [
                    {
                        "targets": [f"{service_dns(site, emulator_name(h))}:{sw.emulator_port}"],
                        "labels": {"instance_name": h},
                    }
                    for h in emulators
                ],
            }
        )
    if site.hosts:
        jobs.append(
            {
                "job_name": "node",
                "static_configs": [
                    {"targets": [f"{h.address}:{mon.node_exporter_port}"], "labels": {"instance_name": h.name}}
                    for h in site.hosts
                ],
            }
        )
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{mon.scrape_interval_s}s",
            "evaluation_interval": f"{mon.scrape_interval_s}s",
            "external_labels": {"site": site.site.name},
        },
        "rule_files": [f"{CONFIG_DIR}/rules/*.yml"],
        "scrape_configs": jobs,
    }
    alertmanagers = [h for h in site.hosts_with(HostRole.monitoring)]
    if alertmanagers:
        # the site's Alertmanager (on its monitoring host) routes the alerts to people
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"{h.address}:{mon.alertmanager_port}" for h in alertmanagers]}]}
            ]
        }
    return config


def _statefulset(site: Site) -> dict[str, Any]:
    mon = site.software.monitoring
    storage_gi = max(5, mon.retention_days)  # ~1 GiB per retained day for a site this size
    container = {
        "name": COMPONENT,
        "image": image(site, COMPONENT),
        "imagePullPolicy": "IfNotPresent",
        "args": [
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            f"--storage.tsdb.path={DATA_DIR}",
            f"--storage.tsdb.retention.time={mon.retention_days}d",
            f"--web.listen-address=0.0.0.0:{mon.prometheus_port}",
        ],
        "ports": [{"name": "http", "containerPort": mon.prometheus_port}],
        "readinessProbe": http_probe("/-/ready", "http", 10),
        "livenessProbe": http_probe("/-/healthy", "http", 30),
        "resources": resources("250m", "512Mi", "1", "2Gi"),
        "securityContext": container_security(),
        "volumeMounts": [
            {"name": "config", "mountPath": f"{CONFIG_DIR}/prometheus.yml", "subPath": "prometheus.yml"},
            {"name": "rules", "mountPath": f"{CONFIG_DIR}/rules", "readOnly": True},
            {"name": "data", "mountPath": DATA_DIR},
        ],
    }
    volumes = [
        {"name": "config", "configMap": {"name": f"{COMPONENT}-config"}},
        {"name": "rules", "configMap": {"name": f"{COMPONENT}-rules"}},
    ]
    return single_statefulset(site, COMPONENT, [container], volumes, ("data", f"{storage_gi}Gi"))


def prometheus_manifests(site: Site) -> list[dict[str, Any]]:
    return [
        service_account(site, COMPONENT, COMPONENT),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(site, f"{COMPONENT}-config", COMPONENT),
            "data": {"prometheus.yml": yaml.safe_dump(prometheus_config(site), sort_keys=False)},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata(site, f"{COMPONENT}-rules", COMPONENT),
            "data": site_rule_files(),
        },
        _statefulset(site),
        cluster_service(site, COMPONENT, COMPONENT, site.software.monitoring.prometheus_port),
    ]
