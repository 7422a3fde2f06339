"""Routes a running job uses with its job-scoped credentials: the IBM-IAM-compatible
token endpoint and the forwarding proxy to the QPU services (see proxy.py)."""

from __future__ import annotations

import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from qrmid.proxy import Denied

if TYPE_CHECKING:
    from qrmid.api import App

log = logging.getLogger("qrmid.api")

IAM_FORM = {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["apikey"],
    "properties": {"grant_type": {"type": "string"}, "apikey": {"type": "string"}}}}}}}


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["job credentials"])

    @r.post("/iam/{qpu}/identity/token", openapi_extra=IAM_FORM)
    async def iam_token(qpu: str, request: Request) -> Any:
        """IBM-IAM-compatible token endpoint: a job key in, a short-lived bearer token out."""
        form = urllib.parse.parse_qs((await request.body()).decode(errors="replace"))
        apikey = (form.get("apikey") or [""])[0]
        try:
            return state.exchange.issue_bearer(qpu, apikey)
        except Denied as exc:
            state.metrics.auth_failures.labels("job-credential").inc()
            return JSONResponse({"errorCode": "BXNIM0415E", "errorMessage": str(exc)}, status_code=exc.status)

    @r.api_route("/proxy/{qpu}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def proxy(qpu: str, path: str, request: Request) -> Response:
        try:
            resp = await state.exchange.forward(
                qpu, path, request.method, request.url.query, dict(request.headers), await request.body()
            )
        except Denied as exc:
            state.metrics.proxied.labels(qpu, str(exc.status)).inc()
            log.info("proxy %s %s /%s refused (%s): %s", qpu, request.method, path, exc.status, exc)
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        except httpx.HTTPError as exc:
            state.metrics.proxied.labels(qpu, "502").inc()
            log.warning("proxy %s %s /%s: the QPU service did not answer: %s", qpu, request.method, path, exc)
            return JSONResponse({"detail": f"the QPU service did not answer: {exc}"}, status_code=502)
        state.metrics.proxied.labels(qpu, str(resp.status_code)).inc()
        keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "location", "retry-after")}
        return Response(resp.content, status_code=resp.status_code, headers=keep)

    return r
