"""Tags per role and stage: a tagged run of site.yml selects only that component's tasks.

`ansible-playbook --list-tasks` against the lab inventory: no host is contacted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LAB, REPO

PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
_TASK = re.compile(r"^\s{6}(?:(?P<role>[a-z_]+) : )?(?P<name>.+?)\tTAGS: \[(?P<tags>[^\]]*)\]$")


def list_tasks(*args: str) -> list[tuple[str | None, str, set[str]]]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", str(LAB), str(REPO / "site.yml"), "--list-tasks", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    found = []
    for line in done.stdout.splitlines():
        match = _TASK.match(line)
        if match:
            tags = {t.strip() for t in match["tags"].split(",") if t.strip()}
            found.append((match["role"], match["name"], tags))
    assert found, done.stdout[-2000:]
    return found


@pytest.mark.parametrize("tag", ["slurm:configure", "slurm", "qrmid:configure", "monitoring"])
def test_a_tagged_run_selects_only_that_components_tasks(tag: str) -> None:
    tasks = list_tasks("--tags", tag)
    changing = [(role, name, tags) for role, name, tags in tasks if "always" not in tags]
    assert changing, f"--tags {tag} selects no task"
    for role, name, tags in changing:
        assert tag in tags, (role, name, tags)
        if tag != "monitoring":
            assert role == tag.split(":")[0], (role, name, tags)
    # the only 'always' tasks are reach/validate plays, role validation and argument checks, and the
    # facts the slurm role reads from the SPANK role: nothing that installs, writes or restarts
    for role, name, tags in tasks:
        if "always" in tags and role is not None:
            assert name.startswith(("Validat", "Publish the plugstack entry")), (role, name)


def test_every_role_task_carries_its_role_and_stage_tag() -> None:
    for role, name, tags in list_tasks():
        if role is None or "always" in tags:
            continue
        assert role in tags and any(t.startswith(f"{role}:") for t in tags), (role, name, tags)


def test_every_role_is_validated_before_the_first_change() -> None:
    validate = (REPO / "playbooks" / "validate.yml").read_text()
    looped = set(re.findall(r"loop: \[([^\]]*)\]", validate))
    names = {n.strip() for group in looped for n in group.split(",")}
    assert names == set(ROLES), f"validated {sorted(names)}, roles {ROLES}: add the role to playbooks/validate.yml"
