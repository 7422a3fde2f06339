"""`qpusite job SITE JOBID`: runs qpu-job-info on the site's login host (here through the
acceptance suite's local transport and a stand-in qpu-job-info that prints its arguments)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from qpusite.commands.job import command
from tests.conftest import LAB, REPO


def qpusite(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qpusite", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False, env=env)


def test_the_command_line_is_the_job_id_quoted_and_nothing_else() -> None:
    assert command("12", False) == "qpu-job-info 12"
    assert command("12_3", True) == "qpu-job-info --json 12_3"


def test_bad_job_id_or_host_exits_2() -> None:
    for args, said in ((["job", str(LAB), "12;reboot"], "not a Slurm job id"),
                       (["job", str(LAB), "12", "--host", "nohost"], "not a host of site")):
        done = qpusite(args)
        assert done.returncode == 2 and said in done.stderr, done.stderr


def test_runs_the_tool_on_the_login_host_and_passes_its_answer_and_status(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "qpu-job-info"
    tool.write_text('#!/bin/sh\necho "asked: $*"\n[ "$1" = 404 ] && { echo "qpu-job-info: not yours" >&2; exit 2; }\n'
                    "exit 0\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "QPUSITE_ACCEPT_TRANSPORT": "local"}
    done = qpusite(["job", str(LAB), "42", "--json"], env)
    assert done.returncode == 0 and done.stdout == "asked: --json 42\n", done.stderr
    done = qpusite(["job", str(LAB), "404"], env)
    assert done.returncode == 2 and "not yours" in done.stderr
