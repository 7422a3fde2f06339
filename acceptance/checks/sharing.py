"""023, 024 and 049 — a QPU shared task by task (``qpus[].sharing: {mode: task}``): two hybrid
jobs hold it at once and their quantum tasks interleave (049); Slurm's accounting records
each job's QPU license under its account (023); a calibration window is a license
reservation, so a job whose time limit would reach into it waits until after it (024).
Every check expands to nothing when no QPU is in task mode (024 and 023: nor under a
scheduler other than Slurm)."""

from __future__ import annotations

import math
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any

from acceptance import batch_jobs, qrmid_records
from acceptance.batch_jobs import JobOutcome
from acceptance.checks import REGISTRY, params
from acceptance.checks.params import QpuParam
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.scheduler import Scheduler, for_site
from acceptance.slurm_reservations import QRMID_MAINTENANCE, SHOW_COMMAND, Reservation, parse_reservations
from acceptance.slurm_reservations import epoch as _epoch
from acceptance.slurm_reservations import iso as _iso
from acceptance.spec import CheckFailed, NotApplicable, Tier, check

TASKS = 5  # quantum tasks per hybrid job
PAUSE_S = 2.0  # the classical phase between two of them
SHOTS = 200
BELL_MIN = 0.9  # P(00)+P(11) of a Bell pair on the twin (its noise takes a few per cent)
JOB_MINUTES = 5
JOBS_OVER_S = 240.0  # both hybrid jobs start, run and end within this
TASKS_RECORDED_S = 20.0  # qrmid records a task's end up to its poll period after it


def _hybrid_script(ctx: Context, qpu: str, seed: int) -> str:
    argv = ["hybrid", "--qpu", qpu, "--tasks", str(TASKS), "--pause", str(PAUSE_S), "--shots", str(SHOTS),
            "--seed", str(seed)]
    return batch_jobs.batch_script(batch_jobs.runtime_python(ctx), [argv])


