"""Network policies: deny all ingress in the namespace, then admit each
service's port only from who needs it — qrmid from the compute networks,
the emulators from qrmid (in the cluster, or on the site's hosts), Prometheus
from the admin networks — and let Prometheus scrape everything."""

from __future__ import annotations

from typing import Any

from site_survey.catalogue.components import kit_tcp_ports
from site_survey.model import Site
from stacks.kubernetes.objects import metadata, selector


def source_cidrs(site: Site) -> list[str]:
    """Where the site's own hosts connect from: the cloud network and, over a hybrid link, on-prem."""
    assert site.cloud is not None
    cidrs = [site.cloud.network.private_cidr]
    if site.cloud.hybrid_link is not None:
        cidrs.append(site.cloud.hybrid_link.onprem_cidr)
    return cidrs


def _policy(
    site: Site, name: str, component: str | None, sources: list[dict[str, Any]], port: int | None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector(site, component)} if component else {},
        "policyTypes": ["Ingress"],
    }
    if port is not None:
        spec["ingress"] = [{"from": sources, "ports": [{"protocol": "TCP", "port": port}]}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(site, name, "network-policy"),
        "spec": spec,
    }


def _pods(site: Site, component: str) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": selector(site, component)}}


def _blocks(cidrs: list[str]) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": c}} for c in cidrs]


def network_policies(site: Site) -> list[dict[str, Any]]:
    ports = kit_tcp_ports(site)  # the catalogue's ports (site_survey/catalogue/components.py)
    hosts = source_cidrs(site)
    admins = list(site.facility.network.admin_cidrs)
    out = [_policy(site, "default-deny-ingress", None, [], None)]
    if site.qpus:
        sources = [*_blocks(hosts), _pods(site, "prometheus")]
        out.append(_policy(site, "qrmid-ingress", "qrmid", sources, ports["qrmid"]))
    if any(q.emulator for q in site.qpus):
        out.append(
            _policy(
                site,
                "emulator-ingress",
                "emulator",
                [_pods(site, "qrmid"), _pods(site, "prometheus"), *_blocks(hosts)],
                ports["qpu-emulator"],
            )
        )
    out.append(_policy(site, "prometheus-ingress", "prometheus", _blocks(admins), ports["prometheus"]))
    return out


def expected_policy_names(site: Site) -> list[str]:
    return [p["metadata"]["name"] for p in network_policies(site)]
