"""qrmid's HTTP API (FastAPI: the OpenAPI description is served at /openapi.json).

Authentication:
- ``Authorization: Munge <credential>`` — a munge credential whose payload is
  ``"<METHOD> <path?query>\\n<sha256(body)>"`` (see munge_auth). Credentials of a
  trusted uid (root on a Slurm host = slurmstepd) act for any job; any other uid
  acts only for itself and cannot acquire (acquisitions come from Slurm).
- ``Authorization: Bearer <operator token>`` — admin calls (maintenance) and reads.
- Job credentials (minted per acquisition) only on /iam and /proxy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from qrmid import job_access, reaper
from qrmid.broker import Broker, FailFast, UnknownQpu
from qrmid.config import Config
from qrmid.metrics import Metrics
from qrmid.munge_auth import EMUNGE_CRED_REPLAYED, Munge, MungeError, request_payload
from qrmid.policy import PolicyRefusal
from qrmid.proxy import CredentialExchange
from qrmid.resources import QrmiResource
from qrmid.store import Store

log = logging.getLogger("qrmid.api")

JobId = Annotated[str, Field(pattern=r"^[0-9A-Za-z_.-]{1,64}$", description="Scheduler job id.")]
QpuList = Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")]], Field(min_length=1)]


class AcquireRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: JobId
    user: str = Field(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$", description="Job owner's login name.")
    uid: int = Field(ge=0, description="Job owner's uid.")
    groups: list[str] = Field(default_factory=list, description="Job owner's Unix groups (for group profiles).")
    qpus: QpuList
    time_limit_s: int | None = Field(default=None, gt=0, description="The job's time limit; caps the QPU hold.")
    profile: str | None = Field(default=None, description="Policy profile; default: the user's highest priority one.")
    wait_s: float = Field(default=0, ge=0, le=300, description="Block up to this long for a grant before 202.")


class MaintenanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str = Field(min_length=1, max_length=500, description="Shown to users whose jobs wait or fail.")
    until: datetime | None = Field(default=None, description="End of the maintenance (none: until switched off).")


@dataclass(frozen=True)
class Principal:
    kind: Literal["operator", "munge"]
    uid: int | None = None
    trusted: bool = False

    @property
    def name(self) -> str:
        return "operator" if self.kind == "operator" else f"uid {self.uid}"


class App:
    """Everything the routes share; built once per daemon (several can live in one test process)."""

    def __init__(self, config: Config, secrets: dict[str, dict[str, str]], operator_token: str | None,
                 resources: dict[str, QrmiResource], munge: Munge | None = None):
        self.config = config
        self.operator_token = operator_token
        self.metrics = Metrics()
        self.store = Store(config.database)
        self.broker = Broker(config, self.store, resources, self.metrics)
        self.exchange = CredentialExchange(config, self.store, secrets)
        self.munge = munge or Munge(config.munge_socket)

    # ----------------------------------------------------------- auth
    async def principal(self, request: Request) -> Principal:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.operator_token:
            if hmac.compare_digest(value.encode(), self.operator_token.encode()):
                return Principal("operator", trusted=True)
            self.metrics.auth_failures.labels("bad-operator-token").inc()
            raise HTTPException(401, "invalid operator token")
        if scheme.lower() != "munge" or not value:
            self.metrics.auth_failures.labels("missing").inc()
            raise HTTPException(401, "authenticate with 'Authorization: Munge <credential>' or an operator token")
        try:
            # inline, not in a thread: one local socket round trip to munged (~0.1 ms) costs
            # less than the thread hop, and keeps the worker threads for qrmi's network calls
            # (measured again in docs/benchmarks.md: a 2-thread pool of its own cost 0.4 ms CPU
            # per cycle and did not lower the paced p99)
            ident = self.munge.decode(value)
        except MungeError as exc:
            reason = "replayed" if exc.code == EMUNGE_CRED_REPLAYED else "invalid"
            self.metrics.auth_failures.labels(reason).inc()
            raise HTTPException(401, f"munge credential rejected: {exc}") from None
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if ident.payload != request_payload(request.method, target, await request.body()):
            self.metrics.auth_failures.labels("unbound").inc()
            raise HTTPException(401, "munge credential was made for a different request")
        if not self.store.remember_credential(ident.digest, 3600):
            self.metrics.auth_failures.labels("replayed").inc()
            raise HTTPException(401, "munge credential rejected: replayed credential")
        return Principal("munge", uid=ident.uid, trusted=ident.uid in self.config.trusted_uids)

    # ----------------------------------------------------------- loops
    async def run_timers(self) -> None:
        last_reap = last_status = 0.0
        while True:
            try:
                await self.broker.tick()
                now = time.monotonic()
                if now - last_reap >= self.config.reaper.interval_s:
                    last_reap = now
                    await reaper.reap_once(self.broker)
                if now - last_status >= self.config.status_poll_s:
                    last_status = now
                    for res in self.broker.resources.values():
                        asyncio.get_running_loop().create_task(res.refresh_status())
            except Exception:  # a timer must survive one bad round
                log.exception("timer round failed")
            await asyncio.sleep(1.0)


async def _principal(request: Request) -> Principal:
    app_state: App = request.app.state.qrmid
    return await app_state.principal(request)


# module level so FastAPI can resolve the (string) annotation
Auth = Annotated[Principal, Depends(_principal)]


def create_app(state: App) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # qrmi calls block on the network (with the GIL released): enough threads that
        # concurrent acquisitions do not queue behind each other
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="qrmi")
        )
        await state.broker.recover()
        # Everything built so far (FastAPI, pydantic, qrmi, the config) lives as long as the
        # daemon: out of the collector's sight, a full collection no longer walks it (one
        # took 16 ms, every request in flight waited for it).
        gc.collect()
        gc.freeze()
        timers = asyncio.get_running_loop().create_task(state.run_timers())
        try:
            yield
        finally:
            timers.cancel()
            await state.exchange.close()

    app = FastAPI(
        title="qrmid",
        version="0.1.0",
        description="QRMI daemon: QPU acquisitions for batch jobs, windows, policy, accounting, metrics.",
        lifespan=lifespan,
    )
    app.state.qrmid = state
    broker, store = state.broker, state.store

    def need_trusted(p: Principal, what: str) -> None:
        if not p.trusted:
            raise HTTPException(403, f"{what} is reserved for Slurm hosts (root) and operators; you are {p.name}")

    def need_operator(p: Principal) -> None:
        if p.kind != "operator":
            raise HTTPException(403, "this call needs the operator token")

    def render(a: dict[str, Any], with_env: bool, fmt: str) -> Response:
        view = broker.view(a)
        code = {"granted": 201, "waiting": 202, "acquiring": 202}.get(a["state"], 200)
        if a["state"] == "failed":
            code = 409 if a["outcome"] in ("refused", "timeout") else 503
        if with_env and a["state"] == "granted":
            view["environment"] = broker.environment(a)
            view["timeout_s"] = max(1, int(a["deadline"] - time.time()))
        if fmt == "env":
            lines = [f"state={view['state']}", f"acquisition={view['id']}"]
            if view.get("message"):
                lines.append("message=" + view["message"].replace("\n", " "))
            if view.get("waiting_until"):
                lines.append(f"until={view['waiting_until']}")
            for k, v in (view.get("environment") or {}).items():
                lines.append(f"env={k}={v}")
            return PlainTextResponse("\n".join(lines) + "\n", status_code=code)
        return JSONResponse(view, status_code=code)

    # ----------------------------------------------------------- health, metrics
    @app.get("/healthz", tags=["ops"])
    async def health() -> dict[str, Any]:
        store.db.execute("SELECT 1").fetchone()
        return {"status": "ok", "qpus": sorted(broker.resources), "time": time.time()}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        broker.refresh_gauges()
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ----------------------------------------------------------- QPUs
    def qpu_view(name: str) -> dict[str, Any]:
        res = broker.resources[name]
        b = broker.block(name)
        used = store.occupied().get(name, 0)
        return {
            "name": name,
            "type": res.type,
            "slots": state.config.qpu(name).slots,
            "in_use": used,
            "qrmi": {"online": res.status.online, "detail": res.status.detail, "error": res.status.error,
                     "checked_at": res.status.checked_at},
            "available": b is None,
            "block": None if b is None else {"kind": b.kind, "name": b.name, "message": b.message,
                                              "until": b.until.isoformat() if b.until else None},
        }

    @app.get("/v1/qpus", tags=["qpus"])
    async def list_qpus() -> list[dict[str, Any]]:
        return [qpu_view(n) for n in sorted(broker.resources)]

    @app.get("/v1/qpus/{name}", tags=["qpus"])
    async def get_qpu(name: str, refresh: bool = False) -> dict[str, Any]:
        if name not in broker.resources:
            raise HTTPException(404, f"unknown QPU {name}")
        if refresh:
            await broker.resources[name].refresh_status()
        return qpu_view(name)

    @app.put("/v1/qpus/{name}/maintenance", tags=["qpus"])
    async def maintenance_on(name: str, body: MaintenanceRequest, p: Auth) -> dict[str, Any]:
        need_operator(p)
        if name not in broker.resources:
            raise HTTPException(404, f"unknown QPU {name}")
        until = body.until.astimezone(UTC).timestamp() if body.until else None
        store.set_maintenance(name, body.message, until, p.name)
        broker.refresh_gauges()
        return qpu_view(name)

    @app.delete("/v1/qpus/{name}/maintenance", tags=["qpus"])
    async def maintenance_off(name: str, p: Auth) -> dict[str, Any]:
        need_operator(p)
        if name not in broker.resources:
            raise HTTPException(404, f"unknown QPU {name}")
        store.clear_maintenance(name)
        await broker.dispatch()
        broker.refresh_gauges()
        return qpu_view(name)

    # ----------------------------------------------------------- acquisitions
    outcomes: dict[int | str, dict[str, Any]] = {
        202: {"description": "waiting"},
        403: {"description": "policy refusal"},
        404: {"description": "unknown QPU"},
        409: {"description": "QPU in a window and the profile fails fast"},
    }

    @app.post("/v1/acquisitions", tags=["acquisitions"], status_code=201, responses=outcomes)
    async def acquire(body: AcquireRequest, p: Auth, format: Literal["json", "env"] = "json") -> Response:  # noqa: A002
        if p.kind == "munge" and not p.trusted:
            if body.uid != p.uid:
                raise HTTPException(403, f"credential is for uid {p.uid} but the request claims uid {body.uid}")
            raise HTTPException(403, "acquisitions are made by Slurm's plugin: submit with sbatch --qpu=<name>")
        try:
            a = await broker.request(body.model_dump())
        except UnknownQpu as exc:
            raise HTTPException(404, str(exc)) from None
        except PolicyRefusal as exc:
            raise HTTPException(403, str(exc)) from None
        except FailFast as exc:
            raise HTTPException(409, str(exc)) from None
        wait = min(body.wait_s, state.config.max_request_wait_s)
        if a["state"] in ("waiting", "acquiring") and wait > 0:
            a = await broker.wait_for_change(a["id"], wait) or a
        return render(a, True, format)

    @app.get("/v1/acquisitions", tags=["acquisitions"])
    async def list_acquisitions(
        p: Auth, job_id: str | None = None, user: str | None = None, qpu: str | None = None,
        state_: Annotated[str | None, Query(alias="state")] = None, limit: int = Query(200, ge=1, le=5000),
    ) -> list[dict[str, Any]]:
        uid = None
        if not p.trusted:
            uid = p.uid  # users see their own acquisitions only
        rows = store.query(job_id=job_id, user=user, uid=uid, qpu=qpu, state=state_, limit=limit)
        return [broker.view(a) for a in rows]

    def owned(a: dict[str, Any] | None, p: Principal) -> dict[str, Any]:
        if a is None or (not p.trusted and a.get("uid") != p.uid):
            raise HTTPException(404, "no such acquisition")
        return a

    @app.get("/v1/acquisitions/{acq_id}", tags=["acquisitions"])
    async def get_acquisition(
        acq_id: str, p: Auth, wait_s: float = Query(0, ge=0, le=300), format: Literal["json", "env"] = "json",  # noqa: A002
    ) -> Response:
        a = owned(store.get(acq_id), p)
        if wait_s > 0:
            a = await broker.wait_for_change(acq_id, min(wait_s, state.config.max_request_wait_s)) or a
        return render(a, p.trusted and p.kind == "munge", format)

    # The job's credentials are dead when these return; the release at the QPU service
    # finishes in the background unless the caller waits for it (wait_s).
    @app.post("/v1/acquisitions/{acq_id}/release", tags=["acquisitions"])
    async def release(acq_id: str, p: Auth, wait_s: float = Query(0, ge=0, le=300)) -> dict[str, Any]:
        need_trusted(p, "releasing")
        a = owned(store.get(acq_id), p)
        done = await broker.release(a["id"], "released", wait_s=wait_s)
        return broker.view(done or a)

    @app.delete("/v1/jobs/{job_id}/acquisitions", tags=["acquisitions"])
    async def release_job(job_id: str, p: Auth, wait_s: float = Query(0, ge=0, le=300)) -> list[dict[str, Any]]:
        need_trusted(p, "releasing")
        out = []
        for a in store.query(job_id=job_id):
            if a["state"] in ("waiting", "acquiring", "granted", "releasing"):
                a = await broker.release(a["id"], "released", wait_s=wait_s) or a
            out.append(broker.view(a))
        return out

    # ----------------------------------------------------------- accounting
    @app.get("/v1/accounting", tags=["accounting"])
    async def accounting(
        p: Auth, job_id: str | None = None, user: str | None = None, qpu: str | None = None,
        since: datetime | None = None, until: datetime | None = None,
    ) -> dict[str, Any]:
        uid = None if p.trusted else p.uid
        rows = store.accounting(
            job_id=job_id, user=user, uid=uid, qpu=qpu,
            since=since.timestamp() if since else None, until=until.timestamp() if until else None,
        )
        totals: dict[str, dict[str, float]] = {"by_user": {}, "by_qpu": {}, "by_job": {}}
        for r in rows:
            for key, val in (("by_user", r["user"]), ("by_qpu", r["qpu"]), ("by_job", r["job_id"])):
                totals[key][val] = round(totals[key].get(val, 0.0) + r["hold_s"], 3)
        return {"records": rows, "totals_hold_s": totals}

    app.include_router(job_access.router(state))

    return app
