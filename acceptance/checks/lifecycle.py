"""04x, continued — a QPU job's acquisition over its life on the site: ``scancel`` releases
it within seconds, and jobs without a batch script (a bare ``srun --qpu``, ``salloc --qpu``
with ``srun`` steps) acquire once and are released when the job ends (the plugin's job
epilog), not later by qrmid's reaper or hold deadline.

Every wait is bounded; a job still there at the end of a check is cancelled.
"""

from __future__ import annotations

import time
from typing import Any

from acceptance import qrmid_records, slurm_jobs
from acceptance.checks import REGISTRY, params
from acceptance.checks.jobs import PROBE_MIN, probe_value
from acceptance.checks.params import QpuParam
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.scheduler import for_site
from acceptance.spec import CheckFailed, Tier, check

RELEASE_BOUND_S = 10.0  # scancel / end of the job → qrmid's record `released`
RELEASE_PATIENCE_S = 30.0  # how long the suite keeps looking past the bound, to report what it saw
START_S = 120.0  # a job waits at most this to run (the QPU's license may be busy a moment)
GRANT_S = 60.0  # a running job's acquisition is granted within this
HOLD_SCRIPT = "#!/bin/bash\n" + slurm_jobs.ANNOUNCE + "sleep 300\n"  # bounded again by --time=5


def judge_release(job_id: str, qpu: str, rows: list[dict[str, Any]], records: list[dict[str, Any]],
                  waited_s: float, bound_s: float, after: str, acquisition: str = "") -> str:
    """A job's one acquisition ended as ``released`` (not reaped or expired) within ``bound_s``
    of ``after`` (scancel, the end of the job), and qrmid's accounting shows the hold on
    ``qpu`` ended. ``acquisition``: the id the job's steps saw, when known."""
    if len(rows) != 1:
        ids = ", ".join(f"{a.get('id')} ({a.get('state')})" for a in rows) or "none"
        raise CheckFailed(f"job {job_id}: qrmid has {len(rows)} acquisitions, expected one: {ids}")
    row = rows[0]
    if acquisition and row.get("id") != acquisition:
        raise CheckFailed(f"job {job_id}: the job saw acquisition {acquisition}, qrmid records {row.get('id')}")
    state, outcome = row.get("state"), row.get("outcome")
    if state in qrmid_records.ACTIVE_STATES:
        raise CheckFailed(f"job {job_id}: acquisition {row.get('id')} still {state} {waited_s:.1f} s after {after} "
                          f"(bound {bound_s:.0f} s)")
    if state != "released" or outcome != "released":
        raise CheckFailed(f"job {job_id}: acquisition {row.get('id')} ended {state}/{outcome}, not released at "
                          f"job end (reaped/expired means the plugin's release did not happen): "
                          f"{row.get('message') or ''}".rstrip(": "))
    if waited_s > bound_s:
        raise CheckFailed(f"job {job_id}: released only {waited_s:.1f} s after {after} (bound {bound_s:.0f} s)")
    mine = [r for r in records if r.get("qpu") == qpu]
    if not mine:
        raise CheckFailed(f"job {job_id}: qrmid has no accounting record on {qpu}")
    open_holds = [r for r in mine if r.get("hold_state") != "released" or not r.get("hold_released_at")]
    if open_holds:
        r = open_holds[0]
        raise CheckFailed(f"job {job_id}: qrmid's accounting shows the hold on {qpu} not ended "
                          f"(hold_state {r.get('hold_state')}, released_at {r.get('hold_released_at')})")
    return f"released {waited_s:.1f} s after {after}, accounting hold {mine[0].get('hold_s')} s"


def _login(ctx: Context) -> str:
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("the site model has no login or controller host to submit from")
    return login.name


def _clock(text: str) -> float | None:
    try:
        return float(text.strip().splitlines()[0])
    except (ValueError, IndexError):
        return None


@check(REGISTRY, 44, "scancel_releases", tier=Tier.l1, component="qpu access", expand=params.each_qpu,
       proves="`scancel` of a running `sbatch --qpu=NAME` job that holds the QPU makes qrmid record its one "
              "acquisition released (not reaped) within 10 s, and qrmid's accounting shows the hold ended.",
       timeout_s=300)
