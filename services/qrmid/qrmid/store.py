"""Persistence: acquisitions, their per-QPU holds (= accounting records and the
intents of calls to the service), job-scoped credentials (hashes only), maintenance
switches, the munge replay cache.

Two backends behind one interface and one schema:

- SQLite (default): WAL with synchronous=NORMAL survives a killed process (not a power
  cut) and keeps a write under a millisecond.
- PostgreSQL (``database: {url: postgresql://…}``, psycopg 3, the ``postgresql`` extra):
  autocommit, every statement durable when it returns (synchronous_commit as the server
  sets it).

Every state change is written *before* the effect it announces is visible to a client,
so a restart resumes from the tables alone. One connection per Store, serialised by a
lock: the event loop and qrmi's worker threads share it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from qrmid import sql_filters, task_store
from qrmid.config import Database
from qrmid.models import ACTIVE_STATES, AcquisitionRow, CredentialRow, HoldRow, MaintenanceRow

log = logging.getLogger("qrmid.store")

# job credentials per acquisition and QPU: a job that renews its bearer token holds one or two;
# minting more drops the oldest (the database stays bounded whatever a job does)
MAX_BEARERS = 32
MAX_JOB_KEYS = 1024  # one per step (srun) of the job
KEEP_ENDED_TASK_BODIES_S = 86400  # a queued task's body, after it was cancelled or failed without running


class StoreUnavailable(RuntimeError):
    """The database cannot be read or written (full disk, server gone): callers answer 503."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS acquisitions (
    id TEXT PRIMARY KEY,
    cluster TEXT NOT NULL DEFAULT '',  -- Slurm cluster of the job (job ids repeat across clusters)
    job_id TEXT NOT NULL,
    "user" TEXT NOT NULL,
    uid INTEGER,
    profile TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    qpus TEXT NOT NULL,               -- JSON list
    state TEXT NOT NULL,              -- waiting | acquiring | granted | releasing | released | failed
    outcome TEXT,                     -- released | reaped | expired | refused | failed | timeout
    message TEXT,
    hold_s INTEGER NOT NULL,
    wait_deadline DOUBLE PRECISION,   -- a waiting request fails after this
    during_calibration TEXT NOT NULL DEFAULT 'wait',
    requested_at DOUBLE PRECISION NOT NULL,
    granted_at DOUBLE PRECISION,
    released_at DOUBLE PRECISION,
    deadline DOUBLE PRECISION         -- granted_at + hold_s
);
CREATE INDEX IF NOT EXISTS acq_job ON acquisitions(job_id);
CREATE INDEX IF NOT EXISTS acq_state ON acquisitions(state);
CREATE TABLE IF NOT EXISTS holds (
    acquisition_id TEXT NOT NULL REFERENCES acquisitions(id),
    qpu TEXT NOT NULL,
    qrmi_token TEXT,                  -- what qrmi's acquire() returned (IBM: the session id)
    state TEXT NOT NULL,              -- pending | acquiring | held | released | release_failed
    acquired_at DOUBLE PRECISION,
    released_at DOUBLE PRECISION,
    error TEXT,
    started_at DOUBLE PRECISION,      -- intent: when qrmid asked the service (written before it asks)
    worker TEXT,                      -- "<pid>:<start time>" of the acquirer process that asked
    PRIMARY KEY (acquisition_id, qpu)
);
CREATE TABLE IF NOT EXISTS credentials (
    digest TEXT PRIMARY KEY,          -- sha256 of the credential; the value itself is never stored
    acquisition_id TEXT NOT NULL,
    qpu TEXT NOT NULL,
    kind TEXT NOT NULL,               -- job-key | bearer
    expires_at DOUBLE PRECISION NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cred_acq ON credentials(acquisition_id);
CREATE INDEX IF NOT EXISTS cred_expires ON credentials(expires_at);  -- the prune's range
CREATE TABLE IF NOT EXISTS remote_objects (
    acquisition_id TEXT NOT NULL,
    qpu TEXT NOT NULL,
    remote_id TEXT NOT NULL,          -- a task/batch/job id created through the proxy
    kind TEXT NOT NULL DEFAULT 'task',  -- task (what the user submitted) | part (e.g. a batch's jobs)
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (qpu, remote_id)
);
CREATE TABLE IF NOT EXISTS maintenance (
    qpu TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    since DOUBLE PRECISION NOT NULL,
    until DOUBLE PRECISION,
    set_by TEXT
);
CREATE TABLE IF NOT EXISTS seen_credentials (
    digest TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_cred_at ON seen_credentials(seen_at);  -- the prune's range
CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY,           -- one row: /healthz writes it to prove the database takes writes
    at DOUBLE PRECISION NOT NULL
);
"""

ACTIVE = tuple(str(s) for s in ACTIVE_STATES)
# columns added after the first release: (table, column, type); added on open when missing
MIGRATIONS = (
    ("holds", "started_at", "DOUBLE PRECISION"),
    ("holds", "worker", "TEXT"),
    ("acquisitions", "cluster", "TEXT NOT NULL DEFAULT ''"),
    ("acquisitions", "nodes", "INTEGER NOT NULL DEFAULT 1"),  # the job's nodes (waiting costs nodes x time)
    ("remote_objects", "qpu_seconds", "DOUBLE PRECISION"),  # a task's QPU time, once it has ended
    ("remote_objects", "ended_at", "DOUBLE PRECISION"),  # when qrmid saw it ended
    ("tasks", "started_at", "DOUBLE PRECISION"),  # when the service started a dispatched task (its clock)
)


@dataclass
class Result:
    rows: list[dict[str, Any]] = field(default_factory=list)
    rowcount: int = -1

    def fetchone(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[dict[str, Any]]:
        return self.rows


class Connection:
    """One database connection, `?` placeholders, rows as dicts, serialised by a lock."""

    kind = "sqlite"

    def __init__(self) -> None:
        self.lock = threading.RLock()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def columns(self, table: str) -> set[str]:
        raise NotImplementedError

    def probe(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SqliteConnection(Connection):
    kind = "sqlite"

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self.lock:
            try:
                cur = self.db.execute(sql, params)
                rows = [dict(r) for r in cur.fetchall()] if cur.description else []
            except sqlite3.OperationalError as exc:
                raise StoreUnavailable(f"the database cannot be used: {exc}") from exc
            return Result(rows, cur.rowcount)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            self.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error, StoreUnavailable):
                    self.db.execute("ROLLBACK")
                raise

    def probe(self) -> None:
        """A real write: the row in the database, and one page of a file next to it (with a WAL
        that has room, SQLite still commits on a full file system; the next checkpoint will not)."""
        self.execute("INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at=excluded.at",
                     (time.time(),))
        if self.path != ":memory:":
            probe = Path(self.path).with_name(Path(self.path).name + ".probe")
            try:
                fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, b"\0" * 4096)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                    probe.unlink(missing_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"the database's directory cannot be written: {exc.strerror}") from exc

    def script(self, sql: str) -> None:
        with self.lock:
            self.db.executescript(sql)

    def columns(self, table: str) -> set[str]:
        return {r["name"] for r in self.execute(f"PRAGMA table_info({table})").rows}

    def close(self) -> None:
        with self.lock:
            self.db.close()


class PostgresConnection(Connection):
    kind = "postgresql"

    def __init__(self, database: Database):
        super().__init__()
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError:  # pragma: no cover - depends on the installation
            raise RuntimeError(
                "database.url is PostgreSQL but psycopg is not installed: install qrmid[postgresql]"
            ) from None
        self._psycopg = psycopg
        self._dict_row = dict_row
        self.database = database
        self.db = self._connect()

    def _connect(self) -> Any:
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": self._dict_row,
            "connect_timeout": self.database.connect_timeout_s,
            "application_name": "qrmid",
        }
        if self.database.password is not None:
            kwargs["password"] = self.database.password
        return self._psycopg.connect(self.database.url, **kwargs)

    def _live(self) -> Any:
        # a server restart or a dropped connection: reconnect on the next statement
        if self.db.closed or self.db.broken:
            self.db = self._connect()
        return self.db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        with self.lock:
            try:
                cur = self._live().execute(sql.replace("?", "%s"), tuple(params))
                rows = list(cur.fetchall()) if cur.description else []
            except self._psycopg.OperationalError as exc:
                raise StoreUnavailable(f"the database cannot be used: {exc}") from exc
            return Result(rows, cur.rowcount)

    def probe(self) -> None:
        self.execute("INSERT INTO health (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at=excluded.at",
                     (time.time(),))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock, self._live().transaction():
            yield

    def script(self, sql: str) -> None:
        with self.lock:
            # one statement per execute; comments (which may hold ';') dropped first
            text = "\n".join(ln.split("--")[0] for ln in sql.splitlines())
            for statement in text.split(";"):
                if statement.strip():
                    self._live().execute(statement)

    def columns(self, table: str) -> set[str]:
        rows = self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema=current_schema() AND table_name=?",
            (table,),
        ).rows
        return {r["column_name"] for r in rows}

    def close(self) -> None:
        with self.lock:
            self.db.close()


def connect(database: str | Database) -> SqliteConnection | PostgresConnection:
    if isinstance(database, Database):
        return PostgresConnection(database)
    return SqliteConnection(database)


class Store:
    def __init__(self, database: str | Database, cluster: str | None = None):
        self.db = connect(database)
        self.kind = self.db.kind
        self._pruned_at = 0.0
        # while the database cannot be written (full disk): credentials seen and acquisitions whose
        # job credentials are revoked, kept in memory so neither a replay nor a dead credential passes
        self._seen_in_memory: dict[str, float] = {}
        self._revoked_in_memory: set[str] = set()
        self.db.script(SCHEMA + task_store.SCHEMA)
        self.tasks = task_store.TaskStore(self.db)
        for table, column, kind in MIGRATIONS:
            if column not in self.db.columns(table):
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        if cluster:  # rows written before acquisitions named their cluster: this qrmid's cluster
            self.db.execute("UPDATE acquisitions SET cluster=? WHERE cluster=''", (cluster,))

    def close(self) -> None:
        self.db.close()

    def probe(self) -> None:
        """Raise StoreUnavailable unless the database takes a write now."""
        self.db.probe()

    # ------------------------------------------------------------- helpers
    @staticmethod
    def _acq(row: dict[str, Any] | None) -> AcquisitionRow | None:
        if row is None:
            return None
        d = dict(row)
        d["qpus"] = json.loads(d["qpus"])
        return cast(AcquisitionRow, d)

    def _acqs(self, rows: list[dict[str, Any]]) -> list[AcquisitionRow]:
        return [a for a in (self._acq(r) for r in rows) if a is not None]

    # ------------------------------------------------------- acquisitions
    def insert_acquisition(self, a: dict[str, Any]) -> None:
        cols = list(a)
        vals = [json.dumps(v) if k == "qpus" else v for k, v in a.items()]
        names = ",".join(f'"{c}"' for c in cols)
        with self.db.transaction():
            self.db.execute(
                f"INSERT INTO acquisitions ({names}) VALUES ({','.join('?' * len(cols))})",  # noqa: S608
                vals,
            )
            for q in a["qpus"]:
                self.db.execute("INSERT INTO holds (acquisition_id, qpu, state) VALUES (?, ?, 'pending')", (a["id"], q))

    def update_acquisition(self, acq_id: str, **fields: Any) -> None:
        sets = ",".join(f'"{k}"=?' for k in fields)
        self.db.execute(f"UPDATE acquisitions SET {sets} WHERE id=?", [*fields.values(), acq_id])  # noqa: S608

    def get(self, acq_id: str) -> AcquisitionRow | None:
        return self._acq(self.db.execute("SELECT * FROM acquisitions WHERE id=?", (acq_id,)).fetchone())

    def active_for_job(self, cluster: str, job_id: str) -> AcquisitionRow | None:
        sql = (
            "SELECT * FROM acquisitions WHERE cluster=? AND job_id=? "  # noqa: S608
            f"AND state IN {ACTIVE} ORDER BY requested_at DESC LIMIT 1"
        )
        return self._acq(self.db.execute(sql, (cluster, job_id)).fetchone())

    def in_states(self, *states: str) -> list[AcquisitionRow]:
        marks = ",".join("?" * len(states))
        sql = f"SELECT * FROM acquisitions WHERE state IN ({marks}) ORDER BY requested_at"  # noqa: S608
        return self._acqs(self.db.execute(sql, [str(s) for s in states]).fetchall())

    def query(self, **filters: Any) -> list[AcquisitionRow]:
        keys = ("cluster", "job_id", "user", "uid", "state", "profile")
        where, args = sql_filters.where(filters, [(k, f'"{k}"') for k in keys], "requested_at")
        if filters.get("qpu"):
            where.append("id IN (SELECT acquisition_id FROM holds WHERE qpu=?)")
            args.append(filters["qpu"])
        sql = "SELECT * FROM acquisitions" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
        sql += " ORDER BY requested_at DESC LIMIT ?"
        args.append(int(filters.get("limit") or 1000))
        return self._acqs(self.db.execute(sql, args).fetchall())

    # -------------------------------------------------------------- holds
    def holds(self, acq_id: str) -> list[HoldRow]:
        rows = self.db.execute("SELECT * FROM holds WHERE acquisition_id=? ORDER BY qpu", (acq_id,)).fetchall()
        return cast(list[HoldRow], rows)

    def update_hold(self, acq_id: str, qpu: str, **fields: Any) -> None:
        sets = ",".join(f'"{k}"=?' for k in fields)
        sql = f"UPDATE holds SET {sets} WHERE acquisition_id=? AND qpu=?"  # noqa: S608
        self.db.execute(sql, [*fields.values(), acq_id, qpu])

    def failed_releases(self) -> list[HoldRow]:
        """Holds whose release at the service failed and is to be retried."""
        rows = self.db.execute(
            "SELECT * FROM holds WHERE state='release_failed' AND qrmi_token IS NOT NULL"
        ).fetchall()
        return cast(list[HoldRow], rows)

    def occupied(self) -> dict[str, int]:
        """Slots in use per QPU: holds of acquisitions that are acquiring, granted or releasing, and
        holds whose release at the service has not succeeded (the session may still be open)."""
        rows = self.db.execute(
            "SELECT h.qpu AS qpu, COUNT(*) AS n FROM holds h JOIN acquisitions a ON a.id=h.acquisition_id "
            "WHERE a.state IN ('acquiring','granted','releasing') OR h.state='release_failed' GROUP BY h.qpu"
        ).fetchall()
        return {r["qpu"]: int(r["n"]) for r in rows}

    def accounting(self, **filters: Any) -> list[dict[str, Any]]:
        where, args = sql_filters.where(
            filters,
            (
                ("cluster", "a.cluster"),
                ("job_id", "a.job_id"),
                ("user", 'a."user"'),
                ("uid", "a.uid"),
                ("qpu", "h.qpu"),
                ("profile", "a.profile"),
            ),
            "a.requested_at",
        )
        sql = (
            'SELECT a.id AS acquisition_id, a.cluster, a.job_id, a."user", a.profile, h.qpu, h.qrmi_token, a.state, '
            "a.outcome, a.message, a.nodes, a.requested_at, a.granted_at, h.acquired_at, "
            "h.released_at AS hold_released_at, "
            "a.released_at, h.state AS hold_state, h.error "
            "FROM holds h JOIN acquisitions a ON a.id=h.acquisition_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY a.requested_at"
        out = []
        tasks = {
            (r["acquisition_id"], r["qpu"]): int(r["n"])
            for r in self.db.execute(
                "SELECT acquisition_id, qpu, COUNT(*) AS n FROM remote_objects WHERE kind='task' "
                "GROUP BY acquisition_id, qpu"
            ).fetchall()
        }
        executing = {
            (r["acquisition_id"], r["qpu"]): float(r["s"])
            for r in self.db.execute(
                "SELECT acquisition_id, qpu, SUM(qpu_seconds) AS s FROM remote_objects WHERE kind='task' "
                "AND qpu_seconds IS NOT NULL GROUP BY acquisition_id, qpu"
            ).fetchall()
        }
        now = time.time()
        for d in self.db.execute(sql, args).fetchall():
            start, end = d["acquired_at"], d["hold_released_at"]
            d["hold_s"] = round((end or now) - start, 3) if start else 0.0
            d["tasks"] = tasks.get((d["acquisition_id"], d["qpu"]), 0)
            d["executing_s"] = round(executing.get((d["acquisition_id"], d["qpu"]), 0.0), 3)
            # waiting ends at the grant, or where a wait that was never granted ended
            waited_until = d["granted_at"] or d["released_at"] or now
            d["wait_s"] = round(max(0.0, waited_until - d["requested_at"]), 3)
            d["wait_node_s"] = round(d["wait_s"] * d["nodes"], 3)
            d.pop("qrmi_token")  # the session id is an acquisition token: not for every reader
            out.append(d)
        return out

    # -------------------------------------------------------- credentials
    def add_credential(self, digest: str, acq_id: str, qpu: str, kind: str, expires_at: float) -> None:
        """Record a job credential (its digest). Per acquisition and QPU at most MAX_BEARERS bearer
        tokens and MAX_JOB_KEYS job keys are kept: minting more drops the oldest."""
        keep = MAX_BEARERS if kind == "bearer" else MAX_JOB_KEYS
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO credentials (digest, acquisition_id, qpu, kind, expires_at) VALUES (?,?,?,?,?)",
                (digest, acq_id, qpu, kind, expires_at),
            )
            self.db.execute(
                "DELETE FROM credentials WHERE digest IN (SELECT digest FROM credentials "
                "WHERE acquisition_id=? AND qpu=? AND kind=? ORDER BY expires_at DESC LIMIT 1000000000 OFFSET ?)",
                (acq_id, qpu, kind, keep),
            )

    def credential(self, digest: str) -> CredentialRow | None:
        row = self.db.execute("SELECT * FROM credentials WHERE digest=?", (digest,)).fetchone()
        if row is not None and row["acquisition_id"] in self._revoked_in_memory:
            row["revoked"] = 1
        return cast(CredentialRow | None, row)

    def revoke_credentials(self, acq_id: str) -> None:
        """The acquisition's job credentials die now: in memory first (so they die even when the
        database cannot be written), then in the database."""
        self._revoked_in_memory.add(acq_id)
        self.db.execute("UPDATE credentials SET revoked=1 WHERE acquisition_id=?", (acq_id,))
        self._revoked_in_memory.discard(acq_id)

    def prune(self, replay_ttl_s: float) -> None:
        """Retention: job credentials that expired or were revoked (they answer 401 either way) and
        munge credentials older than the replay window."""
        now = time.time()
        self.db.execute("DELETE FROM credentials WHERE expires_at<? OR revoked=1", (now,))
        self.db.execute("DELETE FROM seen_credentials WHERE seen_at<?", (now - replay_ttl_s,))
        self.tasks.prune_bodies(now - KEEP_ENDED_TASK_BODIES_S)
        self._pruned_at = now
        for digest, seen in list(self._seen_in_memory.items()):
            if seen < now - replay_ttl_s:
                del self._seen_in_memory[digest]

    def add_remote_object(self, acq_id: str, qpu: str, remote_id: str, kind: str = "task") -> None:
        self.db.execute(
            "INSERT INTO remote_objects (acquisition_id, qpu, remote_id, kind, created_at) "
            "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            (acq_id, qpu, remote_id, kind, time.time()),
        )

    def record_task_end(self, acq_id: str, qpu: str, remote_id: str, qpu_seconds: float) -> bool:
        """Record an ended task's QPU time once (the first answer that shows it ended); True if recorded."""
        return self.db.execute(
            "UPDATE remote_objects SET qpu_seconds=?, ended_at=? WHERE acquisition_id=? AND qpu=? AND remote_id=? "
            "AND kind='task' AND qpu_seconds IS NULL",
            (qpu_seconds, time.time(), acq_id, qpu, remote_id),
        ).rowcount == 1

    def usage_totals(self, now: float) -> dict[str, dict[str, float]]:
        """Per QPU: seconds held, seconds its ended tasks executed, node-seconds jobs waited for it
        (in-progress holds and waits counted up to `now`)."""
        held = self.db.execute(
            "SELECT qpu, SUM(COALESCE(released_at, ?) - acquired_at) AS s FROM holds "
            "WHERE acquired_at IS NOT NULL GROUP BY qpu", (now,)
        ).fetchall()
        executing = self.db.execute(
            "SELECT qpu, SUM(qpu_seconds) AS s FROM remote_objects WHERE kind='task' AND qpu_seconds IS NOT NULL "
            "GROUP BY qpu"
        ).fetchall()
        waited = self.db.execute(
            "SELECT h.qpu AS qpu, SUM(a.nodes * (COALESCE(a.granted_at, a.released_at, ?) - a.requested_at)) AS s "
            "FROM holds h JOIN acquisitions a ON a.id=h.acquisition_id GROUP BY h.qpu", (now,)
        ).fetchall()
        return {
            "held": {r["qpu"]: max(0.0, float(r["s"] or 0)) for r in held},
            "executing": {r["qpu"]: float(r["s"] or 0) for r in executing},
            "wait_node": {r["qpu"]: max(0.0, float(r["s"] or 0)) for r in waited},
        }

    def tasks_of(self, acq_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The tasks an acquisition submitted through the proxy, oldest first (at most `limit`):
        qpu, remote id, when qrmid saw it created and ended, and its QPU seconds once ended."""
        return self.db.execute(
            "SELECT qpu, remote_id, created_at, ended_at, qpu_seconds FROM remote_objects "
            "WHERE acquisition_id=? AND kind='task' ORDER BY created_at, remote_id LIMIT ?",
            (acq_id, int(limit)),
        ).fetchall()

    def remote_ids(self, acq_id: str, qpu: str, kind: str, limit: int) -> list[str]:
        """The newest `limit` objects of `kind` the acquisition created on the QPU (the proxy's
        scoped listings)."""
        rows = self.db.execute(
            "SELECT remote_id FROM remote_objects WHERE acquisition_id=? AND qpu=? AND kind=? "
            "ORDER BY created_at DESC LIMIT ?",
            (acq_id, qpu, kind, limit),
        ).fetchall()
        return [str(r["remote_id"]) for r in rows]

    def remote_owner(self, qpu: str, remote_id: str) -> str | None:
        row = self.db.execute(
            "SELECT acquisition_id FROM remote_objects WHERE qpu=? AND remote_id=?", (qpu, remote_id)
        ).fetchone()
        return str(row["acquisition_id"]) if row else None

    # -------------------------------------------------------- maintenance
    def maintenance(self) -> dict[str, MaintenanceRow]:
        return {r["qpu"]: cast(MaintenanceRow, r) for r in self.db.execute("SELECT * FROM maintenance").fetchall()}

    def set_maintenance(self, qpu: str, message: str, until: float | None, set_by: str) -> None:
        self.db.execute(
            "INSERT INTO maintenance (qpu, message, since, until, set_by) VALUES (?,?,?,?,?) "
            "ON CONFLICT (qpu) DO UPDATE SET message=excluded.message, since=excluded.since, "
            "until=excluded.until, set_by=excluded.set_by",
            (qpu, message, time.time(), until, set_by),
        )

    def clear_maintenance(self, qpu: str) -> None:
        self.db.execute("DELETE FROM maintenance WHERE qpu=?", (qpu,))

    # ------------------------------------------------------ replay cache
    def remember_credential(self, digest: str, ttl_s: float) -> bool:
        """True when the credential is new; False when it was seen before (a replay). While the
        database cannot be written, seen credentials are kept in memory (munged's own replay
        check still applies), so a full disk does not lock Slurm out of releases."""
        now = time.time()
        if digest in self._seen_in_memory:
            return False
        try:
            added = self.db.execute(
                "INSERT INTO seen_credentials (digest, seen_at) VALUES (?,?) ON CONFLICT DO NOTHING", (digest, now)
            ).rowcount
        except StoreUnavailable as exc:
            if self.db.execute("SELECT 1 FROM seen_credentials WHERE digest=?", (digest,)).fetchone():
                return False
            log.warning("replay cache in memory only: %s", exc)
            self._seen_in_memory[digest] = now
            return True
        if added != 1:
            return False
        if now - self._pruned_at >= 60:  # prune once a minute; munge credentials expire after their TTL anyway
            self._pruned_at = now
            self.db.execute("DELETE FROM seen_credentials WHERE seen_at<?", (now - ttl_s,))
        return True
