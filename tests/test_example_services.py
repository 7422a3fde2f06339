"""Every example site deploys its services: each inventories/*/site.yaml is derived into the
services' own documents (site_survey/service_configs.py), and those are fed to the services'
own checks — `qrmid --check` and `qpu-emulator --check` from the node environment (.venv-node),
and the qrmi_config.json schema the rollout validates with."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from site_survey import service_configs
from site_survey.loader import load_site
from site_survey.model import HostRole, Site
from tests.conftest import REPO

SITES = sorted((REPO / "inventories").glob("*/site.yaml"))
NODE_BIN = REPO / ".venv-node" / "bin"
SCHEMA = json.loads((REPO / "roles" / "quantum_runtime" / "files" / "qrmi_config.schema.json").read_text())

needs_node_env = pytest.mark.skipif(
    not (NODE_BIN / "qrmid").exists(), reason=".venv-node missing (./bootstrap setup makes it)"
)


def _secret(name: str) -> str:
    return f"example-secret-{name}"


@pytest.fixture(params=SITES, ids=lambda p: p.parent.name)
def site(request: pytest.FixtureRequest) -> Site:
    return load_site(request.param)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)


def test_there_are_several_example_sites() -> None:
    assert {"lab", "national"} <= {p.parent.name for p in SITES}


@needs_node_env
def test_qrmid_accepts_the_sites_configuration(site: Site, tmp_path: Path) -> None:
    service = service_configs.rollout_qrmid_service(site)
    if service is None:
        pytest.skip(f"{site.site.name} has no qpu_access host")
    # qrmid checks the files it names: the secrets file (0600) holds a value for every vaulted name
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({n: _secret(n) for n in service_configs.secret_names(site)}))
    secrets.chmod(0o600)
    token = tmp_path / "operator.token"
    token.write_text("example-operator-token\n")
    token.chmod(0o600)
    doc: dict[str, Any] = service_configs.qrmid_config(site, service)
    doc.update(secrets_file=str(secrets), operator_token_file=str(token), database=str(tmp_path / "q.sqlite"))
    doc.pop("tls", None)  # certificates are the rehearsal's; the QRMI part is what is checked here
    config = tmp_path / "config.json"
    config.write_text(json.dumps(doc))
    result = _run([str(NODE_BIN / "qrmid"), "--check", "--config", str(config)])
    assert result.returncode == 0, result.stderr
    assert f"{len(doc['resources'])} QPU resources" in result.stdout


@needs_node_env
def test_the_emulator_accepts_each_hosts_configuration(site: Site, tmp_path: Path) -> None:
    hosts = [h for h in site.hosts_with(HostRole.emulator)]
    checked = 0
    for host in hosts:
        doc = service_configs.rollout_emulator_config(site, host, _secret)
        if not doc["twins"]:
            continue
        doc["state_dir"] = str(tmp_path / host.name)
        path = tmp_path / f"{host.name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        result = _run([str(NODE_BIN / "qpu-emulator"), "--check", "--config", str(path)])
        assert result.returncode == 0, result.stderr
        # every twin can be used with the credentials qrmid holds for its QPU
        for twin in doc["twins"]:
            creds = twin["credentials"]
            assert creds["api_keys"] or creds["tokens"] or creds["clients"], twin["name"]
        checked += 1
    if not checked:
        pytest.skip(f"{site.site.name} serves no twin")


@pytest.mark.parametrize("embed", [False, True], ids=["brokered", "embedded-secrets"])
def test_qrmi_config_passes_the_rollouts_schema(site: Site, embed: bool) -> None:
    doc = service_configs.qrmi_config(site, secret=_secret if embed else None)
    errors = [e.message for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)]
    assert not errors
    assert [r["name"] for r in doc["resources"]] == [q.name for q in site.qpus if q.qrmi is not None]


@needs_node_env
def test_qrmid_refuses_a_resource_type_its_qrmi_lacks(tmp_path: Path) -> None:
    site = load_site(REPO / "inventories" / "lab" / "site.yaml")
    service = service_configs.rollout_qrmid_service(site)
    assert service is not None
    doc = service_configs.qrmid_config(site, service)
    doc.update(secrets_file=None, operator_token_file=None, database=str(tmp_path / "q.sqlite"))
    doc.pop("tls", None)
    doc["resources"][0]["resource_type"] = "NoSuchResourceType"
    config = tmp_path / "config.json"
    config.write_text(json.dumps(doc))
    result = _run([str(NODE_BIN / "qrmid"), "--check", "--config", str(config)])
    assert result.returncode == 2
    assert doc["resources"][0]["name"] in result.stderr and "NoSuchResourceType" in result.stderr
