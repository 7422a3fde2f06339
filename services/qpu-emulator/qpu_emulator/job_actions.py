"""Cancelling and deleting a caller's job: the same steps under each vendor surface that has
them (IBM Quantum Compute Service, IBM Quantum System, Pasqal), each with its own job lookup
(which answers 404 for another API's or another tenant's job) and its own state names."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from qpu_emulator.auth import Principal
from qpu_emulator.errors import ApiError
from qpu_emulator.service import Service
from qpu_emulator.store import Job

JobLookup = Callable[[Service, str, Principal], Job]


def cancel(svc: Service, job_id: str, caller: Principal, lookup: JobLookup, state_names: Mapping[str, str]) -> None:
    """Cancel the job; 409 naming the state it ended in when it had already finished."""
    job = lookup(svc, job_id, caller)
    if job.final or svc.scheduler.cancel(job_id) == "final":
        job = lookup(svc, job_id, caller)
        raise ApiError(409, f"Job {job_id} is already {state_names[job.status]} and cannot be cancelled.")


def delete(svc: Service, job_id: str, caller: Principal, lookup: JobLookup) -> None:
    """Cancel the job if it is still queued or running, then forget it."""
    job = lookup(svc, job_id, caller)
    if not job.final:
        svc.scheduler.cancel(job_id)
    svc.store.delete_job(job_id)
