"""The Kubernetes acceptance checks, numbered and named like the rest of the
acceptance suite; each proves one condition and returns a result, never raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from acceptance.kubernetes.cluster import Cluster
from acceptance.kubernetes.expected import Expected

REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True)
class KubeCheckResult:
    check_id: str
    status: str  # passed, failed, skipped
    message: str


class Failed(Exception):
    pass


def _selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def namespace_exists(cluster: Cluster, want: Expected) -> str:
    try:
        ns = client.CoreV1Api(cluster.api).read_namespace(want.namespace, _request_timeout=REQUEST_TIMEOUT_S)
    except ApiException as exc:
        raise Failed(f"namespace {want.namespace} not found ({exc.status})") from None
    phase = ns.status.phase if ns.status else None
    if phase != "Active":
        raise Failed(f"namespace {want.namespace} is {phase}")
    return f"namespace {want.namespace} is Active"


def _pod_ready(pod: Any) -> bool:
    conditions = (pod.status.conditions or []) if pod.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def pods_ready(cluster: Cluster, want: Expected) -> str:
    apps = client.AppsV1Api(cluster.api)
    core = client.CoreV1Api(cluster.api)
    problems = []
    for w in want.workloads:
        read = apps.read_namespaced_deployment if w.kind == "Deployment" else apps.read_namespaced_stateful_set
        try:
            obj = read(w.name, want.namespace, _request_timeout=REQUEST_TIMEOUT_S)
        except ApiException as exc:
            problems.append(f"{w.kind} {w.name} missing ({exc.status})")
            continue
        ready = (obj.status.ready_replicas or 0) if obj.status else 0
        if ready < w.replicas:
            problems.append(f"{w.kind} {w.name}: {ready}/{w.replicas} ready")
        pods = core.list_namespaced_pod(
            want.namespace, label_selector=_selector(w.match_labels), _request_timeout=REQUEST_TIMEOUT_S
        ).items
        unready = [str(p.metadata.name if p.metadata else "?") for p in pods if not _pod_ready(p)]
        if not pods:
            problems.append(f"{w.kind} {w.name}: no pods")
        elif unready:
            problems.append(f"{w.kind} {w.name}: pod(s) not Ready: {', '.join(unready)}")
    if problems:
        raise Failed("; ".join(problems))
    return f"{len(want.workloads)} workload(s), every pod Ready"


def services_answer(cluster: Cluster, want: Expected) -> str:
    core = client.CoreV1Api(cluster.api)
    discovery = client.DiscoveryV1Api(cluster.api)
    problems = []
    for svc in want.services:
        slices = discovery.list_namespaced_endpoint_slice(
            want.namespace, label_selector=f"kubernetes.io/service-name={svc.name}", _request_timeout=REQUEST_TIMEOUT_S
        ).items
        ready = [
            e for s in slices for e in (s.endpoints or []) if e.conditions is None or e.conditions.ready is not False
        ]
        if not ready:
            problems.append(f"service {svc.name}: no ready endpoints")
            continue
        try:
            # through the API server's service proxy: works from anywhere the API is reachable
            # the path travels as ServiceProxyOptions.path (a query parameter), so its '/' is not escaped
            core.connect_get_namespaced_service_proxy(
                f"{svc.name}:http", want.namespace, path=f"/{svc.health_path}", _request_timeout=REQUEST_TIMEOUT_S
            )
        except ApiException as exc:
            # a 4xx from the service itself still proves it answers; 5xx comes from a proxy that reached nothing
            if exc.status is None or exc.status >= 500:
                problems.append(f"service {svc.name}: no answer on /{svc.health_path} ({exc.status} {exc.reason})")
    if problems:
        raise Failed("; ".join(problems))
    return f"{len(want.services)} service(s) answering: {', '.join(s.name for s in want.services)}"


def network_policies_present(cluster: Cluster, want: Expected) -> str:
    items = (
        client.NetworkingV1Api(cluster.api)
        .list_namespaced_network_policy(want.namespace, _request_timeout=REQUEST_TIMEOUT_S)
        .items
    )
    found = {str(p.metadata.name if p.metadata else ""): p for p in items}
    missing = [name for name in want.network_policies if name not in found]
    if missing:
        raise Failed(f"network policies missing: {', '.join(missing)}")
    deny = found.get("default-deny-ingress")
    spec = deny.spec if deny is not None else None
    selects_some = spec is None or (spec.pod_selector is not None and bool(spec.pod_selector.match_labels))
    if deny is not None and (selects_some or (spec is not None and spec.ingress)):
        raise Failed("default-deny-ingress no longer denies every pod's ingress")
    return f"{len(want.network_policies)} network policies present, ingress denied by default"


CHECKS: list[tuple[str, Callable[[Cluster, Expected], str]]] = [
    ("k8s_001_namespace", namespace_exists),
    ("k8s_002_pods_ready", pods_ready),
    ("k8s_003_services_answer", services_answer),
    ("k8s_004_network_policies", network_policies_present),
]


def run_checks(cluster: Cluster | str, want: Expected) -> list[KubeCheckResult]:
    if isinstance(cluster, str):
        return [KubeCheckResult(check_id, "skipped", cluster) for check_id, _ in CHECKS]
    results = []
    for check_id, body in CHECKS:
        try:
            results.append(KubeCheckResult(check_id, "passed", body(cluster, want)))
        except Failed as exc:
            results.append(KubeCheckResult(check_id, "failed", str(exc)))
        except Exception as exc:  # an error of the check is a failure with its cause, never a crash
            results.append(KubeCheckResult(check_id, "failed", f"{type(exc).__name__}: {exc}"))
    return results
