"""The Grid Engine side of acceptance/scheduler.py: jobs submitted the way users do
(``qsub -l qpu_<name>=1`` on the login node, as the job user), watched with ``qstat``, cancelled
with ``qdel``, read back from the host that ran them and from ``qacct``.

Grid Engine facts this relies on (8.1.9): ``qsub -terse`` prints the job number; ``-S /bin/bash``
(the queue's shell would be csh otherwise); ``$JOB_ID`` in ``-o`` is expanded by Grid Engine;
``qstat -u '*'`` lists every user's jobs (state in column 5: ``qw``, ``hqw``, ``t``, ``r``, ``Eqw``,
``dr``…) and drops them when they end; ``qacct -j N`` reads the accounting file on the qmaster
host, which may lag the end of the job by the reporting flush time (15 s by default). A job
whose prolog failed (qpu-prolog exit 100: no QPU acquired) stays listed in error state ``Eqw``:
it is over for the checks, read back from ``qstat -j`` and deleted.
"""

from __future__ import annotations

import re
import shlex
import time

from acceptance.batch_jobs import (
    OUTPUT_DIR,
    POLL_S,
    JobOutcome,
    Submitted,
    as_user_command,
    batch_script,
    job_user,
    require_submitter,
    runtime_python,
    unique_job_name,
)
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.remote import Completed
from acceptance.spec import CheckFailed, MissingComponent
from site_survey.model import HostRole

ACCOUNTING_LAG_S = 30.0
KILLED = (137, 143)  # 128 + SIGKILL / SIGTERM: what qdel leaves as exit_status
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def qsub_argv(job_name: str, qpus: list[str], minutes: int, env: dict[str, str] | None = None) -> list[str]:
    argv = ["qsub", "-terse", "-N", job_name, "-o", f"{OUTPUT_DIR}/qpusite-accept-$JOB_ID.out", "-j", "y",
            "-wd", OUTPUT_DIR, "-S", "/bin/bash", "-l", f"h_rt={max(1, minutes) * 60}"]
    if qpus:
        argv += ["-l", ",".join(f"qpu_{q}=1" for q in qpus)]
    for key, value in (env or {}).items():
        if not ENV_NAME.match(key) or "," in value or "\n" in value:
            raise CheckFailed(f"cannot pass {key!r} with qsub -v (a name, and a value without ',' or newline)")
        argv += ["-v", f"{key}={value}"]
    return argv


