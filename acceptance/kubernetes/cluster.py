"""Finding a cluster to check: an explicit kubeconfig, $KUBECONFIG or
~/.kube/config, else the in-cluster service account. Unreachable or absent
clusters give a reason to skip, never an exception."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

PROBE_TIMEOUT_S = 5


@dataclass(frozen=True)
class Cluster:
    api: client.ApiClient
    server: str


def connect(kubeconfig: str | None = None, context: str | None = None) -> Cluster | str:
    """A reachable cluster, or the reason there is none (to skip with)."""
    configuration = client.Configuration()
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (ConfigException, OSError, TypeError) as kube_error:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException:
            where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
            return f"no cluster configured: no usable kubeconfig ({where}: {kube_error}) and not running in a pod"
    # fail fast instead of the client's default retries against a dead address
    configuration.retries = 0
    api = client.ApiClient(configuration)
    try:
        version = client.VersionApi(api).get_code(_request_timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # any transport or HTTP error means: nothing to check against
        api.close()  # type: ignore[no-untyped-call]
        reason = str(exc).splitlines()[0][:200]
        return f"no cluster reachable at {configuration.host}: {reason}"
    return Cluster(api, f"{configuration.host} (Kubernetes {version.git_version})")
