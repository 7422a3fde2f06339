"""The process that opens sessions at the service, and outlives a killed qrmid.

qrmi's ``acquire()`` makes the service create a session (IBM: ``POST /v1/sessions``)
and returns its id. If qrmid died between the service's commit and qrmid's record of
the id, the session would be unknown to qrmid, and IBM's API can neither list sessions
nor create one idempotently, so nothing could find it again. So qrmid does not call
``acquire()`` itself: this helper does, and records the token in the intent row (the
hold, written by qrmid with state ``acquiring``, ``started_at`` and this process's
identity *before* the request is sent) before it answers.

A ``kill -9`` of qrmid does not stop the helper: it sees its input close, finishes the
calls in flight, records their tokens and exits. It ignores SIGTERM and SIGINT for the
same reason (systemd sends SIGTERM to the whole unit when the main process dies; it
waits for the helper, up to TimeoutStopSec). The restarted qrmid waits for a previous
helper that is still running, then releases every recorded token (Broker.recover).

The helper also releases the sessions it opened, each on the qrmi instance that opened
it, and then reuses that instance for a later acquire: a reused instance has its IAM
token and its connections already, so its next acquire is one call instead of three
(see resources.py for why an instance is reused only after its own release). A
release changes nothing that recovery depends on: qrmid records its outcome, and
after a crash re-releases what it had not recorded as released.

Protocol (JSON lines): first line on stdin ``{"database": ..., "resources": {name:
{"type": t, "resource_type": r, "env": {...}}}}`` (site secrets travel only over this pipe); then requests
``{"id": n, "acquisition_id": a, "qpu": q}`` (acquire) or ``{"id": n, "op": "release",
"qpu": q, "token": t}``; answers on stdout ``{"id": n, "token": t}``, ``{"id": n,
"released": true}`` or ``{"id": n, "error": "..."}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("qrmid.acquirer")


def identity(pid: int) -> str | None:
    """``"<pid>:<start time>"`` of a running process (pid reuse does not match), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return f"{pid}:{fields[19]}"  # field 22 of proc(5): start time in clock ticks after boot


def alive(ident: str | None) -> bool:
    if not ident:
        return False
    pid = ident.split(":", 1)[0]
    return pid.isdigit() and identity(int(pid)) == ident


# ---------------------------------------------------------------- qrmid's side
class Acquirer:
    """qrmid's handle on the helper: started on demand, restarted when it died."""

    def __init__(self, database: Any, resources: dict[str, dict[str, Any]]):
        self._init = {"database": _database_spec(database), "resources": resources}
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next = 0
        self._start_lock = asyncio.Lock()
        self.identity: str | None = None

    async def start(self) -> str:
        """Start the helper when none runs; returns its identity (recorded in each intent)."""
        async with self._start_lock:
            if self._proc is not None and self._proc.returncode is None and self.identity:
                return self.identity
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "qrmid.acquirer_process",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 20,
            )
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(self._init).encode() + b"\n")
            await proc.stdin.drain()
            self._proc = proc
            self.identity = identity(proc.pid) or f"{proc.pid}:?"
            self._reader = asyncio.get_running_loop().create_task(self._read(proc))
            log.info("acquirer process %s started", self.identity)
            return self.identity

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            fut = self._pending.pop(int(msg.get("id", -1)), None)
            if fut is None or fut.done():
                continue
            if "error" in msg:
                fut.set_exception(RuntimeError(str(msg["error"]) or "acquirer call failed"))
            else:
                fut.set_result(msg)
        await proc.wait()
        log.warning("acquirer process %s exited with %s", self.identity, proc.returncode)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(RuntimeError("the acquirer process exited during the call"))
        self._pending.clear()

    def running_as(self, ident: str) -> bool:
        """True when the helper that runs now is `ident` (the one that recorded a hold)."""
        proc = self._proc
        return proc is not None and proc.returncode is None and self.identity == ident

    async def _call(self, proc: asyncio.subprocess.Process, msg: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None
        self._next += 1
        n = self._next
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[n] = fut
        proc.stdin.write(json.dumps({"id": n, **msg}).encode() + b"\n")
        await proc.stdin.drain()
        return await fut

    async def acquire(self, acq_id: str, qpu: str) -> str:
        """Send one acquire to the helper (the intent row must already name the helper)."""
        await self.start()
        assert self._proc is not None
        answer = await self._call(self._proc, {"acquisition_id": acq_id, "qpu": qpu})
        if "token" not in answer:
            raise RuntimeError("acquirer gave no token")
        return str(answer["token"])

    async def release(self, qpu: str, token: str) -> None:
        """Release a session this helper opened, on the instance that opened it."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            raise RuntimeError("the acquirer process that opened the session is gone")
        await self._call(proc, {"op": "release", "qpu": qpu, "token": token})

    async def stop(self, timeout: float = 30.0) -> None:
        """Close the helper's input: it finishes what is in flight and exits."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout)


def _database_spec(database: Any) -> Any:
    if isinstance(database, str):
        return database
    return {"url": database.url, "connect_timeout_s": database.connect_timeout_s, "password": database.password}
