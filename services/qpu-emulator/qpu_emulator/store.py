"""Job, session and batch records in SQLite, so they survive a restart.

One connection guarded by a lock: the service writes little (a few rows per
job) and SQLite in WAL mode serialises writers anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Internal job states; each API maps them onto its own names.
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "queued", "running", "completed", "failed", "cancelled"
FINAL_STATES = (COMPLETED, FAILED, CANCELLED)
ALL_STATES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    api TEXT NOT NULL,
    twin TEXT NOT NULL,
    program TEXT NOT NULL,
    status TEXT NOT NULL,
    principal TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    session_id TEXT,
    batch_id TEXT,
    shots INTEGER NOT NULL DEFAULT 0,
    cost INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL,
    extra TEXT NOT NULL DEFAULT '{}',
    result TEXT,
    error TEXT,
    logs TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_session ON jobs(session_id);
CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    twin TEXT NOT NULL,
    principal TEXT NOT NULL,
    mode TEXT NOT NULL,
    max_ttl INTEGER NOT NULL,
    created REAL NOT NULL,
    accepting_jobs INTEGER NOT NULL DEFAULT 1,
    state TEXT NOT NULL,
    closed REAL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    twin TEXT NOT NULL,
    principal TEXT NOT NULL,
    project_id TEXT NOT NULL,
    created REAL NOT NULL,
    sequence TEXT NOT NULL,
    configuration TEXT NOT NULL DEFAULT '{}',
    open INTEGER NOT NULL DEFAULT 0   -- an open batch takes more jobs until it is closed
);
"""
# columns added after a release: (table, column, definition), added to older databases at start
_ADDED_COLUMNS = (("batches", "open", "INTEGER NOT NULL DEFAULT 0"),)


@dataclass
class Job:
    id: str
    api: str
    twin: str
    program: str
    status: str
    principal: str
    created: float
    params: dict[str, Any]
    started: float | None = None
    finished: float | None = None
    session_id: str | None = None
    batch_id: str | None = None
    shots: int = 0
    cost: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    error: str | None = None
    logs: str = ""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES


