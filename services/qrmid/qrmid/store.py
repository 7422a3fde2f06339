"""SQLite persistence: acquisitions, their per-QPU holds (= accounting records),
job-scoped credentials (hashes only), maintenance switches, the munge replay cache.

WAL with synchronous=NORMAL survives a killed process (not a power cut) and keeps
a write under a millisecond. Every state change is written *before* the effect it
announces is visible to a client, so a restart resumes from the table alone.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS acquisitions (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    user TEXT NOT NULL,
    uid INTEGER,
    profile TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    qpus TEXT NOT NULL,               -- JSON list
    state TEXT NOT NULL,              -- waiting | acquiring | granted | releasing | released | failed
    outcome TEXT,                     -- released | reaped | expired | refused | failed | timeout
    message TEXT,
    hold_s INTEGER NOT NULL,
    wait_deadline REAL,               -- a waiting request fails after this
    during_calibration TEXT NOT NULL DEFAULT 'wait',
    requested_at REAL NOT NULL,
    granted_at REAL,
    released_at REAL,
    deadline REAL                     -- granted_at + hold_s
);
CREATE INDEX IF NOT EXISTS acq_job ON acquisitions(job_id);
CREATE INDEX IF NOT EXISTS acq_state ON acquisitions(state);
CREATE TABLE IF NOT EXISTS holds (
    acquisition_id TEXT NOT NULL REFERENCES acquisitions(id),
    qpu TEXT NOT NULL,
    qrmi_token TEXT,                  -- what qrmi's acquire() returned (IBM: the session id)
    state TEXT NOT NULL,              -- acquiring | held | released | release_failed
    acquired_at REAL,
    released_at REAL,
    error TEXT,
    PRIMARY KEY (acquisition_id, qpu)
);
CREATE TABLE IF NOT EXISTS credentials (
    digest TEXT PRIMARY KEY,          -- sha256 of the credential; the value itself is never stored
    acquisition_id TEXT NOT NULL,
    qpu TEXT NOT NULL,
    kind TEXT NOT NULL,               -- job-key | bearer
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS cred_acq ON credentials(acquisition_id);
CREATE TABLE IF NOT EXISTS remote_objects (
    acquisition_id TEXT NOT NULL,
    qpu TEXT NOT NULL,
    remote_id TEXT NOT NULL,          -- a task/batch/job id created through the proxy
    kind TEXT NOT NULL DEFAULT 'task',  -- task (what the user submitted) | part (e.g. a batch's jobs)
    created_at REAL NOT NULL,
    PRIMARY KEY (qpu, remote_id)
);
CREATE TABLE IF NOT EXISTS maintenance (
    qpu TEXT PRIMARY KEY,
    message TEXT NOT NULL,
    since REAL NOT NULL,
    until REAL,
    set_by TEXT
);
CREATE TABLE IF NOT EXISTS seen_credentials (
    digest TEXT PRIMARY KEY,
    seen_at REAL NOT NULL
);
"""

ACTIVE = ("waiting", "acquiring", "granted", "releasing")


