"""08x — the suite's own hygiene: after its jobs and drills, the site holds nothing of the run
(no acceptance job in the queue, no job output left on a compute node, no QPU still held)."""

from __future__ import annotations

from acceptance import slurm_jobs
from acceptance.checks import REGISTRY, params
from acceptance.checks.params import SiteParam
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.spec import CheckFailed, Tier, check
from site_survey.model import HostRole

JOB_PREFIX = "qpusite-accept-"


@check(REGISTRY, 80, "nothing_left_behind", tier=Tier.smoke, component="suite", expand=params.the_site,
       proves="After the run no acceptance job is queued or running and no job output is left on a compute "
              "node: running the suite again finds the site as it was.", timeout_s=60)
def nothing_left_behind(ctx: Context, p: SiteParam) -> str:
    login = login_host(ctx.site)
    if login is None:
        raise CheckFailed("the site model has no login or controller host")
    left = []
    queue = ctx.run(login.name, "squeue -h -o '%i %j %T'")
    if queue.ok:
        left += [f"job {ln.split()[0]} ({ln.split()[2]})" for ln in queue.stdout.splitlines()
                 if len(ln.split()) >= 3 and ln.split()[1].startswith(JOB_PREFIX)]
    pattern = f"{slurm_jobs.OUTPUT_DIR}/{JOB_PREFIX}*.out"
    for host in ctx.site.hosts_with(HostRole.compute):
        files = ctx.run(host.name, f"ls -1 {pattern} 2>/dev/null").stdout.split()
        left += [f"{host.name}:{f}" for f in files]
    if left:
        raise CheckFailed("left behind by acceptance jobs: " + ", ".join(left[:10]))
    return "no acceptance job queued, no job output left on compute nodes"
