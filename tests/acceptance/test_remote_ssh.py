"""acceptance/remote.py reaches hosts as the rollout does: its connection settings and strict host keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from acceptance.remote import Remote
from site_survey.loader import parse_site
from tests.conftest import LAB


def _remote(tmp_path: Path) -> Remote:
    site = parse_site(yaml.safe_load(Path(LAB).read_text()))
    site_dir = tmp_path / "lab"
    site_dir.mkdir()
    shutil.copy(LAB, site_dir / "site.yaml")
    return Remote(site, site_dir)


def test_rehearsal_sites_check_keys_against_their_own_known_hosts(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QPUSITE_ACCEPT_TRANSPORT", raising=False)
    monkeypatch.delenv("QPUSITE_SSH_RELAXED", raising=False)
    remote = _remote(tmp_path)
    argv = remote.argv(remote.host("c1"), "true")
    assert "StrictHostKeyChecking=yes" in argv and "StrictHostKeyChecking=no" not in argv
    assert not any(a.startswith("UserKnownHostsFile") for a in argv)  # no rehearsal yet: the operator's file
    known = remote.site_dir / ".rehearsal" / "known_hosts"
    known.parent.mkdir()
    known.write_text("")
    argv = remote.argv(remote.host("c1"), "true")
    assert f"UserKnownHostsFile={known}" in argv and "StrictHostKeyChecking=yes" in argv
    monkeypatch.setenv("QPUSITE_SSH_RELAXED", "1")
    assert "StrictHostKeyChecking=no" in remote.argv(remote.host("c1"), "true")


def test_site_wide_connection_defaults_reach_acceptance_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QPUSITE_ACCEPT_TRANSPORT", raising=False)
    data = yaml.safe_load(Path(LAB).read_text())
    for host in data["hosts"]:
        host.pop("connection", None)
    data["rollout"] = {**data.get("rollout", {}), "connection": {
        "user": "deploy", "port": 2222, "become": True, "private_key_file": ".rehearsal/id_ed25519",
        "proxy_jump": "bastion.example.org"}}
    site = parse_site(data)
    remote = Remote(site, tmp_path)
    argv = remote.argv(remote.host("c1"), "hostname")
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-J") + 1] == "bastion.example.org"
    assert argv[-2] == "deploy@10.77.0.11"
    assert argv[-1].startswith("sudo -n sh -c ")
