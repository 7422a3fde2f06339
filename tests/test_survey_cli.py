"""`qpusite survey` and `qpusite profiles`: exit codes, output, nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from qpusite.cli import main
from tests.conftest import LAB


def test_lab_has_no_blocker_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "lab"
    assert main(["survey", "lab", "--output", str(out)]) == 0
    assert "0 blocker(s)" in capsys.readouterr().out
    assert (out / "survey.html").is_file()


def test_national_has_a_blocker_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "national"
    assert main(["survey", "national", "--output", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "1 blocker(s)" in printed and "cw-quantum" in printed
    assert len(list((out / "safety").glob("*.md"))) == 3  # one per QPU room


def test_bad_model_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = yaml.safe_load(LAB.read_text())
    doc["qpus"][0]["system"] = "no-such-system"
    bad = tmp_path / "site.yaml"
    bad.write_text(yaml.safe_dump(doc))
    out = tmp_path / "reports"
    assert main(["survey", str(bad), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "qpus[0].system" in err and "known systems" in err and "Traceback" not in err
    assert not out.exists()


def test_unknown_format_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["survey", "lab", "--output", str(tmp_path / "x"), "--format", "pdf"])
    assert caught.value.code == 2
    assert "unknown format pdf" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_output_that_is_a_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["survey", "lab", "--output", str(blocker)]) == 2
    assert "cannot write reports" in capsys.readouterr().err


def test_profiles_lists_modalities_and_systems(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    for name in ("superconducting", "neutral-atom", "photonic", "trapped-ion", "annealer", "dwave-2x"):
        assert name in out


def test_profiles_show_prints_sources(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--show", "dwave-2x"]) == 0
    out = capsys.readouterr().out
    assert "IEEE Spectrum" in out and "medium" in out


def test_profiles_show_unknown_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "--show", "nope"]) == 2
    assert "known:" in capsys.readouterr().err
