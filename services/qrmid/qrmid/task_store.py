"""Per-task records of task-level sharing (docs/qrmid.md, "Task-level sharing"): one row per
task a job created through the proxy on a QPU in ``task`` sharing mode, from queued to ended,
joined to the acquisition (hence the Slurm cluster and job id) it belongs to.

The rows are the queue itself (state ``queued``, the request body kept until dispatch), the
id map the proxy translates with (qrmid's minted ids → the service's ids, also for the jobs of
a Pasqal batch) and the accounting export (``GET /v1/accounting/tasks``). Same schema on
SQLite and PostgreSQL; the statements go through the Store's one connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

from qrmid import sql_filters

if TYPE_CHECKING:
    from qrmid.store import Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,              -- qrmid's id of the task (minted; the job sees it while queued)
    acquisition_id TEXT NOT NULL,     -- the job's acquisition: cluster, job id, user, profile
    qpu TEXT NOT NULL,
    kind TEXT NOT NULL,               -- ibm-job | pasqal-batch
    state TEXT NOT NULL,              -- queued | dispatched | ended | cancelled | failed
    priority INTEGER NOT NULL,        -- the profile's priority when queued
    account TEXT NOT NULL,            -- the fair-share key
    remote_id TEXT,                   -- the service's id, once dispatched
    body TEXT,                        -- the request body while queued (dropped at dispatch)
    shots INTEGER NOT NULL DEFAULT 0,
    estimate_s DOUBLE PRECISION NOT NULL DEFAULT 0,  -- estimated QPU seconds (the window check)
    queued_at DOUBLE PRECISION NOT NULL,
    dispatched_at DOUBLE PRECISION,   -- forwarded to the service (it may wait in the service's queue)
    started_at DOUBLE PRECISION,      -- the service started it (the service's own time)
    ended_at DOUBLE PRECISION,        -- it ended (the service's own time once known; else when qrmid saw it)
    qpu_seconds DOUBLE PRECISION,     -- as the service reported once it ended
    preempted INTEGER NOT NULL DEFAULT 0,  -- how many times a higher-priority task overtook it
    status TEXT,                      -- the service's final status (Completed, DONE, ...)
    message TEXT                      -- why it waits now, or why it ended
);
CREATE INDEX IF NOT EXISTS tasks_qpu_state ON tasks(qpu, state);
CREATE INDEX IF NOT EXISTS tasks_acq ON tasks(acquisition_id);
CREATE INDEX IF NOT EXISTS tasks_remote ON tasks(qpu, remote_id);
CREATE TABLE IF NOT EXISTS task_aliases (
    qpu TEXT NOT NULL,
    minted_id TEXT NOT NULL,          -- an id qrmid answered with (the task's, or one of a batch's jobs)
    task_id TEXT NOT NULL,
    remote_id TEXT,                   -- the service's id of the same object, once dispatched
    position INTEGER NOT NULL DEFAULT 0,  -- 0: the task; 1, 2, ...: a batch's jobs in their order
    PRIMARY KEY (qpu, minted_id)
);
"""

QUEUED, DISPATCHED, ENDED, CANCELLED, FAILED = "queued", "dispatched", "ended", "cancelled", "failed"
FINAL = (ENDED, CANCELLED, FAILED)

# the columns of the accounting export, in this order (CSV header)
EXPORT_COLUMNS = (
    "task_id", "remote_id", "cluster", "job_id", "user", "profile", "account", "qpu", "kind", "state",
    "priority", "shots", "estimate_s", "queued_at", "dispatched_at", "started_at", "ended_at", "queued_s",
    "service_queued_s", "qpu_seconds", "preempted", "status", "message", "acquisition_id", "phase",
)
# where a task is (the export's "phase"): state queued is in qrmid's queue; dispatched splits into
# waiting in the service's queue (forwarded ahead by the lookahead) and running there
IN_QRMID, AT_SERVICE, RUNNING = "queued in qrmid", "waiting at the service", "running"


class TaskRow(TypedDict):
    id: str
    acquisition_id: str
    qpu: str
    kind: str
    state: str
    priority: int
    account: str
    remote_id: str | None
    body: str | None
    shots: int
    estimate_s: float
    queued_at: float
    dispatched_at: float | None
    started_at: float | None
    ended_at: float | None
    qpu_seconds: float | None
    preempted: int
    status: str | None
    message: str | None


