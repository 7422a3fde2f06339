"""qrmid's configuration: one JSON document rendered from the site model, plus a
separate secrets file (mode 0600) that holds the values of the vaulted settings.

The resource, QPU and profile lists have exactly the shapes the inventory gives as
``qpusite_qrmi_resources``, ``qpusite_qpus`` and ``qpusite_policy_profiles``
(site_survey/derive.py), so the role renders them with ``to_json`` and nothing is
translated twice.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import stat
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# what a QPU's settings may be called (they reach the job as <name>_<KEY>)
SETTING_KEY = re.compile(r"^QRMI_[A-Z0-9_]{1,100}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Resource(Strict):
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
    type: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    # the qrmi.ResourceType member of this type: the controller's catalogue of QRMI types writes it here,
    # so qrmid serves every type the site model accepts without a type table of its own
    resource_type: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    environment: dict[str, str] = Field(default_factory=dict, description="Non-secret QRMI settings (no prefix).")
    # key -> name of the vaulted variable; the value itself comes from the secrets file
    secrets: dict[str, str] = Field(default_factory=dict)

    @field_validator("environment", "secrets")
    @classmethod
    def _settings(cls, value: dict[str, str]) -> dict[str, str]:
        """Keys and values reach a job's environment and the plugin's line protocol: QRMI_* keys
        only, no control characters (a newline would be a line of its own)."""
        for key, val in value.items():
            if not SETTING_KEY.match(key):
                raise ValueError(f"environment key {key!r} is not a QRMI setting (QRMI_[A-Z0-9_]+)")
            if CONTROL.search(val):
                raise ValueError(f"environment value of {key} contains a control character")
        return value


class Window(Strict):
    name: str
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]]
    start: str
    duration_minutes: int
    kind: Literal["calibration", "maintenance"] = "calibration"


class Sharing(Strict):
    """job: a job holds one of the QPU's slots for its whole run (the default). task: up to
    max_jobs jobs hold the QPU at once and qrmid queues their tasks for the QPU's slots."""

    mode: Literal["job", "task"] = "job"
    max_jobs: int = Field(default=1, ge=1, le=1024)
    # task mode: how many tasks beyond the free slots qrmid forwards to wait in the service's own
    # queue, so that the next one starts when one ends (no poll between); 0: only into free slots
    lookahead: int = Field(default=1, ge=0, le=8)


class Qpu(Strict):
    name: str
    slots: int = Field(default=1, ge=1, le=1024)
    calibration_windows: list[Window] = Field(default_factory=list)
    sharing: Sharing = Field(default_factory=Sharing)

    @property
    def task_mode(self) -> bool:
        return self.sharing.mode == "task"

    @property
    def admitted(self) -> int:
        """How many jobs may hold the QPU at once (the Slurm license count)."""
        return max(self.sharing.max_jobs, self.slots) if self.task_mode else self.slots


class TaskSharing(Strict):
    """How qrmid dispatches queued tasks on QPUs in task sharing mode (qrmid/dispatch.py)."""

    age_boost_s: float = Field(default=60.0, gt=0, le=86400)
    half_life_s: float = Field(default=3600.0, gt=0, le=366 * 86400)
    # a task's QPU seconds are estimated as overhead_s + shots x seconds per shot; the QPU's own
    # figure is learned from its ended tasks once learn_after of them ran shots
    seconds_per_shot: float = Field(default=0.001, ge=0, le=3600)
    overhead_s: float = Field(default=1.0, ge=0, le=86400)
    learn_after: int = Field(default=5, ge=1, le=1000)
    max_queued_per_job: int = Field(default=256, ge=1, le=100000)
    poll_s: float = Field(default=0.5, ge=0.1, le=60)


class Profile(Strict):
    name: str
    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    qpus: list[str]
    max_hold_minutes: int = Field(gt=0)  # 0 would be read as "no hold at all", never "unlimited"
    priority: int = 0
    during_calibration: Literal["wait", "fail"] = "wait"
    max_wait_minutes: int = 10


class Reaper(Strict):
    interval_s: float = 15.0
    # asking the scheduler (`scheduler`: squeue or qstat) whether a job still exists. auto: when its
    # client is on PATH; on: always (a failing query skips the round); off: only deadlines are enforced
    query: Literal["auto", "on", "off"] | None = None
    # the same switch under its first name (Slurm was the only scheduler); `query` wins when both are set
    slurm: Literal["auto", "on", "off"] = "auto"
    # a job younger than this is not reaped for being absent from the listing (submission races)
    grace_s: float = 30.0

    @property
    def mode(self) -> str:
        return self.query or self.slurm


class GridEngine(Strict):
    """Where qstat finds the cell (the reaper's environment for it); None: qrmid's own environment."""

    sge_root: str | None = Field(default="/var/lib/gridengine", pattern=r"^/[^\x00-\x1f\x7f]{0,4095}$")
    sge_cell: str | None = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class Database(Strict):
    """A PostgreSQL database instead of the default SQLite file. The password is never in
    the configuration: ``password_secret`` names the key of the secrets file that holds it
    (the role renders the vaulted variable of that name there); none = no password (peer
    or trust authentication on a unix socket, or a ~/.pgpass of the qrmid user)."""

    url: str = Field(description="postgresql://user@host:port/dbname or postgresql:///dbname?host=/run/postgresql")
    password_secret: str | None = None
    connect_timeout_s: int = 10
    _password: str | None = PrivateAttr(default=None)

    @field_validator("url")
    @classmethod
    def _postgres_without_password(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"database.url must be a postgresql:// URL (got scheme {parts.scheme!r})")
        if parts.password is not None or "password=" in parts.query:
            raise ValueError("database.url carries a password; put it in the secrets file, name it in password_secret")
        return value

    @property
    def password(self) -> str | None:
        return self._password

    def with_password(self, password: str | None) -> Database:
        self._password = password
        return self


