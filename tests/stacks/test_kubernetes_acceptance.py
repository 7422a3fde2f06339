"""The Kubernetes acceptance checks with the real `kubernetes` client.

No API server can run on these machines, so the checks are exercised against
a stand-in that serves, on 127.0.0.1, the objects the stack would create (the
same manifests) with the status a cluster would report; knobs make a pod
unready, a service silent or a policy missing. It proves the checks read the
API correctly and fail when they should — not that a real cluster passes."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from acceptance.kubernetes.__main__ import main
from acceptance.kubernetes.checks import run_checks
from acceptance.kubernetes.cluster import connect
from acceptance.kubernetes.expected import expected
from site_survey import Site
from stacks.kubernetes.manifests import placeholder_values, site_manifests
from tests.stacks.conftest import OVH_CLOUD
from tests.stacks.helpers import site_from


class StandInApi:
    """Just enough of the Kubernetes API for the checks' reads."""

    def __init__(self, site: Site) -> None:
        self.objects = site_manifests(site, placeholder_values(site))
        self.namespace = site.cloud.kubernetes.namespace if site.cloud else ""
        self.unready: set[str] = set()  # workloads whose pod is not Ready
        self.silent: set[str] = set()  # services whose proxy gets no answer
        self.dropped: set[str] = set()  # network policies that are absent
        self.requests: list[str] = []
        self.proxied: list[str] = []  # service + path asked through the API server's proxy

    def _of(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def _workload(self, kind: str, name: str) -> dict[str, Any] | None:
        for o in self._of(kind):
            if o["metadata"]["name"] == name:
                ready = 0 if name in self.unready else o["spec"]["replicas"]
                return {**o, "status": {"replicas": o["spec"]["replicas"], "readyReplicas": ready}}
        return None

    def _pods(self, selector: str) -> dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in selector.split(",") if part)
        items = []
        for o in self._of("Deployment") + self._of("StatefulSet"):
            if wanted.items() <= o["spec"]["selector"]["matchLabels"].items():
                name = o["metadata"]["name"]
                ready = "False" if name in self.unready else "True"
                items.append(
                    {
                        "metadata": {"name": f"{name}-0", "namespace": self.namespace, "labels": wanted},
                        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]},
                    }
                )
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

    def _slices(self, service: str) -> dict[str, Any]:
        items = [
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": f"{service}-abc", "labels": {"kubernetes.io/service-name": service}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.2.0.7"], "conditions": {"ready": service not in self.silent}}],
            }
        ]
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "metadata": {}, "items": items}

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        path = path.rstrip("/") or "/"
        self.requests.append(path)
        ns = f"/namespaces/{self.namespace}"
        if path == "/version":
            return 200, {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0",
                "gitCommit": "0",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.24",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path == f"/api/v1{ns}":
            return 200, {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": self.namespace},
                "status": {"phase": "Active"},
            }
        for kind, plural in (("Deployment", "deployments"), ("StatefulSet", "statefulsets")):
            prefix = f"/apis/apps/v1{ns}/{plural}/"
            if path.startswith(prefix):
                obj = self._workload(kind, path[len(prefix) :])
                return (200, obj) if obj else (404, {"kind": "Status", "apiVersion": "v1", "code": 404})
        if path == f"/api/v1{ns}/pods":
            return 200, self._pods(query.get("labelSelector", ""))
        if path == f"/apis/discovery.k8s.io/v1{ns}/endpointslices":
            return 200, self._slices(query.get("labelSelector", "").split("=", 1)[1])
        if path.startswith(f"/api/v1{ns}/services/") and path.endswith(":http/proxy"):
            service = path.split("/services/", 1)[1].split(":", 1)[0]
            self.proxied.append(f"{service}{query.get('path', '')}")
            return (503, "no endpoints available") if service in self.silent else (200, "ok")
        if path == f"/apis/networking.k8s.io/v1{ns}/networkpolicies":
            items = [p for p in self._of("NetworkPolicy") if p["metadata"]["name"] not in self.dropped]
            return 200, {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicyList",
                "metadata": {},
                "items": items,
            }
        return 404, {"kind": "Status", "apiVersion": "v1", "code": 404, "message": path}


def serve(api: StandInApi) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            status, body = api.answer(urllib.parse.unquote(url.path), query)
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def kubeconfig(tmp_path: Path, server_url: str) -> Path:
    path = tmp_path / "kubeconfig"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {"server": server_url}}],
        "users": [{"name": "tester", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "tester"}}],
        "current-context": "standin",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def site(ovh_cloud_doc) -> Site:
    return site_from(ovh_cloud_doc)


