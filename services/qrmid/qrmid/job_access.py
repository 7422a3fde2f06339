"""Routes a running job uses with its job-scoped credentials: the IBM-IAM-compatible
token endpoint and the forwarding proxy to the QPU services (see proxy.py): under
``/proxy/<qpu>/``, and for the IQM Server API also at the root (``/api/…``, ``/about``),
where the job token names the QPU, because IQM's client takes a root URL only.

The proxy route reads the request line as the client sent it (the ASGI scope's
``raw_path`` and ``query_string``, still percent-encoded), never FastAPI's decoded
``path``: what qrmid checks is what it forwards (vendor_routes.py). Bodies are
bounded before they are read (Content-Length, then a count while streaming) and
read only once the job credential is valid.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from qrmid import ibm_qs, vendor_routes
from qrmid.proxy import UNKNOWN_QPU, Denied, Prepared, read_capped

if TYPE_CHECKING:
    from qrmid.api import App

log = logging.getLogger("qrmid.api")

IAM_FORM = {"requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
    "type": "object", "required": ["apikey"],
    "properties": {"grant_type": {"type": "string"}, "apikey": {"type": "string"}}}}}}}
MAX_IAM_BODY_BYTES = 16 * 1024
KEEP_RESPONSE_HEADERS = ("content-type", "retry-after")
PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def check_length(request: Request, limit: int) -> None:
    """413 from the declared Content-Length alone, before a byte of the body is read."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit() or len(declared) > 18:
        raise Denied(400, "malformed Content-Length")
    if int(declared) > limit:
        raise Denied(413, f"request body larger than {limit} bytes")


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, counted while it streams in: 413 as soon as it passes `limit` (chunked bodies too)."""
    check_length(request, limit)
    return await read_capped(request.stream(), limit, Denied(413, f"request body larger than {limit} bytes"))


def refusal(exc: Denied) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)


def router(state: App) -> APIRouter:
    r = APIRouter(tags=["job credentials"])

    @r.post("/iam/{qpu}/identity/token", openapi_extra=IAM_FORM)
    async def iam_token(qpu: str, request: Request) -> Any:
        """IBM-IAM-compatible token endpoint: a job key in, a short-lived bearer token out."""
        try:
            raw = await read_bounded(request, MAX_IAM_BODY_BYTES)
            form = urllib.parse.parse_qs(raw.decode(errors="replace"))
            apikey = (form.get("apikey") or [""])[0]
            return state.exchange.issue_bearer(qpu, apikey)
        except Denied as exc:
            state.metrics.auth_failures.labels("job-credential").inc()
            return JSONResponse({"errorCode": "BXNIM0415E", "errorMessage": str(exc)}, status_code=exc.status)

    async def forward(request: Request, label: str, prepare: Callable[[str, bytes, bytes, str], Prepared]) -> Response:
        """One job request through the proxy: bounded, prepared (allow-list, credential, scope), sent."""
        raw_path = request.scope.get("raw_path")
        raw_query = request.scope.get("query_string", b"")
        where = f"{request.method} {raw_path!r}"
        try:
            if not isinstance(raw_path, bytes) or not isinstance(raw_query, bytes):
                raise Denied(400, "the server gave no raw request path")
            check_length(request, vendor_routes.MAX_BODY_BYTES)
            prepared = prepare(request.method, raw_path, raw_query, request.headers.get("authorization", ""))
            label = prepared.resource.name
            body = await read_bounded(request, vendor_routes.MAX_BODY_BYTES)
            body = vendor_routes.inflate(body, request.headers.get("content-encoding"))
            resp = await state.exchange.send(prepared, request.headers, body)
        except Denied as exc:
            state.metrics.proxied.labels(label, str(exc.status)).inc()
            if exc.status == 401:
                state.metrics.auth_failures.labels("job-credential").inc()
            log.info("proxy %s %s refused (%s): %s", label, where[:300], exc.status, exc)
            return refusal(exc)
        except httpx.HTTPError as exc:
            state.metrics.proxied.labels(label, "502").inc()
            log.warning("proxy %s %s: the QPU service did not answer: %s", label, where[:300], exc)
            return JSONResponse({"detail": f"the QPU service did not answer: {type(exc).__name__}"}, status_code=502)
        state.metrics.proxied.labels(label, str(resp.status_code)).inc()
        keep = {k: v for k, v in resp.headers.items() if k.lower() in KEEP_RESPONSE_HEADERS}
        return Response(resp.content, status_code=resp.status_code, headers=keep)

    @r.api_route("/proxy/{qpu}/{path:path}", methods=PROXY_METHODS)
    async def proxy(qpu: str, path: str, request: Request) -> Response:
        """Forward an allow-listed request of the job to its QPU's service (see vendor_routes)."""
        return await forward(request, state.exchange.metric_label(qpu), state.exchange.prepare)

    # IQM's own client takes a server's root URL only: the IQM Server API is also served at qrmid's
    # root, routed by the job token's QPU (proxy.prepare_at_root), with the same checks
    @r.api_route("/api/{path:path}", methods=PROXY_METHODS, include_in_schema=False)
    async def iqm_api(path: str, request: Request) -> Response:
        return await forward(request, UNKNOWN_QPU, state.exchange.prepare_at_root)

    @r.api_route("/about", methods=PROXY_METHODS, include_in_schema=False)
    async def iqm_about(request: Request) -> Response:
        return await forward(request, UNKNOWN_QPU, state.exchange.prepare_at_root)

    @r.api_route("/s3/{path:path}", methods=["GET", "PUT", "POST", "DELETE", "HEAD"], include_in_schema=False)
    async def s3_gate(path: str, request: Request) -> Response:
        """The job's S3 (ibm-quantum-system): its own input, results and logs only (see ibm_qs)."""
        raw_path = request.scope.get("raw_path")
        raw_query = request.scope.get("query_string", b"")
        try:
            if not isinstance(raw_path, bytes) or not isinstance(raw_query, bytes):
                raise Denied(400, "the server gave no raw request path")
            headers = {k.lower(): v for k, v in request.headers.items()}
            body = await read_bounded(request, vendor_routes.MAX_BODY_BYTES)
            resp = await state.exchange.s3_gate(request.method, raw_path, raw_query, headers, body)
        except Denied as exc:
            if exc.status == 401:
                state.metrics.auth_failures.labels("job-credential").inc()
            log.info("s3 gate %s %r refused (%s): %s", request.method, (raw_path or b"")[:300], exc.status, exc)
            return Response(ibm_qs.s3_error(exc.status, str(exc)), status_code=exc.status,
                            media_type="application/xml")
        except httpx.HTTPError as exc:
            log.warning("s3 gate: the site's store did not answer: %s", exc)
            return Response(ibm_qs.s3_error(502, "the site's S3 store did not answer"), status_code=502,
                            media_type="application/xml")
        keep = {k: v for k, v in resp.headers.items() if k.lower() in ("content-type", "etag")}
        return Response(resp.content, status_code=resp.status_code, headers=keep)

    return r
