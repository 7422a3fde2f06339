"""Who is calling: authentication as FastAPI dependencies.

- ``Authorization: Munge <credential>``: decoded by the local munged; the credential's payload
  must be this exact request (``"<METHOD> <path?query>\\n<body>"``) and must not have been seen
  before (munged's replay check and qrmid's persistent one). Credentials of a trusted uid
  (root on a Slurm host = slurmstepd) act for any job; other uids for themselves only.
- ``Authorization: Bearer <operator token>``: the operator.

Routes declare what they need in their signature: ``AnyPrincipal`` (any authenticated
caller), ``Trusted`` (Slurm hosts and the operator), ``Operator``. The body is read once,
bounded by the ASGI limit (limits.py), *before* anything parses it: the dependency
authenticates the raw bytes, and the route parses them afterwards (``parse_body``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from fastapi import Depends, HTTPException, Request
from pydantic import BaseModel, ValidationError

from qrmid.munge_auth import EMUNGE_CRED_REPLAYED, MungeError, request_payload
from qrmid.store import StoreUnavailable

if TYPE_CHECKING:
    from qrmid.api import App

# munged's credentials live at most this long (its default is 300 s; the largest TTL a client may ask)
REPLAY_WINDOW_S = 3600.0

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Principal:
    kind: Literal["operator", "munge"]
    uid: int | None = None
    trusted: bool = False

    @property
    def name(self) -> str:
        return "operator" if self.kind == "operator" else f"uid {self.uid}"

    @property
    def operator(self) -> bool:
        return self.kind == "operator"


def app_of(request: Request) -> App:
    state: App = request.app.state.qrmid
    return state


async def authenticate(request: Request) -> Principal:
    state = app_of(request)
    failures = state.metrics.auth_failures
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and state.operator_token:
        if hmac.compare_digest(value.encode(), state.operator_token.encode()):
            return Principal("operator", trusted=True)
        failures.labels("bad-operator-token").inc()
        raise HTTPException(401, "invalid operator token")
    if scheme.lower() != "munge" or not value or len(value) > 16384:
        failures.labels("missing").inc()
        raise HTTPException(401, "authenticate with 'Authorization: Munge <credential>' or an operator token")
    try:
        # inline, not in a thread: one local socket round trip to munged (~0.1 ms) costs less
        # than the thread hop (docs/benchmarks.md)
        ident = state.munge.decode(value)
    except MungeError as exc:
        reason = "replayed" if exc.code == EMUNGE_CRED_REPLAYED else "invalid"
        failures.labels(reason).inc()
        raise HTTPException(401, f"munge credential rejected: {exc}") from None
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # the body is bounded by the ASGI limit before this reads it; nothing has parsed it
    if ident.payload != request_payload(request.method, target, await request.body()):
        failures.labels("unbound").inc()
        raise HTTPException(401, "munge credential was made for a different request")
    try:
        fresh = state.store.remember_credential(ident.digest, REPLAY_WINDOW_S)
    except StoreUnavailable as exc:
        raise HTTPException(503, f"qrmid cannot check credentials for replay: {exc}") from None
    if not fresh:
        failures.labels("replayed").inc()
        raise HTTPException(401, "munge credential rejected: replayed credential")
    return Principal("munge", uid=ident.uid, trusted=ident.uid in state.config.trusted_uids)


async def trusted(p: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not p.trusted:
        raise HTTPException(403, f"this call is reserved for Slurm hosts (root) and operators; you are {p.name}")
    return p


async def operator(p: Annotated[Principal, Depends(authenticate)]) -> Principal:
    if not p.operator:
        raise HTTPException(403, "this call needs the operator token")
    return p


AnyPrincipal = Annotated[Principal, Depends(authenticate)]
Trusted = Annotated[Principal, Depends(trusted)]
Operator = Annotated[Principal, Depends(operator)]


async def parse_body(request: Request, model: type[M]) -> M:
    """Validate the (already authenticated, already bounded) body; 422 says what is wrong without
    echoing the input (a NaN in an echo would not even serialise)."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise HTTPException(422, detail) from None
