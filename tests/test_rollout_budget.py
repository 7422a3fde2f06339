"""Hosts that are down or drained: the model's budget, the first play's verdict and the run's exit status."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from site_survey import SiteModelError, derive, load_site
from tests.conftest import REPO

PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILTERS = _load(REPO / "plugins/filter/qpusite_rollout.py")
GROUPS = {"controller": ["ctl"], "login": ["ctl"], "compute": ["c1", "c2", "c3", "c4"], "qpu_access": ["qgw"]}


def test_budget_counts_and_percentages_come_from_the_model(tmp_path: Path, lab: dict[str, Any]) -> None:
    lab["rollout"] = {"may_be_unavailable": {"compute": "50%", "login": 3}}
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(lab, sort_keys=False))
    inv = derive.inventory(load_site(tmp_path / "site.yaml"), str(tmp_path))
    # lab: 2 compute hosts (50% -> 1), 1 login host (3 capped at 1)
    assert inv["all"]["vars"]["qpusite_rollout_may_be_unavailable"] == {"compute": 1, "login": 1}


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"controller": 1}, "rollout.may_be_unavailable.controller"),
        ({"compute": "150%"}, "rollout.may_be_unavailable.compute"),
        ({"compute": -1}, "rollout.may_be_unavailable.compute"),
    ],
)
def test_a_budget_for_a_required_role_or_out_of_range_is_refused(
    tmp_path: Path, lab: dict[str, Any], budget: dict[str, Any], field: str
) -> None:
    lab["rollout"] = {"may_be_unavailable": budget}
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(lab, sort_keys=False))
    with pytest.raises(SiteModelError) as err:
        load_site(tmp_path / "site.yaml")
    assert field in str(err.value)


def test_compute_within_budget_is_tolerated() -> None:
    verdict = FILTERS.unavailability({"c2": "is unreachable"}, GROUPS, {"compute": 1})
    assert verdict == {"tolerated": {"c2": "is unreachable"}, "problems": []}


def test_over_budget_names_every_missing_host_and_the_field() -> None:
    verdict = FILTERS.unavailability({"c2": "is unreachable", "c3": "is drained"}, GROUPS, {"compute": 1})
    assert verdict["tolerated"] == {}
    assert "2 of 4 compute hosts are unavailable (c2, c3)" in verdict["problems"][0]
    assert "rollout.may_be_unavailable.compute" in verdict["problems"][0]


@pytest.mark.parametrize("host", ["ctl", "qgw", "stray"])
def test_controller_access_and_unknown_hosts_are_always_required(host: str) -> None:
    verdict = FILTERS.unavailability({host: "is unreachable"}, GROUPS, {"compute": 4, "login": 4})
    assert verdict["tolerated"] == {}
    assert verdict["problems"][0].startswith(f"Host {host} is unreachable; it is required")


def test_no_budget_keeps_todays_rule_every_host_is_required() -> None:
    verdict = FILTERS.unavailability({"c2": "is unreachable"}, GROUPS, None)
    assert verdict["problems"] and "required (compute)" in verdict["problems"][0]


def test_only_admin_drained_nodes_count_as_drained() -> None:
    lines = ["c1|idle|none", "c2|drained|disk swap", "c3|draining|", "c4|down*|Not responding", "zz|drained|x"]
    drained = FILTERS.drained_nodes(lines, ["c1", "c2", "c3", "c4"])
    assert sorted(drained) == ["c2", "c3"]
    assert "disk swap" in drained["c2"] and "no reason given" in drained["c3"]


@pytest.mark.parametrize(
    ("run_tags", "skip_tags", "expected"),
    [
        (["all"], [], ["slurm", "qrmid", "prometheus"]),
        (["slurm:configure"], [], ["slurm"]),
        (["monitoring"], [], ["prometheus"]),
        (["validate"], [], ["slurm", "qrmid", "prometheus"]),
        (["all"], ["qrmid"], ["slurm", "prometheus"]),
    ],
)
def test_a_tagged_run_validates_the_roles_it_reaches(
    run_tags: list[str], skip_tags: list[str], expected: list[str]
) -> None:
    roles = ["slurm", "qrmid", "prometheus"]
    assert FILTERS.selected_roles(roles, run_tags, skip_tags, {"monitoring": ["prometheus"]}) == expected


def test_strategy_turns_only_tolerated_unreachable_hosts_into_success() -> None:
    strategy = REPO / "plugins/strategy/qpusite_linear.py"
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    code = (
        "import importlib.util, sys; s = importlib.util.spec_from_file_location('s', sys.argv[1]); "
        "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); f = m.tolerated_outcome; "
        "print(f(4, {'c2'}, {'c2'}, False), f(4, {'c2'}, {'c2'}, True), f(4, {'c2', 'ctl'}, {'c2'}, False), "
        "f(2, set(), set(), True), f(4, {'c2'}, set(), False))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(strategy)], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.split() == ["0", "2", "4", "2", "4"]


def _reach(tmp_path: Path, budget: str) -> subprocess.CompletedProcess[str]:
    """playbooks/reach.yml on two hosts that are this machine (local connection, read-only tasks) and one that
    no one answers for (127.0.0.1 port 1), then a play that prints what the roles would be told."""
    local = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    (tmp_path / "hosts.ini").write_text(
        f"ctl {local}\nc1 {local}\nc2 ansible_host=127.0.0.1 ansible_port=1 ansible_user=nobody\n"
        f"[all:vars]\nqpusite_rollout_may_be_unavailable={budget}\n"
        "[controller]\nctl\n[compute]\nc1\nc2\n[munge:children]\ncontroller\ncompute\n"
        "[slurm:children]\ncontroller\ncompute\n"
    )
    (tmp_path / "run.yml").write_text(
        f"- import_playbook: {REPO / 'playbooks/reach.yml'}\n"
        "- name: After\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: \"left out: {{ qpusite_rollout_unavailable | list }}\"}\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(tmp_path / "hosts.ini"), str(tmp_path / "run.yml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )


def test_an_unreachable_compute_node_within_budget_does_not_fail_the_run(tmp_path: Path) -> None:
    result = _reach(tmp_path, '{"compute": 1}')
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert '"msg": "qpusite-unavailable: c2"' in out
    assert "left out: ['c2']" in out
    # c2 is out of the later play: only ctl and c1 ran it
    after = out.split("PLAY [After]")[1]
    assert "[c2]" not in after.split("PLAY RECAP")[0]


def test_the_same_node_without_a_budget_stops_the_run_before_any_change(tmp_path: Path) -> None:
    result = _reach(tmp_path, "{}")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Host c2 is unreachable as nobody@127.0.0.1:1" in out
    assert "PLAY [After]" not in out
