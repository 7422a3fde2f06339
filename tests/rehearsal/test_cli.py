"""The up/down commands' contract with people: exit codes and messages, nothing touched on bad input."""

from __future__ import annotations

import contextlib

from qpusite.cli import main


def test_unknown_site_is_bad_input(capsys):
    assert main(["up", "no-such-site"]) == 2
    err = capsys.readouterr().err
    assert "no site model found" in err and "Traceback" not in err


def test_missing_prerequisites_exit_2_with_the_install_command(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("QPUSITE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("rehearsal.prerequisites.shutil.which", lambda name: None if name == "podman" else "/bin/x")
    assert main(["up", "lab", "--skip-rollout"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install -y --no-install-recommends podman" in err
    assert not (tmp_path / "state").exists()  # nothing written


def test_a_model_the_rehearsal_cannot_host_is_refused_before_any_change(monkeypatch, capsys, tmp_path):
    import yaml

    from tests.conftest import LAB

    doc = yaml.safe_load(LAB.read_text())
    doc["hosts"][0]["address"] = "10.77.0.1"
    site = tmp_path / "gw" / "site.yaml"
    site.parent.mkdir()
    site.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("QPUSITE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("rehearsal.prerequisites.check_prerequisites", lambda: None)
    monkeypatch.setattr("rehearsal.site_up.check_prerequisites", lambda: None)
    assert main(["up", str(site)]) == 2
    assert "hosts[ctl].address" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()
    assert not (site.parent / ".rehearsal").exists()


def test_help_lists_both_commands(capsys):
    with contextlib.suppress(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert " up " in out and " down " in out


def test_twin_options_without_twins_are_bad_input(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("QPUSITE_STATE_DIR", str(tmp_path / "state"))
    assert main(["up", "national", "--twins-subnet", "10.213.0.0/24"]) == 2
    assert "go with --twins" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()


def test_a_bad_twins_subnet_is_refused_naming_the_flag(capsys, tmp_path, monkeypatch):
    from tests.conftest import LAB

    site = tmp_path / "copy" / "site.yaml"
    site.parent.mkdir()
    site.write_text(LAB.read_text())
    monkeypatch.setenv("QPUSITE_STATE_DIR", str(tmp_path / "state"))
    assert main(["up", str(site), "--twins", "--twins-subnet", "10.213.0.7/24"]) == 2
    err = capsys.readouterr().err
    assert "--twins-subnet '10.213.0.7/24'" in err and "Traceback" not in err
    assert not (site.parent / ".rehearsal").exists()  # no twin copy written
