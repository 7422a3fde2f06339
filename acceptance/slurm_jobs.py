"""Submit acceptance jobs the way users do (``sbatch`` on the login node) and read them back.

The node programs travel inside the batch script (a zip application, base64)
and are unpacked into a per-job temporary directory that the job removes: the
site keeps nothing of a run except Slurm's and qrmid's own records.
"""

from __future__ import annotations

import base64
import io
import json
import re
import secrets
import shlex
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.spec import CheckFailed, MissingComponent
from site_survey.model import Site

NODE_DIR = Path(__file__).resolve().parent / "node"
RESULT_PREFIX = "QPUSITE-RESULT "
ERROR_PREFIX = "QPUSITE-ERROR "
OUTPUT_DIR = "/tmp"  # on the node that ran the batch step
POLL_S = 0.5
FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED")


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


STEP_PREFIX = "QPUSITE-STEP "
# What each step prints first when asked to (srun/salloc checks): which job, step and qrmid
# acquisition it ran under — the plugin sets QRMID_ACQUISITION_ID in every step of a --qpu job.
ANNOUNCE = ('echo "QPUSITE-STEP job=${SLURM_JOB_ID:-} step=${SLURM_STEP_ID:-batch} '
            'acquisition=${QRMID_ACQUISITION_ID:-}"\n')


def batch_script(python: str, programs: list[list[str]], announce: bool = False) -> str:
    """A batch script running each node program in turn (all run; the job fails if one does).
    With ``announce`` it first prints a ``QPUSITE-STEP`` line (job, step, acquisition id)."""
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
        f"{ANNOUNCE if announce else ''}"
        'work=$(mktemp -d)\ntrap \'rm -rf "$work"\' EXIT\n'
        f'base64 -d > "$work/node.pyz" <<\'QPUSITE_BUNDLE\'\n{lines}\nQPUSITE_BUNDLE\n'
        f"{runs}"
        "exit $status\n"
    )


def allocation_script(step: str, steps: int) -> str:
    """What ``salloc … bash -s`` runs on the submit host: ``steps`` srun steps, each running
    ``step`` (a script, fed to ``bash -s`` on the node through srun's stdin), one after the other.
    The step script is kept in a temporary file of the submit host, removed at the end."""
    encoded = base64.b64encode(step.encode()).decode()
    lines = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    return (
        "set -u\n"
        "status=0\n"
        'step=$(mktemp)\ntrap \'rm -f "$step"\' EXIT\n'
        f'base64 -d > "$step" <<\'QPUSITE_STEP\'\n{lines}\nQPUSITE_STEP\n'
        + 'srun -n1 bash -s < "$step" || status=1\n' * steps
        + "exit $status\n"
    )


@dataclass(frozen=True)
class StepSeen:
    """One ``QPUSITE-STEP`` line: the job, step and qrmid acquisition a step ran under."""

    job_id: str
    step: str
    acquisition: str


def steps_seen(output: str) -> list[StepSeen]:
    seen = []
    for line in output.splitlines():
        if line.startswith(STEP_PREFIX):
            fields = dict(f.partition("=")[::2] for f in line[len(STEP_PREFIX):].split())
            seen.append(StepSeen(fields.get("job", ""), fields.get("step", ""), fields.get("acquisition", "")))
    return seen


def results_in(output: str) -> list[dict[str, Any]]:
    return [json.loads(ln[len(RESULT_PREFIX):]) for ln in output.splitlines() if ln.startswith(RESULT_PREFIX)]


@dataclass
class JobOutcome:
    job_id: str
    exit_code: int  # the job's exit code (scontrol's ExitCode)
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


