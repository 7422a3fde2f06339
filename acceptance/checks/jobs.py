"""04x — it runs under the resource manager: a plain job, a job per QPU through
``sbatch --qpu`` with a correct answer, a multi-QPU job, and qrmid's accounting record."""

from __future__ import annotations

import time

from acceptance import qrmid_records, slurm_jobs
from acceptance.checks import REGISTRY, params
from acceptance.checks.params import QpuParam, SiteParam
from acceptance.context import Context
from acceptance.scheduler import for_site
from acceptance.spec import CheckFailed, Tier, check
from site_survey import derive
from site_survey.model import HostRole

# A correct answer from the probe: P(00)+P(11) for a Bell pair, P(1) after a π pulse.
# An ideal device gives 1; a healthy noisy one well above this; a broken one ~0.5 or less.
PROBE_MIN = 0.85


@check(REGISTRY, 40, "batch_job_runs", tier=Tier.smoke, component="slurm", expand=params.slurm_site,
       proves="A plain batch job (no QPU) is accepted, runs on a compute node and exits 0.", timeout_s=120)
def batch_job_runs(ctx: Context, p: SiteParam) -> str:
    # As root: this check is about Slurm alone, not the QPU policy (032 checks the job user).
    job = slurm_jobs.submit(ctx, "#!/bin/bash\nhostname\n", ["--time=1"], "plain", timeout_s=100, as_user="root")
    if not job.job_id:
        raise CheckFailed(f"sbatch refused the job: {job.submit_error}")
    computes = {h.name for h in ctx.site.hosts_with(HostRole.compute)}
    if job.exit_code != 0:
        raise CheckFailed(f"job {job.job_id} ended {job.state} (exit {job.exit_code}): {job.describe()}")
    if job.batch_host not in computes:
        raise CheckFailed(f"job {job.job_id} ran on {job.batch_host or '?'}, not on a compute node")
    return f"job {job.job_id} ran on {job.batch_host} ({job.state})"


def probe_value(result: dict[str, object]) -> float:
    value = result.get("value")
    if not isinstance(value, int | float):
        raise CheckFailed(f"probe result has no value: {result}")
    return float(value)


@check(REGISTRY, 41, "qpu_job_correct", tier=Tier.smoke, component="qpu access", expand=params.each_qpu,
       proves="`sbatch --qpu=NAME` acquires the QPU through QRMI and the job's circuit/sequence returns "
              "the physically correct answer.", timeout_s=240)
def qpu_job_correct(ctx: Context, p: QpuParam) -> str:
    job = for_site(ctx.site).run_program(ctx, [p.qpu], [["probe", "--qpu", p.qpu]], f"probe-{p.qpu}", timeout_s=220)
    result = job.result()
    value = probe_value(result)
    detail = result.get("detail")
    measure = detail.get("measure", "value") if isinstance(detail, dict) else "value"
    if value < PROBE_MIN:
        raise CheckFailed(f"{p.qpu}: {measure} = {value:.3f} < {PROBE_MIN} (job {job.job_id}): wrong answer")
    return f"{p.qpu}: {measure} = {value:.3f} (job {job.job_id} on {job.batch_host})"


@check(REGISTRY, 42, "multi_qpu_job", tier=Tier.l1, component="qpu access", expand=params.site_with_two_qpus,
       proves="One job holding every QPU of the site (`--qpu=A,B`) gets a correct answer from each.", timeout_s=300)
def multi_qpu_job(ctx: Context, p: SiteParam) -> str:
    names = [q.name for q in derive.qrmi_qpus(ctx.site)]
    job = for_site(ctx.site).run_program(ctx, names, [["probe", "--qpu", n] for n in names], "multi", timeout_s=280)
    results = {str(r.get("qpu")): probe_value(r) for r in job.results()}
    absent = [n for n in names if n not in results]
    if absent:
        raise CheckFailed(f"job {job.job_id}: no result from {', '.join(absent)}: {job.describe()}")
    wrong = [f"{n} {v:.3f}" for n, v in results.items() if v < PROBE_MIN]
    if wrong:
        raise CheckFailed(f"job {job.job_id}: wrong answers: {', '.join(wrong)}")
    return f"job {job.job_id}: " + ", ".join(f"{n} {v:.3f}" for n, v in results.items())


@check(REGISTRY, 43, "accounting_record", tier=Tier.l1, component="qrmid", expand=params.site_with_qpus,
       proves="After a QPU job, qrmid holds an accounting record for it (job, user, QPU, hold time) and "
              "nothing stays acquired.", timeout_s=240)
def accounting_record(ctx: Context, p: SiteParam) -> str:
    qpu = derive.qrmi_qpus(ctx.site)[0].name
    sched = for_site(ctx.site)
    job = sched.run_program(ctx, [qpu], [["probe", "--qpu", qpu]], "accounting", timeout_s=200)
    job.result()
    deadline = time.monotonic() + 20  # the plugin releases at job exit; qrmid writes the record then
    records: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        records = [r for r in qrmid_records.accounting(ctx, job.job_id) if r.get("qpu") == qpu]
        if records:
            break
        time.sleep(1)
    if not records:
        raise CheckFailed(f"qrmid has no accounting record for job {job.job_id} on {qpu}")
    held = qrmid_records.still_held(ctx, job.job_id)
    if held:
        raise CheckFailed(f"job {job.job_id} ended but qrmid still holds {', '.join(held)}")
    r = records[0]
    if sched.kind != "slurm":  # the scheduler's own accounting has the job too (Slurm's: checks 02x)
        own = sched.accounting(ctx, job.job_id)
        if not own:
            raise CheckFailed(f"{sched.label}'s accounting has no record of job {job.job_id}")
        return (f"job {job.job_id}: user {r.get('user')}, {qpu}, held {r.get('hold_s')} s; released; "
                f"{sched.label} accounting: {len(own)} fields")
    return f"job {job.job_id}: user {r.get('user')}, {qpu}, held {r.get('hold_s')} s; released"
