"""The Kubernetes objects rendered from the model: strict schema validation
(kubernetes-validate, offline), and what they say — images, probes, resource
requests, secrets mounted as files, network policies, the site's rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from site_survey import Site
from stacks.kubernetes.emulator import emulator_config
from stacks.kubernetes.manifests import placeholder_values, secret_value_names, site_manifests
from stacks.kubernetes.prometheus import RULES_DIR
from tests.stacks.conftest import REPO
from tests.stacks.helpers import site_from

K8S_VERSION = "1.33.0"


def hybrid_on_kubernetes(doc: dict[str, Any]) -> dict[str, Any]:
    doc["cloud"]["kubernetes"] = {"enabled": True, "managed": False, "namespace": "hybrid-q"}
    return doc


@pytest.fixture(params=["ovh-cloud", "hybrid"])
def site(request, ovh_cloud_doc, hybrid_doc) -> Site:
    return site_from(ovh_cloud_doc if request.param == "ovh-cloud" else hybrid_on_kubernetes(hybrid_doc))


def by_name(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def test_every_manifest_validates_strictly(site):
    objects = site_manifests(site, placeholder_values(site))
    assert len(objects) >= 15
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field(site):
    # guards the guard: an unknown field must be refused, or the test above proves nothing
    deployment = next(o for o in site_manifests(site, placeholder_values(site)) if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"tcpSocket": {"port": "http"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_workloads_have_probes_requests_and_restricted_security(site):
    objects = site_manifests(site, placeholder_values(site))
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    assert {o["metadata"]["name"] for o in workloads} >= {"qrmid", "prometheus", "emulator-emu1"}
    for obj in workloads:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        main_container = pod["containers"][0]
        assert main_container["readinessProbe"] and main_container["livenessProbe"]
        for container in pod["containers"]:
            assert container["resources"]["requests"]["cpu"] and container["resources"]["requests"]["memory"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
            assert "env" not in container or not any("valueFrom" in e for e in container["env"])
    namespace = objects[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_images_are_named_from_the_model(ovh_cloud_doc):
    ovh_cloud_doc["cloud"]["kubernetes"].update(image_registry="registry.example.org:5000/hpc", image_tag="2026.11")
    site = site_from(ovh_cloud_doc)
    objects = site_manifests(site, placeholder_values(site))
    images = {
        c["image"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet")
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"registry.example.org:5000/hpc/qpusite-{c}:2026.11" for c in ("emulator", "qrmid", "prometheus")}


def test_emulator_resources_follow_the_host(ovh_cloud_doc):
    site = site_from(ovh_cloud_doc)  # emu1: 4 cpus, 8192 MiB
    deployment = by_name(site_manifests(site, placeholder_values(site)), "Deployment", "emulator-emu1")
    resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "4", "memory": "8192Mi"}
    assert resources["requests"] == {"cpu": "2000m", "memory": "4096Mi"}


def test_qrmid_reaches_the_emulators_through_their_services(site):
    objects = site_manifests(site, placeholder_values(site))
    config = json.loads(by_name(objects, "ConfigMap", "qrmid-config")["data"]["config.json"])
    namespace = site.cloud.kubernetes.namespace
    ibm = next(r for r in config["resources"] if r["type"] == "ibm-quantum-compute-service")
    assert config["public_url"] == f"http://qrmid.{namespace}.svc:8470"
    assert ibm["secrets"] == {"QRMI_IBM_QCS_IAM_APIKEY": next(iter(site.qpus[0].qrmi.secrets.values())).vault}
    assert ibm["environment"]["QRMI_IBM_QCS_ENDPOINT"] == f"http://emulator-emu1.{namespace}.svc:8480/v1"
    assert ibm["environment"]["QRMI_IBM_QCS_IAM_ENDPOINT"] == f"http://emulator-emu1.{namespace}.svc:8480"
    # no credential in the ConfigMap
    assert "placeholder" not in json.dumps(config)


def test_credentials_are_secret_files_named_as_qrmi_expects(ovh_cloud_doc):
    site = site_from(ovh_cloud_doc)
    values = {"vault_cloud_sc_apikey": "the-api-key", "mungeKey": "bXVuZ2U="}
    objects = site_manifests(site, values)
    creds = by_name(objects, "Secret", "qrmid-secrets")
    assert json.loads(creds["stringData"]["secrets.json"]) == {"vault_cloud_sc_apikey": "the-api-key"}
    assert by_name(objects, "Secret", "munge-key")["data"] == {"munge.key": "bXVuZ2U="}
    qrmid = by_name(objects, "StatefulSet", "qrmid")["spec"]["template"]["spec"]
    modes = {v["name"]: v.get("secret", {}).get("defaultMode") for v in qrmid["volumes"]}
    assert modes["secrets"] == 0o400 and modes["munge-key"] == 0o400
    # munged beside qrmid, sharing its socket directory; qrmid is told where it is
    containers = {c["name"]: c for c in qrmid["containers"]}
    assert containers["munged"]["command"][0] == "munged"
    config = json.loads(by_name(objects, "ConfigMap", "qrmid-config")["data"]["config.json"])
    assert f"--socket={config['munge_socket']}" in containers["munged"]["command"]
    # the emulator accepts exactly the key qrmid presents
    emulator = yaml.safe_load(by_name(objects, "Secret", "emulator-emu1-config")["stringData"]["config.yaml"])
    assert emulator["twins"][0]["credentials"]["api_keys"] == ["the-api-key"]
    assert secret_value_names(site) == ["vault_cloud_sc_apikey", "mungeKey"]


def test_network_policies_deny_by_default_and_admit_only_the_site(site):
    objects = site_manifests(site, placeholder_values(site))
    policies = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}
    assert set(policies) == {"default-deny-ingress", "qrmid-ingress", "emulator-ingress", "prometheus-ingress"}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for name, spec in policies.items():
        for rule in spec.get("ingress", []):
            for source in rule["from"]:
                cidr = source.get("ipBlock", {}).get("cidr")
                assert cidr not in ("0.0.0.0/0", "::/0"), name
    qrmid_sources = [s["ipBlock"]["cidr"] for s in policies["qrmid-ingress"]["ingress"][0]["from"] if "ipBlock" in s]
    expected = [site.cloud.network.private_cidr]
    if site.cloud.hybrid_link:
        expected.append(site.cloud.hybrid_link.onprem_cidr)
    assert qrmid_sources == expected
    assert policies["qrmid-ingress"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8470}]
    prometheus_sources = policies["prometheus-ingress"]["ingress"][0]["from"]
    assert prometheus_sources == [{"ipBlock": {"cidr": c}} for c in site.facility.network.admin_cidrs]


def test_prometheus_carries_the_sites_rules_and_targets(site):
    objects = site_manifests(site, placeholder_values(site))
    rules = by_name(objects, "ConfigMap", "prometheus-rules")["data"]
    shipped = sorted(p.name for p in RULES_DIR.glob("*.yml"))
    assert shipped, "the prometheus role ships no rule files"
    assert sorted(rules) == shipped
    alerts = [
        r["alert"] for f in rules.values() for g in yaml.safe_load(f)["groups"] for r in g["rules"] if "alert" in r
    ]
    assert "QpuAccessServiceDown" in alerts
    config = yaml.safe_load(by_name(objects, "ConfigMap", "prometheus-config")["data"]["prometheus.yml"])
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "qrmid", "emulator", "node"}
    assert config["global"]["scrape_interval"] == f"{site.software.monitoring.scrape_interval_s}s"
    nodes = [c["targets"][0] for c in jobs["node"]["static_configs"]]
    assert nodes == [f"{h.address}:9100" for h in site.hosts]
    statefulset = by_name(objects, "StatefulSet", "prometheus")
    args = statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--storage.tsdb.retention.time={site.software.monitoring.retention_days}d" in args


NODE_PYTHON = REPO / ".venv-node" / "bin" / "python"


def test_emulator_config_is_accepted_by_the_emulator_itself(site):
    """Cross-check against services/qpu-emulator's own config parser (node environment)."""
    probe = (
        subprocess.run(
            [str(NODE_PYTHON), "-c", "import qpu_emulator.config"], capture_output=True, text=True, check=False
        )
        if NODE_PYTHON.exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("the node environment with qpu_emulator is not installed (./bootstrap setup)")
    host = site.host("emu1")
    assert host is not None
    config = emulator_config(site, host, placeholder_values(site))
    script = (
        "import json, sys\nfrom qpu_emulator.config import parse\n"
        "c = parse(json.load(sys.stdin))\nprint(json.dumps(sorted(t.name for t in c.twins)))"
    )
    result = subprocess.run(
        [str(NODE_PYTHON), "-c", script], input=json.dumps(config), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == sorted(q.name for q in site.qpus if q.emulator)


def test_qrmid_config_is_accepted_by_qrmid_itself(site, tmp_path):
    """Cross-check against services/qrmid's own config loader, secrets file included (node environment)."""
    probe = (
        subprocess.run([str(NODE_PYTHON), "-c", "import qrmid.config"], capture_output=True, text=True, check=False)
        if NODE_PYTHON.exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("the node environment with qrmid is not installed (./bootstrap setup)")
    objects = site_manifests(site, placeholder_values(site))
    config = json.loads(by_name(objects, "ConfigMap", "qrmid-config")["data"]["config.json"])
    secrets = by_name(objects, "Secret", "qrmid-secrets")["stringData"]["secrets.json"]
    (tmp_path / "secrets.json").write_text(secrets)
    (tmp_path / "secrets.json").chmod(0o400)
    config["secrets_file"] = str(tmp_path / "secrets.json")  # where the Secret would be mounted
    (tmp_path / "config.json").write_text(json.dumps(config))
    script = (
        "import json, sys\nfrom qrmid.config import load\n"
        "config, secrets, _ = load(sys.argv[1])\n"
        "print(json.dumps({'resources': sorted(secrets), 'port': config.listen_port}))"
    )
    result = subprocess.run(
        [str(NODE_PYTHON), "-c", script, str(tmp_path / "config.json")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"resources": sorted(q.name for q in site.qpus), "port": 8470}


def test_manifests_render_without_the_pulumi_engine():
    # the manifest builders are plain Python: importable with no Pulumi runtime
    code = "import stacks.kubernetes.manifests as m; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr
    assert Path(REPO / "stacks" / "kubernetes" / "Pulumi.yaml").is_file()
