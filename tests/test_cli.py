"""The qpusite command: exit codes and messages, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import LAB, REPO


def qpusite(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qpusite", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_validate_lab_succeeds() -> None:
    run = qpusite("validate", "lab")
    assert run.returncode == 0, run.stderr
    assert "lab: valid" in run.stdout and "3 QPU(s)" in run.stdout


def test_validate_bad_model_exits_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(LAB.read_text().replace("address: 10.77.0.12", "address: 10.77.0.11"))
    run = qpusite("validate", str(bad))
    assert run.returncode == 2
    assert "hosts[2].address" in run.stderr and "already used by host 'c1'" in run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_command_exits_2() -> None:
    run = qpusite("frobnicate")
    assert run.returncode == 2 and "invalid choice" in run.stderr


def test_no_command_prints_help_and_exits_2() -> None:
    run = qpusite()
    assert run.returncode == 2 and "validate" in run.stdout


def test_schema_is_json_with_descriptions() -> None:
    run = qpusite("schema", "--compact")
    assert run.returncode == 0
    schema = json.loads(run.stdout)
    assert schema["title"] == "qpusite site model"
    assert "floor_load_rating_kg_m2" in schema["$defs"]["Room"]["properties"]


def test_render_writes_files_without_secrets(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = qpusite("render", "lab", "--output", str(out))
    assert run.returncode == 0, run.stderr
    qrmi = json.loads((out / "qrmi_config.preview.json").read_text())
    names = [r["name"] for r in qrmi["resources"]]
    assert names == ["sc_twin", "FRESNEL", "spark"]
    env = qrmi["resources"][0]["environment"]
    assert env["QRMI_IBM_QCS_ENDPOINT"] == "https://10.77.0.20:8480/v1"  # lab turns TLS on
    assert env["QRMI_IBM_QCS_IAM_APIKEY"] == "<secret from vault_lab_sc_twin_apikey>"
    assert (out / "slurm-licenses.txt").read_text() == "Licenses=sc_twin:2,FRESNEL:1,spark:1\n"  # sc_twin: max_jobs


def test_render_bad_model_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text(LAB.read_text().replace("slots: 1", "slots: 0", 1))
    out = tmp_path / "out"
    run = qpusite("render", str(bad), "--output", str(out))
    assert run.returncode == 2
    assert not out.exists()
