"""What every scheduler's acceptance jobs share: the node programs as a zip application inside a
batch script, the result lines they print, how a finished job is described, and who submits.

The node programs travel inside the batch script (base64) and are unpacked into a per-job
temporary directory that the job removes: the site keeps nothing of a run except the
scheduler's and qrmid's own records. Scheduler commands live in slurm_jobs.py and
gridengine_jobs.py, behind acceptance/scheduler.py.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import shlex
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.spec import CheckFailed
from site_survey.model import Site

NODE_DIR = Path(__file__).resolve().parent / "node"
RESULT_PREFIX = "QPUSITE-RESULT "
ERROR_PREFIX = "QPUSITE-ERROR "
OUTPUT_DIR = "/tmp"  # on the node that ran the batch script
POLL_S = 0.5


def node_bundle() -> bytes:
    """acceptance.node as a zip application: ``python node.pyz PROGRAM …``."""
    files = {"acceptance/__init__.py": "",
             "__main__.py": "import sys\nfrom acceptance.node.__main__ import main\nsys.exit(main())\n"}
    for path in sorted(NODE_DIR.glob("*.py")):
        files[f"acceptance/node/{path.name}"] = path.read_text(encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in sorted(files.items()):
            # Fixed timestamps: the same programs always make the same bundle.
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


def batch_script(python: str, programs: list[list[str]], announce: str = "") -> str:
    """A batch script running each node program in turn (all run; the job fails if one does).
    ``announce``: shell lines run first (the scheduler's QPUSITE-STEP line)."""
    bundle = base64.b64encode(node_bundle()).decode()
    lines = "\n".join(bundle[i:i + 76] for i in range(0, len(bundle), 76))
    runs = "".join(
        f'{shlex.quote(python)} "$work/node.pyz" {" ".join(shlex.quote(a) for a in args)} || status=1\n'
        for args in programs
    )
    return (
        "#!/bin/bash\n"
        "set -uo pipefail\n"
        "status=0\n"
        f"{announce}"
        'work=$(mktemp -d)\ntrap \'rm -rf "$work"\' EXIT\n'
        f'base64 -d > "$work/node.pyz" <<\'QPUSITE_BUNDLE\'\n{lines}\nQPUSITE_BUNDLE\n'
        f"{runs}"
        "exit $status\n"
    )


def results_in(output: str) -> list[dict[str, Any]]:
    return [json.loads(ln[len(RESULT_PREFIX):]) for ln in output.splitlines() if ln.startswith(RESULT_PREFIX)]


@dataclass
class JobOutcome:
    job_id: str
    exit_code: int  # the job's exit code (Slurm: scontrol's ExitCode; Grid Engine: qacct's exit_status)
    state: str
    batch_host: str
    output: str
    submit_error: str
    elapsed_s: float | None
    # Set when the job was not over by the deadline and was cancelled: its state and reason then.
    abandoned: str = ""

    def results(self) -> list[dict[str, Any]]:
        return results_in(self.output)

    @property
    def errors(self) -> list[str]:
        return [ln[len(ERROR_PREFIX):] for ln in self.output.splitlines() if ln.startswith(ERROR_PREFIX)]

    def describe(self) -> str:
        """The most telling line about what went wrong: the program's error, the job's output, sbatch's."""
        tail = " | ".join(self.output.strip().splitlines()[-3:])
        return (self.errors[0] if self.errors else "") or tail or self.submit_error or "no output"

    def result(self) -> dict[str, Any]:
        """The (first) node program's QPUSITE-RESULT document, or CheckFailed with its error line."""
        found = self.results()
        if found:
            return found[0]
        raise CheckFailed(f"job {self.job_id or '(not submitted)'} ({self.state}, exit {self.exit_code}) "
                          f"gave no result: {self.describe()}")


def acceptance_user(site: Site) -> str:
    """Who submits acceptance jobs: a user of a policy profile that allows every QPU, preferring one
    that fails fast in maintenance windows (so the maintenance drill does not wait)."""
    everything = {q.name for q in site.qpus if q.qrmi is not None}  # the QPUs qrmid brokers
    profiles = [p for p in site.software.policy_profiles if p.users and everything <= set(p.qpus)]
    profiles.sort(key=lambda p: p.during_calibration != "fail")
    if not profiles:
        raise CheckFailed("no policy profile names a user allowed on every QPU; acceptance jobs need one "
                          "(software.policy_profiles[].users)")
    return profiles[0].users[0]


def job_user(ctx: Context) -> str:
    """The user acceptance jobs run as: the operator's choice (--job-user), else derived from the model."""
    return ctx.job_user or acceptance_user(ctx.site)


def require_submitter(ctx: Context, as_user: str | None = None) -> str:
    """The user jobs are submitted as, after checking the account exists on the login node."""
    login = login_host(ctx.site)
    user = as_user or job_user(ctx)
    if login is not None and user != "root":
        exists = ctx.run(login.name, f"id -u {shlex.quote(user)}")
        if not exists.ok:
            raise CheckFailed(f"user {user} does not exist on {login.name}; acceptance jobs run as a user of "
                              "the site's policy profiles (create the account on login and compute nodes)")
    return user


def as_user_command(user: str, command: str) -> str:
    """``command`` (a shell line) run on a site host as ``user`` (as root: unchanged)."""
    return command if user == "root" else f"su -s /bin/sh {shlex.quote(user)} -c {shlex.quote(command)}"


def unique_job_name(name: str) -> str:
    return f"qpusite-accept-{name}-{secrets.token_hex(4)}"


@dataclass(frozen=True)
class Submitted:
    """What ``sbatch`` said: the job id, or (empty id) its exit status and error."""

    job_id: str
    job_name: str
    returncode: int
    stderr: str


def runtime_python(ctx: Context) -> str:
    return f"{ctx.site.software.runtime.prefix}/bin/python"
