"""06x — negative drills: what must fail, fails fast, says why, and leaves no QPU acquired.

Each drill changes nothing that outlives it: the wrong endpoint is set inside the
job's own program (the plugin overwrites every QRMI variable a user exports, which
the same drill checks first), the zero time limit is the job's own option, the
unauthorised user is an existing account outside every policy profile, and
maintenance is switched on through qrmid's operator API and always switched off
again.
"""

from __future__ import annotations

import time

from acceptance import qrmid_records, slurm_jobs
from acceptance.checks import REGISTRY, params
from acceptance.checks.params import QpuParam
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.remote_http import call
from acceptance.scheduler import for_site
from acceptance.spec import CheckFailed, MissingComponent, Tier, check
from site_survey import derive
from site_survey.catalogue.qrmi_types import QRMI_TYPES
from site_survey.model import HostRole, Site

FAIL_FAST_S = 60.0  # a drill's job must end within this (the job's limit is minutes)
DEAD_ENDPOINT = "http://127.0.0.1:9"  # the discard port on the compute node itself: nothing answers
UNAUTHORISED_USER = "nobody"


def endpoint_key(qrmi_type_name: str) -> tuple[str, str] | None:
    """The setting a QRMI type reads its endpoint from, and the path it ends in (the catalogue's mapping)."""
    spec = QRMI_TYPES.get(qrmi_type_name)
    if spec is None or spec.endpoint_key is None:
        return None
    return spec.endpoint_key, spec.endpoint_suffix


def _judge(ctx: Context, job: slurm_jobs.JobOutcome, elapsed: float, words: tuple[str, ...], what: str) -> str:
    """Common end of every drill: failed, fast, clearly, and nothing left acquired."""
    if job.job_id and job.exit_code == 0 and job.results():
        raise CheckFailed(f"{what}: job {job.job_id} succeeded; it must be refused")
    if elapsed > FAIL_FAST_S:
        raise CheckFailed(f"{what}: the job took {elapsed:.0f} s to fail (limit {FAIL_FAST_S:.0f} s)")
    message = job.describe()
    text = f"{message} {job.submit_error} {job.output}".lower()
    if not any(w in text for w in words):
        raise CheckFailed(f"{what}: failed without a clear message (expected one of {', '.join(words)}): "
                          f"{message[:300]}")
    if job.job_id:
        held = qrmid_records.still_held(ctx, job.job_id)
        if held:
            raise CheckFailed(f"{what}: job {job.job_id} failed but qrmid still holds {', '.join(held)}")
    return f"failed in {elapsed:.0f} s: {message[:200]}"



@check(REGISTRY, 60, "drill_wrong_endpoint", tier=Tier.l1, component="qpu access", expand=params.each_qpu,
       proves="A wrong QRMI endpoint exported at submission does not reach the job (the plugin sets qrmid's "
              "values), and a job whose own code points qrmi at a wrong endpoint fails fast with a message "
              "naming the connection problem; qrmid holds nothing afterwards.", timeout_s=240)
def drill_wrong_endpoint(ctx: Context, p: QpuParam) -> str:
    key = endpoint_key(p.qrmi_type)
    if key is None:
        raise CheckFailed(f"no endpoint drill for QRMI type {p.qrmi_type}")
    wrong = f"{p.qpu}_{key[0]}={DEAD_ENDPOINT}{key[1]}"
    sched = for_site(ctx.site)
    name, _, value = wrong.partition("=")
    exported = sched.run_program(ctx, [p.qpu], [["probe", "--qpu", p.qpu, "--shots", "100"]],
                                 f"drill-export-{p.qpu}", timeout_s=150, env={name: value})
    if not (exported.exit_code == 0 and exported.results()):
        raise CheckFailed(f"wrong endpoint exported at submission: job {exported.job_id} failed; the plugin must "
                          f"replace a user's {p.qpu}_{key[0]} with qrmid's: {exported.describe()[:200]}")
    started = time.monotonic()
    job = sched.run_program(ctx, [p.qpu], [["probe", "--qpu", p.qpu, "--env", wrong]], f"drill-endpoint-{p.qpu}",
                            timeout_s=150)
    return _judge(ctx, job, time.monotonic() - started,
                  ("connect", "connection", "refused", "endpoint", "error sending request"), "wrong endpoint")


@check(REGISTRY, 61, "drill_unauthorised_user", tier=Tier.l1, component="qrmid", expand=params.each_qpu,
       proves="A user outside every policy profile asking for the QPU is refused fast with a message that says "
              "so, and nothing is acquired.", timeout_s=180)
