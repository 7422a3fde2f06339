"""Every Kubernetes object of a site, in apply order (namespace first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from site_survey.model import Site
from stacks.kubernetes.emulator import emulator_manifests
from stacks.kubernetes.objects import labels
from stacks.kubernetes.policies import network_policies
from stacks.kubernetes.prometheus import prometheus_manifests
from stacks.kubernetes.qrmid import MUNGE_KEY_INPUT, qrmid_manifests


def namespace(site: Site) -> dict[str, Any]:
    assert site.cloud is not None
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": site.cloud.kubernetes.namespace,
            "labels": {
                **labels(site, "namespace"),
                # every pod here must meet the 'restricted' standard
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def secret_value_names(site: Site) -> list[str]:
    """The secret inputs the manifests consume: the QPUs' vaulted credentials and the munge key."""
    names = sorted({ref.vault for q in site.qpus if q.qrmi for ref in q.qrmi.secrets.values()})
    return [*names, MUNGE_KEY_INPUT] if site.qpus else names


def site_manifests(site: Site, values: Mapping[str, str]) -> list[dict[str, Any]]:
    """All objects; `values` maps secret_value_names() to their values (placeholders for validation)."""
    return [
        namespace(site),
        *emulator_manifests(site, values),
        *qrmid_manifests(site, values),
        *prometheus_manifests(site),
        *network_policies(site),
    ]


def placeholder_values(site: Site) -> dict[str, str]:
    """Stand-ins for secrets wherever manifests are rendered for review or validation."""
    return {
        name: ("cGxhY2Vob2xkZXI=" if name == MUNGE_KEY_INPUT else "placeholder") for name in secret_value_names(site)
    }