def parse_scontrol_job(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


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


def sbatch(ctx: Context, script: str, options: list[str], name: str, as_user: str | None = None) -> Submitted:
    """``sbatch`` on the login node as the job user; returns at once (the job may still be queued)."""
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("the site model has no login or controller host to submit from")
    out_pattern = f"{OUTPUT_DIR}/qpusite-accept-%j.out"
    job_name = unique_job_name(name)
    argv = ["sbatch", "--parsable", f"--job-name={job_name}", f"--output={out_pattern}", f"--chdir={OUTPUT_DIR}",
            *options]
    user = require_submitter(ctx, as_user)
    command = as_user_command(user, " ".join(shlex.quote(a) for a in argv))
    done = ctx.run(login.name, command, stdin=script, timeout_s=60)
    if done.returncode == 127:
        raise MissingComponent("slurm", login.name, "no sbatch command")
    stderr = done.stderr.strip()
    if "unrecognized option" in stderr and "--qpu" in stderr:
        raise MissingComponent("spank-qrmid plugin", login.name, "sbatch does not know --qpu")
    match = re.match(r"^(\d+)", done.stdout.strip())
    if not match:
        if done.returncode == 124:  # sbatch itself hung: a job may exist under our unique name
            ctx.run(login.name, f"scancel --name={shlex.quote(job_name)}")
        return Submitted("", job_name, done.returncode, stderr)
    return Submitted(match.group(1), job_name, done.returncode, stderr)


def submit(ctx: Context, script: str, options: list[str], name: str, timeout_s: float = 240,
           as_user: str | None = None) -> JobOutcome:
    """``sbatch`` on the login node, then poll the job until it is over (cancelled if it is not
    within ``timeout_s`` — e.g. pending for ever beyond a partition's limit), then read its
    state and its output from the batch host. Polling, rather than ``sbatch --wait``, sees the
    end within half a second and can give up on a job cleanly."""
    sub = sbatch(ctx, script, options, name, as_user)
    if not sub.job_id:
        return JobOutcome("", sub.returncode, "NOT SUBMITTED", "", "", sub.stderr, None)
    login = login_host(ctx.site)
    assert login is not None  # sbatch() checked
    abandoned = _wait_or_cancel(ctx, login.name, sub.job_id, timeout_s)
    return collect(ctx, sub.job_id, sub.stderr, abandoned)


def collect(ctx: Context, job_id: str, submit_error: str = "", abandoned: str = "") -> JobOutcome:
    """A job that is over: its state from slurmctld and its output, read from the batch host and deleted."""
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("the site model has no login or controller host")
    info = parse_scontrol_job(ctx.run(login.name, f"scontrol show job -o {job_id}").stdout)
    host = info.get("BatchHost", "")
    output = ""
    if host and ctx.site.host(host) is not None:
        path = f"{OUTPUT_DIR}/qpusite-accept-{job_id}.out"
        output = ctx.run(host, f"cat {path} 2>/dev/null; rm -f {path}").stdout
    exit_code = int(info.get("ExitCode", "0:0").split(":")[0] or 0)
    return JobOutcome(job_id, exit_code, info.get("JobState", "?"), host, output, submit_error,
                      _elapsed_s(info.get("RunTime", "")), abandoned)


def job_state(ctx: Context, job_id: str) -> str:
    """The job's state as squeue shows it (also for finished jobs), or "" when Slurm has forgotten it."""
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("the site model has no login or controller host")
    return ctx.run(login.name, f"squeue -h -t all -j {job_id} -o %T").stdout.strip()


def wait_state(ctx: Context, job_id: str, states: tuple[str, ...], timeout_s: float) -> str:
    """Poll until the job is in one of ``states`` or over; the last state seen (bounded by ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    state = job_state(ctx, job_id)
    while state not in states and state not in FINAL_STATES and time.monotonic() < deadline:
        time.sleep(POLL_S)
        state = job_state(ctx, job_id)
    return state


def cancel(ctx: Context, job_id: str) -> None:
    login = login_host(ctx.site)
    if login is not None and job_id:
        ctx.run(login.name, f"scancel {job_id}")


@dataclass(frozen=True)
class Interactive:
    """How an ``srun``/``salloc`` run on the submit host ended (``returncode`` 124: timed out,
    and the job was cancelled by its name)."""

    job_name: str
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        errors = [ln[len(ERROR_PREFIX):] for ln in self.stdout.splitlines() if ln.startswith(ERROR_PREFIX)]
        tail = " | ".join((self.stderr.strip() or self.stdout.strip()).splitlines()[-3:])
        return (errors[0] if errors else "") or tail or f"exit {self.returncode}, no output"


def run_interactive(ctx: Context, command: str, options: list[str], name: str, stdin: str, timeout_s: float,
                    as_user: str | None = None) -> Interactive:
    """``srun``/``salloc`` (``command``) with ``options`` and ``bash -s`` reading ``stdin``, run on
    the login node as the job user, as a user at a terminal would: without a batch script. Bounded:
    past ``timeout_s`` the job (found by its unique name) is cancelled."""
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("the site model has no login or controller host to submit from")
    job_name = unique_job_name(name)
    # --chdir: the step (and salloc's own shell) must not start in root's home, which the user cannot enter
    argv = [command, f"--job-name={job_name}", f"--chdir={OUTPUT_DIR}", *options, "bash", "-s"]
    user = require_submitter(ctx, as_user)
    done = ctx.run(login.name, as_user_command(user, " ".join(shlex.quote(a) for a in argv)), stdin=stdin,
                   timeout_s=timeout_s)
    if done.returncode == 127 and not done.stdout:
        raise MissingComponent("slurm", login.name, f"no {command} command")
    if "unrecognized option" in done.stderr and "--qpu" in done.stderr:
        raise MissingComponent("spank-qrmid plugin", login.name, f"{command} does not know --qpu")
    if done.returncode == 124:
        ctx.run(login.name, f"scancel --name={shlex.quote(job_name)}")
    return Interactive(job_name, done.returncode, done.stdout, done.stderr)


def _wait_or_cancel(ctx: Context, login: str, job_id: str, timeout_s: float) -> str:
    """Poll the job until it is over; past ``timeout_s`` cancel it and say how it was left."""
    deadline = time.monotonic() + timeout_s
    state = "?"
    while time.monotonic() < deadline:
        state = ctx.run(login, f"squeue -h -t all -j {job_id} -o %T").stdout.strip() or state
        if state in FINAL_STATES:
            return ""
        time.sleep(POLL_S)
    info = parse_scontrol_job(ctx.run(login, f"scontrol show job -o {job_id}").stdout)
    ctx.run(login, f"scancel {job_id}")
    return f"{info.get('JobState', state)} (Reason={info.get('Reason', '?')}) after {timeout_s:.0f} s; cancelled"


def _elapsed_s(text: str) -> float | None:
    m = re.match(r"^(?:(\d+)-)?(\d+):(\d+):(\d+)$", text)
    if not m:
        return None
    days, h, mi, s = (int(x) if x else 0 for x in m.groups())
    return float(((days * 24 + h) * 60 + mi) * 60 + s)


def runtime_python(ctx: Context) -> str:
    return f"{ctx.site.software.runtime.prefix}/bin/python"


def run_program(ctx: Context, qpus: list[str], programs: list[list[str]], name: str, timeout_s: float = 240,
                extra_options: list[str] | None = None, as_user: str | None = None) -> JobOutcome:
    script = batch_script(runtime_python(ctx), programs)
    options = [f"--qpu={','.join(qpus)}", "--time=10", *(extra_options or [])]
    return submit(ctx, script, options, name, timeout_s=timeout_s, as_user=as_user)
