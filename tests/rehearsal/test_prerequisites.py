from __future__ import annotations

import pytest

from rehearsal.errors import RehearsalInputError
from rehearsal.prerequisites import REQUIREMENTS, check_prerequisites, install_command, missing_requirements


def which_without(*absent: str):
    return lambda name: None if name in absent else f"/usr/bin/{name}"


def test_everything_present_passes_as_root(monkeypatch):
    monkeypatch.setattr("rehearsal.prerequisites.Path.exists", lambda self: True)
    check_prerequisites(which=which_without(), uid=0)


def test_missing_tools_name_packages_and_the_exact_install_command(monkeypatch):
    monkeypatch.setattr("rehearsal.prerequisites.Path.exists", lambda self: True)
    with pytest.raises(RehearsalInputError) as caught:
        check_prerequisites(which=which_without("podman", "debootstrap"), uid=0)
    message = str(caught.value)
    assert "  - podman (" in message and "  - debootstrap (" in message
    assert "apt-get install -y --no-install-recommends podman debootstrap" in message
    assert "runc" not in message.split("install them with")[1]


def test_cni_plugins_are_probed_by_file(monkeypatch):
    monkeypatch.setattr("rehearsal.prerequisites.Path.exists", lambda self: False)
    missing = missing_requirements(which=which_without())
    assert [r.package for r in missing] == ["containernetworking-plugins"]


def test_non_root_is_refused_with_reason(monkeypatch):
    monkeypatch.setattr("rehearsal.prerequisites.Path.exists", lambda self: True)
    with pytest.raises(RehearsalInputError, match="run it as root"):
        check_prerequisites(which=which_without(), uid=1000)


def test_install_command_lists_every_requirement_in_order():
    assert install_command(list(REQUIREMENTS)).endswith(" ".join(r.package for r in REQUIREMENTS))


def test_apt_list_for_bootstrap_matches_the_checked_packages():
    from pathlib import Path

    listed = {
        line.split()[0]
        for line in (Path(__file__).resolve().parents[2] / "tools/apt/rehearsal.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == {r.package for r in REQUIREMENTS}
