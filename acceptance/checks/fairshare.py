"""025 — fair-share moves: a QPU job's use is charged to its Slurm account, weighted by the QPU
license (TRESBillingWeights License/<qpu>), and the account's users fall behind an idle
account's in fair-share.

When Slurm charges use (22.05, priority/multifactor): the decay thread wakes every
PriorityCalcPeriod and adds, for every *running* job, billing x (now - max(job start, last tick))
to its association and every parent. A job's end is charged only with
AccountingStorageEnforce=limits (the kit leaves enforcement off), so the run time after a job's
last tick is never charged. The check therefore keeps its job running until one tick has charged
it, and compares the charge with billing x (tick - start). Expands to nothing under Grid Engine;
not applicable without slurmdbd accounting and priority/multifactor, or with a period longer
than the check's budget.
"""

from __future__ import annotations

import math
import re
import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from acceptance import batch_jobs
from acceptance.checks import REGISTRY, params
from acceptance.checks.params import SiteParam
from acceptance.checks.sharing import sacct_default_account
from acceptance.context import Context
from acceptance.expectations import login_host
from acceptance.scheduler import for_site
from acceptance.spec import CheckFailed, NotApplicable, Tier, check
from site_survey.model import HostRole

SSHARE_FIELDS = ("Account", "User", "RawShares", "RawUsage", "EffectvUsage", "LevelFS", "FairShare")
MAX_PERIOD_S = 120  # the longest PriorityCalcPeriod the check waits for (smoke's budget; Slurm's default is 5 min)
START_S = 120.0  # the job runs within this (the QPU's license may be busy a moment)
POLL_S = 2.0  # sshare is read this often while waiting for the tick (one RPC to slurmctld each)
TICK_SLACK_S = 30.0  # past one period after the job's start, the charge must have been seen
CLOCK_SLACK_S = 2.0  # whole-second times of the job's start and the tick
HOLD_SCRIPT = "#!/bin/bash\nsleep 900\n"  # bounded by --time (period + 2 min) and cancelled once charged


@dataclass(frozen=True)
class Share:
    """One row of ``sshare -a -n -P`` (an account, or a user under an account)."""

    account: str
    user: str
    raw_shares: int
    raw_usage: int
    effective_usage: float
    level_fs: float | None  # inf: no use yet; None: not shown
    fairshare: float | None  # None on account rows under Fair Tree


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)  # 'inf' too
    except ValueError:
        return None


def parse_sshare(text: str) -> list[Share]:
    """``sshare -a -n -P -o Account,User,RawShares,RawUsage,EffectvUsage,LevelFS,FairShare``: account
    names come indented by depth (stripped); a user row carries its account in Account."""
    rows = []
    for line in text.splitlines():
        cells = line.split("|")
        if len(cells) != len(SSHARE_FIELDS):
            continue
        account, user, shares, usage, efctv, level, fs = (c.strip() for c in cells)
        if not account or not usage.isdigit():
            continue
        rows.append(Share(account, user, int(shares) if shares.isdigit() else 0, int(usage),
                          _number(efctv) or 0.0, _number(level), _number(fs)))
    return rows


def account_row(rows: list[Share], account: str) -> Share | None:
    return next((r for r in rows if r.account == account and not r.user), None)


def user_row(rows: list[Share], account: str, user: str) -> Share | None:
    return next((r for r in rows if r.account == account and r.user == user), None)


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config``: ``Key = value`` lines."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            out[key.strip()] = value.strip()
    return out


def duration_s(text: str) -> int | None:
    """A Slurm duration as scontrol prints it (``00:01:00``, ``1-00:00:00``, ``5 min``) in seconds."""
    text = text.strip()
    m = re.fullmatch(r"(\d+)\s*min", text)
    if m:
        return int(m.group(1)) * 60
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{2}):(\d{2})", text)
    if not m:
        return None
    days, h, mi, s = (int(g) if g else 0 for g in m.groups())
    return ((days * 24 + h) * 60 + mi) * 60 + s


def billing_of(tres: str) -> float | None:
    """The ``billing=`` figure of a job's TRES string (``cpu=1,node=1,billing=65,license/q=1``)."""
    for item in tres.split(","):
        key, _, value = item.partition("=")
        if key == "billing":
            return _number(value)
    return None