class TaskStore:
    """The task rows, over the Store's connection (its lock serialises event loop and threads)."""

    def __init__(self, db: Connection):
        self.db = db

    def add(self, row: TaskRow, parts: Sequence[str] = ()) -> None:
        """A new queued task, its minted id (and its parts' ids) owned by its acquisition."""
        cols = list(row)
        with self.db.transaction():
            self.db.execute(
                f"INSERT INTO tasks ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",  # noqa: S608
                [row[c] for c in cols],  # type: ignore[literal-required]
            )
            for position, minted in enumerate((row["id"], *parts)):
                self.db.execute("INSERT INTO task_aliases (qpu, minted_id, task_id, position) VALUES (?,?,?,?)",
                                (row["qpu"], minted, row["id"], position))
                self.db.execute(
                    "INSERT INTO remote_objects (acquisition_id, qpu, remote_id, kind, created_at) "
                    "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (row["acquisition_id"], row["qpu"], minted, "task" if minted == row["id"] else "part",
                     row["queued_at"]),
                )

    def get(self, task_id: str) -> TaskRow | None:
        return cast(TaskRow | None, self.db.execute("SELECT * FROM tasks WHERE id=?", (task_id,)).fetchone())

    def alias(self, qpu: str, minted_id: str) -> tuple[str, str | None] | None:
        """(task id, the service's id or None while queued) of an id qrmid minted; None otherwise."""
        row = self.db.execute("SELECT task_id, remote_id FROM task_aliases WHERE qpu=? AND minted_id=?",
                              (qpu, minted_id)).fetchone()
        return (str(row["task_id"]), row["remote_id"]) if row else None

    def running(self, qpu: str, remote_id: str) -> TaskRow | None:
        """The dispatched task the service knows by this id."""
        row = self.db.execute("SELECT * FROM tasks WHERE qpu=? AND remote_id=? AND state=?",
                              (qpu, remote_id, DISPATCHED)).fetchone()
        return cast(TaskRow | None, row)

    def parts(self, task_id: str) -> list[str]:
        rows = self.db.execute("SELECT minted_id FROM task_aliases WHERE task_id=? AND position>0 "
                               "ORDER BY position", (task_id,)).fetchall()
        return [str(r["minted_id"]) for r in rows]

    def in_state(self, qpu: str, state: str) -> list[TaskRow]:
        rows = self.db.execute("SELECT * FROM tasks WHERE qpu=? AND state=? ORDER BY queued_at, id", (qpu, state))
        return cast(list[TaskRow], rows.fetchall())

    def counts(self) -> dict[tuple[str, str], int]:
        rows = self.db.execute("SELECT qpu, state, COUNT(*) AS n FROM tasks WHERE state IN (?,?) GROUP BY qpu, state",
                               (QUEUED, DISPATCHED)).fetchall()
        return {(str(r["qpu"]), str(r["state"])): int(r["n"]) for r in rows}

    def set_message(self, task_id: str, message: str) -> None:
        self.db.execute("UPDATE tasks SET message=? WHERE id=? AND state=? AND (message IS NULL OR message<>?)",
                        (message, task_id, QUEUED, message))

    def overtaken(self, task_ids: Sequence[str]) -> None:
        for t in task_ids:
            self.db.execute("UPDATE tasks SET preempted=preempted+1 WHERE id=? AND state=?", (t, QUEUED))

    def dispatched(self, task_id: str, remote_id: str, parts: Sequence[str], at: float) -> None:
        """The service accepted the task: its ids (the batch's jobs in order) become the minted ids' targets."""
        with self.db.transaction():
            self.db.execute("UPDATE tasks SET state=?, remote_id=?, dispatched_at=?, body=NULL, message=NULL "
                            "WHERE id=?", (DISPATCHED, remote_id, at, task_id))
            self.db.execute("UPDATE task_aliases SET remote_id=? WHERE task_id=? AND minted_id=?",
                            (remote_id, task_id, task_id))
            for minted, remote in zip(self.parts(task_id), parts, strict=False):
                self.db.execute("UPDATE task_aliases SET remote_id=? WHERE task_id=? AND minted_id=?",
                                (remote, task_id, minted))

    def started(self, task_id: str, at: float) -> None:
        """The service started the task at `at` (its own clock); a later, exact figure replaces a first one."""
        self.db.execute("UPDATE tasks SET started_at=? WHERE id=? AND state IN (?,?)", (at, task_id, DISPATCHED, ENDED))

    def service_times(self, task_id: str, started: float | None, ended: float | None) -> None:
        """The service's own start/end of a task that ended (replacing when qrmid saw them)."""
        if started is not None:
            self.db.execute("UPDATE tasks SET started_at=? WHERE id=?", (started, task_id))
        if ended is not None:
            self.db.execute("UPDATE tasks SET ended_at=? WHERE id=? AND state=?", (ended, task_id, ENDED))

    def finish(self, task_id: str, state: str, message: str | None, status: str | None = None,
               qpu_seconds: float | None = None, at: float | None = None) -> bool:
        """The task ended (or was cancelled/failed before it ran); True when this call ended it."""
        return self.db.execute(
            "UPDATE tasks SET state=?, message=?, status=?, qpu_seconds=?, ended_at=? "
            "WHERE id=? AND state IN (?,?)",
            (state, message, status, qpu_seconds, time.time() if at is None else at, task_id, QUEUED, DISPATCHED),
        ).rowcount == 1

    def cancel_queued_of(self, acquisition_id: str, message: str) -> int:
        return self.db.execute(
            "UPDATE tasks SET state=?, message=?, ended_at=? WHERE acquisition_id=? AND state=?",
            (CANCELLED, message, time.time(), acquisition_id, QUEUED),
        ).rowcount

    def prune_bodies(self, older_than: float) -> None:
        """Bodies of tasks that ended without running are kept a while (the job's polls are answered
        from them), then dropped."""
        self.db.execute("UPDATE tasks SET body=NULL WHERE state IN (?,?) AND ended_at<? AND body IS NOT NULL",
                        (CANCELLED, FAILED, older_than))

    def usage(self, qpu: str, since: float) -> list[tuple[str, float, float]]:
        """(account, QPU seconds, ended at) of the tasks that ended on the QPU since `since` (fair-share)."""
        rows = self.db.execute(
            "SELECT account, qpu_seconds, ended_at FROM tasks WHERE qpu=? AND state=? AND ended_at>=? "
            "AND qpu_seconds IS NOT NULL", (qpu, ENDED, since)).fetchall()
        return [(str(r["account"]), float(r["qpu_seconds"]), float(r["ended_at"])) for r in rows]

    def seconds_per_shot(self, qpu: str, last: int = 50) -> tuple[float, int] | None:
        """QPU seconds per shot over the QPU's `last` ended tasks that ran shots, and how many there were."""
        rows = self.db.execute(
            "SELECT qpu_seconds, shots FROM tasks WHERE qpu=? AND state=? AND shots>0 AND qpu_seconds IS NOT NULL "
            "ORDER BY ended_at DESC LIMIT ?", (qpu, ENDED, last)).fetchall()
        shots = sum(int(r["shots"]) for r in rows)
        return (sum(float(r["qpu_seconds"]) for r in rows) / shots, len(rows)) if shots else None

    def export(self, **filters: Any) -> list[dict[str, Any]]:
        """The accounting rows (EXPORT_COLUMNS), oldest first, joined to their acquisitions."""
        where, args = sql_filters.where(
            filters, (("cluster", "a.cluster"), ("job_id", "a.job_id"), ("user", 'a."user"'), ("uid", "a.uid"),
                      ("qpu", "t.qpu"), ("state", "t.state")), "t.queued_at")
        sql = (
            'SELECT t.id AS task_id, t.remote_id, a.cluster, a.job_id, a."user", a.profile, t.account, t.qpu, '
            "t.kind, t.state, t.priority, t.shots, t.estimate_s, t.queued_at, t.dispatched_at, t.started_at, "
            "t.ended_at, "
            "t.qpu_seconds, t.preempted, t.status, t.message, t.acquisition_id "
            "FROM tasks t JOIN acquisitions a ON a.id=t.acquisition_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY t.queued_at, t.id LIMIT ?"
        args.append(int(filters.get("limit") or 10000))
        now = time.time()
        out = []
        for r in self.db.execute(sql, args).fetchall():
            waited_until = r["dispatched_at"] or r["ended_at"] or now
            r["queued_s"] = round(max(0.0, waited_until - r["queued_at"]), 3)
            r["service_queued_s"] = service_queued_s(r, now)
            r["phase"] = phase(r)
            out.append({c: r[c] for c in EXPORT_COLUMNS})
        return out


def phase(r: dict[str, Any]) -> str:
    """Where the task is: in qrmid's queue, waiting in the service's queue, running there, or its final state."""
    if r["state"] == QUEUED:
        return IN_QRMID
    if r["state"] == DISPATCHED:
        return RUNNING if r["started_at"] is not None else AT_SERVICE
    return str(r["state"])


def service_queued_s(r: dict[str, Any], now: float) -> float | None:
    """Seconds the task waited in the service's own queue: forwarded → started there (so far, while it
    waits; for a task that ended, up to when it started, or ended without starting)."""
    if r["dispatched_at"] is None:
        return None
    until: float | None = r["started_at"]
    if until is None:
        if r["state"] == DISPATCHED:
            until = now
        elif r["qpu_seconds"] is not None and r["ended_at"] is not None:
            until = float(r["ended_at"]) - float(r["qpu_seconds"])
        else:
            until = r["ended_at"] or now
    return round(max(0.0, until - float(r["dispatched_at"])), 3)


def dumps_body(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))
