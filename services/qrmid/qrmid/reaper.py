"""Reconcile acquisitions against Slurm: release those whose job finished or vanished.

A failing `squeue` (slurmctld down, no route) proves nothing about any job, so
that round is skipped; only a successful listing that lacks a job, or shows it in
a terminal state, releases its QPUs.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time

from qrmid.broker import Broker
from qrmid.models import Outcome, State

log = logging.getLogger("qrmid.reaper")

TERMINAL = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
    "REVOKED",
    "SPECIAL_EXIT",
}


# %A: the job id (what the plugin sends; an array task's own id, a het component's own id);
# %i: what users see (`10_1` for array tasks, `20+1` for het components, `10_[2-5]` pending)
SQUEUE_FORMAT = "%A|%i|%T"


def parse_listing(text: str) -> dict[str, str]:
    """{job id: state} from `squeue --format=%A|%i|%T`. Every job id a job is known by maps to
    its state: its own id (%A) and, for a het job component `N+k`, the het job's id N too (the
    leader). A job id listed several times (het components) keeps the state of a running one."""
    states: dict[str, str] = {}

    def put(job: str, state: str) -> None:
        if job and (job not in states or states[job] in TERMINAL):
            states[job] = state

    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 3:
            continue
        own, shown, state = (p.strip() for p in parts)
        put(own, state)
        if "+" in shown:
            put(shown.split("+", 1)[0], state)
        elif "_" not in shown:
            put(shown, state)
    return states


async def slurm_job_states(timeout: float = 10.0) -> dict[str, str] | None:
    """{job id: state} for every job slurmctld knows, or None when it cannot be asked."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "squeue",
            "--noheader",
            "--all",
            "--states=all",
            f"--format={SQUEUE_FORMAT}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (OSError, TimeoutError) as exc:
        log.warning("squeue unavailable: %s", exc)
        return None
    if proc.returncode != 0:
        log.warning("squeue failed (%s): %s", proc.returncode, err.decode().strip())
        return None
    return parse_listing(out.decode(errors="replace"))


def slurm_enabled(mode: str) -> bool:
    return mode == "on" or (mode == "auto" and shutil.which("squeue") is not None)


async def reap_once(broker: Broker) -> list[str]:
    """One reconciliation round; returns the released acquisition ids."""
    reaped: list[str] = []
    if not slurm_enabled(broker.config.reaper.slurm):
        return reaped
    # squeue answers for its own cluster: acquisitions of other clusters are not its to judge
    active = [a for a in broker.store.in_states(State.GRANTED, State.WAITING) if a["cluster"] == broker.config.cluster]
    if not active:
        return reaped
    states = await slurm_job_states()
    if states is None:
        return reaped
    now = time.time()
    for a in active:
        state = states.get(a["job_id"])
        if state is None and now - a["requested_at"] < broker.config.reaper.grace_s:
            continue
        if state is None or state in TERMINAL:
            why = f"job {a['job_id']} {'is gone from Slurm' if state is None else 'ended: ' + state}"
            log.info("reaping %s: %s", a["id"], why)
            await broker.release(a["id"], Outcome.REAPED, why)
            reaped.append(a["id"])
    return reaped
