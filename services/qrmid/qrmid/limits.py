"""Bounded request bodies, before anything reads them (ASGI middleware, outside FastAPI).

A body above its bound is refused with 413 without being read: at once when Content-Length
says so, else (chunked) as soon as the bytes received pass the bound. A body within its
bound is buffered once and replayed to the application, which authenticates the bytes
before it parses them (auth.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_LIMIT = 64 * 1024  # qrmid's own API: small JSON documents
HARD_LIMIT = 4 * 1024 * 1024  # anything, including the job routes
# the job routes (job_access.py): IAM, the proxy, the S3 gate, and the IQM Server API at the root; each
# bounds its bodies again at 4 MiB (vendor_routes.MAX_BODY_BYTES) while it reads them
JOB_PREFIXES = ("/iam/", "/proxy/", "/s3/", "/api/")


class BodyLimit:
    def __init__(self, app: ASGIApp, api_limit: int = API_LIMIT, hard_limit: int = HARD_LIMIT):
        self.app = app
        self.api_limit = api_limit
        self.hard_limit = hard_limit

    def limit(self, path: str) -> int:
        return self.hard_limit if path.startswith(JOB_PREFIXES) else self.api_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(str(scope.get("path", "")))
        length = None
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await refuse(send, 400, "invalid Content-Length")
                    return
        if length is not None and length > limit:
            await refuse(send, 413, f"request body of {length} bytes is above qrmid's limit of {limit}")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await refuse(send, 413, f"request body is above qrmid's limit of {limit} bytes")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        chunks.clear()
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server does

        await self.app(scope, replay, send)


async def refuse(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"detail": message}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": payload})
