"""Building blocks shared by the workloads: labels, metadata, the restricted
pod-security settings, probes and resource figures."""

from __future__ import annotations

from typing import Any

from site_survey.model import Site

PART_OF = "qpusite"
RUN_AS_USER = 65532  # an unprivileged uid; the kit's images do not need root


def labels(site: Site, component: str, **extra: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/instance": site.site.name,
        **extra,
    }


def selector(site: Site, component: str, **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, "app.kubernetes.io/instance": site.site.name, **extra}


def metadata(site: Site, name: str, component: str, **extra: str) -> dict[str, Any]:
    assert site.cloud is not None
    return {"name": name, "namespace": site.cloud.kubernetes.namespace, "labels": labels(site, component, **extra)}


def image(site: Site, component: str) -> str:
    """Images are built locally by the kit and pushed to the site's registry: <registry>/qpusite-<component>:<tag>."""
    assert site.cloud is not None
    k8s = site.cloud.kubernetes
    return f"{k8s.image_registry}/qpusite-{component}:{k8s.image_tag}"


def pod_security() -> dict[str, Any]:
    """Satisfies the 'restricted' Pod Security Standard the namespace enforces."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def http_probe(path: str, port: str, initial_delay_s: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def tcp_probe(port: str, initial_delay_s: int) -> dict[str, Any]:
    return {
        "tcpSocket": {"port": port},
        "initialDelaySeconds": initial_delay_s,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }


def resources(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def service_account(site: Site, name: str, component: str) -> dict[str, Any]:
    # no workload talks to the Kubernetes API: no token in the pods
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(site, name, component),
        "automountServiceAccountToken": False,
    }


def cluster_service(site: Site, name: str, component: str, port: int, **extra: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(site, name, component, **extra),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(site, component, **extra),
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def single_statefulset(
    site: Site,
    component: str,
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    claim: tuple[str, str],
) -> dict[str, Any]:
    """One replica with its own persistent volume (``claim`` = name, size), run under the
    component's service account with no API token and the restricted pod security."""
    claim_name, claim_size = claim
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(site, component, component),
        "spec": {
            "replicas": 1,
            "serviceName": component,
            "selector": {"matchLabels": selector(site, component)},
            "template": {
                "metadata": {"labels": metadata(site, component, component)["labels"]},
                "spec": {
                    "serviceAccountName": component,
                    "automountServiceAccountToken": False,
                    "securityContext": pod_security(),
                    "containers": containers,
                    "volumes": volumes,
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": claim_name},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": claim_size}}},
                }
            ],
        },
    }


def service_dns(site: Site, name: str) -> str:
    assert site.cloud is not None
    return f"{name}.{site.cloud.kubernetes.namespace}.svc"
