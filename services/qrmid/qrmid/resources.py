"""The site's QPU resources, driven through the real `qrmi` library.

qrmi's QuantumResource keeps per-instance state (the cached IAM token, kept-alive
connections, and the session it acquired), so calls borrow an instance from a small
pool. qrmi calls block, so they run in worker threads. ``acquire()`` runs in the
acquirer process (qrmid/acquirer.py), which records the token before it answers and
survives a killed qrmid; the release of a session it opened runs there too, on the
instance that opened it.

An instance that acquired hands its session out again on its next ``acquire()``
until that session is released, so it is *owned* by its token until its own release
completed; only then does it go back to the pool of instances to acquire with (its
next ``acquire()`` opens a new session with one call, no IAM round trip). An
instance whose acquire or release failed is dropped. Releases of tokens whose
instance is gone (another process opened them, or a retried release) use separate
instances that never acquire.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import qrmi

from qrmid.acquirer import Acquirer
from qrmid.config import Config, Resource


def resource_kind(name: str, resource_type: str) -> Any:
    """The installed qrmi's ResourceType member that the configuration names for a resource."""
    kind = getattr(qrmi.ResourceType, resource_type, None)  # type: ignore[attr-defined]
    if kind is None or resource_type.startswith("_"):
        known = sorted(m for m in dir(qrmi.ResourceType) if not m.startswith("_"))  # type: ignore[attr-defined]
        raise ValueError(
            f"resource {name}: the installed qrmi has no resource type {resource_type!r} (it has: "
            f"{', '.join(known)}); install the qrmi version the site model pins (software.runtime.qrmi_version)"
        )
    return kind


@dataclass
class QpuStatus:
    online: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    checked_at: float = 0.0


class QrmiResource:
    def __init__(
        self,
        resource: Resource,
        secrets: dict[str, str],
        session_max_ttl_s: int | None,
        acquirer: Acquirer | None = None,
    ):
        env = {**resource.environment, **secrets}
        # A session qrmid opened but could not record (qrmid *and* its acquirer process
        # killed between the service's answer and the commit) must not outlive the
        # longest hold: cap its TTL.
        if resource.type == "ibm-quantum-compute-service" and session_max_ttl_s:
            env.setdefault("QRMI_IBM_QCS_SESSION_MAX_TTL", str(session_max_ttl_s))
        self._setup(resource.name, resource.type, resource.resource_type, env)
        self.acquirer = acquirer

    @classmethod
    def from_env(cls, name: str, type_: str, resource_type: str, env: dict[str, str]) -> QrmiResource:
        """The acquirer process's copy: the resolved settings qrmid sent it."""
        self = cls.__new__(cls)
        self._setup(name, type_, resource_type, env)
        self.acquirer = None
        return self

    def _setup(self, name: str, type_: str, resource_type: str, env: dict[str, str]) -> None:
        self.name = name
        self.type = type_
        self.resource_type = resource_type
        self.kind = resource_kind(name, resource_type)
        self._env = env
        self._idle: list[Any] = []  # never acquire: release of foreign tokens, status
        self._ready: list[Any] = []  # to acquire with: fresh, or their own session released
        self._owned: dict[str, Any] = {}  # token -> the instance that acquired it (not yet released)
        self._lock = threading.Lock()
        self.status = QpuStatus()

    def settings(self) -> dict[str, Any]:
        return {"type": self.type, "resource_type": self.resource_type, "env": dict(self._env)}

    # instances -----------------------------------------------------------
    def _new(self) -> Any:
        return qrmi.QuantumResource.from_config(self.name, self.kind, dict(self._env))  # type: ignore[attr-defined]

    def _borrow(self) -> Any:
        with self._lock:
            return self._idle.pop() if self._idle else self._new()

    def _give_back(self, inst: Any) -> None:
        with self._lock:
            if len(self._idle) < 64:
                self._idle.append(inst)

    # blocking calls (run in threads) ---------------------------------------
    def acquire_blocking(self) -> str:
        """Open a session on a ready instance, which the token then owns until release_blocking."""
        with self._lock:
            inst = self._ready.pop() if self._ready else None
        if inst is None:
            inst = self._new()
        token = str(inst.acquire())  # a failed acquire drops the instance
        with self._lock:
            if token in self._owned:
                # an instance handed out a session another acquisition holds: never hand it twice
                raise RuntimeError(f"qrmi returned a session that is already held ({self.name})")
            self._owned[token] = inst
        return token

    def release_owned(self, token: str) -> None:
        """Release `token` on the instance that acquired it, then make that instance ready again."""
        with self._lock:
            inst = self._owned.pop(token, None)
        if inst is None:
            self.release_blocking(token)
            return
        inst.release(token)  # raises: the instance is dropped (its session state is unknown)
        with self._lock:
            if len(self._ready) < 64:
                self._ready.append(inst)

    def release_blocking(self, token: str) -> None:
        inst = self._borrow()
        inst.release(token)  # a failed release drops the instance
        self._give_back(inst)

    def status_blocking(self) -> QpuStatus:
        inst = self._borrow()
        try:
            st = inst.status()
            detail = st.to_dict() if hasattr(st, "to_dict") else {}
            code = str(detail.get("status", getattr(st, "status", ""))).lower()
            online = "online" in code
            self.status = QpuStatus(online=online, detail=_plain(detail), checked_at=time.time())
        except Exception as exc:  # qrmi raises its own error classes; any failure means "down"
            self.status = QpuStatus(online=False, error=str(exc), checked_at=time.time())
        finally:
            self._give_back(inst)
        return self.status

    # async wrappers --------------------------------------------------------
    async def acquire(self, acq_id: str) -> str:
        """Acquire for acquisition `acq_id`; the caller has written the intent (hold 'acquiring')."""
        if self.acquirer is None:
            return await asyncio.to_thread(self.acquire_blocking)
        return await self.acquirer.acquire(acq_id, self.name)

    async def release(self, token: str, worker: str | None = None) -> None:
        """Release `token`; `worker`: the acquirer process that recorded it. That process, while
        it runs, releases on the instance that opened the session; otherwise it is done here."""
        if self.acquirer is not None and worker and self.acquirer.running_as(worker):
            await self.acquirer.release(self.name, token)
            return
        await asyncio.to_thread(self.release_owned, token)

    async def refresh_status(self) -> QpuStatus:
        return await asyncio.to_thread(self.status_blocking)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def build(config: Config, secrets: dict[str, dict[str, str]]) -> dict[str, QrmiResource]:
    longest_hold: dict[str, int] = {}
    for p in config.policy_profiles:
        for q in p.qpus:
            longest_hold[q] = max(longest_hold.get(q, 0), p.max_hold_minutes * 60)
    out = {}
    for r in config.resources:
        out[r.name] = QrmiResource(r, secrets.get(r.name, {}), longest_hold.get(r.name))
    # one acquirer process for all resources; it gets their resolved settings over its stdin
    acquirer = Acquirer(config.database, {name: res.settings() for name, res in out.items()})
    for res in out.values():
        res.acquirer = acquirer
    return out
