"""Reading and writing the objects an IBM Quantum System job names by presigned URL.

The IBM Quantum System API takes no payload itself: a job names three presigned URLs
(input to GET, results and logs to PUT) in an S3-compatible store. A URL in a request
body is a request to make the service connect somewhere, so this module only ever
connects to the stores the configuration lists (`s3_endpoints`, scheme://host:port
compared exactly), never follows a redirect, bounds what it reads before it holds it,
and gives up after a timeout. Nothing here parses what it reads.
"""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

from qpu_emulator.errors import ApiError

TIMEOUT_S = 20.0
MAX_URL_CHARS = 4096
_URL_CHARS = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.lower(), port


def normalise_endpoint(url: str) -> str:
    """A configured endpoint as scheme://host:port (what a presigned URL is compared with)."""
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def check_url(url: object, field: str, allowed: list[str]) -> str:
    """A presigned URL that points at one of the allowed stores; ApiError(400) otherwise."""
    if not isinstance(url, str) or not url:
        raise ApiError(400, f"{field} must be a presigned URL (a string).")
    if len(url) > MAX_URL_CHARS or not _URL_CHARS.fullmatch(url):
        raise ApiError(400, f"{field} is not a URL this service accepts (at most {MAX_URL_CHARS} URL characters).")
    try:
        origin = "{}://{}:{}".format(*_origin(url))
    except ValueError:
        raise ApiError(400, f"{field} must be an http(s) URL.") from None
    if not allowed:
        raise ApiError(400, "This service has no S3-compatible store configured (s3_endpoints is empty).")
    if origin not in allowed:
        raise ApiError(
            400,
            f"{field} points at {origin}, which is not an S3 store this service reads or writes.",
            solution="Use the store the site configured (QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI).",
        )
    return url


def _connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    scheme, host, port = _origin(url)
    conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return conn_cls(host, port, timeout=TIMEOUT_S), target


def get(url: str, limit: int, what: str) -> bytes:
    """The object behind a presigned GET URL, at most `limit` bytes; ApiError(400) otherwise."""
    conn, target = _connection(url)
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        if resp.status != 200:
            raise ApiError(
                400, f"The {what} could not be read from the store (HTTP {resp.status}); is the presigned URL valid?"
            )
        declared = resp.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ApiError(400, f"The {what} is larger than the {limit} bytes allowed.")
        data = resp.read(limit + 1)
        if len(data) > limit:
            raise ApiError(400, f"The {what} is larger than the {limit} bytes allowed.")
        return data
    except (OSError, http.client.HTTPException) as exc:
        raise ApiError(400, f"The {what} could not be read from the store ({type(exc).__name__}).") from None
    finally:
        conn.close()


def put(url: str, data: bytes, content_type: str) -> str | None:
    """PUT `data` to a presigned URL; None if stored, else why not (for the job's reason)."""
    conn, target = _connection(url)
    try:
        conn.request("PUT", target, body=data, headers={"Content-Type": content_type})
        resp = conn.getresponse()
        resp.read(65536)
        if resp.status not in (200, 201, 204):
            return f"the store answered HTTP {resp.status}"
        return None
    except (OSError, http.client.HTTPException) as exc:
        return f"the store could not be reached ({type(exc).__name__})"
    finally:
        conn.close()
