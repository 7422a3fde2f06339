"""Entry point the pulumi CLI runs for stacks/kubernetes (see Pulumi.yaml).

With cloud.kubernetes.managed the cluster comes from the ovh program's stack
of the same name (its kubeconfig output); otherwise the ambient kubeconfig."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pulumi  # noqa: E402
import pulumi_kubernetes as k8s  # noqa: E402

from stacks.common.site_input import load_checked_site  # noqa: E402
from stacks.kubernetes.manifests import secret_value_names  # noqa: E402
from stacks.kubernetes.site import KubernetesSite, KubernetesSiteArgs  # noqa: E402


def main() -> None:
    site, _ = load_checked_site("kubernetes")
    assert site.cloud is not None
    config = pulumi.Config("qpusite")
    provider = None
    if site.cloud.kubernetes.managed:
        ovh = pulumi.StackReference(f"{pulumi.get_organization()}/qpusite-ovh/{pulumi.get_stack()}")
        provider = k8s.Provider("managed-cluster", kubeconfig=ovh.require_output("kubeconfig"))
    component = KubernetesSite(
        site.site.name,
        KubernetesSiteArgs(
            site=site,
            secrets={name: config.require_secret(name) for name in secret_value_names(site)},
            provider=provider,
        ),
    )
    pulumi.export("namespace", component.namespace)
    pulumi.export("services", component.services)


main()
