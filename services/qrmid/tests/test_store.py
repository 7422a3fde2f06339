"""The Store on both backends (SQLite file, real PostgreSQL): one interface, one schema,
the same answers; durable across reopening; the PostgreSQL password comes from the
secrets file only; an old SQLite database gains the intent columns."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import harness
import pytest
from qrmid.config import ConfigProblem, Database, load
from qrmid.store import Store


def open_store(database: str | dict[str, str]) -> Store:
    if isinstance(database, str):
        return Store(database)
    db = Database.model_validate(database).with_password(harness.DB_PASSWORD)
    return Store(db)


def acquisition(acq_id: str, job: str, user: str = "bob", qpus: tuple[str, ...] = ("sc_twin",)) -> dict[str, Any]:
    now = time.time()
    return {
        "id": acq_id,
        "cluster": "lab",
        "job_id": job,
        "user": user,
        "uid": 1001,
        "profile": "production",
        "priority": 10,
        "qpus": list(qpus),
        "state": "waiting",
        "message": None,
        "hold_s": 600,
        "wait_deadline": now + 60,
        "during_calibration": "wait",
        "requested_at": now,
    }


def test_store_round_trip_and_accounting(database: str | dict[str, str], backend: str) -> None:
    store = open_store(database)
    assert store.kind == backend
    a = acquisition("acq-1", "101", qpus=("sc_twin", "FRESNEL"))
    store.insert_acquisition(a)
    store.insert_acquisition(acquisition("acq-2", "102", user="alice"))
    got = store.get("acq-1")
    assert got is not None and got["qpus"] == ["sc_twin", "FRESNEL"] and got["user"] == "bob"
    assert got["requested_at"] == a["requested_at"]  # full double precision on both backends
    assert [h["state"] for h in store.holds("acq-1")] == ["pending", "pending"]
    assert store.active_for_job("lab", "101")["id"] == "acq-1"  # type: ignore[index]
    assert store.active_for_job("other", "101") is None  # job ids repeat across clusters
    assert [r["id"] for r in store.query(user="alice")] == ["acq-2"]
    assert [r["id"] for r in store.query(qpu="FRESNEL")] == ["acq-1"]

    # the intent, then the token in the same row
    started = time.time()
    store.update_acquisition("acq-1", state="acquiring")
    store.update_hold("acq-1", "sc_twin", state="acquiring", started_at=started, worker="123:456")
    h = {x["qpu"]: x for x in store.holds("acq-1")}["sc_twin"]
    assert (h["state"], h["started_at"], h["worker"], h["qrmi_token"]) == ("acquiring", started, "123:456", None)
    assert store.occupied() == {"sc_twin": 1, "FRESNEL": 1}
    store.update_hold("acq-1", "sc_twin", qrmi_token="sess-1", state="held", acquired_at=started + 1)
    store.update_hold("acq-1", "FRESNEL", qrmi_token="pq-1", state="held", acquired_at=started + 1)
    store.update_acquisition("acq-1", state="granted", granted_at=started + 1, deadline=started + 601)
    assert [a["id"] for a in store.in_states("granted", "waiting")] == ["acq-1", "acq-2"]

    store.add_remote_object("acq-1", "sc_twin", "job-a")
    store.add_remote_object("acq-1", "sc_twin", "job-a")  # the same object twice is one
    store.add_remote_object("acq-1", "FRESNEL", "batch-b")
    store.add_remote_object("acq-1", "FRESNEL", "job-b1", "part")
    assert store.remote_owner("sc_twin", "job-a") == "acq-1" and store.remote_owner("sc_twin", "nope") is None

    store.update_hold("acq-1", "sc_twin", state="release_failed", released_at=started + 5, error="503")
    assert [(r["acquisition_id"], r["qpu"], r["qrmi_token"]) for r in store.failed_releases()] == [
        ("acq-1", "sc_twin", "sess-1")
    ]
    store.update_hold("acq-1", "sc_twin", state="released", released_at=started + 11, error=None)
    rows = store.accounting(user="bob")
    assert {r["qpu"]: (r["hold_s"], r["tasks"]) for r in rows} == {
        "sc_twin": (10.0, 1),
        "FRESNEL": (pytest.approx(time.time() - started - 1, abs=5), 1),
    }
    assert all("qrmi_token" not in r for r in rows)
    assert store.accounting(user="nobody") == []

    # credentials, maintenance, replay cache
    store.add_credential("d1", "acq-1", "sc_twin", "job-key", started + 600)
    store.revoke_credentials("acq-1")
    assert store.credential("d1")["revoked"] == 1  # type: ignore[index]
    store.set_maintenance("sc_twin", "cryostat", None, "operator")
    store.set_maintenance("sc_twin", "cryostat refill", started + 60, "operator")  # replaces
    assert store.maintenance()["sc_twin"]["message"] == "cryostat refill"
    store.clear_maintenance("sc_twin")
    assert store.maintenance() == {}
    assert store.remember_credential("c1", 3600) is True
    assert store.remember_credential("c1", 3600) is False
    assert store.db.execute("SELECT 1 AS one").fetchone() == {"one": 1}  # what /healthz runs
    store.close()

    # everything is there after reopening (a restart)
    again = open_store(database)
    assert again.get("acq-1")["state"] == "granted"  # type: ignore[index]
    assert again.remember_credential("c1", 3600) is False
    assert {h["qpu"]: h["qrmi_token"] for h in again.holds("acq-1")} == {"sc_twin": "sess-1", "FRESNEL": "pq-1"}
    again.close()


def test_a_failed_transaction_leaves_nothing(database: str | dict[str, str]) -> None:
    store = open_store(database)
    store.insert_acquisition(acquisition("acq-1", "101"))
    with pytest.raises(Exception):  # noqa: B017 - the backends raise their own IntegrityError
        store.insert_acquisition(acquisition("acq-1", "102", qpus=("FRESNEL",)))  # duplicate id
    assert [a["job_id"] for a in store.query()] == ["101"]
    assert [h["qpu"] for h in store.holds("acq-1")] == ["sc_twin"]
    store.insert_acquisition(acquisition("acq-2", "102"))  # the connection is usable afterwards
    store.close()


def test_an_old_sqlite_database_gains_the_intent_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE holds (acquisition_id TEXT NOT NULL, qpu TEXT NOT NULL, qrmi_token TEXT, state TEXT NOT NULL,"
        " acquired_at REAL, released_at REAL, error TEXT, PRIMARY KEY (acquisition_id, qpu));"
        "INSERT INTO holds (acquisition_id, qpu, qrmi_token, state) VALUES ('acq-old', 'sc_twin', 's-1', 'held');"
    )
    db.close()
    store = Store(str(path))
    assert store.holds("acq-old")[0]["started_at"] is None and store.holds("acq-old")[0]["qrmi_token"] == "s-1"
    store.update_hold("acq-old", "sc_twin", started_at=1.5, worker="1:2")
    assert store.holds("acq-old")[0]["worker"] == "1:2"
    store.close()


def test_postgres_reconnects_after_the_server_dropped_the_connection(postgres: harness.Postgres) -> None:
    name = postgres.new_database()
    store = open_store({"url": postgres.url(name)})
    store.insert_acquisition(acquisition("acq-1", "101"))
    with postgres.admin() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname=%s", (name,))
    with pytest.raises(Exception):  # noqa: B017 - the statement that met the dropped connection fails
        store.get("acq-1")
    assert store.get("acq-1")["job_id"] == "101"  # type: ignore[index]
    store.close()


def test_postgres_password_comes_from_the_secrets_file_only(tmp_path: Path, postgres: harness.Postgres) -> None:
    url = postgres.url(postgres.new_database())
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"vault_qrmid_database_password": harness.DB_PASSWORD}))
    secrets.chmod(0o600)
    cfg = tmp_path / "config.json"

    def write(database: Any) -> Path:
        cfg.write_text(json.dumps({"database": database, "secrets_file": str(secrets)}))
        return cfg

    config, _, _ = load(str(write({"url": url, "password_secret": "vault_qrmid_database_password"})))
    assert isinstance(config.database, Database) and config.database.password == harness.DB_PASSWORD
    Store(config.database).close()  # scram authentication with the password from the secrets file
    with pytest.raises(ConfigProblem, match="carries a password"):
        load(str(write({"url": url.replace("qrmid@", f"qrmid:{harness.DB_PASSWORD}@")})))
    with pytest.raises(ConfigProblem, match="does not hold"):
        load(str(write({"url": url, "password_secret": "vault_other"})))
    with pytest.raises(ConfigProblem, match="postgresql://"):
        load(str(write({"url": "mysql://db/qrmid"})))
    # without the password the server refuses: the secret is really what authenticates
    config, _, _ = load(str(write({"url": url})))
    with pytest.raises(Exception, match="password"):  # noqa: B017
        Store(config.database)


def test_the_replay_cache_prune_uses_an_index_also_on_an_old_database(
    database: str | dict[str, str], backend: str, tmp_path: Path
) -> None:
    """remember_credential prunes by seen_at: that range has an index, which an existing database
    gains when qrmid opens it; the prune runs at most once a minute and keeps what is recent."""
    if backend == "sqlite":
        assert isinstance(database, str)
        old = sqlite3.connect(database)
        old.executescript("CREATE TABLE seen_credentials (digest TEXT PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL)")
        old.close()
    store = open_store(database)
    if backend == "sqlite":
        plan = store.db.execute("EXPLAIN QUERY PLAN DELETE FROM seen_credentials WHERE seen_at<?", (1.0,)).rows
        assert any("seen_cred_at" in str(r["detail"]) for r in plan), plan
    else:
        rows = store.db.execute("SELECT indexdef FROM pg_indexes WHERE tablename='seen_credentials'").rows
        assert any("(seen_at)" in r["indexdef"] for r in rows), rows
    store.db.execute("INSERT INTO seen_credentials (digest, seen_at) VALUES ('old', ?)", (time.time() - 7200,))
    assert store.remember_credential("new-1", 3600) is True
    assert store.remember_credential("new-1", 3600) is False  # a replay
    left = {r["digest"] for r in store.db.execute("SELECT digest FROM seen_credentials").rows}
    assert left == {"new-1"}  # the first call pruned what was past its TTL
    store.db.execute("INSERT INTO seen_credentials (digest, seen_at) VALUES ('old-2', ?)", (time.time() - 7200,))
    assert store.remember_credential("new-2", 3600) is True
    left = {r["digest"] for r in store.db.execute("SELECT digest FROM seen_credentials").rows}
    assert left == {"new-1", "new-2", "old-2"}  # not pruned again within the minute
    store.close()


def test_task_records(database: str | dict[str, str], backend: str) -> None:
    """Task-level sharing's rows on both backends: queued with minted ids owned by the job, the
    service's ids once dispatched, the end with QPU seconds, the export joined to the Slurm job."""
    store = open_store(database)
    store.insert_acquisition(acquisition("acq-t", "301"))
    now = time.time()
    row = {"id": "minted-1", "acquisition_id": "acq-t", "qpu": "FRESNEL", "kind": "pasqal-batch", "state": "queued",
           "priority": 50, "account": "bob", "remote_id": None, "body": '{"jobs":[{"runs":5},{"runs":5}]}',
           "shots": 10, "estimate_s": 1.01, "queued_at": now, "dispatched_at": None, "ended_at": None,
           "qpu_seconds": None, "preempted": 0, "status": None, "message": None}
    store.tasks.add(row, ["part-b", "part-a"])  # type: ignore[arg-type]  # the batch's order, not the ids'
    assert store.tasks.parts("minted-1") == ["part-b", "part-a"]
    assert store.remote_owner("FRESNEL", "minted-1") == "acq-t" and store.remote_owner("FRESNEL", "part-b") == "acq-t"
    assert store.tasks.alias("FRESNEL", "part-a") == ("minted-1", None)
    assert store.tasks.alias("sc_twin", "part-a") is None
    store.tasks.overtaken(["minted-1"])
    store.tasks.dispatched("minted-1", "remote-1", ["r-a", "r-b"], now + 2)
    assert store.tasks.alias("FRESNEL", "minted-1") == ("minted-1", "remote-1")
    assert [store.tasks.alias("FRESNEL", p)[1] for p in ("part-b", "part-a")] == ["r-a", "r-b"]  # type: ignore[index]
    assert store.tasks.finish("minted-1", "ended", None, status="DONE", qpu_seconds=1.5, at=now + 4)
    assert not store.tasks.finish("minted-1", "ended", None, qpu_seconds=9.0)  # once
    assert store.tasks.usage("FRESNEL", now - 1) == [("bob", 1.5, now + 4)]
    assert store.tasks.seconds_per_shot("FRESNEL") == (0.15, 1)
    (rec,) = store.tasks.export(job_id="301")
    assert rec["cluster"] == "lab" and rec["user"] == "bob" and rec["remote_id"] == "remote-1"
    assert rec["queued_s"] == 2.0 and rec["qpu_seconds"] == 1.5 and rec["preempted"] == 1 and rec["state"] == "ended"
    assert store.tasks.export(job_id="302") == [] and store.tasks.export(uid=1) == []
    store.close()
    assert open_store(database).tasks.get("minted-1")["body"] is None  # type: ignore[index]  # durable; body dropped
