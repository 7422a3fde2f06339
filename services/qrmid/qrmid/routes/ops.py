"""Health and metrics (anyone)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from qrmid.store import StoreUnavailable

if TYPE_CHECKING:
    from qrmid.api import App


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["ops"])

    @r.get("/healthz", responses={503: {"description": "the database does not take writes"}})
    async def health() -> Any:
        """ok only when the database takes a write now (a real write, not a read)."""
        body: dict[str, Any] = {"qpus": sorted(state.broker.resources), "time": time.time()}
        try:
            state.store.probe()
        except StoreUnavailable as exc:
            return JSONResponse({**body, "status": "failing", "database": f"cannot write: {exc}"}, status_code=503)
        return {**body, "status": "ok", "database": "ok"}

    @r.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        state.broker.refresh_gauges()
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return r
