"""The reaper's view of Slurm: `squeue --all --states=all`, argument vector only."""

from __future__ import annotations

import asyncio
import logging

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


class SlurmJobs:
    """{job id: state} for every job slurmctld knows."""

    name = "Slurm"
    tool = "squeue"

    def __init__(self, states: dict[str, str]):
        self.states = states

    def state(self, job_id: str) -> str | None:
        return self.states.get(job_id)

    @staticmethod
    def ended(state: str) -> bool:
        return state in TERMINAL


async def slurm_job_states(timeout: float = 10.0) -> SlurmJobs | None:
    """Every job slurmctld knows, or None when it cannot be asked."""
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
    return SlurmJobs(parse_listing(out.decode(errors="replace")))
