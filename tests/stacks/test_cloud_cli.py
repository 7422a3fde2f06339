"""`qpusite cloud`: bad input is exit 2 naming the field or variable, a missing
pulumi CLI is exit 1 with how to install it — never a traceback — and
`config` shows the generated configuration without the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks.common import automation
from stacks.common.automation import PulumiCliMissing, config_values, plan, run
from tests.stacks.conftest import HYBRID, OVH_CLOUD, REPO

QPUSITE = Path(sys.executable).with_name("qpusite")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(QPUSITE), "cloud", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def site_with_key(tmp_path: Path, source: Path, key: Path) -> Path:
    target = tmp_path / source.parent.name
    target.mkdir()
    doc = yaml.safe_load(source.read_text())
    shutil.copy(key, target / "admin.pub")
    doc["cloud"]["ssh_public_key_file"] = "admin.pub"
    (target / "site.yaml").write_text(yaml.safe_dump(doc))
    return target


@pytest.fixture
def no_pulumi_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH and HOME hold no pulumi CLI, with every other input set."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "PULUMI_CONFIG_PASSPHRASE": "test-passphrase",
        "PULUMI_BACKEND_URL": (tmp_path / "state").as_uri(),
        "QPUSITE_WIREGUARD_PRIVATE_KEY": "cloud-private",
        "QPUSITE_WIREGUARD_PEER_PUBLIC_KEY": "onprem-public",
    }
    assert shutil.which("pulumi", path=env["PATH"]) is None
    return env


@pytest.mark.parametrize("action", ["preview", "up"])
def test_missing_pulumi_cli_is_a_clear_message_and_exit_1(tmp_path, no_pulumi_env, ssh_public_key_file, action):
    site_dir = site_with_key(tmp_path, HYBRID, ssh_public_key_file)
    run_ = cli(action, str(site_dir), env=no_pulumi_env)
    assert run_.returncode == 1, run_.stderr
    assert "pulumi CLI was not found" in run_.stderr
    assert "get.pulumi.com" in run_.stderr
    assert "Traceback" not in run_.stderr + run_.stdout
    assert not (site_dir / "cloud-outputs.json").exists()


def test_the_automation_api_failing_to_start_the_cli_is_the_same_message(
    tmp_path, no_pulumi_env, ssh_public_key_file, monkeypatch
):
    # the CLI looked present but cannot be run: Pulumi's own workspace raises, we translate
    site_dir = site_with_key(tmp_path, OVH_CLOUD, ssh_public_key_file)
    cloud_plan = plan(str(site_dir), "ovh", None, no_pulumi_env)
    monkeypatch.setattr(automation, "find_pulumi_cli", lambda _env: str(tmp_path / "gone" / "bin" / "pulumi"))
    with pytest.raises(PulumiCliMissing, match="get.pulumi.com"):
        run(cloud_plan, "preview", no_pulumi_env, on_output=lambda _line: None)


def test_missing_secrets_are_bad_input_naming_the_variables(tmp_path, no_pulumi_env, ssh_public_key_file):
    site_dir = site_with_key(tmp_path, HYBRID, ssh_public_key_file)
    env = {k: v for k, v in no_pulumi_env.items() if not k.startswith(("QPUSITE_", "PULUMI_CONFIG"))}
    run_ = cli("up", str(site_dir), env=env)
    assert run_.returncode == 2
    for name in ("QPUSITE_WIREGUARD_PRIVATE_KEY", "QPUSITE_WIREGUARD_PEER_PUBLIC_KEY", "PULUMI_CONFIG_PASSPHRASE"):
        assert name in run_.stderr
    assert "Traceback" not in run_.stderr


def test_an_onprem_site_is_bad_input(no_pulumi_env):
    run_ = cli("preview", "lab", env=no_pulumi_env)
    assert run_.returncode == 2
    assert "software.topology" in run_.stderr and "Traceback" not in run_.stderr


def test_destroy_needs_confirmation(no_pulumi_env):
    run_ = cli("destroy", "hybrid", env=no_pulumi_env)
    assert run_.returncode == 2 and "--yes" in run_.stderr


def test_config_shows_generated_settings_and_secret_sources_without_the_cli(
    tmp_path, no_pulumi_env, ssh_public_key_file
):
    site_dir = site_with_key(tmp_path, HYBRID, ssh_public_key_file)
    env = {**no_pulumi_env}
    del env["QPUSITE_WIREGUARD_PEER_PUBLIC_KEY"]
    run_ = cli("config", str(site_dir), env=env)
    assert run_.returncode == 0, run_.stderr
    lines = run_.stdout.splitlines()
    assert "openstack:region: GRA11" in lines
    assert "ovh:endpoint: ovh-eu" in lines
    secret_line = next(line for line in lines if line.startswith("qpusite:wireguardPrivateKey"))
    assert "secret" in secret_line and "(set)" in secret_line
    assert "cloud-private" not in run_.stdout  # a secret's value is never printed
    peer_line = next(line for line in lines if line.startswith("qpusite:wireguardPeerPublicKey"))
    assert "(unset)" in peer_line


def test_plan_carries_secrets_apart_from_plain_config(tmp_path, no_pulumi_env, ssh_public_key_file):
    site_dir = site_with_key(tmp_path, HYBRID, ssh_public_key_file)
    cloud_plan = plan(str(site_dir), "ovh", "prod", no_pulumi_env)
    assert cloud_plan.stack_name == "prod"
    assert cloud_plan.secrets == {"qpusite:wireguardPrivateKey": "cloud-private"}
    assert cloud_plan.plain_inputs == {"qpusite:wireguardPeerPublicKey": "onprem-public"}
    assert "cloud-private" not in repr(cloud_plan.config)
    assert cloud_plan.work_dir == REPO / "stacks" / "ovh"
    assert (cloud_plan.work_dir / "Pulumi.yaml").is_file()
    # the user's backend is kept; none is invented
    assert cloud_plan.env == {}
    default = plan(str(site_dir), "ovh", None, {k: v for k, v in no_pulumi_env.items() if k != "PULUMI_BACKEND_URL"})
    assert (
        default.env["PULUMI_BACKEND_URL"].startswith("file://")
        and os.sep + ".state" in default.env["PULUMI_BACKEND_URL"]
    )


def test_secrets_are_set_as_pulumi_secrets_and_nothing_else_is(tmp_path, no_pulumi_env, ssh_public_key_file):
    site_dir = site_with_key(tmp_path, HYBRID, ssh_public_key_file)
    values = config_values(plan(str(site_dir), "ovh", None, no_pulumi_env))
    secret = {k for k, v in values.items() if v.secret}
    assert secret == {"qpusite:wireguardPrivateKey"}
    assert values["qpusite:wireguardPrivateKey"].value == "cloud-private"
    assert values["openstack:region"].value == "GRA11" and not values["openstack:region"].secret
    assert set(values) == {
        "qpusite:siteFile",
        "openstack:region",
        "ovh:endpoint",
        "qpusite:wireguardPrivateKey",
        "qpusite:wireguardPeerPublicKey",
    }
