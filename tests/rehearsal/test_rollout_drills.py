"""The rehearsal's side of a rollout with hosts down, pinned host keys and other login users."""

from __future__ import annotations

from pathlib import Path

from rehearsal.hostkeys import host_pattern, known_hosts_text, parse_public_keys
from rehearsal.hosts import KEPT_STOPPED, authorise_script, container_specs, ensure_containers
from rehearsal.network import site_network
from rehearsal.recap import HostRecap, parse_failures, parse_unavailable
from rehearsal.rollout import RolloutResult
from rehearsal.site_up import UpReport
from rehearsal.smoke import summarise_targets

OUTPUT = """
TASK [Name the hosts this run goes without] ************************************
ok: [ctl] => {
    "msg": "qpusite-unavailable: c2"
}

TASK [Leave the hosts this run goes without out of the rest of the run] ********
fatal: [c2]: UNREACHABLE! => {"changed": false, "unreachable": true}

TASK [Render slurm.conf] *******************************************************
fatal: [c1]: FAILED! => {"msg": "boom"}
"""


def test_the_hosts_a_run_went_without_are_read_and_not_counted_as_failures() -> None:
    assert parse_unavailable(OUTPUT) == ["c2"]
    assert parse_failures(OUTPUT) == ['Render slurm.conf: fatal: [c1]: FAILED! => {"msg": "boom"}']


def _report(unavailable: list[str], unreachable_host: str) -> UpReport:
    recap = {
        "ctl": HostRecap("ctl", {"ok": 10}),
        unreachable_host: HostRecap(unreachable_host, {"ok": 1, "unreachable": 1}),
    }
    rollout = RolloutResult(0, recap, 1.0, Path("log"), [], unavailable)
    return UpReport("lab", rollout=rollout)


def test_a_tolerated_unreachable_host_keeps_the_site_healthy_an_untolerated_one_does_not() -> None:
    assert _report(["c2"], "c2").ok
    assert not _report(["c2"], "c1").ok
    assert not _report([], "c2").ok


def test_prometheus_targets_of_hosts_left_out_do_not_count() -> None:
    body = {"data": {"activeTargets": [
        {"labels": {"job": "node", "instance": "10.77.0.11:9100"}, "health": "up"},
        {"labels": {"job": "node", "instance": "10.77.0.12:9100"}, "health": "down"},
    ]}}
    assert summarise_targets(body)[0] is False
    assert summarise_targets(body, {"10.77.0.12"}) == (True, "1 target(s) up")


def test_host_keys_are_parsed_strictly_and_written_per_address_and_port() -> None:
    text = "ssh-ed25519 AAAAC3Nz root@c1\nssh-rsa AAAAB3Nza== root@c1\n# comment\nbogus line here\n"
    keys = parse_public_keys(text)
    assert keys == ["ssh-ed25519 AAAAC3Nz", "ssh-rsa AAAAB3Nza=="]
    patterns = {"c1": host_pattern("10.77.0.11", 22), "c2": host_pattern("10.77.0.12", 2222)}
    written = known_hosts_text({"c1": keys[:1], "c2": keys[1:]}, patterns)
    assert written == "10.77.0.11 ssh-ed25519 AAAAC3Nz\n[10.77.0.12]:2222 ssh-rsa AAAAB3Nza==\n"


def test_a_model_that_changes_the_login_user_keeps_the_containers(make_site) -> None:  # type: ignore[no-untyped-def]
    root = container_specs(make_site(), site_network(make_site()), "img", host_cpus=2)[0]

    def deploy(doc):  # type: ignore[no-untyped-def]
        for host in doc["hosts"]:
            host.pop("connection", None)
        doc["rollout"] = {"connection": {"user": "deploy", "become": True, "private_key_file": ".rehearsal/id_ed25519"}}

    site = make_site(deploy)
    other = container_specs(site, site_network(site), "img", host_cpus=2)[0]
    assert (other.user, other.become) == ("deploy", True)
    assert other.spec_hash() == root.spec_hash()
    script = authorise_script(other)
    assert "useradd" in script and "deploy ALL=(ALL) NOPASSWD: ALL" in script


class _FakePodman:
    def __init__(self, states: list[dict[str, object]]) -> None:
        self.states = states
        self.calls: list[list[str]] = []

    def json(self, args: list[str]) -> list[dict[str, object]]:
        return self.states

    def run(self, args: list[str], **_: object) -> None:
        self.calls.append(list(args))


def test_keep_stopped_leaves_a_stopped_container_alone(make_site) -> None:  # type: ignore[no-untyped-def]
    site = make_site()
    specs = container_specs(site, site_network(site), "img", host_cpus=2)
    states = [
        {"Names": [s.name], "State": "exited" if s.host == "c2" else "running",
         "Labels": {"qpusite.spec": s.spec_hash()}}
        for s in specs
    ]
    podman = _FakePodman(states)
    actions = ensure_containers(podman, site, specs, "ssh-ed25519 AAAA test", keep_stopped=True)  # type: ignore[arg-type]
    assert actions["c2"] == KEPT_STOPPED and actions["c1"] == "reused"
    assert not [c for c in podman.calls if c[0] == "start" or "qpusite-lab-c2" in c]
    podman = _FakePodman(states)
    assert ensure_containers(podman, site, specs, "key")["c2"] == "started"  # type: ignore[arg-type]
