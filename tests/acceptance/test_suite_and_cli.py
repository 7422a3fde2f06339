"""The whole suite against a partially deployed "site" (this machine, local transport):
it reports what is missing instead of crashing, writes every output, exits 1; and the
CLI's bad-input paths exit 2 writing nothing."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from acceptance import suite
from acceptance.spec import Status, Tier
from qpusite.cli import main

LAB = Path(__file__).resolve().parents[2] / "inventories" / "lab" / "site.yaml"


def test_partial_site_reports_missing_components_and_writes_outputs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QPUSITE_ACCEPT_TRANSPORT", "local")
    out = tmp_path / "acc"
    # This machine has no quantum runtime, no qrmi_config.json, no qrmid and no qrmid package.
    quiet = Console(file=io.StringIO())
    outcome = suite.run(str(LAB), Tier.smoke, out, ("030", "031", "011"), console=quiet)
    by_id = {r.id: r for r in outcome.record.results}
    assert outcome.exit_code == 1
    runtime = by_id["030_runtime_installed[c1]"]
    assert runtime.status == Status.missing
    assert runtime.message == "quantum runtime not deployed on c1: no /opt/qpusite/runtime/bin/python"
    assert by_id["031_qrmi_config_valid[c1]"].status == Status.missing
    assert "/etc/slurm/qrmi_config.json" in by_id["031_qrmi_config_valid[c1]"].message
    assert "031_qrmi_config_valid[ctl]" not in by_id  # the login node gets no qrmi_config.json
    # the same run: junit, html and the JSON record exist and agree
    root = ET.parse(out / "junit.xml").getroot()
    assert int(root.get("tests", "0")) == len(outcome.record.results)
    assert "Acceptance — lab" in (out / "report.html").read_text()
    records = list((out / "runs").glob("*.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["counts"]["missing"] >= 6


def test_accept_unknown_site_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accept", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")]) == 2
    assert "no site model found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_accept_bad_tier_and_bad_output_are_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["accept", "lab", "--tier", "l9"])
    assert exc.value.code == 2
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["accept", "lab", "--output", str(a_file)]) == 2
    assert "--output" in capsys.readouterr().err
    assert main(["accept", "lab", "--timeout-scale", "0"]) == 2


def test_job_user_must_be_a_user_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["accept", "lab", "--job-user", "Robert'); DROP"]) == 2
    assert "--job-user" in capsys.readouterr().err


def test_job_user_is_derived_from_the_policy_profiles(lab_site) -> None:  # type: ignore[no-untyped-def]
    from acceptance.context import Context
    from acceptance.slurm_jobs import acceptance_user, job_user

    # lab: 'development' (alice, fails fast in windows) and 'production' (bob) both allow every QPU
    assert acceptance_user(lab_site) == "alice"
    ctx = Context(site=lab_site, site_dir=LAB.parent, log=lambda _l: None)
    assert job_user(ctx) == "alice"
    ctx.job_user = "qpusite-accept"
    assert job_user(ctx) == "qpusite-accept"
