"""047 and 054 — a user can see where their QPU job's time went and why it waits
(`qpu-job-info JOBID` on the login node, their own jobs only), and operators can see QPU
utilisation without Grafana (the console page /consoles/qpu.html of the site's Prometheus)."""

from __future__ import annotations

import json
import re
import shlex
import time
from typing import Any

from acceptance import slurm_jobs
from acceptance.checks import REGISTRY, params
from acceptance.checks.params import SiteParam
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.remote_http import call
from acceptance.spec import CheckFailed, MissingComponent, NotApplicable, Tier, check
from site_survey import derive
from site_survey.model import HostRole

TOOL = "qpu-job-info"  # roles/spank_qrmid installs it on every Slurm host
CONSOLE = "/consoles/qpu.html"  # roles/prometheus installs it
OUTSIDER = "nobody"  # a user who is not the job's owner


def as_user(user: str, argv: list[str]) -> str:
    command = shlex.join(argv)
    return command if user == "root" else f"su -s /bin/sh {shlex.quote(user)} -c {shlex.quote(command)}"


def explained(ctx: Context, login: str, user: str, job_id: str) -> dict[str, Any]:
    """The tool's record of a finished job, once qrmid has recorded its release (the plugin
    releases at job exit)."""
    deadline = time.monotonic() + 30
    info: dict[str, Any] = {}
    while True:
        done = ctx.run(login, as_user(user, [TOOL, "--json", job_id]), timeout_s=60)
        if done.returncode == 127:
            raise MissingComponent(TOOL, login, "not installed (roles/spank_qrmid)")
        if not done.ok:
            raise CheckFailed(f"{TOOL} {job_id} as {user} exited {done.returncode}: {done.stderr.strip()[-300:]}")
        info = json.loads(done.stdout)
        acqs = (info.get("qrmid") or {}).get("acquisitions", [])
        if info["slurm"]["state"] == "COMPLETED" and acqs and all(a["state"] == "released" for a in acqs):
            return info
        if time.monotonic() > deadline:
            return info
        time.sleep(2)


@check(REGISTRY, 47, "qpu_job_explained", tier=Tier.smoke, component="qpu access", expand=params.slurm_site_with_qpus,
       proves="After a QPU job, its owner runs `qpu-job-info JOBID` on the login node and sees its Slurm "
              "timeline, its QPU license, qrmid's admission (profile), its tasks with execution against "
              "queue+transport time, and why it is not waiting; another user is refused.", timeout_s=300)
def qpu_job_explained(ctx: Context, p: SiteParam) -> str:
    login = login_host(ctx.site)
    if login is None:
        raise NotApplicable("the site model has no login host")
    qpu = derive.qrmi_qpus(ctx.site)[0].name
    user = slurm_jobs.job_user(ctx)
    job = slurm_jobs.run_program(ctx, [qpu], [["probe", "--qpu", qpu]], "explain", timeout_s=200)
    job.result()
    info = explained(ctx, login.name, user, job.job_id)
    s, q = info["slurm"], info["qrmid"]
    problems = []
    if s["state"] != "COMPLETED" or s["licenses"].get(qpu) != 1:
        problems.append(f"Slurm part: state {s['state']}, licenses {s['licenses']} (expected COMPLETED, {qpu}:1)")
    if not (s["submit"] and s["start"] and s["end"] and s["submit"] <= s["start"] <= s["end"]):
        problems.append(f"Slurm times out of order: submit {s['submit']}, start {s['start']}, end {s['end']}")
    if q is None:
        problems.append("qrmid part missing: qrmid had no record of the job for its owner")
        acq: dict[str, Any] = {}
    else:
        acq = q["acquisitions"][0]
        if acq["state"] != "released" or qpu not in acq["qpus"] or not acq["profile"]:
            problems.append(f"qrmid part: state {acq['state']}, QPUs {acq['qpus']}, profile {acq['profile']}")
        done = [t for t in acq["tasks"] if t["state"] == "done"]
        if not done or any(t["executing_s"] is None or t["executing_s"] > t["wall_s"] + 1e-3 for t in done):
            problems.append(f"tasks: {acq['tasks']} (expected an ended task with executing <= wall time)")
    if not info["why"].startswith("not waiting: the job ended (COMPLETED)"):
        problems.append(f"why: {info['why']!r}")
    text = ctx.run(login.name, as_user(user, [TOOL, job.job_id]), timeout_s=60)
    if not text.ok or not re.search(r"^Why now: not waiting", text.stdout, re.M) or "tasks " not in text.stdout:
        problems.append(f"text output: {text.stdout.strip()[:300]!r}")
    other = ctx.run(login.name, as_user(OUTSIDER, [TOOL, job.job_id]), timeout_s=60)
    if other.returncode != 2 or "not yours" not in other.stderr:
        problems.append(f"{OUTSIDER} asked about job {job.job_id}: exit {other.returncode}, {other.stdout[:200]!r}")
    if problems:
        raise CheckFailed(f"job {job.job_id}: " + "; ".join(problems))
    tasks = acq["tasks"]
    return (f"job {job.job_id} of {user}: waited {s['start'] - s['submit']:.0f} s in Slurm, profile "
            f"{acq['profile']}, {len(tasks)} task(s), executing {acq['executing_s']} s, queue+transport "
            f"{acq['other_s']} s; {OUTSIDER} refused")


@check(REGISTRY, 54, "qpu_console_page", tier=Tier.smoke, component="prometheus", expand=params.site_with_qpus,
       proves="The site's Prometheus serves the QPU console page (no Grafana needed) with a row per QPU "
              "and the recorded utilisation series behind it.", timeout_s=60)
def qpu_console_page(ctx: Context, p: SiteParam) -> str:
    mon = ctx.site.hosts_with(HostRole.monitoring)
    if not mon:
        raise NotApplicable("the site model has no monitoring host")
    port = ctx.site.software.monitoring.prometheus_port
    base = f"http://{mon[0].address}:{port}"
    reply = call(ctx, mon[0].name, "GET", base, CONSOLE)
    if reply.status == -1:
        raise MissingComponent("prometheus", mon[0].name, f"no answer on {base} ({reply.error})")
    if reply.status != 200 or not isinstance(reply.body, str):
        raise CheckFailed(f"{CONSOLE} answered {reply.status}: {str(reply.body)[:300]}")
    page = reply.body
    if "error executing template" in page.lower():
        raise CheckFailed(f"{CONSOLE} failed to render: {page[:300]}")
    qpus = [q.name for q in derive.qrmi_qpus(ctx.site)]
    missing = [q for q in qpus if f"<td>{q}</td>" not in page]
    if missing:
        raise CheckFailed(f"{CONSOLE} has no row for {', '.join(missing)} (is qrmid scraped?)")
    series = call(ctx, mon[0].name, "GET", base, "/api/v1/query?query=qpu%3Aqueue%3Alength")
    recorded = len((series.body or {}).get("data", {}).get("result", [])) if series.ok else 0
    if recorded < len(qpus):
        raise CheckFailed(f"qpu:queue:length has {recorded} series, expected one per QPU ({len(qpus)})")
    return f"{CONSOLE}: {len(page)} bytes, rows for {', '.join(qpus)}; {recorded} qpu:queue:length series"