def _job(row: sqlite3.Row) -> Job:
    d = dict(row)
    d["params"] = json.loads(d["params"])
    d["extra"] = json.loads(d["extra"])
    return Job(**d)


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._tx() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            for table, column, definition in _ADDED_COLUMNS:
                have = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs ------------------------------------------------------------------
    def add_job(self, job: Job) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO jobs (id, api, twin, program, status, principal, created, session_id, batch_id,"
                " shots, cost, params, extra, logs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job.id,
                    job.api,
                    job.twin,
                    job.program,
                    job.status,
                    job.principal,
                    job.created,
                    job.session_id,
                    job.batch_id,
                    job.shots,
                    job.cost,
                    json.dumps(job.params),
                    json.dumps(job.extra),
                    job.logs,
                ),
            )

    def get_job(self, job_id: str) -> Job | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row else None

    def jobs(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        session_id: str | None = None,
        batch_id: str | None = None,
        twin: str | None = None,
        program: str | None = None,
        principal: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        where, args = [], []
        for col, val in (
            ("session_id", session_id),
            ("batch_id", batch_id),
            ("twin", twin),
            ("program", program),
            ("principal", principal),
        ):
            if val is not None:
                where.append(f"{col}=?")
                args.append(val)
        if statuses:
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            args.extend(statuses)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self._tx() as db:
            total = db.execute(f"SELECT count(*) FROM jobs{clause}", args).fetchone()[0]  # noqa: S608 - columns are fixed
            rows = db.execute(
                f"SELECT * FROM jobs{clause} ORDER BY created DESC LIMIT ? OFFSET ?",  # noqa: S608
                [*args, limit, offset],
            ).fetchall()
        return [_job(r) for r in rows], int(total)

    def transition(self, job_id: str, to: str, *, only_from: tuple[str, ...], **fields: Any) -> bool:
        """Move a job to state `to` if it is in one of `only_from`; True if it moved."""
        sets = ["status=?"]
        args: list[Any] = [to]
        for col, val in fields.items():
            sets.append(f"{col}=?")
            args.append(val)
        with self._tx() as db:
            cur = db.execute(
                f"UPDATE jobs SET {', '.join(sets)} WHERE id=? AND status IN ({','.join('?' * len(only_from))})",  # noqa: S608
                [*args, job_id, *only_from],
            )
        return cur.rowcount == 1

    def delete_job(self, job_id: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM jobs WHERE id=?", (job_id,)).rowcount == 1

    def counts_by_twin_state(self) -> dict[tuple[str, str], int]:
        with self._tx() as db:
            rows = db.execute("SELECT twin, status, count(*) FROM jobs GROUP BY twin, status").fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def unfinished(self) -> list[Job]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM jobs WHERE status IN (?, ?) ORDER BY created", (QUEUED, RUNNING)
            ).fetchall()
        return [_job(r) for r in rows]

    def purge(self, max_jobs: int, max_age_s: int, now: float | None = None) -> int:
        """Drop finished jobs beyond the retention limits (oldest first); returns how many."""
        now = now if now is not None else time.time()
        finals = tuple(FINAL_STATES)
        marks = ",".join("?" * len(finals))
        with self._tx() as db:
            n = db.execute(
                f"DELETE FROM jobs WHERE status IN ({marks}) AND finished < ?",  # noqa: S608
                [*finals, now - max_age_s],
            ).rowcount
            n += db.execute(
                f"DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE status IN ({marks})"  # noqa: S608
                " ORDER BY finished DESC LIMIT -1 OFFSET ?)",
                [*finals, max_jobs],
            ).rowcount
            db.execute(
                "DELETE FROM batches WHERE open=0"  # an open batch may be empty yet
                " AND id NOT IN (SELECT DISTINCT batch_id FROM jobs WHERE batch_id IS NOT NULL)"
            )
        return int(n)

    # -- sessions (IBM) ----------------------------------------------------------
    def add_session(self, row: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO sessions (id, twin, principal, mode, max_ttl, created, accepting_jobs, state)"
                " VALUES (:id, :twin, :principal, :mode, :max_ttl, :created, 1, 'open')",
                row,
            )

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM sessions WHERE id=?", (session_id,)).fetchone()
        return dict(row) if row else None

    def update_session(self, session_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k}=?" for k in fields)
        with self._tx() as db:
            db.execute(f"UPDATE sessions SET {sets} WHERE id=?", [*fields.values(), session_id])  # noqa: S608

    # -- batches (Pasqal) --------------------------------------------------------
    def add_batch(self, row: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO batches (id, twin, principal, project_id, created, sequence, configuration, open)"
                " VALUES (:id, :twin, :principal, :project_id, :created, :sequence, :configuration, :open)",
                {"open": 0, **row},
            )

    def close_batch(self, batch_id: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE batches SET open=0 WHERE id=?", (batch_id,))

    def batches(
        self,
        twins: list[str],
        ids: list[str] | None = None,
        is_open: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """Batches on `twins` (newest first), optionally only `ids` and only open/closed ones; and their total."""
        if not twins or ids == []:
            return [], 0
        where = [f"twin IN ({','.join('?' * len(twins))})"]
        args: list[Any] = list(twins)
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            args += ids
        if is_open is not None:
            where.append("open=?")
            args.append(int(is_open))
        cond = " AND ".join(where)
        with self._tx() as db:
            total = db.execute(f"SELECT COUNT(*) FROM batches WHERE {cond}", args).fetchone()[0]  # noqa: S608
            rows = db.execute(
                f"SELECT * FROM batches WHERE {cond} ORDER BY created DESC, id LIMIT ? OFFSET ?",  # noqa: S608
                [*args, limit, offset],
            ).fetchall()
        return [dict(r) for r in rows], int(total)

    def get_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        return dict(row) if row else None
