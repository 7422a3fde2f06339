"""The ASGI application: both vendor surfaces, health, metrics, OpenAPI, and the
guards every request passes (size limit, vendor-shaped errors)."""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from qpu_emulator import __version__, api_ibm, api_ibm_qs, api_iqm, api_pasqal, errors
from qpu_emulator.config import Config
from qpu_emulator.service import Service

log = logging.getLogger("qpu_emulator")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


MAX_NUMBER_DIGITS = 30  # integer literals longer than this are refused (no count or id needs more)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"an integer of {len(text)} digits is larger than any value this API takes")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a 64-bit float")
    return value


def json_problem(body: bytes) -> str | None:
    """Why a JSON body is refused (NaN/Infinity, numbers too large, not UTF-8), or None."""
    try:
        json.loads(body, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except RecursionError:
        return "Invalid request: the body is nested too deeply."
    except json.JSONDecodeError:
        return None  # malformed JSON: the handler reports it in its own words
    except ValueError as exc:  # our own refusals (and bodies that are not UTF-8)
        return f"Invalid request: the JSON body is not acceptable: {str(exc)[:200]}"
    return None


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, in the caller's vendor shape,
    whether or not the client sent Content-Length (chunked bodies are counted as they
    arrive and never read past the limit). Gzip/deflate bodies (the pasqal-cloud SDK
    sends gzip) are inflated here incrementally, and the limit holds for the inflated
    size too; other encodings get 415. JSON bodies with NaN/Infinity or absurd numbers
    get 400 before any handler parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await self._error(path, 400, "Content-Length is not a number.", scope, receive, send)
                return
            if len(declared.strip()) > 15 or int(declared) > self.limit:
                await self._refuse(path, scope, receive, send)
                return
        chunks, size, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            body = msg.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._refuse(path, scope, receive, send)
                return
            chunks.append(body)
            more = msg.get("more_body", False)
        whole = b"".join(chunks)
        encoding = headers.get(b"content-encoding", b"").strip().lower()
        if encoding in (b"gzip", b"x-gzip", b"deflate"):
            wbits = 16 + zlib.MAX_WBITS if encoding != b"deflate" else zlib.MAX_WBITS
            try:
                inflater = zlib.decompressobj(wbits=wbits)
                whole = inflater.decompress(whole, self.limit + 1)
                if len(whole) > self.limit or inflater.unconsumed_tail:
                    await self._refuse(path, scope, receive, send)
                    return
            except zlib.error:
                await self._error(
                    path, 400, f"The request body is not valid {encoding.decode()}.", scope, receive, send
                )
                return
            scope = dict(scope)
            scope["headers"] = [
                (k, v) for k, v in scope["headers"] if k not in (b"content-encoding", b"content-length")
            ] + [(b"content-length", str(len(whole)).encode())]
        elif encoding not in (b"", b"identity"):
            await self._error(
                path,
                415,
                f"Content-Encoding {encoding.decode('latin-1')[:40]!r} is not accepted (gzip, deflate).",
                scope,
                receive,
                send,
            )
            return
        if whole and b"json" in headers.get(b"content-type", b"").lower():
            problem = json_problem(whole)
            if problem is not None:
                await self._error(path, 400, problem, scope, receive, send)
                return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        await self._error(
            path, 413, f"The request body is larger than the {self.limit} bytes allowed.", scope, receive, send
        )

    async def _error(self, path: str, status: int, message: str, scope: Scope, receive: Receive, send: Send) -> None:
        resp = errors.response_for(path, status, message)
        await resp(scope, receive, send)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg')}")
    return "Invalid request: " + "; ".join(parts)


def create_app(config: Config, *, start: bool = True) -> FastAPI:
    svc = Service(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if start:
            svc.start()
        try:
            yield
        finally:
            svc.stop()

    app = FastAPI(
        title="qpusite QPU emulator",
        version=__version__,
        description="Digital twins of a site's QPUs behind the IBM Quantum (IAM + Quantum Compute Service) and "
        "Pasqal Cloud APIs.",
        lifespan=lifespan,
    )
    app.state.service = svc

    def _error(request: Request, status: int, message: str, **kw: Any) -> JSONResponse:
        svc.metrics.http_errors.labels(errors.surface(request.url.path), str(status)).inc()
        return errors.response_for(request.url.path, status, message, **kw)

    @app.exception_handler(errors.ApiError)
    async def _api_error(request: Request, exc: errors.ApiError) -> JSONResponse:
        return _error(
            request, exc.status, exc.message, solution=exc.solution, iam_code=exc.iam_code, retry_after=exc.retry_after
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, 400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "Not found." if exc.status_code == 404 else str(exc.detail)
        return _error(request, exc.status_code, message)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(request, 500, "Internal emulator error; see the service log.")

    app.include_router(api_ibm.router)
    app.include_router(api_pasqal.router)
    app.include_router(api_iqm.router)
    app.include_router(api_ibm_qs.router)

    @app.get("/health", tags=["service"])
    def health() -> JSONResponse:
        ready = svc.scheduler.workers_ready if svc.checkers.ready > 0 else 0
        body = {
            "status": "ok" if ready > 0 else "starting",
            "version": __version__,
            "workers": config.workers,
            "workers_ready": svc.scheduler.workers_ready,
            "checkers": config.checkers,
            "checkers_ready": svc.checkers.ready,
            "checker_crashes": svc.checkers.crashes,
            "queue_depth": svc.scheduler.queue_depth,
            "twins": [{"name": t.name, "backend_name": t.backend_name, "api": t.api} for t in config.twins],
        }
        return JSONResponse(body, status_code=200 if ready > 0 else 503)

    @app.get(
        "/metrics",
        tags=["service"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    )
    def metrics() -> Response:
        return Response(generate_latest(svc.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(BodyLimit, limit=config.max_request_bytes)
    return app
