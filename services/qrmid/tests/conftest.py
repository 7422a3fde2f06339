from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import harness
import pytest
from harness import without_windows
from ibm_qs_world import qs_client, qs_emulator, qs_s3  # noqa: F401  (the ibm-quantum-system tests' fixtures)

munged, site, emulator = harness.munged, harness.site, harness.emulator  # the session fixtures the suites share


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
        overrides.setdefault("database", database)
        q = harness.configure_qrmid(tmp_path, site, emulator.url, munged.socket, **overrides).start()
        started.append(q)
        return q

    yield make
    for q in started:
        q.stop()


@pytest.fixture
def qrmid(make_qrmid: QrmidFactory, site: dict[str, Any]) -> harness.Qrmid:
    return make_qrmid(qpus=without_windows(site))


@pytest.fixture
def client(qrmid: harness.Qrmid, munged: harness.Munged) -> harness.Client:
    return harness.Client(qrmid.url, munged.socket)
