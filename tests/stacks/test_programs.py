"""The programs' entry points (stacks/*/__main__.py, what the pulumi CLI runs)
executed under the mocks: they find the site through the stack setting
qpusite:siteFile, read their secrets from stack config and export what
`qpusite cloud up` turns into cloud-outputs.json."""

from __future__ import annotations

import runpy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from tests.stacks.conftest import HYBRID, OVH_CLOUD, REPO, RecordingMocks, settled


def site_with_key(tmp_path: Path, source: Path, key: Path) -> Path:
    target = tmp_path / source.parent.name
    target.mkdir()
    doc = yaml.safe_load(source.read_text())
    shutil.copy(key, target / "admin.pub")
    doc["cloud"]["ssh_public_key_file"] = "admin.pub"
    (target / "site.yaml").write_text(yaml.safe_dump(doc))
    return target / "site.yaml"


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Stack outputs as the program exports them (mocks have no root stack to hold them)."""
    collected: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: collected.__setitem__(name, value))
    yield collected
    pulumi.runtime.set_all_config({})


def run_program(program: str, config: dict[str, str], secret_keys: list[str] | None = None) -> None:
    pulumi.runtime.set_all_config(config, secret_keys)
    runpy.run_path(str(REPO / "stacks" / program / "__main__.py"), run_name="__main__")


@pulumi.runtime.test
def test_ovh_program_entry_point(mocks: RecordingMocks, exports, tmp_path, ssh_public_key_file):
    site_file = site_with_key(tmp_path, OVH_CLOUD, ssh_public_key_file)
    run_program("ovh", {"qpusite:siteFile": str(site_file)})
    key = ssh_public_key_file.read_text().strip()

    def check(values: list[Any]) -> None:
        hosts = values[0]
        assert set(exports) == {
            "hosts",
            "network_id",
            "gateway_public_address",
            "kubeconfig",
            "object_storage_container",
        }
        assert sorted(hosts) == ["c1", "c2", "ctl", "emu1", "qgw"]
        assert mocks.of_type("openstack:compute/keypair:Keypair")[0].inputs["publicKey"] == key

    return settled(exports["hosts"]).apply(check)


@pulumi.runtime.test
def test_hybrid_program_takes_its_link_keys_from_stack_secrets(
    mocks: RecordingMocks, exports, tmp_path, ssh_public_key_file
):
    site_file = site_with_key(tmp_path, HYBRID, ssh_public_key_file)
    run_program(
        "ovh",
        {
            "qpusite:siteFile": str(site_file),
            "qpusite:wireguardPrivateKey": "from-stack-secret",
            "qpusite:wireguardPeerPublicKey": "peer-public",
        },
        secret_keys=["qpusite:wireguardPrivateKey"],
    )

    def check(_: Any) -> None:
        user_data = mocks.named("hybrid-vms-emu1").inputs["userData"]
        assert "PrivateKey = from-stack-secret" in user_data["value"]
        assert "4dabf18193072939515e22adb298388d" in user_data  # still a secret on the wire

    return settled(exports["gateway_public_address"]).apply(check)


@pulumi.runtime.test
def test_ovh_program_refuses_a_site_without_a_key(mocks: RecordingMocks, exports, tmp_path):
    target = tmp_path / "nokey"
    target.mkdir()
    doc = yaml.safe_load(OVH_CLOUD.read_text())
    doc["cloud"]["ssh_public_key_file"] = "missing.pub"
    (target / "site.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(pulumi.RunError, match="cloud.ssh_public_key_file"):
        run_program("ovh", {"qpusite:siteFile": str(target / "site.yaml")})
    assert not mocks.resources


@pulumi.runtime.test
def test_kubernetes_program_uses_the_managed_cluster_of_the_ovh_stack(
    mocks: RecordingMocks, exports, tmp_path, ssh_public_key_file
):
    site_file = site_with_key(tmp_path, OVH_CLOUD, ssh_public_key_file)
    run_program(
        "kubernetes",
        {"qpusite:siteFile": str(site_file), "qpusite:vault_cloud_sc_apikey": "k", "qpusite:mungeKey": "bXVuZ2U="},
        secret_keys=["qpusite:vault_cloud_sc_apikey", "qpusite:mungeKey"],
    )

    def check(values: list[Any]) -> None:
        assert values[0] == "qpusite"
        reference = mocks.of_type("pulumi:pulumi:StackReference")
        assert [r.inputs["name"] for r in reference] == [
            f"{pulumi.get_organization()}/qpusite-ovh/{pulumi.get_stack()}"
        ]
        provider = mocks.of_type("pulumi:providers:kubernetes")
        assert len(provider) == 1 and "kubeconfig" in provider[0].inputs
        children = [r for r in mocks.resources if r.type.startswith("kubernetes:")]
        assert len(children) == 20 and all("managed-cluster" in (r.provider or "") for r in children)

    return settled(exports["namespace"]).apply(check)
