from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness
import pytest
from ibm_qs_world import qs_client, qs_emulator, qs_s3  # noqa: F401  (the ibm-quantum-system tests' fixtures)


@pytest.fixture(scope="session")
def munged() -> Iterator[harness.Munged]:
    # outside pytest's 0700 temp tree: other uids (test users, slurmd's job steps) must reach the socket
    tmp = Path(tempfile.mkdtemp(prefix="qrmid-munge-"))
    m = harness.start_munged(tmp)
    yield m
    harness.stop(m.proc)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def site() -> dict[str, Any]:
    return harness.lab_site_vars()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory, site: dict[str, Any]) -> Iterator[harness.Emulator]:
    e = harness.start_emulator(tmp_path_factory.mktemp("emulator"), site)
    yield e
    harness.stop(e.proc)


@pytest.fixture(scope="session")
def postgres() -> Iterator[harness.Postgres]:
    """A throwaway PostgreSQL cluster for the session (outside pytest's 0700 temp tree: it runs as nobody)."""
    if harness.postgres_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) are not installed: apt-get install postgresql")
    tmp = Path(tempfile.mkdtemp(prefix="qrmid-pg-"))
    pg = harness.start_postgres(tmp)
    yield pg
    harness.stop_postgres(pg)
    shutil.rmtree(tmp, ignore_errors=True)


BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | dict[str, str]:
    """The `database` setting for this test's qrmid: a fresh SQLite file, or a fresh PostgreSQL
    database reached over TCP with the password from the secrets file."""
    if backend == "sqlite":
        return str(tmp_path / "qrmid.sqlite")
    pg: harness.Postgres = request.getfixturevalue("postgres")
    return {"url": pg.url(pg.new_database()), "password_secret": "vault_qrmid_database_password"}


QrmidFactory = Callable[..., harness.Qrmid]


@pytest.fixture
def make_qrmid(
    tmp_path: Path,
    site: dict[str, Any],
    emulator: harness.Emulator,
    munged: harness.Munged,
    database: str | dict[str, str],
) -> Iterator[QrmidFactory]:
    started: list[harness.Qrmid] = []

    def make(**overrides: Any) -> harness.Qrmid:
        port = harness.free_port()
        overrides.setdefault("database", database)
        cfg = harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port, **overrides)
        q = harness.Qrmid(cfg, f"http://127.0.0.1:{port}", tmp_path / "qrmid.log").start()
        started.append(q)
        return q

    yield make
    for q in started:
        q.stop()


def without_windows(site: dict[str, Any]) -> list[dict[str, Any]]:
    """The lab's QPUs minus their recurring windows, so a test does not depend on the hour it runs."""
    return [{**q, "calibration_windows": []} for q in site["qpusite_qpus"]]


@pytest.fixture
def qrmid(make_qrmid: QrmidFactory, site: dict[str, Any]) -> harness.Qrmid:
    return make_qrmid(qpus=without_windows(site))


@pytest.fixture
def client(qrmid: harness.Qrmid, munged: harness.Munged) -> harness.Client:
    return harness.Client(qrmid.url, munged.socket)