@dataclass(frozen=True)
class Charge:
    """What the suite saw: the account's and its user's rows before and after the charge, the
    other accounts after, the job's billing, its start and the tick that charged it (epochs), and
    the decay: PriorityDecayHalfLife and the longest time it can have acted between the two reads."""

    account: str
    user: str
    before: list[Share]
    after: list[Share]
    billing: float
    expected_billing: float
    started: float
    tick: float | None
    half_life_s: int
    span_s: float
    license_weight: float


def judge(c: Charge) -> str:
    """The account's RawUsage grew by billing x the seconds from the job's start to the tick (within
    the clocks' whole seconds and the decay of what it had before), the billing counts the QPU's
    license at the model's weight, and the user's FairShare is below that of every user of a less-used
    account. Returns the figures; raises CheckFailed naming what did not move."""
    a0, a1 = account_row(c.before, c.account), account_row(c.after, c.account)
    u0, u1 = user_row(c.before, c.account, c.user), user_row(c.after, c.account, c.user)
    if a0 is None or a1 is None or u0 is None or u1 is None:
        raise CheckFailed(f"sshare shows no association {c.account}/{c.user} (roles/slurmdbd associations)")
    if abs(c.billing - c.expected_billing) >= 1:
        raise CheckFailed(f"the job's billing is {c.billing:g}, expected {c.expected_billing:g} (CPUs + the QPU "
                          "license's weight): TRESBillingWeights License/<qpu> is not applied")
    grew = a1.raw_usage - a0.raw_usage
    # earlier use decays at each tick: the charge is between what RawUsage grew and that plus the decay;
    # times are whole seconds, so a job charged at all is charged at least one second's billing
    decay = a0.raw_usage * (1 - 2 ** (-c.span_s / c.half_life_s)) if c.half_life_s > 0 else 0.0
    if grew + decay < max(c.billing, 1):
        raise CheckFailed(f"account {c.account}'s RawUsage did not grow: {a0.raw_usage} -> {a1.raw_usage} "
                          "(no PriorityCalcPeriod tick charged the running QPU job)")
    timing = ""
    if c.tick is not None:
        ran_s = c.tick - c.started
        expected = c.billing * ran_s
        slack = c.billing * CLOCK_SLACK_S
        if not grew - slack <= expected <= grew + decay + slack:
            raise CheckFailed(f"account {c.account} was charged {grew} (up to {grew + decay:.0f} with decay), but "
                              f"the job ran {ran_s:.0f} s before the tick: billing {c.billing:g} x {ran_s:.0f} s "
                              f"= {expected:.0f}")
        timing = f" = {ran_s:.0f} s before the tick x billing {c.billing:g}"
    mine = u1.fairshare
    if mine is None:
        raise CheckFailed(f"sshare shows no FairShare for {c.user} in {c.account}")
    ours = a1.level_fs if a1.level_fs is not None else math.inf
    less_used = {r.account for r in c.after if not r.user and r.account not in (c.account, "root")
                 and (r.level_fs if r.level_fs is not None else 0.0) > ours}
    others = [r for r in c.after if r.user and r.account in less_used and r.raw_shares > 0
              and r.fairshare is not None]
    ahead = [r for r in others if r.fairshare is not None and r.fairshare <= mine]
    if ahead:
        r = ahead[0]
        raise CheckFailed(f"{c.user}'s FairShare {mine:.3f} in {c.account} (RawUsage {a1.raw_usage}) is not below "
                          f"{r.user}'s {r.fairshare:.3f} in the less-used {r.account}")
    was = f"{u0.fairshare:.3f}" if u0.fairshare is not None else "?"
    compared = (f"below {', '.join(f'{r.user}@{r.account} {r.fairshare:.3f}' for r in others)}" if others
                else "no less-used account to compare with")
    return (f"account {c.account} RawUsage {a0.raw_usage} -> {a1.raw_usage} (+{grew}{timing}; billing "
            f"{c.billing:g} = {c.billing - c.license_weight:g} CPU + {c.license_weight:g} for the QPU license); "
            f"FairShare of {c.user} {was} -> {mine:.3f}, {compared}")


def _sshare(ctx: Context, host: str) -> list[Share]:
    argv = ["sshare", "-a", "-n", "-P", "-o", ",".join(SSHARE_FIELDS)]
    return parse_sshare(ctx.run_ok(host, shlex.join(argv), "sshare"))


