"""A job's QPU timeline as qrmid saw it: admission (profile, priority), the wait for a slot,
a calibration window or maintenance, the hold, and each task the job ran through the proxy
(submitted, ended, QPU seconds the service reported, and the rest of its wall time: queue at
the service and transport); on a QPU shared task by task, the job's tasks in qrmid's queue
(task_store's accounting rows). Read-only; users see only their own jobs (routes/timeline.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from qrmid.models import AcquisitionRow, State

if TYPE_CHECKING:
    from qrmid.broker import Broker
    from qrmid.store import Store

MAX_ACQUISITIONS = 64  # a job has one; re-used ids after a controller reset add a few
MAX_TASKS = 1000  # per acquisition; the answer says when it was cut


def task_view(row: dict[str, Any], now: float) -> dict[str, Any]:
    created, ended, executing = row["created_at"], row["ended_at"], row["qpu_seconds"]
    wall = (ended if ended is not None else now) - created
    done = ended is not None and executing is not None
    return {
        "qpu": row["qpu"],
        "id": row["remote_id"],
        "state": "done" if done else "submitted",
        "submitted_at": created,
        "ended_at": ended,
        "wall_s": round(max(0.0, wall), 3),
        "executing_s": round(executing, 3) if done else None,
        # what the QPU did not spend executing: the service's queue and the transport both ways
        "other_s": round(max(0.0, wall - executing), 3) if done else None,
    }


def acquisition_view(store: Store, broker: Broker, a: AcquisitionRow, now: float,
                     minted: frozenset[str] = frozenset()) -> dict[str, Any]:
    view = broker.view(a)  # the public description (no credentials)
    waited_until = a["granted_at"] or a["released_at"] or now
    rows = store.tasks_of(a["id"], MAX_TASKS + 1)
    # the ids qrmid minted for queued tasks (task-level sharing) are in the task queue's rows
    tasks = [task_view(r, now) for r in rows[:MAX_TASKS] if r["remote_id"] not in minted]
    done = [t for t in tasks if t["state"] == "done"]
    view.update(
        priority=a["priority"],
        nodes=dict(a).get("nodes", 1),
        during_calibration=a["during_calibration"],
        wait_s=round(max(0.0, waited_until - a["requested_at"]), 3),
        # how long it held the QPU (hold_s is the longest it may: the job's time limit)
        held_s=round(max(0.0, (a["released_at"] or now) - a["granted_at"]), 3) if a["granted_at"] else 0.0,
        tasks=tasks,
        tasks_truncated=len(rows) > MAX_TASKS,
        executing_s=round(sum(t["executing_s"] for t in done), 3),
        other_s=round(sum(t["other_s"] for t in done), 3),
    )
    return view


def why_waiting(acqs: list[dict[str, Any]], blocks: dict[str, dict[str, Any] | None]) -> str | None:
    """One line, from qrmid's side: why the job's QPU request is not granted now (None if it is
    not waiting in qrmid)."""
    for a in acqs:
        if a["state"] == State.WAITING:
            return a["message"] or "waiting in qrmid for " + ", ".join(a["qpus"])
        if a["state"] == State.ACQUIRING:
            return "qrmid is opening the QPU session at the service for " + ", ".join(a["qpus"])
    for name, b in blocks.items():
        if b is not None and any(a["state"] == State.GRANTED and name in a["qpus"] for a in acqs):
            return f"QPU {name} is unavailable now ({b['message']}); the job holds it and waits for it to return"
    return None


def job_timeline(store: Store, broker: Broker, cluster: str, job_id: str, uid: int | None) -> dict[str, Any] | None:
    """The job's timeline, or None when qrmid has no record of it (for this uid, unless None)."""
    now = time.time()
    rows = store.query(cluster=cluster, job_id=job_id, uid=uid, limit=MAX_ACQUISITIONS)
    if not rows:
        return None
    rows.sort(key=lambda a: a["requested_at"])
    # a QPU shared task by task: the job's tasks in qrmid's queue (queued, dispatched, ended...)
    queue = store.tasks.export(cluster=cluster, job_id=job_id, uid=uid, limit=MAX_TASKS)
    minted = frozenset(str(t["task_id"]) for t in queue)
    acqs = [acquisition_view(store, broker, a, now, minted) for a in rows]
    blocks: dict[str, dict[str, Any] | None] = {}
    for name in sorted({q for a in rows for q in a["qpus"] if q in broker.resources}):
        b = broker.block(name, now)
        blocks[name] = None if b is None else {
            "kind": b.kind, "name": b.name, "message": b.message, "until": b.until.isoformat() if b.until else None,
        }
    queued = [t for t in queue if t["state"] == "queued"]
    waiting = why_waiting(acqs, blocks)
    if waiting is None and queued:
        first = queued[0]
        waiting = (f"{len(queued)} task(s) queued in qrmid for {', '.join(sorted({t['qpu'] for t in queued}))}"
                   + (f": {first['message']}" if first.get("message") else ""))
    return {
        "cluster": cluster,
        "job_id": job_id,
        "user": rows[-1]["user"],
        "now": now,
        "acquisitions": acqs,
        "qpus": blocks,
        "task_queue": queue,
        "waiting": waiting,
    }