def scancel_releases(ctx: Context, p: QpuParam) -> str:
    sched = for_site(ctx.site)  # Slurm: sbatch --qpu / scancel; Grid Engine: qsub -l qpu_<name>=1 / qdel
    sub = sched.submit(ctx, HOLD_SCRIPT, [p.qpu], f"scancel-{p.qpu}", 5)
    if not sub.job_id:
        raise CheckFailed(f"the holding job was refused at submission: {sub.stderr[:300]}")
    job = sub.job_id
    rows: list[dict[str, Any]] = []
    waited = scancel_clock = 0.0
    try:
        state = sched.wait_state(ctx, job, True, START_S)
        if not sched.is_running(state):
            raise CheckFailed(f"job {job} did not run within {START_S:.0f} s (state {state or '?'})")
        granted = qrmid_records.wait_granted(ctx, job, GRANT_S)
        if not any(a.get("state") == "granted" for a in granted):
            seen = ", ".join(f"{a.get('id')} {a.get('state')}" for a in granted) or "no acquisition"
            raise CheckFailed(f"job {job} runs but qrmid granted nothing within {GRANT_S:.0f} s: {seen}")
        started = time.monotonic()  # before the cancel is sent: what is measured is an upper bound
        cancelled = sched.cancel(ctx, job)
        if not cancelled.ok:
            raise CheckFailed(f"cancelling job {job} failed: {cancelled.stderr.strip()[-200:]}")
        scancel_clock = _clock(cancelled.stdout) or 0.0
        rows, _ = qrmid_records.wait_over(ctx, job, RELEASE_BOUND_S + RELEASE_PATIENCE_S)
        waited = time.monotonic() - started
    finally:
        if not sched.is_over(sched.state(ctx, job)):  # a check that failed early
            sched.cancel(ctx, job)
            sched.wait_state(ctx, job, False, 30)
        outcome = sched.collect(ctx, job, sub.stderr)  # reads and removes the job's output file
    if outcome.state != "CANCELLED":
        raise CheckFailed(f"job {job} ended {outcome.state} after it was cancelled, not CANCELLED")
    announced = slurm_jobs.steps_seen(outcome.output)
    verdict = judge_release(job, p.qpu, rows, qrmid_records.accounting(ctx, job), waited, RELEASE_BOUND_S,
                            "scancel" if sched.kind == "slurm" else "qdel",
                            announced[0].acquisition if announced else "")
    released_at = rows[0].get("released_at")
    by_clock = (f"; by the hosts' clocks {released_at - scancel_clock:.2f} s"
                if isinstance(released_at, int | float) and scancel_clock else "")
    return f"{p.qpu}: job {job} {verdict}{by_clock}"


def _step_script(ctx: Context, qpu: str) -> str:
    return slurm_jobs.batch_script(slurm_jobs.runtime_python(ctx), [["probe", "--qpu", qpu]], announce=True)


def _judge_steps(qpu: str, run: slurm_jobs.Interactive, steps: int, what: str) -> tuple[str, str, list[float]]:
    """Every step ran under the same job and acquisition and got a correct answer: (job, acquisition, values)."""
    seen = slurm_jobs.steps_seen(run.stdout)
    if run.returncode == 124:
        raise CheckFailed(f"{what} did not end in time; the job was cancelled: {run.describe()[:300]}")
    if len(seen) != steps:
        raise CheckFailed(f"{what}: {len(seen)} step(s) ran, expected {steps} (exit {run.returncode}): "
                          f"{run.describe()[:300]}")
    job = seen[0].job_id
    if run.returncode != 0:
        raise CheckFailed(f"{what} (job {job}) failed (exit {run.returncode}): {run.describe()[:300]}")
    if len({s.step for s in seen}) != steps or {s.job_id for s in seen} != {job}:
        raise CheckFailed(f"{what}: expected {steps} steps of one job, saw {seen}")
    ids = {s.acquisition for s in seen}
    if len(ids) != 1 or "" in ids:
        raise CheckFailed(f"{what} (job {job}): the steps saw acquisitions {sorted(ids)}, expected one and the same")
    results = [r for r in slurm_jobs.results_in(run.stdout) if r.get("qpu") == qpu]
    if len(results) != steps:
        raise CheckFailed(f"{what} (job {job}): {len(results)} result(s) from {qpu}, expected {steps}: "
                          f"{run.describe()[:300]}")
    values = [probe_value(r) for r in results]
    wrong = [v for v in values if v < PROBE_MIN]
    if wrong:
        raise CheckFailed(f"{what} (job {job}): wrong answer(s) {', '.join(f'{v:.3f}' for v in wrong)} < {PROBE_MIN}")
    return job, ids.pop(), values


def _released_after_job_end(ctx: Context, job: str, qpu: str, acquisition: str, ended: float) -> str:
    rows, _ = qrmid_records.wait_over(ctx, job, RELEASE_BOUND_S + RELEASE_PATIENCE_S)
    waited = time.monotonic() - ended
    return judge_release(job, qpu, rows, qrmid_records.accounting(ctx, job), waited, RELEASE_BOUND_S,
                         "the job ended", acquisition)


@check(REGISTRY, 45, "srun_qpu_job", tier=Tier.l1, component="qpu access", expand=params.slurm_each_qpu,
       proves="A bare `srun --qpu=NAME` (no batch script) on the login node runs the probe with a correct "
              "answer under one qrmid acquisition, which the job epilog releases (not the reaper) within 10 s "
              "of the job's end.", timeout_s=300)
