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


async def slurm_job_states(timeout: float = 10.0) -> dict[str, str] | None:
    """{job id: state} for every job slurmctld knows, or None when it cannot be asked."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "squeue",
            "--noheader",
            "--all",
            "--states=all",
            "--format=%i %T",
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
    states = {}
    for line in out.decode().splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def slurm_enabled(mode: str) -> bool:
    return mode == "on" or (mode == "auto" and shutil.which("squeue") is not None)


async def reap_once(broker: Broker) -> list[str]:
    """One reconciliation round; returns the released acquisition ids."""
    reaped: list[str] = []
    if not slurm_enabled(broker.config.reaper.slurm):
        return reaped
    active = broker.store.in_states("granted", "waiting")
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
            await broker.release(a["id"], "reaped", why)
            reaped.append(a["id"])
    await broker.retry_failed_releases()
    return reaped