def parse_qstat_states(text: str) -> dict[str, str]:
    """{job number: state} from plain ``qstat -u '*'`` (header, dashes, then one line per job or task)."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].isdigit():
            states.setdefault(fields[0], fields[4])
    return states


def parse_qacct(text: str) -> dict[str, str]:
    """The first record of ``qacct -j N``: ``key value`` lines after the ``====`` line."""
    record: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("=") and record:
            break
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("=") and key not in record:
            record[key] = value.strip()
    return record


def outcome_state(record: dict[str, str], cancelled: bool) -> tuple[str, int]:
    """(COMPLETED | FAILED | CANCELLED, exit status) of a qacct record."""
    try:
        exit_status = int(record.get("exit_status", "0").split()[0])
    except (ValueError, IndexError):
        exit_status = -1
    failed = record.get("failed", "0").split(":")[0].strip()
    if cancelled or exit_status in KILLED:
        return "CANCELLED", exit_status
    if failed not in ("0", "") or exit_status != 0:
        return "FAILED", exit_status
    return "COMPLETED", exit_status


def seconds(value: str) -> float | None:
    m = re.match(r"^([0-9]+(?:\.[0-9]+)?)s?$", value.strip())
    return float(m.group(1)) if m else None


class GridEngine:
    kind = "gridengine"
    label = "Grid Engine"
    waiting = "qw"

    # -------------------------------------------------------------- hosts
    @staticmethod
    def _login(ctx: Context) -> str:
        login = login_host(ctx.site)
        if login is None:
            raise CheckFailed("the site model has no login or controller host to submit from")
        return login.name

    @staticmethod
    def _qmaster(ctx: Context) -> str:
        controllers = ctx.site.hosts_with(HostRole.controller)
        return controllers[0].name if controllers else GridEngine._login(ctx)

    # -------------------------------------------------------------- interface
    def submit(self, ctx: Context, script: str, qpus: list[str], name: str, minutes: int,
               as_user: str | None = None, env: dict[str, str] | None = None) -> Submitted:
        login = self._login(ctx)
        job_name = unique_job_name(name)
        user = require_submitter(ctx, as_user)
        argv = qsub_argv(job_name, qpus, minutes, env)
        done = ctx.run(login, as_user_command(user, " ".join(shlex.quote(a) for a in argv)), stdin=script,
                       timeout_s=60)
        if done.returncode == 127:
            raise MissingComponent("gridengine", login, "no qsub command")
        match = re.match(r"^(\d+)", done.stdout.strip())
        if not match:
            return Submitted("", job_name, done.returncode, done.stderr.strip())
        return Submitted(match.group(1), job_name, done.returncode, done.stderr.strip())

    def run_program(self, ctx: Context, qpus: list[str], programs: list[list[str]], name: str,
                    timeout_s: float = 240, as_user: str | None = None,
                    env: dict[str, str] | None = None) -> JobOutcome:
        sub = self.submit(ctx, batch_script(runtime_python(ctx), programs), qpus, name, 10, as_user, env)
        if not sub.job_id:
            return JobOutcome("", sub.returncode, "NOT SUBMITTED", "", "", sub.stderr, None)
        deadline = time.monotonic() + timeout_s
        state = self.state(ctx, sub.job_id)
        while not self.is_over(state) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            state = self.state(ctx, sub.job_id)
        abandoned = ""
        if not self.is_over(state):
            self.cancel(ctx, sub.job_id)
            abandoned = f"{state} after {timeout_s:.0f} s; cancelled"
        return self.collect(ctx, sub.job_id, sub.stderr, abandoned)

    def state(self, ctx: Context, job_id: str) -> str:
        done = ctx.run(self._login(ctx), "qstat -u '*'")
        if not done.ok:
            raise CheckFailed(f"qstat failed: {(done.stderr or done.stdout).strip()[-200:]}")
        return parse_qstat_states(done.stdout).get(job_id, "")

    def is_running(self, state: str) -> bool:
        return "r" in state and "E" not in state and "q" not in state

    def is_over(self, state: str) -> bool:
        return state == "" or "E" in state

    def wait_state(self, ctx: Context, job_id: str, running: bool, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        state = self.state(ctx, job_id)
        while not (running and self.is_running(state)) and not self.is_over(state) and time.monotonic() < deadline:
            time.sleep(POLL_S)
            state = self.state(ctx, job_id)
        return state

    def cancel(self, ctx: Context, job_id: str) -> Completed:
        if not job_id.isdigit():
            raise CheckFailed(f"not a Grid Engine job number: {job_id!r}")
        own = as_user_command(job_user(ctx), f"qdel {job_id}")  # root may not be a Grid Engine manager
        return ctx.run(self._login(ctx), f"date +%s.%N; qdel {job_id} >/dev/null 2>&1 || {own}")

    def collect(self, ctx: Context, job_id: str, submit_error: str = "", abandoned: str = "") -> JobOutcome:
        login = self._login(ctx)
        path = f"{OUTPUT_DIR}/qpusite-accept-{job_id}.out"
        state = self.state(ctx, job_id)
        if "E" in state:  # the prolog refused: nothing ran; its reason, then the job goes
            info = ctx.run(login, f"qstat -j {job_id}").stdout
            reasons = [ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("error reason")]
            self.cancel(ctx, job_id)
            output = self._read_output(ctx, path)
            return JobOutcome(job_id, 100, "FAILED", "", output + "\n".join(reasons), submit_error, None, abandoned)
        record = self.accounting(ctx, job_id)
        host = record.get("hostname", "").split(".")[0]
        output = self._read_output(ctx, path, host)
        status, exit_code = outcome_state(record, bool(abandoned)) if record else ("?", -1)
        return JobOutcome(job_id, exit_code, status, host, output, submit_error,
                          seconds(record.get("ru_wallclock", "")), abandoned)

    def accounting(self, ctx: Context, job_id: str) -> dict[str, str]:
        if not job_id.isdigit():
            return {}
        deadline = time.monotonic() + ACCOUNTING_LAG_S
        while True:
            done = ctx.run(self._qmaster(ctx), f"qacct -j {job_id}")
            if done.ok and "jobnumber" in done.stdout:
                return parse_qacct(done.stdout)
            if time.monotonic() >= deadline:
                return {}
            time.sleep(1)

    @staticmethod
    def _read_output(ctx: Context, path: str, host: str = "") -> str:
        hosts = [host] if host and ctx.site.host(host) is not None else [
            h.name for h in ctx.site.hosts_with(HostRole.compute)]
        for name in hosts:
            done = ctx.run(name, f"cat {path} 2>/dev/null && rm -f {path}")
            if done.ok and done.stdout:
                return done.stdout
        return ""
