"""02x — the cluster as a whole: munge trust between hosts, Slurm nodes idle,
one Slurm license per QPU with the model's slot count."""

from __future__ import annotations

from acceptance.checks import REGISTRY, params
from acceptance.checks.params import PairParam, SiteParam
from acceptance.context import Context
from acceptance.spec import CheckFailed, MissingComponent, Tier, check
from site_survey import derive
from site_survey.model import HostRole, Site

COMMAND_NOT_FOUND = 127


@check(REGISTRY, 20, "munge_roundtrip", tier=Tier.smoke, component="munge", expand=params.munge_pairs,
       proves="A credential made on one host is accepted on the other: both share the site's munge key.")
def munge_roundtrip(ctx: Context, p: PairParam) -> str:
    made = ctx.run(p.source, "munge -n")
    if made.returncode == COMMAND_NOT_FOUND:
        raise MissingComponent("munge", p.source, "no munge command")
    if not made.ok or not made.stdout.startswith("MUNGE:"):
        raise CheckFailed(f"munge -n failed on {p.source}: {made.stderr.strip() or made.stdout.strip()}")
    checked = ctx.run(p.target, "unmunge", stdin=made.stdout)
    if checked.returncode == COMMAND_NOT_FOUND:
        raise MissingComponent("munge", p.target, "no unmunge command")
    if not checked.ok:
        status = next((line for line in checked.stdout.splitlines() if line.startswith("STATUS:")), "")
        raise CheckFailed(f"{p.target} refused a credential from {p.source}: "
                          f"{status or checked.stderr.strip()} (different munge keys or clock skew)")
    return f"credential from {p.source} accepted on {p.target}"


def _controller(site: Site) -> str:
    ctl = site.hosts_with(HostRole.controller)
    if not ctl:
        raise CheckFailed("the site model has no controller host")
    return ctl[0].name


def parse_sinfo_nodes(text: str) -> dict[str, str]:
    """``sinfo -h -N -o '%N %t'`` → node → compact state (a node in two partitions appears twice)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0]] = parts[1]
    return out


@check(REGISTRY, 21, "slurm_nodes_idle", tier=Tier.smoke, component="slurm", expand=params.slurm_site,
       proves="Every compute node of the model is known to slurmctld and idle (ready for jobs).", timeout_s=30)
def slurm_nodes_idle(ctx: Context, p: SiteParam) -> str:
    host = _controller(ctx.site)
    done = ctx.run(host, "sinfo -h -N -o '%N %t'")
    if done.returncode == COMMAND_NOT_FOUND:
        raise MissingComponent("slurm", host, "no sinfo command (slurm-client)")
    if not done.ok:
        raise CheckFailed(f"sinfo failed on {host}: {done.stderr.strip()}")
    states = parse_sinfo_nodes(done.stdout)
    wanted = [h.name for h in ctx.site.hosts_with(HostRole.compute)]
    absent = [n for n in wanted if n not in states]
    if absent:
        raise CheckFailed(f"slurmctld does not know node(s) {', '.join(absent)}")
    busy = {n: states[n] for n in wanted if states[n].rstrip("*~#") != "idle"}
    if busy:
        detail = ", ".join(f"{n} {s}" for n, s in busy.items())
        raise CheckFailed(f"node(s) not idle: {detail} (see `scontrol show node` for the reason)")
    return f"{len(wanted)} node(s) idle: {', '.join(wanted)}"


def parse_licenses(text: str) -> dict[str, int]:
    """``scontrol show licenses -o`` → name → Total."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "LicenseName" in fields and "Total" in fields:
            out[fields["LicenseName"]] = int(fields["Total"])
    return out


@check(REGISTRY, 22, "slurm_qpu_licenses", tier=Tier.smoke, component="slurm", expand=params.slurm_site_with_qpus,
       proves="Slurm has one license per QPU whose count is the model's slots (a QPU shared task by task: the "
              "jobs it admits, sharing.max_jobs), so jobs cannot over-book a QPU.")
def slurm_qpu_licenses(ctx: Context, p: SiteParam) -> str:
    host = _controller(ctx.site)
    done = ctx.run(host, "scontrol show licenses -o")
    if done.returncode == COMMAND_NOT_FOUND:
        raise MissingComponent("slurm", host, "no scontrol command (slurm-client)")
    found = parse_licenses(done.stdout)
    wrong = []
    expected = derive.qpu_licenses(ctx.site)  # slots; a QPU shared task by task: the jobs it admits
    for q in ctx.site.qpus:
        if q.name not in found:
            wrong.append(f"{q.name} missing")
        elif found[q.name] != expected[q.name]:
            wrong.append(f"{q.name} has {found[q.name]}, model says {expected[q.name]}")
    if wrong:
        raise CheckFailed("QPU licenses: " + "; ".join(wrong))
    return ", ".join(f"{n}:{c}" for n, c in sorted(found.items()) if ctx.site.qpu(n))
