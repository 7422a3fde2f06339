"""Reconcile acquisitions against the scheduler: release those whose job finished or vanished.

The scheduler is qrmid's `scheduler` (slurm: `squeue`, reaper_slurm.py; gridengine: `qstat`,
reaper_gridengine.py). A failing query (controller down, no route, output that does not parse)
proves nothing about any job, so that round is skipped; only a successful listing that lacks a
job, or shows it in a terminal state, releases its QPUs.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import Protocol

from qrmid.broker import Broker
from qrmid.config import Config
from qrmid.models import Outcome, State
from qrmid.reaper_gridengine import gridengine_job_states
from qrmid.reaper_slurm import slurm_job_states

log = logging.getLogger("qrmid.reaper")


class JobListing(Protocol):
    name: str

    def state(self, job_id: str) -> str | None: ...

    @staticmethod
    def ended(state: str) -> bool: ...


TOOLS = {"slurm": "squeue", "gridengine": "qstat"}


def scheduler_enabled(config: Config) -> bool:
    mode = config.reaper.mode
    return mode == "on" or (mode == "auto" and shutil.which(TOOLS[config.scheduler]) is not None)


async def job_states(config: Config) -> JobListing | None:
    if config.scheduler == "gridengine":
        return await gridengine_job_states(config.gridengine.sge_root, config.gridengine.sge_cell)
    return await slurm_job_states()


async def reap_once(broker: Broker) -> list[str]:
    """One reconciliation round; returns the released acquisition ids."""
    reaped: list[str] = []
    if not scheduler_enabled(broker.config):
        return reaped
    # the scheduler answers for its own cluster: acquisitions of other clusters are not its to judge
    active = [a for a in broker.store.in_states(State.GRANTED, State.WAITING) if a["cluster"] == broker.config.cluster]
    if not active:
        return reaped
    listing = await job_states(broker.config)
    if listing is None:
        return reaped
    now = time.time()
    for a in active:
        state = listing.state(a["job_id"])
        if state is None and now - a["requested_at"] < broker.config.reaper.grace_s:
            continue
        if state is None or listing.ended(state):
            why = f"job {a['job_id']} {'is gone from ' + listing.name if state is None else 'ended: ' + state}"
            log.info("reaping %s: %s", a["id"], why)
            await broker.release(a["id"], Outcome.REAPED, why)
            reaped.append(a["id"])
    return reaped