def drill_unauthorised_user(ctx: Context, p: QpuParam) -> str:
    started = time.monotonic()
    job = for_site(ctx.site).run_program(ctx, [p.qpu], [["probe", "--qpu", p.qpu]], f"drill-user-{p.qpu}",
                                         timeout_s=150, as_user=UNAUTHORISED_USER)
    return _judge(ctx, job, time.monotonic() - started,
                  ("policy", "not authori", "no qpu policy", "denied", "not allowed"), "unauthorised user")


@check(REGISTRY, 62, "drill_zero_time_limit", tier=Tier.l1, component="slurm", expand=params.slurm_each_qpu,
       proves="A QPU job submitted with a zero time limit (`sbatch --time=0`) is refused fast with a clear "
              "message (e.g. EnforcePartLimits) and never acquires the QPU.", timeout_s=180)
def drill_zero_time_limit(ctx: Context, p: QpuParam) -> str:
    # Slurm reads --time=0 as "no limit": on a partition with MaxTime such a job would pend for ever
    # unless slurmctld refuses it at submission (EnforcePartLimits). Poll, never wait for ever.
    script = slurm_jobs.batch_script(slurm_jobs.runtime_python(ctx), [["probe", "--qpu", p.qpu]])
    started = time.monotonic()
    job = slurm_jobs.submit(ctx, script, [f"--qpu={p.qpu}", "--time=0"], f"drill-time-{p.qpu}",
                            timeout_s=FAIL_FAST_S)
    elapsed = time.monotonic() - started
    if job.abandoned:
        raise CheckFailed(f"zero time limit: job {job.job_id} was accepted and left {job.abandoned}; refuse such "
                          "jobs at submission (slurm.conf EnforcePartLimits=ALL)")
    return _judge(ctx, job, elapsed, ("time limit", "timeout", "timed out", "time_limit", "limit"),
                  "zero time limit")


def _access_host(site: Site) -> tuple[str, str]:
    access = site.hosts_with(HostRole.qpu_access)
    if not access:
        raise CheckFailed("the site model has no qpu_access host (qrmid)")
    return access[0].name, derive.qrmid_url(site) or f"http://{access[0].address}:{site.software.qrmid_port}"


@check(REGISTRY, 63, "drill_qpu_maintenance", tier=Tier.l1, component="qrmid", expand=params.each_qpu,
       proves="With the QPU in maintenance (qrmid operator API), a job of a fail-fast profile is refused fast "
              "with the maintenance message; maintenance is always switched off again.", timeout_s=200)
def drill_qpu_maintenance(ctx: Context, p: QpuParam) -> str:
    host, url = _access_host(ctx.site)
    slurm_jobs.require_submitter(ctx)  # before maintenance goes on: no side effect when the drill cannot run
    message = "qpusite acceptance drill: maintenance"
    on = call(ctx, host, "PUT", url, f"/v1/qpus/{p.qpu}/maintenance", body={"message": message}, auth="operator")
    if on.status == -1:
        raise MissingComponent("qrmid", host, f"no answer at {url} ({on.error})")
    if not on.ok:
        raise CheckFailed(f"could not put {p.qpu} in maintenance: {on.status} {str(on.body)[:200]}")
    try:
        started = time.monotonic()
        job = for_site(ctx.site).run_program(ctx, [p.qpu], [["probe", "--qpu", p.qpu]], f"drill-maint-{p.qpu}",
                                             timeout_s=150)
        elapsed = time.monotonic() - started
    finally:
        off = call(ctx, host, "DELETE", url, f"/v1/qpus/{p.qpu}/maintenance", auth="operator")
        if not off.ok:
            raise CheckFailed(f"could not take {p.qpu} out of maintenance: {off.status} {str(off.body)[:200]}")
    return _judge(ctx, job, elapsed, ("maintenance",), "QPU in maintenance")


@check(REGISTRY, 64, "drill_license_without_qpu", tier=Tier.l1, component="slurm", expand=params.slurm_each_qpu,
       proves="A job asking for the QPU's Slurm license directly (`sbatch -L NAME:1`, no --qpu) is refused at "
              "submission: QPU licenses come only with --qpu, so nobody can block the QPU past qrmid.",
       timeout_s=120)