@pytest.fixture
def stand_in(site: Site, tmp_path: Path) -> Iterator[tuple[StandInApi, Path]]:
    api = StandInApi(site)
    server = serve(api)
    try:
        yield api, kubeconfig(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


def statuses(results: list[Any]) -> dict[str, str]:
    return {r.check_id: r.status for r in results}


def test_a_healthy_deployment_passes_every_check(site, stand_in):
    api, config = stand_in
    cluster = connect(str(config))
    assert not isinstance(cluster, str), cluster
    results = run_checks(cluster, expected(site))
    assert statuses(results) == {
        "k8s_001_namespace": "passed",
        "k8s_002_pods_ready": "passed",
        "k8s_003_services_answer": "passed",
        "k8s_004_network_policies": "passed",
    }, results
    # the services were really asked through the API server's proxy
    assert sorted(api.proxied) == ["emulator-emu1/health", "prometheus/-/ready", "qrmid/healthz"]


def test_an_unready_pod_fails_the_readiness_check(site, stand_in):
    api, config = stand_in
    api.unready.add("qrmid")
    results = run_checks(connect(str(config)), expected(site))
    failed = [r for r in results if r.status == "failed"]
    assert [r.check_id for r in failed] == ["k8s_002_pods_ready"]
    assert "StatefulSet qrmid: 0/1 ready" in failed[0].message


def test_a_silent_service_fails_the_answer_check(site, stand_in):
    api, config = stand_in
    api.silent.add("emulator-emu1")
    results = {r.check_id: r for r in run_checks(connect(str(config)), expected(site))}
    assert results["k8s_003_services_answer"].status == "failed"
    assert "emulator-emu1" in results["k8s_003_services_answer"].message
    assert results["k8s_002_pods_ready"].status == "passed"


def test_a_missing_network_policy_fails(site, stand_in):
    api, config = stand_in
    api.dropped.add("qrmid-ingress")
    results = {r.check_id: r for r in run_checks(connect(str(config)), expected(site))}
    assert results["k8s_004_network_policies"].status == "failed"
    assert "qrmid-ingress" in results["k8s_004_network_policies"].message


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_cluster_skips_every_check_with_the_reason(site, tmp_path):
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{closed_port()}")
    cluster = connect(str(config))
    assert isinstance(cluster, str) and cluster.startswith("no cluster reachable at http://127.0.0.1:")
    results = run_checks(cluster, expected(site))
    assert {r.status for r in results} == {"skipped"} and len(results) == 4
    assert all(r.message == cluster for r in results)


def test_command_without_kubeconfig_skips_and_writes_junit(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    junit = tmp_path / "k8s.xml"
    assert main([str(OVH_CLOUD), "--junit", str(junit)]) == 0
    out = capsys.readouterr().out
    assert out.count("SKIPPED") == 4 and "no cluster configured" in out
    suite = ElementTree.parse(junit).getroot()
    assert suite.get("tests") == "4" and suite.get("skipped") == "4" and suite.get("failures") == "0"


def test_command_exit_code_follows_the_checks(stand_in, capsys):
    api, config = stand_in
    assert main([str(OVH_CLOUD), "--kubeconfig", str(config)]) == 0
    api.unready.add("prometheus")
    assert main([str(OVH_CLOUD), "--kubeconfig", str(config)]) == 1
    assert "FAILED   k8s_002_pods_ready" in capsys.readouterr().out


def test_command_refuses_a_site_without_kubernetes(capsys):
    assert main(["hybrid"]) == 2
    assert "cloud.kubernetes.enabled" in capsys.readouterr().err
