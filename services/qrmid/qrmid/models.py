"""qrmid's typed vocabulary: the states of an acquisition and of its holds, the rows the store
returns, and the request bodies of the API (validated only after authentication)."""

from __future__ import annotations

import enum
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator


class State(enum.StrEnum):
    """An acquisition: waiting → acquiring → granted → releasing → released, or → failed."""

    WAITING = "waiting"
    ACQUIRING = "acquiring"
    GRANTED = "granted"
    RELEASING = "releasing"
    RELEASED = "released"
    FAILED = "failed"


ACTIVE_STATES = (State.WAITING, State.ACQUIRING, State.GRANTED, State.RELEASING)
ENDED_STATES = (State.RELEASED, State.FAILED)


class HoldState(enum.StrEnum):
    """One QPU of an acquisition, as the service sees it."""

    PENDING = "pending"
    ACQUIRING = "acquiring"
    HELD = "held"
    RELEASED = "released"
    RELEASE_FAILED = "release_failed"


class Outcome(enum.StrEnum):
    RELEASED = "released"
    REAPED = "reaped"
    EXPIRED = "expired"
    REFUSED = "refused"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class AcquisitionRow(TypedDict):
    id: str
    cluster: str
    job_id: str
    user: str
    uid: int | None
    profile: str
    priority: int
    qpus: list[str]
    state: str
    outcome: str | None
    message: str | None
    hold_s: int
    nodes: int
    wait_deadline: float | None
    during_calibration: str
    requested_at: float
    granted_at: float | None
    released_at: float | None
    deadline: float | None


class HoldRow(TypedDict):
    acquisition_id: str
    qpu: str
    qrmi_token: str | None
    state: str
    acquired_at: float | None
    released_at: float | None
    error: str | None
    started_at: float | None
    worker: str | None


class CredentialRow(TypedDict):
    digest: str
    acquisition_id: str
    qpu: str
    kind: str
    expires_at: float
    revoked: int


class MaintenanceRow(TypedDict):
    qpu: str
    message: str
    since: float
    until: float | None
    set_by: str | None


# ---------------------------------------------------------------- request bodies
NAME = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
CLUSTER = r"^[A-Za-z0-9_-]{1,64}$"
JobId = Annotated[str, Field(
    pattern=r"^[0-9A-Za-z_.-]{1,64}$",
    description="Scheduler job id (Slurm: %A; Grid Engine: N, or N.T for task T of array job N).",
)]
QpuName = Annotated[str, Field(pattern=NAME, max_length=63)]
# group names are only compared with the profiles' lists; directory groups may hold spaces, '$', '\\'
GroupName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$")]
UID_MAX = 2**32 - 2  # (uid_t)-1 is "no uid"
# twenty years: more than any job's time limit (the hold is capped by the profile anyway); bigger
# values are mistakes or attacks (an unlimited job sends none)
TIME_LIMIT_MAX_S = 20 * 366 * 86400
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def bounded_datetime(value: datetime, what: str) -> datetime:
    """An aware datetime between 2000 and 2200 (naive = UTC); anything else is refused (422)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{what} is out of range") from None
    if not EARLIEST <= utc <= LATEST:
        raise ValueError(f"{what} must lie between {EARLIEST.year} and {LATEST.year}")
    return utc


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class AcquireRequest(Body):
    cluster: str | None = Field(
        default=None, pattern=CLUSTER,
        description="Cluster name (Slurm: ClusterName); default: the cluster qrmid is configured for.",
    )
    job_id: JobId
    user: str = Field(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$", description="Job owner's login name.")
    uid: int = Field(ge=0, le=UID_MAX, strict=True, description="Job owner's uid.")
    groups: list[GroupName] = Field(
        default_factory=list, max_length=256, description="Job owner's Unix groups (for group profiles)."
    )
    qpus: list[QpuName] = Field(min_length=1, max_length=16)
    time_limit_s: int | None = Field(
        default=None, gt=0, le=TIME_LIMIT_MAX_S, description="The job's time limit; caps the QPU hold."
    )
    profile: str | None = Field(
        default=None, pattern=NAME, max_length=63,
        description="Policy profile; default: the user's highest priority one.",
    )
    nodes: int = Field(
        default=1, ge=1, le=1_000_000, strict=True,
        description="The job's node count: waiting for the QPU costs nodes x seconds (accounting, metrics).",
    )
    wait_s: float = Field(default=0, ge=0, le=300, description="Block up to this long for a grant before 202.")


class MaintenanceRequest(Body):
    message: str = Field(min_length=1, max_length=500, description="Shown to users whose jobs wait or fail.")
    until: datetime | None = Field(default=None, description="End of the maintenance (none: until switched off).")

    @field_validator("message")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if re.search(r"[\x00-\x1f\x7f]", value):
            raise ValueError("message must not contain control characters")
        return value

    @field_validator("until")
    @classmethod
    def _bounded(cls, value: datetime | None) -> datetime | None:
        return None if value is None else bounded_datetime(value, "until")


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI requestBody of a route that reads its body itself (after authentication)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}