class Tls(Strict):
    """Serve HTTPS: the certificate (chain, PEM) and its private key (PEM, readable by qrmid only)."""

    certificate_file: str
    key_file: str


class Config(Strict):
    # the cluster (Slurm: ClusterName) of the jobs that do not name theirs; the reaper asks this
    # cluster's scheduler, so it releases only this cluster's acquisitions
    cluster: str = Field(default="cluster", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # the scheduler of `cluster`: how its job ids look (jobids.py) and what the reaper asks
    # (slurm: squeue; gridengine: qstat)
    scheduler: Literal["slurm", "gridengine"] = "slurm"
    gridengine: GridEngine = Field(default_factory=GridEngine)
    listen_host: str = "127.0.0.1"
    listen_port: int = 8470
    # URL that compute nodes use to reach qrmid; goes into the job's environment
    public_url: str = "http://127.0.0.1:8470"
    # a path: SQLite (the default); {"url": "postgresql://…", "password_secret": "<key>"}: PostgreSQL
    database: str | Database = "/var/lib/qrmid/qrmid.sqlite"
    timezone: str = "UTC"
    operator_token_file: str | None = None
    secrets_file: str | None = None
    # munged socket to verify credentials with; None = libmunge's default
    munge_socket: str | None = None
    # uids whose munge credentials may act for any job (root = slurmstepd, SlurmUser)
    trusted_uids: list[int] = Field(default_factory=lambda: [0])
    # job-scoped bearer tokens handed out by qrmid's IAM endpoint live this long
    job_token_ttl_s: int = 600
    # the key that signs job tokens (JWTs), created 0600 on first start; default: next to a SQLite
    # database (PostgreSQL without it: a per-process key, so tokens die with a restart)
    job_token_key_file: str | None = None
    # how long one HTTP call may block waiting for a grant before answering 202
    max_request_wait_s: float = 25.0
    status_poll_s: float = 30.0
    resources: list[Resource] = Field(default_factory=list)
    qpus: list[Qpu] = Field(default_factory=list)
    policy_profiles: list[Profile] = Field(default_factory=list)
    reaper: Reaper = Field(default_factory=Reaper)
    task_sharing: TaskSharing = Field(default_factory=TaskSharing)
    tls: Tls | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            if not value or CONTROL.search(value):
                raise ValueError
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"timezone {value!r} is not a known IANA time zone (e.g. Europe/Paris, UTC)") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.rstrip("/")

    def resource(self, name: str) -> Resource | None:
        return next((r for r in self.resources if r.name == name), None)

    def qpu(self, name: str) -> Qpu:
        return next((q for q in self.qpus if q.name == name), Qpu(name=name))


class ConfigProblem(Exception):
    pass


def _read_private(path: str) -> str:
    """Read a file that holds secrets, refusing it when other users can read it."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigProblem(f"cannot read {path}: {exc.strerror}") from None
    if st.st_mode & (stat.S_IRWXO):
        raise ConfigProblem(f"{path} is readable by other users (mode {oct(st.st_mode & 0o777)}); chmod 0600 it")
    return Path(path).read_text()


def load(path: str) -> tuple[Config, dict[str, dict[str, str]], str | None]:
    """Config, secret values per resource ({name: {KEY: value}}) and the operator token."""
    try:
        config = Config.model_validate(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise ConfigProblem(f"{path}: {exc}") from None
    secrets: dict[str, dict[str, str]] = {}
    raw: dict[str, Any] = {}
    if config.secrets_file:
        raw = json.loads(_read_private(config.secrets_file))
        secrets = resolve_secrets(config, raw)
    if isinstance(config.database, Database) and config.database.password_secret:
        value = raw.get(config.database.password_secret)
        if not isinstance(value, str):
            raise ConfigProblem(
                f"database.password_secret names {config.database.password_secret!r}, which the secrets file "
                f"({config.secrets_file or 'none configured'}) does not hold"
            )
        config.database.with_password(value)
    token = None
    if config.operator_token_file:
        token = _read_private(config.operator_token_file).strip() or None
    if config.tls is not None:
        check_tls(config.tls)
    return config, secrets, token


def check_tls(tls: Tls) -> None:
    """The certificate and key load and belong together; the key is not readable by others."""
    for path in (tls.certificate_file, tls.key_file):
        if not os.path.isfile(path):
            raise ConfigProblem(f"tls: {path} does not exist")
    _read_private(tls.key_file)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tls.certificate_file, tls.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigProblem(f"tls: cannot use {tls.certificate_file} with {tls.key_file}: {exc}") from None


def resolve_secrets(config: Config, raw: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Map each resource's secret keys to values.

    The secrets file may key values either by vaulted variable name (what the role
    renders: ``{"vault_lab_sc_twin_apikey": "..."}``) or per resource
    (``{"sc_twin": {"QRMI_IBM_QCS_IAM_APIKEY": "..."}}``).
    """
    out: dict[str, dict[str, str]] = {}
    missing = []
    for res in config.resources:
        values: dict[str, str] = {}
        found = raw.get(res.name)
        per_resource: dict[str, Any] = found if isinstance(found, dict) else {}
        for key, var in res.secrets.items():
            if key in per_resource:
                values[key] = str(per_resource[key])
            elif var in raw and not isinstance(raw[var], dict):
                values[key] = str(raw[var])
            else:
                missing.append(f"{res.name}.{key} (variable {var})")
        for key, val in values.items():
            if CONTROL.search(val):
                raise ConfigProblem(f"secrets file: the value for {res.name}.{key} contains a control character")
        out[res.name] = values
    if missing:
        raise ConfigProblem("secrets file lacks: " + ", ".join(missing))
    return out
