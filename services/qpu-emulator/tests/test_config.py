"""The configuration file: what the role renders is checked by `qpu-emulator --check`;
mistakes name the field and exit 2 without starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from conftest import twins


def check(tmp_path: Path, doc: object) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return subprocess.run(
        [sys.executable, "-m", "qpu_emulator", "--check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_valid_config(tmp_path: Path) -> None:
    r = check(tmp_path, {"listen": {"host": "127.0.0.1", "port": 8480}, "twins": twins()})
    assert r.returncode == 0, r.stderr
    assert "3 twins" in r.stdout


def test_twin_field_is_named(tmp_path: Path) -> None:
    bad = twins()
    bad[0]["num_qubits"] = 0
    r = check(tmp_path, {"twins": bad})
    assert r.returncode == 2
    assert "twins.0.num_qubits" in r.stderr


def test_coupling_map_outside_the_twin(tmp_path: Path) -> None:
    bad = twins()
    bad[0]["coupling_map"] = [[0, 9]]
    r = check(tmp_path, {"twins": bad})
    assert r.returncode == 2 and "coupling_map pair [0, 9]" in r.stderr


def test_neutral_atom_twin_needs_a_device(tmp_path: Path) -> None:
    bad = twins()
    bad[2]["pulser_device"] = None
    r = check(tmp_path, {"twins": bad})
    assert r.returncode == 2 and "needs pulser_device" in r.stderr


def test_unknown_key_and_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    r = check(tmp_path, {"twins": [], "listen_adress": "x"})
    assert r.returncode == 2 and "listen_adress" in r.stderr
    r = check(tmp_path, "twins: [\n")
    assert r.returncode == 2 and "not valid YAML" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "qpu_emulator", "--check", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_duplicate_backend_names(tmp_path: Path) -> None:
    bad = twins()
    bad[1]["backend_name"] = bad[0]["backend_name"]
    r = check(tmp_path, {"twins": bad})
    assert r.returncode == 2 and "used twice" in r.stderr