def srun_qpu_job(ctx: Context, p: QpuParam) -> str:
    run = slurm_jobs.run_interactive(ctx, "srun", [f"--qpu={p.qpu}", "--time=5", "-n1"], f"srun-{p.qpu}",
                                     _step_script(ctx, p.qpu), timeout_s=200)
    ended = time.monotonic()
    job, acquisition, values = _judge_steps(p.qpu, run, 1, f"srun --qpu={p.qpu}")
    verdict = _released_after_job_end(ctx, job, p.qpu, acquisition, ended)
    return f"{p.qpu}: srun job {job}, probe {values[0]:.3f} on {acquisition}; {verdict}"


@check(REGISTRY, 46, "salloc_qpu_steps", tier=Tier.l1, component="qpu access", expand=params.slurm_each_qpu,
       proves="`salloc --qpu=NAME` running two `srun` steps: both get a correct answer under the same "
              "acquisition (qrmid records one for the job), released within 10 s of the allocation's end.",
       timeout_s=360)
def salloc_qpu_steps(ctx: Context, p: QpuParam) -> str:
    driver = slurm_jobs.allocation_script(_step_script(ctx, p.qpu), steps=2)
    run = slurm_jobs.run_interactive(ctx, "salloc", [f"--qpu={p.qpu}", "--time=5"], f"salloc-{p.qpu}", driver,
                                     timeout_s=260)
    ended = time.monotonic()
    job, acquisition, values = _judge_steps(p.qpu, run, 2, f"salloc --qpu={p.qpu}")
    verdict = _released_after_job_end(ctx, job, p.qpu, acquisition, ended)
    return (f"{p.qpu}: salloc job {job}, 2 steps on {acquisition} "
            f"(probe {', '.join(f'{v:.3f}' for v in values)}); {verdict}")


WAIT_OBSERVE_S = 8.0  # how long the second job is watched waiting while the first holds the QPU


@check(REGISTRY, 48, "busy_qpu_job_waits", tier=Tier.l1, component="qpu access", expand=params.each_exclusive_qpu,
       proves="While one job holds the QPU, a second job asking for it waits in the scheduler's queue (Slurm "
              "PENDING, Grid Engine qw) holding no node and no acquisition; once the first is cancelled the second "
              "runs and gets a correct answer.", timeout_s=420)
def busy_qpu_job_waits(ctx: Context, p: QpuParam) -> str:
    sched = for_site(ctx.site)
    first = sched.submit(ctx, HOLD_SCRIPT, [p.qpu], f"busy-{p.qpu}", 5)
    if not first.job_id:
        raise CheckFailed(f"the holding job was refused at submission: {first.stderr[:300]}")
    second = ""
    watched = False
    try:
        state = sched.wait_state(ctx, first.job_id, True, START_S)
        if not sched.is_running(state) or not any(
                a.get("state") == "granted" for a in qrmid_records.wait_granted(ctx, first.job_id, GRANT_S)):
            raise CheckFailed(f"job {first.job_id} did not run holding {p.qpu} (state {state or '?'})")
        script = slurm_jobs.batch_script(slurm_jobs.runtime_python(ctx), [["probe", "--qpu", p.qpu]])
        sub = sched.submit(ctx, script, [p.qpu], f"busy-second-{p.qpu}", 10)
        if not sub.job_id:
            raise CheckFailed(f"the second job was refused at submission: {sub.stderr[:300]}")
        second = sub.job_id
        until = time.monotonic() + WAIT_OBSERVE_S
        seen = set()
        while time.monotonic() < until:
            seen.add(sched.state(ctx, second))
            time.sleep(1)
        if any(sched.is_running(s) or (s and sched.is_over(s)) for s in seen) or sched.waiting not in seen:
            raise CheckFailed(f"job {second} did not wait for busy {p.qpu} in {sched.waiting} "
                              f"(states seen: {', '.join(sorted(s or 'gone' for s in seen))})")
        if qrmid_records.acquisitions(ctx, second):
            raise CheckFailed(f"job {second} waits in the queue but already has an acquisition at qrmid")
        watched = True
    finally:
        if not sched.is_over(sched.state(ctx, first.job_id)):
            sched.cancel(ctx, first.job_id)
        sched.wait_state(ctx, first.job_id, False, 30)
        sched.collect(ctx, first.job_id, first.stderr)  # reads and removes its output
        if second and not watched:  # the check failed: the second job goes too
            sched.cancel(ctx, second)
            sched.wait_state(ctx, second, False, 30)
            sched.collect(ctx, second)
    deadline = time.monotonic() + START_S + 120
    state = sched.state(ctx, second)
    while not sched.is_over(state) and time.monotonic() < deadline:
        time.sleep(0.5)
        state = sched.state(ctx, second)
    abandoned = ""
    if not sched.is_over(state):
        sched.cancel(ctx, second)
        abandoned = f"{state} after the QPU was freed; cancelled"
    done = sched.collect(ctx, second, "", abandoned)
    value = probe_value(done.result())
    if value < PROBE_MIN:
        raise CheckFailed(f"{p.qpu}: job {second} ran after waiting but answered {value:.3f} < {PROBE_MIN}")
    return (f"{p.qpu}: job {second} waited ({sched.waiting}) while job {first.job_id} held the QPU, then ran: "
            f"{value:.3f}")
