"""tools/test.d/lib/rehearsal.sh's check_summary, as the rehearsal suites source and call it, on
summary files written the way `qpusite up` writes them (rehearsal/report_file.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal.progress import PhaseRecord
from rehearsal.recap import HostRecap
from rehearsal.report_file import write_report
from rehearsal.rollout import RolloutResult
from rehearsal.site_up import UpReport
from rehearsal.smoke import SmokeResult

LIBRARY = Path(__file__).resolve().parents[2] / "tools" / "test.d" / "lib" / "rehearsal.sh"


def _summary(tmp_path: Path, *, returncode: int = 0, changed: int = 0, container: str = "reused",
             smoke_ok: bool | None = True) -> Path:
    counts = {"ok": 30, "changed": 0, "unreachable": 0, "failed": 0, "skipped": 4, "rescued": 0, "ignored": 0}
    recap = {"ctl": HostRecap("ctl", {**counts, "changed": changed}), "c1": HostRecap("c1", counts)}
    report = UpReport(
        "lab",
        hosts={"ctl": "10.9.0.10", "c1": "10.9.0.11"},
        container_actions={"ctl": container, "c1": "reused"},
        rollout=RolloutResult(returncode, recap, 12.0, tmp_path / "rollout.log", [], []),
        smoke=[SmokeResult("slurm", smoke_ok, "sinfo: 1 node idle")],
    )
    return write_report(tmp_path / "summary.json", report, [PhaseRecord("rollout", 12.0, ok=True)])


def _check(summary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = f'source "{LIBRARY}"; check_summary "$@"'
    env = {"PATH": "/usr/bin:/bin", "PY": sys.executable, "REHEARSAL_SUITE": "60-rehearsal"}
    return subprocess.run(["bash", "-c", script, "check", str(summary), *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_healthy_run_passes_and_prints_its_gist(tmp_path: Path) -> None:
    done = _check(_summary(tmp_path), "re-run", "noop", "reused")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "60-rehearsal: re-run: 2 hosts, changed=0 failed=0, rollout 12s\n"


@pytest.mark.parametrize(
    ("bend", "args", "problem"),
    [
        ({"returncode": 2}, (), "ansible-playbook exited 2"),
        ({"smoke_ok": False}, (), "smoke slurm: sinfo: 1 node idle"),
        ({"changed": 3}, ("noop",), "re-run is not a no-op: changed=3 {'ctl': 3}"),
        ({"container": "created"}, ("noop", "reused"), "containers not reused on re-run: ['ctl']"),
    ],
)
def test_an_unhealthy_run_fails_naming_the_problem(tmp_path: Path, bend: dict, args: tuple[str, ...],
                                                    problem: str) -> None:
    done = _check(_summary(tmp_path, **bend), "re-run", *args)
    assert done.returncode == 1
    assert done.stderr.startswith("60-rehearsal: re-run FAILED: ")
    assert problem in done.stderr


def test_changes_and_new_containers_pass_unless_asked_for(tmp_path: Path) -> None:
    assert _check(_summary(tmp_path, changed=3, container="created"), "cold up").returncode == 0
    assert _check(_summary(tmp_path, container="created"), "re-run", "noop").returncode == 0


def test_a_missing_summary_fails_saying_up_stopped_early(tmp_path: Path) -> None:
    done = _check(tmp_path / "summary.json", "cold up")
    assert done.returncode == 1
    assert "60-rehearsal: cold up FAILED: `qpusite up` stopped before writing" in done.stderr


def test_messages_name_the_suite_that_sourced_the_library(tmp_path: Path) -> None:
    suite = tmp_path / "65-rehearsal-national.sh"
    suite.write_text(f'source "{LIBRARY}"\ncheck_summary "$1" "up --twins"\n')
    done = subprocess.run(["bash", str(suite), str(_summary(tmp_path))], env={"PATH": "/usr/bin:/bin",
                          "PY": sys.executable}, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("65-rehearsal-national: up --twins: 2 hosts, changed=0 failed=0")
