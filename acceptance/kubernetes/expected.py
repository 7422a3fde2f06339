"""What the cluster should hold for a site: derived from the same manifests the
stack applies (stacks/kubernetes), so the check and the deployment cannot drift."""

from __future__ import annotations

from dataclasses import dataclass

from site_survey.model import Site
from stacks.kubernetes.manifests import placeholder_values, site_manifests

# the path each service answers its health on, by component label
HEALTH_PATHS = {"emulator": "health", "prometheus": "-/ready", "qrmid": "healthz"}


@dataclass(frozen=True)
class Workload:
    kind: str  # Deployment or StatefulSet
    name: str
    replicas: int
    match_labels: dict[str, str]


@dataclass(frozen=True)
class ExpectedService:
    name: str
    component: str
    health_path: str


@dataclass(frozen=True)
class Expected:
    namespace: str
    workloads: list[Workload]
    services: list[ExpectedService]
    network_policies: list[str]


def expected(site: Site) -> Expected:
    assert site.cloud is not None
    objects = site_manifests(site, placeholder_values(site))
    workloads = [
        Workload(o["kind"], o["metadata"]["name"], o["spec"]["replicas"], o["spec"]["selector"]["matchLabels"])
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
    ]
    services = []
    for o in objects:
        if o["kind"] == "Service":
            component = o["metadata"]["labels"]["app.kubernetes.io/name"]
            services.append(ExpectedService(o["metadata"]["name"], component, HEALTH_PATHS.get(component, "")))
    policies = [o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"]
    return Expected(site.cloud.kubernetes.namespace, workloads, services, policies)
