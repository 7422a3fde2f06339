"""Submit acceptance jobs the way users do (``sbatch`` on the login node) and read them back.

The node programs travel inside the batch script (a zip application, base64)
and are unpacked into a per-job temporary directory that the job removes: the
site keeps nothing of a run except Slurm's and qrmid's own records.
"""

from __future__ import annotations

import base64
import re
import shlex
import time
from dataclasses import dataclass

# re-exported (X as X): the checks and tests name them here
from acceptance.batch_jobs import (
    ERROR_PREFIX as ERROR_PREFIX,
)
from acceptance.batch_jobs import (
    NODE_DIR as NODE_DIR,
)
from acceptance.batch_jobs import (
    OUTPUT_DIR as OUTPUT_DIR,
)
from acceptance.batch_jobs import (
    POLL_S as POLL_S,
)
from acceptance.batch_jobs import (
    RESULT_PREFIX as RESULT_PREFIX,
)
from acceptance.batch_jobs import (
    JobOutcome as JobOutcome,
)
from acceptance.batch_jobs import (
    Submitted as Submitted,
)
from acceptance.batch_jobs import (
    acceptance_user as acceptance_user,
)
from acceptance.batch_jobs import (
    as_user_command as as_user_command,
)
from acceptance.batch_jobs import batch_script as _batch_script
from acceptance.batch_jobs import (
    job_user as job_user,
)
from acceptance.batch_jobs import (
    node_bundle as node_bundle,
)
from acceptance.batch_jobs import (
    require_submitter as require_submitter,
)
from acceptance.batch_jobs import (
    results_in as results_in,
)
from acceptance.batch_jobs import (
    runtime_python as runtime_python,
)
from acceptance.batch_jobs import (
    unique_job_name as unique_job_name,
)
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.remote import Completed
from acceptance.slurm_reservations import QRMID_MAINTENANCE, SHOW_COMMAND, holding, iso, parse_reservations
from acceptance.spec import CheckFailed, MissingComponent, NotApplicable

FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED")


STEP_PREFIX = "QPUSITE-STEP "
# What each step prints first when asked to (srun/salloc checks): which job, step and qrmid
# acquisition it ran under — the plugin sets QRMID_ACQUISITION_ID in every step of a --qpu job.
ANNOUNCE = ('echo "QPUSITE-STEP job=${SLURM_JOB_ID:-} step=${SLURM_STEP_ID:-batch} '
            'acquisition=${QRMID_ACQUISITION_ID:-}"\n')


def batch_script(python: str, programs: list[list[str]], announce: bool = False) -> str:
    """A batch script running each node program in turn (all run; the job fails if one does).
    With ``announce`` it first prints a ``QPUSITE-STEP`` line (job, step, acquisition id)."""
    return _batch_script(python, programs, ANNOUNCE if announce else "")


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


def parse_scontrol_job(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


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


PROGRAM_MINUTES = 10  # the time limit of a node-program job


def require_unreserved(ctx: Context, qpus: list[str], minutes: int) -> None:
    """Not applicable while a calibration window or scheduled maintenance (a license reservation kept by
    roles/qpu_reservations) holds one of ``qpus`` within the job's time limit: Slurm would rightly keep
    the job pending past the check's bound. qrmid's own maintenance switch is left out: the drills
    switch it on to see the job refused."""
    login = login_host(ctx.site)
    if login is None:
        return
    now = ctx.run(login.name, "date +%s").stdout.strip()
    shown = ctx.run(login.name, shlex.join(SHOW_COMMAND))
    if not now.isdigit() or not shown.ok:
        return  # the job's own outcome will say what is wrong
    reservations = [r for r in parse_reservations(shown.stdout) if not r.name.endswith(f"_{QRMID_MAINTENANCE}")]
    for qpu in qpus:
        held = holding(reservations, qpu, float(now), float(now) + (minutes + 1) * 60)
        if held:
            last = max(r.end for r in held)
            raise NotApplicable(
                f"{qpu}'s licenses are reserved by " + ", ".join(f"{r.name} ({iso(r.start)}-{iso(r.end)} UTC)"
                                                                  for r in held)
                + f": a {minutes}-minute job cannot start before {iso(last)} UTC; run acceptance again after it")


def run_program(ctx: Context, qpus: list[str], programs: list[list[str]], name: str, timeout_s: float = 240,
                extra_options: list[str] | None = None, as_user: str | None = None) -> JobOutcome:
    require_unreserved(ctx, qpus, PROGRAM_MINUTES)
    script = batch_script(runtime_python(ctx), programs)
    options = [f"--qpu={','.join(qpus)}", f"--time={PROGRAM_MINUTES}", *(extra_options or [])]
    return submit(ctx, script, options, name, timeout_s=timeout_s, as_user=as_user)


class Slurm:
    """The Slurm side of acceptance/scheduler.py, over the functions above (sbatch --qpu, squeue,
    scancel, scontrol, sacct)."""

    kind = "slurm"
    label = "Slurm"
    waiting = "PENDING"

    def submit(self, ctx: Context, script: str, qpus: list[str], name: str, minutes: int,
               as_user: str | None = None, env: dict[str, str] | None = None) -> Submitted:
        options = [f"--qpu={','.join(qpus)}", f"--time={minutes}"]
        if env:
            options.append("--export=ALL," + ",".join(f"{k}={v}" for k, v in env.items()))
        return sbatch(ctx, script, options, name, as_user)

    def run_program(self, ctx: Context, qpus: list[str], programs: list[list[str]], name: str,
                    timeout_s: float = 240, as_user: str | None = None,
                    env: dict[str, str] | None = None) -> JobOutcome:
        extra = ["--export=ALL," + ",".join(f"{k}={v}" for k, v in env.items())] if env else None
        return run_program(ctx, qpus, programs, name, timeout_s=timeout_s, extra_options=extra, as_user=as_user)

    def state(self, ctx: Context, job_id: str) -> str:
        return job_state(ctx, job_id)

    def is_running(self, state: str) -> bool:
        return state == "RUNNING"

    def is_over(self, state: str) -> bool:
        return state in FINAL_STATES or state == ""

    def wait_state(self, ctx: Context, job_id: str, running: bool, timeout_s: float) -> str:
        return wait_state(ctx, job_id, ("RUNNING",) if running else (), timeout_s)

    def cancel(self, ctx: Context, job_id: str) -> Completed:
        login = login_host(ctx.site)
        if login is None:
            raise CheckFailed("the site model has no login or controller host")
        return ctx.run(login.name, f"date +%s.%N; scancel {job_id}")

    def collect(self, ctx: Context, job_id: str, submit_error: str = "", abandoned: str = "") -> JobOutcome:
        return collect(ctx, job_id, submit_error, abandoned)

    def accounting(self, ctx: Context, job_id: str) -> dict[str, str]:
        login = login_host(ctx.site)
        if login is None:
            return {}
        done = ctx.run(login.name, f"sacct -n -P -X -j {job_id} -o JobID,State,ExitCode,AllocTRES")
        fields = done.stdout.strip().splitlines()[0].split("|") if done.ok and done.stdout.strip() else []
        return dict(zip(("JobID", "State", "ExitCode", "AllocTRES"), fields, strict=False))
