"""The small scheduler interface the scheduler-neutral checks are written against: submit a job
script that asks for QPUs, see whether it waits or runs, cancel it, read its end and its record
in the scheduler's own accounting. ``for_site`` picks the implementation from the model's
``software.scheduler.kind``: slurm_jobs.Slurm (sbatch --qpu, squeue, scancel, scontrol/sacct) or
gridengine_jobs.GridEngine (qsub -l qpu_<name>=1, qstat, qdel, qacct)."""

from __future__ import annotations

from typing import Protocol

from acceptance.batch_jobs import JobOutcome, Submitted
from acceptance.context import Context
from acceptance.remote import Completed
from site_survey.model import Site


class Scheduler(Protocol):
    kind: str  # the model's software.scheduler.kind
    label: str  # how messages name it: "Slurm", "Grid Engine"
    waiting: str  # the state a job waiting for a busy QPU shows: PENDING, qw

    def submit(self, ctx: Context, script: str, qpus: list[str], name: str, minutes: int,
               as_user: str | None = None, env: dict[str, str] | None = None) -> Submitted:
        """Submit ``script`` asking for ``qpus`` with a time limit; returns at once."""
        ...

    def run_program(self, ctx: Context, qpus: list[str], programs: list[list[str]], name: str,
                    timeout_s: float = 240, as_user: str | None = None,
                    env: dict[str, str] | None = None) -> JobOutcome:
        """A batch script running the node programs, submitted, waited for (cancelled past
        ``timeout_s``) and read back."""
        ...

    def state(self, ctx: Context, job_id: str) -> str:
        """The job's state as the scheduler shows it; "" when it no longer lists the job."""
        ...

    def is_running(self, state: str) -> bool: ...

    def is_over(self, state: str) -> bool: ...

    def wait_state(self, ctx: Context, job_id: str, running: bool, timeout_s: float) -> str:
        """Poll until the job runs (``running``) or is over; the last state seen."""
        ...

    def cancel(self, ctx: Context, job_id: str) -> Completed:
        """Cancel the job; stdout starts with the submit host's clock (``date +%s.%N``) when sent."""
        ...

    def collect(self, ctx: Context, job_id: str, submit_error: str = "", abandoned: str = "") -> JobOutcome:
        """A job that is over: its end, host and output (read from the host that ran it and deleted)."""
        ...

    def accounting(self, ctx: Context, job_id: str) -> dict[str, str]:
        """The job's record in the scheduler's own accounting ({} if none)."""
        ...


def for_site(site: Site) -> Scheduler:
    kind = site.software.scheduler.kind
    if kind == "gridengine":
        from acceptance.gridengine_jobs import GridEngine

        return GridEngine()
    from acceptance.slurm_jobs import Slurm

    return Slurm()
