"""Real components for the tests: munged (own key and socket), the QPU emulator
from services/qpu-emulator, a throwaway PostgreSQL cluster (Debian's server binaries),
and qrmid itself, each a subprocess on 127.0.0.1 or a unix socket in a temp dir,
stopped by PID. Configuration comes from the lab site (inventories/lab/site.yaml)
through site_survey.derive, as the roles render it.

The session fixtures `munged`, `site` and `emulator` at the end are shared by the test
suites of qrmid, spank-qrmid and ge-qrmid: each conftest imports them by name."""

from __future__ import annotations

import glob
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SITE_APIKEY = "site-ibm-apikey-DO-NOT-LEAK-7f3a9c"
SITE_TOKEN = "site-pasqal-token-DO-NOT-LEAK-51be02"
OPERATOR_TOKEN = "operator-token-DO-NOT-LEAK-c0ffee"
DB_PASSWORD = "qrmid-db-password-DO-NOT-LEAK-9d4e1a"
SITE_SECRETS = (SITE_APIKEY, SITE_TOKEN, OPERATOR_TOKEN, DB_PASSWORD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


# ------------------------------------------------------------------ munged
@dataclass
class Munged:
    dir: Path
    socket: str
    proc: subprocess.Popen[bytes]


def start_munged(tmp: Path) -> Munged:
    tmp.mkdir(parents=True, exist_ok=True)
    os.chmod(tmp, 0o755)
    key = tmp / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = str(tmp / "munge.sock")
    proc = subprocess.Popen(
        [
            "munged",
            "--foreground",
            "--force",
            f"--key-file={key}",
            f"--socket={sock}",
            f"--pid-file={tmp / 'munged.pid'}",
            f"--log-file={tmp / 'munged.log'}",
            f"--seed-file={tmp / 'munged.seed'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not os.path.exists(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("munged did not start")
        time.sleep(0.05)
    return Munged(tmp, sock, proc)


# ------------------------------------------------------------------ PostgreSQL
def postgres_bindir() -> Path | None:
    """Debian's server binaries (package postgresql): /usr/lib/postgresql/<major>/bin, newest first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("postgres") else None


@dataclass
class Postgres:
    dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def admin(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.dir / "sock"), port=self.port, user="postgres", dbname=dbname, autocommit=True
        )

    def new_database(self) -> str:
        """A fresh database owned by the password-authenticated role qrmid."""
        name = f"qrmid_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER qrmid')
        return name

    def url(self, dbname: str) -> str:
        """What qrmid is configured with: TCP on 127.0.0.1, password authentication (scram), no password."""
        return f"postgresql://qrmid@127.0.0.1:{self.port}/{dbname}"


def start_postgres(tmp: Path) -> Postgres:
    """initdb + postgres in `tmp` (listening on 127.0.0.1:<free port> and a unix socket in `tmp`),
    as `nobody` when the tests run as root (the server refuses root)."""
    bindir = postgres_bindir()
    assert bindir is not None
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "sock").mkdir()
    nobody = pwd.getpwnam("nobody")

    def as_nobody() -> None:
        os.setgid(nobody.pw_gid)
        os.setgroups([])
        os.setuid(nobody.pw_uid)

    demote = as_nobody if os.geteuid() == 0 else None
    if demote is not None:
        for path in (tmp, tmp / "sock"):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)

    log = tmp / "postgres.log"
    init = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(tmp / "data"),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--no-locale",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        capture_output=True,
        preexec_fn=demote,
        cwd=tmp,
        timeout=120,
    )
    if init.returncode != 0:
        raise RuntimeError("initdb failed: " + init.stderr.decode()[-2000:])
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(bindir / "postgres"),
                "-D",
                str(tmp / "data"),
                "-p",
                str(port),
                "-k",
                str(tmp / "sock"),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=demote,
            cwd=tmp,
        )
    pg = Postgres(tmp, port, proc)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError("postgres exited: " + log.read_text()[-2000:])
        try:
            with pg.admin() as conn:
                conn.execute(f"CREATE ROLE qrmid LOGIN PASSWORD '{DB_PASSWORD}'")
            return pg
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_postgres(pg: Postgres) -> None:
    stop(pg.proc, signal.SIGINT, 30)  # SIGINT: fast shutdown


# ------------------------------------------------------------------ lab site
def lab_site_vars() -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    try:
        from site_survey.derive import site_vars
        from site_survey.loader import load_site
    finally:
        sys.path.remove(str(REPO))
    site = load_site(REPO / "inventories" / "lab" / "site.yaml")
    # These tests are written for QPUs a job holds whole (the lab may share one task by task);
    # test_task_sharing.py turns task mode on where it tests it.
    exclusive = [q.model_copy(update={"sharing": type(q.sharing)()}) for q in site.qpus]
    return site_vars(site.model_copy(update={"qpus": exclusive}))


def without_windows(site: dict[str, Any]) -> list[dict[str, Any]]:
    """The lab's QPUs minus their recurring windows, so a test does not depend on the hour it runs."""
    return [{**q, "calibration_windows": []} for q in site["qpusite_qpus"]]


# ------------------------------------------------------------------ emulator
@dataclass
class Emulator:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path


def start_emulator(tmp: Path, site: dict[str, Any]) -> Emulator:
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    twins = []
    for host_twins in site["qpusite_emulator_twins"].values():
        for t in host_twins:
            creds = {"api_keys": [SITE_APIKEY]} if t["api"] == "ibm" else {"tokens": [SITE_TOKEN]}
            twins.append({**t, "credentials": creds})
    cfg = {"listen": {"host": "127.0.0.1", "port": port}, "state_dir": str(tmp / "state"), "workers": 1, "twins": twins}
    path = tmp / "emulator.json"
    path.write_text(json.dumps(cfg))
    log = tmp / "emulator.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "qpu_emulator", "--config", str(path), "--log-level", "warning"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", 90, proc)
    return Emulator(url, proc, log)


# ------------------------------------------------------------------ qrmid
def qrmid_config(
    tmp: Path, site: dict[str, Any], emulator_url: str, munge_socket: str, port: int, **overrides: Any
) -> Path:
    """The configuration roles/qrmid renders, with endpoints pointed at the test emulator.
    The secrets file also holds the database password (used when `database` names it)."""
    resources = []
    for r in site["qpusite_qrmi_resources"]:
        env = dict(r["environment"])
        for k, v in env.items():
            if v.startswith(("http://", "https://")):  # the lab serves https; tests use plain loopback
                rest = v.split("/", 3)[3] if v.count("/") >= 3 else ""
                env[k] = emulator_url + ("/" + rest if rest else "")
        resources.append({**r, "environment": env})
    secrets = tmp / "secrets.json"
    secrets.write_text(
        json.dumps(
            {
                "vault_lab_sc_twin_apikey": SITE_APIKEY,
                "vault_lab_fresnel_token": SITE_TOKEN,
                "vault_lab_spark_token": SITE_TOKEN,
                "vault_qrmid_database_password": DB_PASSWORD,
            }
        )
    )
    secrets.chmod(0o600)
    token = tmp / "operator.token"
    token.write_text(OPERATOR_TOKEN + "\n")
    token.chmod(0o600)
    cfg: dict[str, Any] = {
        "listen_host": "127.0.0.1",
        "listen_port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "database": str(tmp / "qrmid.sqlite"),
        "timezone": site["qpusite_timezone"],
        "operator_token_file": str(token),
        "secrets_file": str(secrets),
        "munge_socket": munge_socket,
        "trusted_uids": [0],
        "resources": resources,
        "qpus": site["qpusite_qpus"],
        "policy_profiles": site["qpusite_policy_profiles"],
        "reaper": {"slurm": "off", "interval_s": 1},
        "status_poll_s": 5,
    }
    cfg.update(overrides)
    path = tmp / "qrmid.json"
    path.write_text(json.dumps(cfg))
    return path


@dataclass
class Qrmid:
    config: Path
    url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> Qrmid:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qrmid", "--config", str(self.config), "--log-level", "info"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )
        wait_http(self.url + "/healthz", 60, self.proc)
        return self

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


def configure_qrmid(tmp: Path, site: dict[str, Any], emulator_url: str, munge_socket: str,
                    **overrides: Any) -> Qrmid:
    """A qrmid on a free loopback port, configured by qrmid_config in `tmp` (log: tmp/qrmid.log),
    not started yet: callers may set its environment first, then call .start()."""
    port = free_port()
    cfg = qrmid_config(tmp, site, emulator_url, munge_socket, port, **overrides)
    return Qrmid(cfg, f"http://127.0.0.1:{port}", tmp / "qrmid.log")


# ------------------------------------------------------------------ one-node Slurm
def slurm_conf(tmp: Path, munge_socket: str, cluster: str, *, scheduler: str = "sched/builtin",
               kill_wait_s: int = 5, node_cpus: int = 2, extra: tuple[str, ...] = ()) -> Path:
    """tmp/slurm.conf of a one-node Slurm on 127.0.0.1 (node `qnode`, partition `debug`, own free
    ports, state, spool, pid and log files under `tmp`, authenticated by the test's munged);
    `extra` lines go before the node and partition. `node_cpus` above this machine's own makes
    slurmd take the configured count (SlurmdParameters=config_overrides)."""
    conf = tmp / "slurm.conf"
    lines = [
        f"ClusterName={cluster}",
        "SlurmctldHost=localhost(127.0.0.1)",
        f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={munge_socket}",
        f"StateSaveLocation={tmp / 'state'}",
        f"SlurmdSpoolDir={tmp / 'spool'}",
        f"SlurmctldPidFile={tmp / 'slurmctld.pid'}",
        f"SlurmdPidFile={tmp / 'slurmd.pid'}",
        f"SlurmctldLogFile={tmp / 'slurmctld.log'}",
        f"SlurmdLogFile={tmp / 'slurmd.log'}",
        "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        f"SchedulerType={scheduler}",
        "MpiDefault=none",
        "ReturnToService=2",
        "JobCompType=jobcomp/none",
        "AccountingStorageType=accounting_storage/none",
        f"KillWait={kill_wait_s}",
        "MinJobAge=600",
        *extra,
        *(["SlurmdParameters=config_overrides"] if node_cpus > 2 else []),
        f"NodeName=qnode NodeAddr=127.0.0.1 CPUs={node_cpus} RealMemory=1000 State=UNKNOWN",
        "PartitionName=debug Nodes=qnode Default=YES MaxTime=60 State=UP",
        "",
    ]
    conf.write_text("\n".join(lines))
    return conf


# ------------------------------------------------------------------ HTTP client
class Client:
    """Signs each request with a fresh munge credential bound to it (as the SPANK plugin does)."""

    def __init__(self, url: str, munge_socket: str):
        from qrmid.munge_auth import Munge

        self.url = url
        self.munge = Munge(munge_socket)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        auth: str | None = "munge",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any]:
        from qrmid.munge_auth import request_payload

        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if auth == "munge":
            hdrs["Authorization"] = "Munge " + self.munge.encode(request_payload(method, path, data))
        elif auth is not None:
            hdrs["Authorization"] = auth
        req = urllib.request.Request(
            self.url + path, data=data if method != "GET" else None, method=method, headers=hdrs
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
                return resp.status, _decode(resp.read(), resp.headers.get("content-type", ""))
        except urllib.error.HTTPError as err:
            return err.code, _decode(err.read(), err.headers.get("content-type", ""))


def _decode(raw: bytes, ctype: str) -> Any:
    if "json" in ctype:
        return json.loads(raw or b"null")
    return raw.decode()


# ------------------------------------------------------------------ session fixtures
@pytest.fixture(scope="session")
def munged() -> Iterator[Munged]:
    # outside pytest's 0700 temp tree: other uids (test users, slurmd's job steps) must reach the socket
    tmp = Path(tempfile.mkdtemp(prefix="qrmid-munge-"))
    m = start_munged(tmp)
    yield m
    stop(m.proc)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def site() -> dict[str, Any]:
    return lab_site_vars()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory, site: dict[str, Any]) -> Iterator[Emulator]:
    e = start_emulator(tmp_path_factory.mktemp("emulator"), site)
    yield e
    stop(e.proc)
