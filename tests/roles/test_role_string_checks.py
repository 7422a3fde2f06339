"""The roles refuse line-breaking and option-like strings on their own too (issue 11, finding 6).

The site model refuses them first; these checks hold when a role's variables are
set directly (group_vars, -e, another playbook). They run the assertions of
roles/slurm and roles/quantum_runtime against good and bad values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

PLAYBOOK = Path(__file__).with_name("check_string_inputs.yml")


def run(extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "localhost,", str(PLAYBOOK),
         "-e", json.dumps(extra)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )


def runtime(extras: list[str], prefix: str = "/opt/qpusite/runtime", version: str = "0.26.4") -> dict[str, Any]:
    return {"qpusite_runtime": {"qrmi_version": version, "extras": extras, "prefix": prefix}}


def test_good_values_pass() -> None:
    result = run({
        "qpusite_slurm_conf_overrides": {"TaskPlugin": "task/none", "SrunPortRange": "60001-63000", "X": 3},
        **runtime(["qiskit-aer[gpu]>=0.15,<1", "pulser-simulation"]),
    })
    assert result.returncode == 0, result.stdout[-2000:]
    no_bundle = run({**runtime([]), "quantum_runtime_ca_bundle": ""})
    assert no_bundle.returncode == 0, no_bundle.stdout[-2000:]


BAD = {
    "slurm value with a line break": {"qpusite_slurm_conf_overrides": {"TaskPlugin": "task/none\nSlurmUser=root"},
                                      **runtime([])},
    "slurm value with a space": {"qpusite_slurm_conf_overrides": {"TaskPlugin": "task/none SlurmUser=root"},
                                 **runtime([])},
    "slurm value with a comment": {"qpusite_slurm_conf_overrides": {"TaskPlugin": "x#y"}, **runtime([])},
    "slurm key with a space": {"qpusite_slurm_conf_overrides": {"Task Plugin": "x"}, **runtime([])},
    "pip option as extra": runtime(["--extra-index-url=https://evil.example/simple"]),
    "extra with a line break": runtime(["qiskit\n--extra-index-url=https://evil.example/simple"]),
    "URL requirement": runtime(["evil @ https://evil.example/e.whl"]),
    "version with an option": runtime([], version="0.26.4 --hash=sha256:00"),
    "prefix with shell text": runtime([], prefix="/opt/x; touch /tmp/pwned"),
    "relative prefix": runtime([], prefix="opt/x"),
    "prefix with dot-dot": runtime([], prefix="/opt/../etc"),
    "prefix with a line break": runtime([], prefix="/opt/x\n"),
    "CA bundle with shell text": {**runtime([]), "quantum_runtime_ca_bundle": "/etc/ssl/x'; touch /tmp/pwned; '"},
    "relative CA bundle": {**runtime([]), "quantum_runtime_ca_bundle": "ca.crt"},
    "CA bundle with dot-dot": {**runtime([]), "quantum_runtime_ca_bundle": "/etc/ssl/../../home/x/ca.crt"},
    "CA bundle with a line break": {**runtime([]), "quantum_runtime_ca_bundle": "/etc/ssl/ca.crt\n"},
}


@pytest.mark.parametrize("name", BAD)
def test_bad_values_fail(name: str) -> None:
    result = run(BAD[name])
    assert result.returncode != 0, name
    assert "Assertion failed" in result.stdout + result.stderr


OWN_ROLES = ("quantum_runtime", "slurm", "common", "accounts", "munge")


@pytest.mark.parametrize("role", OWN_ROLES)
def test_no_shell_task_interpolates_unquoted_values(role: str) -> None:
    """A command line built from variables runs as argv, or quotes every interpolation."""
    import yaml

    for path in sorted((REPO / "roles" / role / "tasks").glob("*.yml")):
        for task in yaml.safe_load(path.read_text()) or []:
            for module in ("ansible.builtin.shell", "shell", "ansible.builtin.command", "command"):
                if module not in task:
                    continue
                spec = task[module]
                line = spec if isinstance(spec, str) else (spec or {}).get("cmd", "")
                if "{{" not in str(line):
                    continue
                for expr in str(line).split("{{")[1:]:
                    assert "| quote" in expr.split("}}")[0], (
                        f"{path.relative_to(REPO)}: task {task.get('name')!r} interpolates "
                        f"{{{{{expr.split('}}')[0]}}}}} into a command line; use argv or '| quote'"
                    )