def _wait_over(ctx: Context, sched: Scheduler, jobs: list[str], timeout_s: float) -> dict[str, str]:
    """Poll the jobs until each is over (their last states); those still not over are cancelled."""
    deadline = time.monotonic() + timeout_s
    states = {j: "" for j in jobs}
    while True:
        for j in jobs:
            states[j] = sched.state(ctx, j)
        if all(sched.is_over(s) for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(batch_jobs.POLL_S)
    for j, s in states.items():
        if not sched.is_over(s):
            sched.cancel(ctx, j)
    return states


@dataclass(frozen=True)
class HybridPair:
    jobs: list[str]
    states: dict[str, str]  # each job's last state
    outcomes: list[JobOutcome]  # collected once over
    seconds: float  # waiting, once both were submitted, until both were over


def _run_hybrid_pair(ctx: Context, sched: Scheduler, qpu: str, name: str, seeds: tuple[int, int]) -> HybridPair:
    """Two hybrid jobs on the QPU, waited for until over (a job still not over, also when this fails
    on the way, is cancelled), then collected. A job refused at submission fails the check."""
    subs = [sched.submit(ctx, _hybrid_script(ctx, qpu, seed), [qpu], f"{name}-{qpu}", JOB_MINUTES) for seed in seeds]
    jobs = [s.job_id for s in subs if s.job_id]
    try:
        if len(jobs) != 2:
            refused = next(s for s in subs if not s.job_id)
            raise CheckFailed(f"a hybrid job was refused at submission: {refused.stderr[:300]}")
        started = time.monotonic()
        states = _wait_over(ctx, sched, jobs, JOBS_OVER_S)
        took = time.monotonic() - started
    finally:
        for j in jobs:
            if not sched.is_over(sched.state(ctx, j)):
                sched.cancel(ctx, j)
    return HybridPair(jobs, states, [sched.collect(ctx, j) for j in jobs], took)


def _judged(outcome: JobOutcome, qpu: str) -> dict[str, Any]:
    """The job's hybrid result, checked: every task ran and gave a Bell pair."""
    result = outcome.result()
    runs = result["detail"]["tasks"]
    if len(runs) != TASKS:
        raise CheckFailed(f"job {outcome.job_id} on {qpu} ran {len(runs)} tasks, expected {TASKS}")
    if result["value"] < BELL_MIN:
        raise CheckFailed(f"job {outcome.job_id} on {qpu}: worst task's P(00)+P(11) = {result['value']:.3f} "
                          f"< {BELL_MIN} (counts {[r['counts'] for r in runs]})")
    return result


@dataclass(frozen=True)
class TaskSpan:
    job: str
    start: float  # dispatched to the service
    end: float  # seen ended by qrmid


def _spans(ctx: Context, job_id: str, qpu: str) -> list[TaskSpan]:
    """The job's ended tasks on ``qpu`` from qrmid's per-task records, waiting a little for the last
    end to be recorded."""
    deadline = time.monotonic() + TASKS_RECORDED_S
    while True:
        rows = qrmid_records.tasks(ctx, job_id, qpu)
        ended = [r for r in rows if r.get("state") == "ended"]
        if len(ended) >= TASKS or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    if len(ended) < TASKS:
        states = ", ".join(f"{r.get('task_id')} {r.get('state')} ({r.get('message')})" for r in rows) or "none"
        raise CheckFailed(f"qrmid recorded {len(ended)} ended tasks of job {job_id} on {qpu}, expected {TASKS}: "
                          f"{states} (are the tasks going through qrmid's task queue?)")
    spans = [TaskSpan(job_id, float(r["dispatched_at"]), float(r["ended_at"])) for r in ended
             if r.get("dispatched_at") is not None and r.get("ended_at") is not None]
    return sorted(spans, key=lambda s: s.start)


def interleaved(a: list[TaskSpan], b: list[TaskSpan]) -> int:
    """How many tasks of one job were dispatched while the other still held the QPU (between
    its first task's dispatch and its last task's end). 0: the jobs took the QPU in turn."""
    def inside(mine: list[TaskSpan], other: list[TaskSpan]) -> int:
        if not other:
            return 0
        lo, hi = other[0].start, max(s.end for s in other)
        return sum(lo < s.start < hi for s in mine)

    return inside(b, a) + inside(a, b)


@check(REGISTRY, 49, "qpu_shared_task_by_task", tier=Tier.smoke, component="qpu access",
       expand=params.each_task_shared_qpu,
       proves="Two hybrid jobs (quantum tasks with classical phases between them) run at once on a QPU in "
              "task-sharing mode: both get a correct Bell pair from every task, and qrmid's per-task records "
              "show one job's tasks dispatched while the other job still held the QPU.", timeout_s=300)
def qpu_shared_task_by_task(ctx: Context, p: QpuParam) -> str:
    sched = for_site(ctx.site)
    pair = _run_hybrid_pair(ctx, sched, p.qpu, "share", (101, 202))
    jobs, states, outcomes, took = pair.jobs, pair.states, pair.outcomes, pair.seconds
    not_over = [f"{j} ({s})" for j, s in states.items() if not sched.is_over(s)]
    if not_over:
        raise CheckFailed(f"hybrid jobs not over after {JOBS_OVER_S:.0f} s (cancelled): {', '.join(not_over)}")
    results = [_judged(o, p.qpu) for o in outcomes]
    a, b = (_spans(ctx, j, p.qpu) for j in jobs)
    mixed = interleaved(a, b)
    if not mixed:
        order = " ".join(f"{s.job}@{s.start:.1f}-{s.end:.1f}" for s in sorted(a + b, key=lambda s: s.start))
        raise CheckFailed(f"jobs {jobs[0]} and {jobs[1]} took {p.qpu} in turn, not task by task: {order}")
    busy = sum(s.end - s.start for s in a + b)
    first, last = min(s.start for s in a + b), max(s.end for s in a + b)
    return (f"jobs {jobs[0]} and {jobs[1]} on {p.qpu}: {2 * TASKS} tasks, {mixed} dispatched while the other job "
            f"held the QPU; worst P(00)+P(11) {min(r['value'] for r in results):.3f}; tasks busy {busy:.1f} s of "
            f"{last - first:.1f} s; both jobs over in {took:.0f} s")


# --- 023: Slurm's accounting of the QPU license and fair-share ------------------------------------


def _sacct(ctx: Context, login: str, job_id: str) -> dict[str, str]:
    argv = ["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,Account,User,State,AllocTRES"]
    done = ctx.run(login, shlex.join(argv))
    line = done.stdout.strip().splitlines()[0] if done.ok and done.stdout.strip() else ""
    return dict(zip(("JobID", "Account", "User", "State", "AllocTRES"), line.split("|"), strict=False))


def records_now(ctx: Context, login: str, jobs: list[str]) -> dict[str, dict[str, str]]:
    return {j: _sacct(ctx, login, j) for j in jobs}


def license_in(alloc_tres: str, qpu: str) -> int:
    """How many of ``qpu``'s licenses an AllocTRES string (``cpu=1,…,license/sc_twin=1``) holds."""
    for item in alloc_tres.split(","):
        key, _, value = item.partition("=")
        if key == f"license/{qpu}":
            return int(value) if value.isdigit() else 0
    return 0


@check(REGISTRY, 23, "qpu_license_accounted", tier=Tier.smoke, component="slurm",
       expand=params.slurm_each_task_shared_qpu,
       proves="Two jobs sharing a task-mode QPU complete under their user's account and each shows the QPU's "
              "license in its AllocTRES in sacct (Slurm's accounting charges QPU use to the account).",
       timeout_s=300)
def qpu_license_accounted(ctx: Context, p: QpuParam) -> str:
    login = login_host(ctx.site)
    if login is None:
        raise NotApplicable("the site model has no login host")
    sched = for_site(ctx.site)
    user = batch_jobs.require_submitter(ctx)
    account = sacct_default_account(ctx, login.name, user)
    pair = _run_hybrid_pair(ctx, sched, p.qpu, "acct", (303, 404))
    jobs, states = pair.jobs, pair.states
    bad = [f"{j} {s}" for j, s in states.items() if s != "COMPLETED"]
    others = [f"{j} ({r.get('Account')})" for j, r in records_now(ctx, login.name, jobs).items()
              if r.get("Account") not in (None, "", account)]
    if others:
        raise CheckFailed(f"jobs ran under another account than {user}'s default {account}: {', '.join(others)}")
    if bad:
        raise CheckFailed(f"jobs did not complete: {', '.join(bad)}")
    records = records_now(ctx, login.name, jobs)
    deadline = time.monotonic() + 30
    while any(not r.get("AllocTRES") for r in records.values()) and time.monotonic() < deadline:
        time.sleep(2)  # slurmdbd receives a job's end a moment after slurmctld
        records = records_now(ctx, login.name, jobs)
    missing = [f"{j}: {r.get('AllocTRES', 'no record')!r}" for j, r in records.items()
               if license_in(r.get("AllocTRES", ""), p.qpu) != 1]
    if missing:
        raise CheckFailed(f"sacct shows no license/{p.qpu}=1 in AllocTRES of {'; '.join(missing)} "
                          "(AccountingStorageTRES must name the QPU licenses)")
    tres = records[jobs[0]]["AllocTRES"]
    return f"jobs {' and '.join(jobs)} of {user} (account {account}), both COMPLETED: AllocTRES {tres}"


def sacct_default_account(ctx: Context, login: str, user: str) -> str:
    argv = ["sacctmgr", "-n", "-P", "show", "user", user, "format=DefaultAccount"]
    account = ctx.run_ok(login, shlex.join(argv), "sacctmgr show user").strip().splitlines()
    if not account or not account[0]:
        raise CheckFailed(f"user {user} has no default account in Slurm's accounting (roles/slurmdbd associations)")
    return account[0]


# --- 024: a calibration window is a license reservation -------------------------------------------


def next_window(reservations: list[Reservation], qpu: str, now: float) -> Reservation | None:
    """The earliest calibration-window reservation of ``qpu`` that has not started
    (roles/qpu_reservations names them qpu_<qpu>_<window>_<time>; maintenance is not a window)."""
    prefix = f"qpu_{qpu}_"
    ahead = [r for r in reservations if r.name.startswith(prefix) and not r.name.endswith(f"_{QRMID_MAINTENANCE}")
             and r.start > now]
    return min(ahead, key=lambda r: r.start, default=None)


HOLD_SCRIPT = "#!/bin/bash\nsleep 60\n"
HELD_OBSERVE_S = 20.0  # the reaching job is watched pending this long (several scheduler passes)
SHORT_START_S = 60.0  # a job that ends before the window starts within this
WINDOW_REASON = re.compile(r"Reserv|Licenses|maint", re.I)  # Licenses, Reservation, Reserved for maintenance


def _job(ctx: Context, login: str, job: str) -> dict[str, str]:
    shown = ctx.run(login, shlex.join(["env", "TZ=UTC", "scontrol", "show", "job", "-o", job]))
    return dict(tok.partition("=")[::2] for tok in shown.stdout.split() if "=" in tok)


def _free_licenses(ctx: Context, login: str, qpu: str) -> int:
    shown = ctx.run(login, shlex.join(["scontrol", "show", "license", qpu])).stdout
    m = re.search(r"\bFree=(\d+)", shown)
    return int(m.group(1)) if m else -1


@check(REGISTRY, 24, "calibration_window_holds_job", tier=Tier.smoke, component="slurm",
       expand=params.slurm_each_task_shared_qpu,
       proves="A calibration window of a task-shared QPU is a Slurm reservation of all its licenses "
              "(roles/qpu_reservations): a job whose time limit would reach into the next window stays pending "
              "with a license or reservation reason although the QPU's licenses are free (and, when Slurm gives "
              "one, an expected start after the window's end), while a job that ends before the window runs.",
       timeout_s=240)
def calibration_window_holds_job(ctx: Context, p: QpuParam) -> str:
    login = login_host(ctx.site)
    if login is None:
        raise NotApplicable("the site model has no login host")
    qpu = next(q for q in ctx.site.qpus if q.name == p.qpu)
    if not qpu.calibration_windows:
        raise NotApplicable(f"{p.qpu} has no calibration window in the model")
    now = float(ctx.run_ok(login.name, "date +%s", "date").strip())
    text = ctx.run_ok(login.name, shlex.join(SHOW_COMMAND),
                      "scontrol show reservation")
    window = next_window(parse_reservations(text), p.qpu, now)
    if window is None:
        raise CheckFailed(f"no reservation qpu_{p.qpu}_* ahead in Slurm although the model has calibration "
                          "windows (roles/qpu_reservations: systemctl status qpu-reservations.timer)")
    want = qpu.sharing.max_jobs if qpu.sharing.mode == "task" and qpu.sharing.max_jobs else qpu.slots
    if window.licenses.get(p.qpu) != want:
        raise CheckFailed(f"reservation {window.name} holds {window.licenses} of {p.qpu}'s licenses, expected "
                          f"{p.qpu}:{want} (all of them)")
    partition = next((x for x in ctx.site.software.scheduler.partitions if x.default),
                     ctx.site.software.scheduler.partitions[0] if ctx.site.software.scheduler.partitions else None)
    to_window_min = (window.start - now) / 60
    limit = math.ceil(to_window_min) + 5  # reaches five minutes into the window
    max_time = partition.max_time_minutes if partition is not None else None
    if max_time is not None and limit > max_time:
        raise NotApplicable(f"{p.qpu}'s next window ({window.name}) starts in {to_window_min:.0f} min: no job of "
                            f"partition {partition.name if partition else '?'} (at most {max_time} min) can reach "
                            "it now; run again within that time of a window")
    sched = for_site(ctx.site)
    sub = sched.submit(ctx, HOLD_SCRIPT, [p.qpu], f"window-{p.qpu}", limit)
    if not sub.job_id:
        raise CheckFailed(f"the job was refused at submission: {sub.stderr[:300]}")
    job, short = sub.job_id, ""
    try:
        deadline = time.monotonic() + HELD_OBSERVE_S
        free = -1
        while True:
            info = _job(ctx, login.name, job)
            state, reason, start = info.get("JobState", "?"), info.get("Reason", "?"), info.get("StartTime", "")
            if state != "PENDING":
                raise CheckFailed(f"job {job} (time limit {limit} min, window {window.name} in "
                                  f"{to_window_min:.0f} min) is {state}, expected PENDING")
            free = max(free, _free_licenses(ctx, login.name, p.qpu))
            if time.monotonic() > deadline:
                break
            time.sleep(3)
        if not WINDOW_REASON.search(reason):
            raise CheckFailed(f"job {job} pending with Reason={reason}, expected a license or reservation reason")
        if free < 1:
            raise CheckFailed(f"job {job} pending, but no license of {p.qpu} was free while it was watched "
                              "(another job holds the QPU): the window is not shown to be the cause")
        known = bool(re.match(r"^\d{4}-\d\d-\d\dT", start))
        if known and _epoch(start) < window.end:
            raise CheckFailed(f"job {job}: Slurm expects it to start at {start} UTC, inside {window.name} "
                              f"({_iso(window.start)}-{_iso(window.end)})")
        short_limit = math.floor(to_window_min) - 3
        ran = ""
        if short_limit >= 2:
            sub2 = sched.submit(ctx, HOLD_SCRIPT, [p.qpu], f"before-window-{p.qpu}", short_limit)
            short = sub2.job_id
            if not short:
                raise CheckFailed(f"the short job was refused at submission: {sub2.stderr[:300]}")
            seen = sched.wait_state(ctx, short, True, SHORT_START_S)
            if not sched.is_running(seen) and seen != "COMPLETED":
                raise CheckFailed(f"job {short} (limit {short_limit} min, ends before {window.name}) did not start "
                                  f"within {SHORT_START_S:.0f} s (state {seen or '?'}); job {job} waits as it should")
            ran = f"; job {short} (limit {short_limit} min, ends before the window) ran"
    finally:
        sched.cancel(ctx, job)
        if short:  # it ran: its output on the batch host is read and removed (080 finds nothing left)
            sched.cancel(ctx, short)
            sched.wait_state(ctx, short, False, 30)
            sched.collect(ctx, short)
    expect = f"expected start {start} UTC" if known else "no expected start from Slurm"
    return (f"job {job} (limit {limit} min) pending {HELD_OBSERVE_S:.0f} s, Reason={reason}, {free} of {want} "
            f"{p.qpu} licenses free, {expect}; window {window.name} {_iso(window.start)}-{_iso(window.end)} UTC "
            f"reserves {p.qpu}:{want}{ran}; cancelled")
