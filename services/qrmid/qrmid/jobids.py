"""Job ids as each scheduler writes them, for the reaper and the accounting.

- Slurm: the job's own id (`%A`; an array task's and a het component's own id), e.g. `4711`.
- Grid Engine: the job number, and for a task of an array job `<number>.<task>` (the notation of
  qstat and qacct), e.g. `1234` or `1234.5`. Both are 1 … 2³²−1 in Grid Engine; 0 is no task.
"""

from __future__ import annotations

import re
from typing import Literal

Scheduler = Literal["slurm", "gridengine"]

GE_JOB_ID = re.compile(r"^([1-9][0-9]{0,9})(?:\.([1-9][0-9]{0,9}))?$")


def ge_split(job_id: str) -> tuple[str, str | None] | None:
    """(job number, task id or None) of a Grid Engine job id; None if it is not one."""
    m = GE_JOB_ID.match(job_id)
    return (m.group(1), m.group(2)) if m else None


def ge_job_id(number: str, task: str | None) -> str:
    return f"{number}.{task}" if task and task != "0" else number


def check(scheduler: Scheduler, job_id: str) -> str | None:
    """Why `job_id` cannot be a job of this scheduler (None: it can)."""
    if scheduler == "gridengine" and ge_split(job_id) is None:
        return (f"job_id {job_id!r} is not a Grid Engine job id: expected the job number, or "
                "<job number>.<task id> for a task of an array job (e.g. 1234 or 1234.5)")
    return None


def scheduler_fields(scheduler: Scheduler, job_id: str) -> dict[str, str | None]:
    """What an accounting record adds about the job, to join it with the scheduler's own
    accounting (sacct -j <id>; qacct -j <number> [-t <task>])."""
    if scheduler == "gridengine":
        parts = ge_split(job_id)
        if parts is not None:
            return {"scheduler": scheduler, "job_number": parts[0], "task_id": parts[1]}
    return {"scheduler": scheduler, "job_number": job_id, "task_id": None}
