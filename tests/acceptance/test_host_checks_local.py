"""Host checks run for real against this machine (QPUSITE_ACCEPT_TRANSPORT=local):
real dpkg, stat, ss and sockets — only the transport differs from a site."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from acceptance.checks.host_state import config_file, listening_addresses, package_installed
from acceptance.checks.params import FileParam, PackageParam
from acceptance.context import Context
from acceptance.expectations import ConfigFile
from acceptance.spec import CheckFailed, MissingComponent
from site_survey.model import Site


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch, lab_site: Site, tmp_path: Path) -> Iterator[Context]:
    monkeypatch.setenv("QPUSITE_ACCEPT_TRANSPORT", "local")
    lines: list[str] = []
    yield Context(site=lab_site, site_dir=tmp_path, log=lines.append)


def test_installed_package_passes_and_absent_one_is_a_missing_component(local: Context) -> None:
    assert "installed" in package_installed.body(local, PackageParam("ctl", "base", "dpkg"))
    with pytest.raises(MissingComponent, match="qrmid not deployed on ctl: package qpusite-no-such-pkg"):
        package_installed.body(local, PackageParam("ctl", "qrmid", "qpusite-no-such-pkg"))


def test_config_file_owner_and_mode(local: Context, tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("secret")
    path.chmod(0o600)
    owner = subprocess.run(["stat", "-c", "%U %G", str(path)], capture_output=True, text=True).stdout.split()
    ok = ConfigFile("munge", str(path), owner[0], owner[1], "0600")
    assert "0600" in config_file.body(local, FileParam("ctl", ok))
    too_open = ConfigFile("munge", str(path), owner[0], owner[1], "0400")
    with pytest.raises(CheckFailed, match="expected .* 0400"):
        config_file.body(local, FileParam("ctl", too_open))
    with pytest.raises(MissingComponent, match="no file"):
        config_file.body(local, FileParam("ctl", ConfigFile("munge", str(tmp_path / "absent"), "root", "root", "0400")))


def _listen(address: str) -> socket.socket:
    s = socket.socket()
    s.bind((address, 0))
    s.listen()
    return s


def test_listening_addresses_from_real_ss_output() -> None:
    loopback = _listen("127.0.0.1")
    wildcard = _listen("0.0.0.0")  # noqa: S104 - the case the check must flag
    try:
        out = subprocess.run(["ss", "-Htln"], capture_output=True, text=True, check=True).stdout
        assert listening_addresses(out, loopback.getsockname()[1]) == ["127.0.0.1"]
        assert listening_addresses(out, wildcard.getsockname()[1]) == ["0.0.0.0"]
    finally:
        loopback.close()
        wildcard.close()


def test_ipv6_and_scoped_addresses_are_parsed() -> None:
    out = "LISTEN 0 4096 [::]:9100 [::]:*\nLISTEN 0 128 [fe80::1%eth0]:22 [::]:*\nLISTEN 0 5 10.0.0.1:9100 0.0.0.0:*\n"
    assert listening_addresses(out, 9100) == ["[::]", "10.0.0.1"]
    assert listening_addresses(out, 22) == ["[fe80::1]"]
