"""qrmid's HTTP application (FastAPI: the OpenAPI description is served at /openapi.json).

The routes live in routers (qrmid/routes/, qrmid/job_access.py); who may call each is in its
signature (auth.py: AnyPrincipal, Trusted, Operator). Around the application, the ASGI body
limit (limits.py) refuses bodies above their bound before anything reads them. A database
that cannot be written answers 503 with the reason, never 500.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from qrmid import job_access, job_tokens, reaper
from qrmid.auth import REPLAY_WINDOW_S, Principal
from qrmid.broker import Broker
from qrmid.config import Config
from qrmid.limits import BodyLimit
from qrmid.metrics import Metrics
from qrmid.models import AcquireRequest, MaintenanceRequest
from qrmid.munge_auth import Munge
from qrmid.proxy import CredentialExchange
from qrmid.resources import QrmiResource
from qrmid.routes import accounting, acquisitions, ops, qpus, timeline
from qrmid.store import Store, StoreUnavailable
from qrmid.task_queue import TaskQueue

log = logging.getLogger("qrmid.api")

__all__ = ["AcquireRequest", "App", "MaintenanceRequest", "Principal", "create_app"]

PRUNE_EVERY_S = 5.0


class App:
    """Everything the routes share; built once per daemon (several can live in one test process)."""

    def __init__(self, config: Config, secrets: dict[str, dict[str, str]], operator_token: str | None,
                 resources: dict[str, QrmiResource], munge: Munge | None = None):
        self.config = config
        self.operator_token = operator_token
        self.metrics = Metrics(resources)
        self.store = Store(config.database, config.cluster)
        # one key signs the job credentials the broker hands out and the bearers /iam mints
        tokens = job_tokens.signer_for(config.job_token_key_file, config.database)
        self.broker = Broker(config, self.store, resources, self.metrics, tokens)
        self.exchange = CredentialExchange(config, self.store, secrets, tokens)
        self.tasks = TaskQueue(config, self.store, self.exchange, self.metrics,
                               blocked=lambda q: self.broker.block(q) is not None)
        self.exchange.queue = self.tasks
        self.munge = munge or Munge(config.munge_socket)

    async def run_timers(self) -> None:
        last_reap = last_status = last_prune = 0.0
        while True:
            try:
                await self.broker.tick()
                now = time.monotonic()
                if now - last_prune >= PRUNE_EVERY_S:
                    last_prune = now
                    self.store.prune(REPLAY_WINDOW_S)
                if now - last_reap >= self.config.reaper.interval_s:
                    last_reap = now
                    await reaper.reap_once(self.broker)
                if now - last_status >= self.config.status_poll_s:
                    last_status = now
                    for res in self.broker.resources.values():
                        asyncio.get_running_loop().create_task(res.refresh_status())
            except StoreUnavailable as exc:
                log.warning("timer round: %s", exc)
            except Exception:  # a timer must survive one bad round
                log.exception("timer round failed")
            await asyncio.sleep(1.0)


def create_app(state: App) -> BodyLimit:
    """The ASGI application: FastAPI with qrmid's routers, inside the body limit."""
    return BodyLimit(create_fastapi(state))


def create_fastapi(state: App) -> FastAPI:
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
        queue = asyncio.get_running_loop().create_task(state.tasks.run()) if state.tasks.qpus else None
        try:
            yield
        finally:
            timers.cancel()
            if queue is not None:
                queue.cancel()
            await state.exchange.close()

    app = FastAPI(
        title="qrmid",
        version="0.2.0",
        description="QRMI daemon: QPU acquisitions for batch jobs, windows, policy, accounting, metrics.",
        lifespan=lifespan,
    )
    app.state.qrmid = state

    @app.exception_handler(StoreUnavailable)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        state.metrics.database_errors.inc()
        log.warning("503: %s", exc)
        return JSONResponse(
            {"detail": f"qrmid's database is unavailable ({exc}); a release is kept and retried, retry the call"},
            status_code=503, headers={"Retry-After": "5"},
        )

    app.include_router(ops.router(state))
    app.include_router(qpus.router(state))
    app.include_router(acquisitions.router(state))
    app.include_router(accounting.router(state))
    app.include_router(timeline.router(state))
    app.include_router(job_access.router(state))
    return app
