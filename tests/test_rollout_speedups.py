"""The rollout's speed-ups keep Ansible's semantics: the package facts module and the strategy."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLAYBOOK_BIN = Path(sys.executable).parent / "ansible-playbook"


def _load_module(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dpkg_package_facts_keeps_only_installed_packages() -> None:
    facts = _load_module(REPO / "plugins/modules/dpkg_package_facts.py")
    out = (
        "ii \tmunge\t0.5.15-2\tamd64\n"
        "rc \tslurmd\t22.05.8-4\tamd64\n"  # removed, config left: not installed
        "iU \tgcc\t4:12.2.0-3\tamd64\n"  # unpacked, not configured
        "ii \tlibc6\t2.36-9\tamd64\n"
        "ii \tlibc6\t2.36-9\ti386\n"
        "garbage line\n"
    )
    packages = facts.installed_packages(out)
    assert sorted(packages) == ["libc6", "munge"]
    assert packages["munge"] == [{"name": "munge", "version": "0.5.15-2", "arch": "amd64", "source": "apt"}]
    assert [p["arch"] for p in packages["libc6"]] == ["amd64", "i386"]


def _run_local_play(tmp_path: Path, mitogen: str) -> subprocess.CompletedProcess[str]:
    play = tmp_path / "play.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Gather the installed packages\n      dpkg_package_facts:\n"
        "    - name: Use them\n      ansible.builtin.assert:\n"
        "        that: ansible_facts.packages['dpkg'] | length >= 1\n"
    )
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "QPUSITE_MITOGEN": mitogen}
    return subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", "-c", "local", "-vvv", str(play)]
        + ["-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not Path("/usr/bin/dpkg-query").exists(), reason="needs a Debian host (dpkg-query)")
@pytest.mark.parametrize("mitogen", ["1", "0"])
def test_site_strategy_runs_plays_with_and_without_mitogen(tmp_path: Path, mitogen: str) -> None:
    result = _run_local_play(tmp_path, mitogen)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "failed=0" in result.stdout
    # Ansible's own connection plugin announces itself; under Mitogen it is replaced.
    plain_connection = "ESTABLISH LOCAL CONNECTION" in result.stdout
    if mitogen == "0" or importlib.util.find_spec("ansible_mitogen") is None:
        assert plain_connection
    else:
        assert not plain_connection
