from __future__ import annotations

import subprocess

import pytest

from rehearsal.errors import RehearsalError, RehearsalInputError
from rehearsal.hosts import (
    SPEC_LABEL,
    authorise_script,
    container_specs,
    hosts_file,
    remove_containers,
    run_arguments,
)
from rehearsal.network import site_network
from rehearsal.site_up import require_running_site


def specs_for(site, cpus=2):
    return container_specs(site, site_network(site), "localhost/qpusite-node:abc", host_cpus=cpus)


def test_one_container_per_host_at_its_model_address(make_site):
    specs = specs_for(make_site())
    assert [(s.name, s.hostname, s.address) for s in specs] == [
        ("qpusite-lab-ctl", "ctl", "10.77.0.10"),
        ("qpusite-lab-c1", "c1", "10.77.0.11"),
        ("qpusite-lab-c2", "c2", "10.77.0.12"),
        ("qpusite-lab-qgw", "qgw", "10.77.0.20"),
    ]


def test_limits_come_from_the_model_and_cpus_are_capped_at_the_machine(make_site):
    by_host = {s.host: s for s in specs_for(make_site(), cpus=1)}
    assert by_host["c1"].cpus == 1.0  # model says 2, machine has 1
    assert by_host["qgw"].memory_mb == 2048
    args = run_arguments(by_host["qgw"], "lab")
    assert args[args.index("--memory") + 1] == "2048m"
    assert args[args.index("--cpus") + 1] == "1"
    assert args[args.index("--ip") + 1] == "10.77.0.20"
    assert args[args.index("--network") + 1] == "qpusite-lab"
    assert "--systemd=always" in args and "--no-hosts" in args
    assert args[-1] == "localhost/qpusite-node:abc"


def test_spec_hash_tracks_what_the_container_was_made_from(make_site):
    site = make_site()
    first = specs_for(site)[0]

    def move(doc):
        doc["hosts"][0]["address"] = "10.77.0.30"

    moved = specs_for(make_site(move))[0]
    assert first.spec_hash() == specs_for(site)[0].spec_hash()
    assert first.spec_hash() != moved.spec_hash()


def test_hosts_file_lists_every_host_with_its_fqdn(make_site):
    text = hosts_file(make_site())
    assert "10.77.0.10\tctl.lab.internal ctl" in text
    assert "10.77.0.20\tqgw.lab.internal qgw" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")


def test_root_key_authorisation(make_site):
    script = authorise_script(specs_for(make_site())[0])
    assert "home=/root" in script and "authorized_keys" in script
    assert "useradd" not in script and "sudoers" not in script


def test_other_users_are_created_with_sudo_when_the_model_escalates(make_site):
    def edit(doc):
        doc["hosts"][1]["connection"] = {"user": "deploy", "become": True, "port": 2222}

    script = authorise_script(specs_for(make_site(edit))[1])
    assert "useradd --create-home --shell /bin/bash deploy" in script
    assert "deploy ALL=(ALL) NOPASSWD: ALL" in script
    assert "Port 2222" in script


class _ListingPodman:
    """Answers `podman ps --format json` with the given containers; anything else is a test failure."""

    def __init__(self, listing: list[dict[str, object]]):
        self.listing = listing

    def json(self, args: list[str]) -> list[dict[str, object]]:
        assert args[0] == "ps"
        return self.listing


def _listing(specs, *, running=True, drift=None):  # type: ignore[no-untyped-def]
    return [
        {
            "Names": [s.name],
            "State": "running" if running else "exited",
            "Labels": {SPEC_LABEL: "other" if s.host == drift else s.spec_hash()},
        }
        for s in specs
    ]


def test_check_mode_needs_every_host_running_as_specified(make_site):
    site = make_site()
    specs = container_specs(site, site_network(site), "localhost/qpusite-node:test")
    require_running_site(_ListingPodman(_listing(specs)), site, specs)  # type: ignore[arg-type]

    with pytest.raises(RehearsalInputError, match=r"host\(s\) c1 .*run `qpusite up lab` first"):
        require_running_site(_ListingPodman(_listing(specs, drift="c1")), site, specs)  # type: ignore[arg-type]
    with pytest.raises(RehearsalInputError, match=r"ctl, c1, c2, qgw"):
        require_running_site(_ListingPodman(_listing(specs, running=False)), site, specs)  # type: ignore[arg-type]
    with pytest.raises(RehearsalInputError, match=r"qgw"):
        require_running_site(_ListingPodman(_listing(specs[:-1])), site, specs)  # type: ignore[arg-type]


class _StubbornPodman:
    """podman as a loaded machine answers: the first `rm --force` reports a container it could not
    stop in time (after SIGKILLing it); the next removes it."""

    def __init__(self, failures: int):
        self.failures, self.calls = failures, []

    def run(self, args, *, check=True, timeout=0):
        self.calls.append(list(args))
        if self.failures:
            self.failures -= 1
            if check:
                raise RehearsalError("`podman rm` failed (125): could not be stopped")
            return subprocess.CompletedProcess(args, 125, "", "given PIDs did not die within timeout")
        return subprocess.CompletedProcess(args, 0, "", "")


def test_removal_is_tried_once_more_when_podman_could_not_stop_a_container(monkeypatch):
    monkeypatch.setattr("rehearsal.hosts.RM_RETRY_PAUSE_S", 0)
    podman = _StubbornPodman(failures=1)
    remove_containers(podman, ["qpusite-national-qgw1", "not-ours"])
    assert podman.calls == [["rm", "--force", "--time", "10", "qpusite-national-qgw1"],
                            ["rm", "--force", "--ignore", "--time", "10", "qpusite-national-qgw1"]]


def test_a_second_failure_is_reported(monkeypatch):
    monkeypatch.setattr("rehearsal.hosts.RM_RETRY_PAUSE_S", 0)
    with pytest.raises(RehearsalError):
        remove_containers(_StubbornPodman(failures=2), ["qpusite-national-qgw1"])
