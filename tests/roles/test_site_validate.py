"""site.yml's first play stops a rollout early, with a message that says what to fix.

Both cases fail before any host is changed; the unreachable host is 127.0.0.1 on a
port nothing listens on, so no traffic leaves this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def _run(inventory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(REPO / "site.yml")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )


def test_a_missing_group_is_named_with_what_to_do(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[controller]\nctl ansible_host=127.0.0.1 ansible_port=1\n")
    result = _run(inventory)
    assert result.returncode != 0
    assert "Inventory group 'compute' is missing or empty: give at least one host" in result.stdout + result.stderr
    assert "PLAY [Base system]" not in result.stdout


def test_an_unreachable_host_stops_the_run_naming_host_and_address(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    groups = "\n".join(f"[{g}]\nbad" for g in ("controller", "compute", "munge", "slurm"))
    inventory.write_text(
        f"bad ansible_host=127.0.0.1 ansible_port=1 ansible_user=nobody\n{groups}\n"
    )
    result = _run(inventory)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Host bad is unreachable as nobody@127.0.0.1:1" in out
    assert "it is required (controller, compute)" in out
    assert "hosts[].address, hosts[].connection and rollout.connection in" in out
    assert "PLAY [Base system]" not in result.stdout