def _epoch(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _last_tick(ctx: Context, conf: dict[str, str]) -> float | None:
    """When the decay thread last ran: the mtime of StateSaveLocation/priority_last_decay_ran,
    which it rewrites at every tick (on the controller)."""
    controllers = ctx.site.hosts_with(HostRole.controller)
    state = conf.get("StateSaveLocation", "")
    if not controllers or not state.startswith("/"):
        return None
    done = ctx.run(controllers[0].name, shlex.join(["stat", "-c", "%Y", f"{state}/priority_last_decay_ran"]))
    text = done.stdout.strip()
    return float(text) if done.ok and text.isdigit() else None


@check(REGISTRY, 25, "fairshare_moves", tier=Tier.smoke, component="slurm", expand=params.slurm_site_with_qpus,
       proves="A running QPU job is charged to its user's Slurm account at the next PriorityCalcPeriod tick as "
              "billing (CPUs plus the QPU license's weight) times its run time, so the account's RawUsage in "
              "sshare grows and its user's FairShare falls below that of a less-used account.",
       timeout_s=MAX_PERIOD_S + 150)
def fairshare_moves(ctx: Context, p: SiteParam) -> str:
    del p
    if not ctx.site.software.scheduler.accounting.enabled:
        raise NotApplicable("Slurm accounting is off in the model (software.scheduler.accounting.enabled)")
    login = login_host(ctx.site)
    if login is None:
        raise NotApplicable("the site model has no login host")
    conf = parse_config(ctx.run_ok(login.name, "scontrol show config", "scontrol show config"))
    if conf.get("PriorityType") != "priority/multifactor":
        raise NotApplicable(f"PriorityType is {conf.get('PriorityType') or '?'}: no fair-share without "
                            "priority/multifactor")
    if conf.get("AccountingStorageType") != "accounting_storage/slurmdbd":
        raise NotApplicable(f"AccountingStorageType is {conf.get('AccountingStorageType') or '?'}: no associations")
    period = duration_s(conf.get("PriorityCalcPeriod", "")) or MAX_PERIOD_S
    if period > MAX_PERIOD_S:
        raise NotApplicable(f"PriorityCalcPeriod is {period // 60} min, longer than this smoke check waits for a "
                            f"tick ({MAX_PERIOD_S // 60} min); software.scheduler.accounting."
                            f"fairshare_calc_period_minutes <= {MAX_PERIOD_S // 60} runs it (a rehearsal: 1)")
    qpu = next((q for q in ctx.site.qpus if q.qrmi is not None), None)
    if qpu is None:
        raise NotApplicable("no QPU takes --qpu jobs")
    user = batch_jobs.require_submitter(ctx)
    account = sacct_default_account(ctx, login.name, user)
    before = _sshare(ctx, login.name)
    before_at = time.time()
    sched = for_site(ctx.site)
    sub = sched.submit(ctx, HOLD_SCRIPT, [qpu.name], f"fairshare-{qpu.name}", period // 60 + 2)
    if not sub.job_id:
        raise CheckFailed(f"the QPU job was refused at submission: {sub.stderr[:300]}")
    job = sub.job_id
    try:
        state = sched.wait_state(ctx, job, True, START_S)
        if not sched.is_running(state):
            raise CheckFailed(f"job {job} on {qpu.name} did not run within {START_S:.0f} s (state {state or '?'})")
        shown = ctx.run(login.name, shlex.join(["env", "TZ=UTC", "scontrol", "show", "job", "-o", job])).stdout
        fields = dict(tok.partition("=")[::2] for tok in shown.split() if "=" in tok)
        started = _epoch(fields.get("StartTime", "")) or time.time()
        billing = billing_of(fields.get("TRES", "")) or 0.0
        cpus = float(fields.get("NumCPUs", "0") or 0)
        running = time.monotonic()
        deadline = running + period + TICK_SLACK_S
        base = account_row(before, account)
        after = before
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            after = _sshare(ctx, login.name)
            now = account_row(after, account)
            if now is not None and base is not None and now.raw_usage > base.raw_usage:
                break
        seen_s = time.monotonic() - running
        tick = _last_tick(ctx, conf)  # at once: the tick that charged the job, not a later one
    finally:
        sched.cancel(ctx, job)
        sched.wait_state(ctx, job, False, 30)
        sched.collect(ctx, job, sub.stderr)  # reads and removes the job's output file
    weight = ctx.site.software.scheduler.accounting.qpu_billing_weight
    verdict = judge(Charge(account, user, before, after, billing, cpus + weight, started, tick,
                           duration_s(conf.get("PriorityDecayHalfLife", "")) or 0,
                           time.time() - before_at + period, weight))
    return (f"job {job} of {user} on {qpu.name}, PriorityCalcPeriod {period} s: {verdict}; the charge seen "
            f"{seen_s:.0f} s after the job ran")