class Store:
    def __init__(self, path: str):
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)

    # ------------------------------------------------------------- helpers
    def tx(self) -> sqlite3.Connection:
        return self.db

    @staticmethod
    def _acq(row: sqlite3.Row | None) -> dict[str, Any] | None:
        if row is None:
            return None
        d = dict(row)
        d["qpus"] = json.loads(d["qpus"])
        return d

    # ------------------------------------------------------- acquisitions
    def insert_acquisition(self, a: dict[str, Any]) -> None:
        cols = list(a)
        vals = [json.dumps(v) if k == "qpus" else v for k, v in a.items()]
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                f"INSERT INTO acquisitions ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",  # noqa: S608
                vals,
            )
            for q in a["qpus"]:
                self.db.execute("INSERT INTO holds (acquisition_id, qpu, state) VALUES (?, ?, 'pending')", (a["id"], q))

    def update_acquisition(self, acq_id: str, **fields: Any) -> None:
        sets = ",".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE acquisitions SET {sets} WHERE id=?", [*fields.values(), acq_id])  # noqa: S608

    def get(self, acq_id: str) -> dict[str, Any] | None:
        return self._acq(self.db.execute("SELECT * FROM acquisitions WHERE id=?", (acq_id,)).fetchone())

    def active_for_job(self, job_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            f"SELECT * FROM acquisitions WHERE job_id=? AND state IN {ACTIVE} ORDER BY requested_at DESC LIMIT 1",  # noqa: S608
            (job_id,),
        ).fetchone()
        return self._acq(row)

    def in_states(self, *states: str) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(states))
        rows = self.db.execute(
            f"SELECT * FROM acquisitions WHERE state IN ({marks}) ORDER BY requested_at", states  # noqa: S608
        ).fetchall()
        return [a for a in (self._acq(r) for r in rows) if a]

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        where, args = [], []
        for key in ("job_id", "user", "uid", "state", "profile"):
            if filters.get(key) is not None:
                where.append(f"{key}=?")
                args.append(filters[key])
        if filters.get("qpu"):
            where.append("id IN (SELECT acquisition_id FROM holds WHERE qpu=?)")
            args.append(filters["qpu"])
        if filters.get("since") is not None:
            where.append("requested_at>=?")
            args.append(filters["since"])
        if filters.get("until") is not None:
            where.append("requested_at<?")
            args.append(filters["until"])
        sql = "SELECT * FROM acquisitions" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
        sql += " ORDER BY requested_at DESC LIMIT ?"
        args.append(int(filters.get("limit") or 1000))
        return [a for a in (self._acq(r) for r in self.db.execute(sql, args).fetchall()) if a]

    # -------------------------------------------------------------- holds
    def holds(self, acq_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM holds WHERE acquisition_id=? ORDER BY qpu", (acq_id,))]

    def update_hold(self, acq_id: str, qpu: str, **fields: Any) -> None:
        sets = ",".join(f"{k}=?" for k in fields)
        self.db.execute(
            f"UPDATE holds SET {sets} WHERE acquisition_id=? AND qpu=?", [*fields.values(), acq_id, qpu]  # noqa: S608
        )

    def occupied(self) -> dict[str, int]:
        """Slots in use per QPU: holds of acquisitions that are acquiring, granted or releasing."""
        rows = self.db.execute(
            "SELECT h.qpu, COUNT(*) FROM holds h JOIN acquisitions a ON a.id=h.acquisition_id "
            "WHERE a.state IN ('acquiring','granted','releasing') GROUP BY h.qpu"
        ).fetchall()
        return {r[0]: r[1] for r in rows}

    def accounting(self, **filters: Any) -> list[dict[str, Any]]:
        where, args = [], []
        for key, col in (
            ("job_id", "a.job_id"), ("user", "a.user"), ("uid", "a.uid"), ("qpu", "h.qpu"), ("profile", "a.profile")
        ):
            if filters.get(key) is not None:
                where.append(f"{col}=?")
                args.append(filters[key])
        if filters.get("since") is not None:
            where.append("a.requested_at>=?")
            args.append(filters["since"])
        if filters.get("until") is not None:
            where.append("a.requested_at<?")
            args.append(filters["until"])
        sql = (
            "SELECT a.id AS acquisition_id, a.job_id, a.user, a.profile, h.qpu, h.qrmi_token, a.state, a.outcome, "
            "a.message, a.requested_at, a.granted_at, h.acquired_at, h.released_at AS hold_released_at, "
            "a.released_at, h.state AS hold_state, h.error "
            "FROM holds h JOIN acquisitions a ON a.id=h.acquisition_id"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY a.requested_at"
        out = []
        tasks = dict(
            self.db.execute(
                "SELECT acquisition_id || '/' || qpu, COUNT(*) FROM remote_objects WHERE kind='task' GROUP BY 1"
            ).fetchall()
        )
        for r in self.db.execute(sql, args).fetchall():
            d = dict(r)
            start, end = d["acquired_at"], d["hold_released_at"]
            d["hold_s"] = round((end or time.time()) - start, 3) if start else 0.0
            d["tasks"] = tasks.get(f"{d['acquisition_id']}/{d['qpu']}", 0)
            d.pop("qrmi_token")  # the session id is an acquisition token: not for every reader
            out.append(d)
        return out

    # -------------------------------------------------------- credentials
    def add_credential(self, digest: str, acq_id: str, qpu: str, kind: str, expires_at: float) -> None:
        self.db.execute(
            "INSERT INTO credentials (digest, acquisition_id, qpu, kind, expires_at) VALUES (?,?,?,?,?)",
            (digest, acq_id, qpu, kind, expires_at),
        )

    def credential(self, digest: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM credentials WHERE digest=?", (digest,)).fetchone()
        return dict(row) if row else None

    def revoke_credentials(self, acq_id: str) -> None:
        self.db.execute("UPDATE credentials SET revoked=1 WHERE acquisition_id=?", (acq_id,))

    def add_remote_object(self, acq_id: str, qpu: str, remote_id: str, kind: str = "task") -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO remote_objects (acquisition_id, qpu, remote_id, kind, created_at) "
            "VALUES (?,?,?,?,?)",
            (acq_id, qpu, remote_id, kind, time.time()),
        )

    def remote_owner(self, qpu: str, remote_id: str) -> str | None:
        row = self.db.execute(
            "SELECT acquisition_id FROM remote_objects WHERE qpu=? AND remote_id=?", (qpu, remote_id)
        ).fetchone()
        return row[0] if row else None

    # -------------------------------------------------------- maintenance
    def maintenance(self) -> dict[str, dict[str, Any]]:
        return {r["qpu"]: dict(r) for r in self.db.execute("SELECT * FROM maintenance")}

    def set_maintenance(self, qpu: str, message: str, until: float | None, set_by: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO maintenance (qpu, message, since, until, set_by) VALUES (?,?,?,?,?)",
            (qpu, message, time.time(), until, set_by),
        )

    def clear_maintenance(self, qpu: str) -> None:
        self.db.execute("DELETE FROM maintenance WHERE qpu=?", (qpu,))

    # ------------------------------------------------------ replay cache
    def remember_credential(self, digest: str, ttl_s: float) -> bool:
        """True when the credential is new; False when it was seen before (a replay)."""
        now = time.time()
        try:
            self.db.execute("INSERT INTO seen_credentials (digest, seen_at) VALUES (?,?)", (digest, now))
        except sqlite3.IntegrityError:
            return False
        if int(now) % 60 == 0:  # prune now and then; munge credentials expire after their TTL anyway
            self.db.execute("DELETE FROM seen_credentials WHERE seen_at<?", (now - ttl_s,))
        return True