def drill_license_without_qpu(ctx: Context, p: QpuParam) -> str:
    sub = slurm_jobs.sbatch(ctx, "#!/bin/bash\ntrue\n", [f"--licenses={p.qpu}:1", "--time=1"],
                            f"drill-license-{p.qpu}")
    if sub.job_id:
        slurm_jobs.cancel(ctx, sub.job_id)
        raise CheckFailed(f"sbatch -L {p.qpu}:1 without --qpu was accepted as job {sub.job_id} (cancelled); QPU "
                          "licenses must be refused unless they come from --qpu")
    words = ("--qpu", "qpu license", "license")
    if not any(w in sub.stderr.lower() for w in words):
        raise CheckFailed(f"sbatch -L {p.qpu}:1 was refused without a clear message: {sub.stderr[:200]}")
    return f"refused: {sub.stderr[:200]}"


@check(REGISTRY, 65, "drill_license_kept_on_update", tier=Tier.l1, component="slurm", expand=params.slurm_each_qpu,
       proves="The owner of a pending --qpu job cannot remove its QPU license with `scontrol update` (and so "
              "cannot start without waiting for the QPU).", timeout_s=120)
def drill_license_kept_on_update(ctx: Context, p: QpuParam) -> str:
    script = slurm_jobs.batch_script(slurm_jobs.runtime_python(ctx), [["probe", "--qpu", p.qpu]])
    sub = slurm_jobs.sbatch(ctx, script, [f"--qpu={p.qpu}", "--time=1", "--hold"], f"drill-update-{p.qpu}")
    if not sub.job_id:
        raise CheckFailed(f"could not submit a held --qpu job: {sub.stderr[:200]}")
    login = login_host(ctx.site)
    assert login is not None  # sbatch() checked
    user = slurm_jobs.require_submitter(ctx)
    try:
        done = ctx.run(login.name, slurm_jobs.as_user_command(
            user, f"scontrol update jobid={sub.job_id} licenses=''"), timeout_s=30)
        info = slurm_jobs.parse_scontrol_job(ctx.run(login.name, f"scontrol show job -o {sub.job_id}").stdout)
    finally:
        slurm_jobs.cancel(ctx, sub.job_id)
    licenses = info.get("Licenses", "")
    if p.qpu not in licenses:
        raise CheckFailed(f"job {sub.job_id}: its owner removed the QPU license (now {licenses or 'none'!r})")
    if done.returncode == 0:
        raise CheckFailed(f"job {sub.job_id}: scontrol update licenses= by its owner exited 0; it must be refused")
    return f"refused ({(done.stderr or done.stdout).strip()[:160]}); licenses still {licenses}"


@check(REGISTRY, 66, "drill_cross_job_objects", tier=Tier.l1, component="qrmid", expand=params.each_qpu,
       proves="A job cannot reach another job's tasks through qrmid's proxy with its own credentials: dot "
              "segments in every encoding, encoded slashes, empty segments, repeated query keys and foreign ids "
              "are all refused with a 4xx, while the job's own task stays readable.", timeout_s=420)
def drill_cross_job_objects(ctx: Context, p: QpuParam) -> str:
    sched = for_site(ctx.site)
    first = sched.run_program(ctx, [p.qpu], [["plant", "--qpu", p.qpu]], f"drill-plant-{p.qpu}", timeout_s=180)
    foreign = str(first.result().get("value") or "")
    if not foreign:
        raise CheckFailed(f"job {first.job_id} planted no task: {first.describe()[:200]}")
    second = sched.run_program(ctx, [p.qpu], [["escape", "--qpu", p.qpu, "--foreign", foreign]],
                               f"drill-escape-{p.qpu}", timeout_s=220)
    result = second.result()
    detail = result.get("detail")
    if not isinstance(detail, dict):
        raise CheckFailed(f"job {second.job_id} reported no attempts: {result}")
    if detail.get("control_status") != 200:
        raise CheckFailed(f"job {second.job_id} could not read its own task ({detail.get('control_status')}): "
                          "the proxy refuses legitimate use, so the refusals prove nothing")
    leaked = detail.get("not_refused") or []
    if leaked:
        shown = "; ".join(f"{a['method']} {a['path']} -> {a['status']}" for a in leaked[:5])
        raise CheckFailed(f"job {second.job_id} reached past its own acquisition ({len(leaked)} of "
                          f"{len(detail.get('attempts') or [])}): {shown}")
    return f"{len(detail.get('attempts') or [])} attempts on job {first.job_id}'s task refused (4xx); own task 200"
