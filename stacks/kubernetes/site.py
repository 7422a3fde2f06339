"""`qpusite:kubernetes:Site`: creates the manifests of stacks.kubernetes.manifests
as pulumi-kubernetes resources, unchanged; Secrets get their values from
Pulumi secrets, resolved only inside the engine."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from site_survey.model import Site
from stacks.kubernetes.manifests import placeholder_values, site_manifests

# kind -> resource class; every kind the manifests use must be here
KINDS: dict[str, Any] = {
    "Namespace": k8s.core.v1.Namespace,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "Secret": k8s.core.v1.Secret,
    "Service": k8s.core.v1.Service,
    "Deployment": k8s.apps.v1.Deployment,
    "StatefulSet": k8s.apps.v1.StatefulSet,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
}


@dataclass(frozen=True)
class KubernetesSiteArgs:
    site: Site
    secrets: Mapping[str, pulumi.Input[str]]  # secret_value_names() -> value
    provider: pulumi.ProviderResource | None = None  # None: the ambient kubeconfig


def _secret_payload(site: Site, name: str, field: str, values: dict[str, str]) -> dict[str, str]:
    for obj in site_manifests(site, values):
        if obj["kind"] == "Secret" and obj["metadata"]["name"] == name:
            return dict(obj.get(field, {}))
    raise KeyError(name)


class KubernetesSite(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    services: dict[str, str]

    def __init__(self, name: str, args: KubernetesSiteArgs, opts: pulumi.ResourceOptions | None = None):
        providers = [args.provider] if args.provider is not None else None
        # children inherit the provider from this component through parent=self
        merged = pulumi.ResourceOptions.merge(
            opts or pulumi.ResourceOptions(), pulumi.ResourceOptions(providers=providers)
        )
        super().__init__("qpusite:kubernetes:Site", name, None, merged)
        site = args.site
        missing = [n for n in placeholder_values(site) if n not in args.secrets]
        if missing:
            raise ValueError(f"secret value(s) missing for the Kubernetes objects: {', '.join(missing)}")
        secret_values = pulumi.Output.all(**{k: args.secrets[k] for k in placeholder_values(site)})
        objects = site_manifests(site, placeholder_values(site))
        namespace_obj = objects[0]
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace", metadata=namespace_obj["metadata"], opts=pulumi.ResourceOptions(parent=self)
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self.services = {}
        for obj in objects[1:]:
            kind, meta = obj["kind"], obj["metadata"]
            resource_name = f"{name}-{kind.lower()}-{meta['name']}"
            body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
            if kind == "Secret":
                # the placeholders never leave this process: the real payload is computed from secrets
                for field in ("stringData", "data"):
                    if field in body:
                        payload = functools.partial(_secret_payload, site, meta["name"], field)
                        body[field] = pulumi.Output.secret(secret_values.apply(payload))
                KINDS[kind](
                    resource_name,
                    metadata=meta,
                    type=body.get("type"),
                    string_data=body.get("stringData"),
                    data=body.get("data"),
                    opts=after_ns,
                )
                continue
            if kind == "Service":
                self.services[meta["name"]] = f"{meta['name']}.{meta['namespace']}.svc"
            KINDS[kind](resource_name, metadata=meta, **_snake(body), opts=after_ns)
        namespace_name: str = namespace_obj["metadata"]["name"]
        self.namespace = ns.id.apply(lambda _: namespace_name)
        self.register_outputs({"namespace": self.namespace, "services": self.services})


def _snake(body: dict[str, Any]) -> dict[str, Any]:
    """Top-level manifest fields as the resource constructors name them (spec, data, automount…)."""
    names = {"automountServiceAccountToken": "automount_service_account_token", "binaryData": "binary_data"}
    return {names.get(k, k): v for k, v in body.items()}
