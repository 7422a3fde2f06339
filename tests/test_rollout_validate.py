"""site.yml's validate plays: every role's checks on every host before any change, all problems at once.

The lab model's hosts all run here on this machine (local connection): the reach and validate
plays only read (ping, facts, package list, assertions), nothing is changed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import LAB, REPO

PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"


def test_two_roles_wrong_on_every_host_are_reported_together_and_nothing_runs(tmp_path: Path) -> None:
    playbook = tmp_path / "validate-only.yml"
    playbook.write_text(
        f"- import_playbook: {REPO / 'playbooks/reach.yml'}\n- import_playbook: {REPO / 'playbooks/validate.yml'}\n"
        "- name: After validation\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: changed something}\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [
            str(PLAYBOOK_BIN), "-i", str(LAB), str(playbook), "--limit", "ctl,c1",
            "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}",
            # two roles' inputs made wrong: both must be reported, with the host
            "-e", "prometheus_listen_address=0.0.0.0", "-e", "node_exporter_listen_address=0.0.0.0",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "PLAY [After validation]" not in out
    report = out.split("Stop before any change when a role's inputs are wrong")[-1]
    assert "validation problem(s), nothing was changed" in report
    assert "ctl / prometheus / Check that Prometheus does not listen on every address" in report
    for host in ("ctl", "c1"):
        assert f"{host} / node_exporter / Check that the exporter does not listen on every address" in report, host
