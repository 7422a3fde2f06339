"""QPU status (anyone; a refresh that calls the service with the site credential needs a
principal), maintenance switches (operator)."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request

from qrmid.auth import Operator, authenticate, parse_body
from qrmid.models import MaintenanceRequest, openapi_body

if TYPE_CHECKING:
    from qrmid.api import App


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["qpus"])
    broker, store = state.broker, state.store

    def known(name: str) -> str:
        if name not in broker.resources:
            raise HTTPException(404, "unknown QPU")  # the name is not echoed back
        return name

    def qpu_view(name: str) -> dict[str, Any]:
        res = broker.resources[name]
        b = broker.block(name)
        used = store.occupied().get(name, 0)
        cfg = state.config.qpu(name)
        return {
            "name": name,
            "type": res.type,
            "slots": state.config.qpu(name).slots,
            "in_use": used,
            "sharing": {"mode": cfg.sharing.mode, "max_jobs": cfg.admitted,
                        **({"lookahead": cfg.sharing.lookahead} if cfg.task_mode else {})},
            "qrmi": {"online": res.status.online, "detail": res.status.detail, "error": res.status.error,
                     "checked_at": res.status.checked_at},
            "available": b is None,
            "block": None if b is None else {"kind": b.kind, "name": b.name, "message": b.message,
                                              "until": b.until.isoformat() if b.until else None},
        }

    @r.get("/v1/qpus")
    async def list_qpus() -> list[dict[str, Any]]:
        return [qpu_view(n) for n in sorted(broker.resources)]

    @r.get("/v1/qpus/{name}", responses={401: {"description": "refresh without credentials"}})
    async def get_qpu(name: str, request: Request, refresh: bool = False) -> dict[str, Any]:
        """`refresh=true` asks the QPU service now, with the site's credential: authenticated callers only."""
        if refresh:
            await authenticate(request)
        known(name)
        if refresh:
            await broker.resources[name].refresh_status()
        return qpu_view(name)

    @r.put("/v1/qpus/{name}/maintenance", openapi_extra=openapi_body(MaintenanceRequest))
    async def maintenance_on(name: str, request: Request, p: Operator) -> dict[str, Any]:
        body = await parse_body(request, MaintenanceRequest)
        known(name)
        until = body.until.astimezone(UTC).timestamp() if body.until else None
        broker.availability.advance()  # the switch it replaces is counted up to now
        store.set_maintenance(name, body.message, until, p.name)
        broker.refresh_gauges()
        return qpu_view(name)

    @r.delete("/v1/qpus/{name}/maintenance")
    async def maintenance_off(name: str, p: Operator) -> dict[str, Any]:
        known(name)
        broker.availability.advance()  # the switch is counted up to now
        store.clear_maintenance(name)
        await broker.dispatch()
        broker.refresh_gauges()
        return qpu_view(name)

    return r
