"""Errors in each vendor's own shape.

IBM Quantum Compute Service: ``{"errors": [{"code", "message", "solution", "more_info"}], "trace"}``
(qiskit-ibm-runtime reads ``errors[0].message`` and ``.code``).
IBM IAM: ``{"errorCode", "errorMessage", "context"}``.
Pasqal Cloud (JSend): ``{"status": "fail", "code", "message", "data": {"description"}}``.
Pasqal's OAuth token endpoint: ``{"error", "error_description"}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import JSONResponse

# The vendor surface a path belongs to decides the error shape.
IBM_PREFIXES = ("/v1/",)
IBM_QS_PREFIXES = ("/quantum-system/",)
IAM_PREFIXES = ("/identity/",)
PASQAL_PREFIXES = ("/core-fast/",)
PASQAL_AUTH_PREFIXES = ("/auth/",)
IQM_PREFIXES = ("/api/v1/", "/about")

# Numeric codes in IBM's error bodies: ours, stable, one per kind of problem.
IBM_CODES = {
    400: 1400,
    401: 1401,
    403: 1403,
    404: 1404,
    405: 1405,
    409: 1409,
    411: 1411,
    413: 1413,
    415: 1415,
    422: 1422,
    429: 1429,
    503: 1503,
}


class ApiError(Exception):
    """An error a handler raises; rendered in the caller's vendor shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        solution: str = "",
        iam_code: str = "BXNIM0415E",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.solution = solution
        self.iam_code = iam_code
        self.retry_after = retry_after


def surface(path: str) -> str:
    if path.startswith(IBM_QS_PREFIXES):
        return "ibm-qs"
    if path.startswith(IBM_PREFIXES):
        return "ibm"
    if path.startswith(IAM_PREFIXES):
        return "iam"
    if path.startswith(PASQAL_PREFIXES):
        return "pasqal"
    if path.startswith(PASQAL_AUTH_PREFIXES):
        return "pasqal-auth"
    if path.startswith(IQM_PREFIXES):
        return "iqm"
    return "plain"


def body_for(path: str, status: int, message: str, solution: str = "", iam_code: str = "BXNIM0415E") -> dict[str, Any]:
    kind = surface(path)
    trace = uuid.uuid4().hex
    if kind == "ibm":
        err: dict[str, Any] = {"code": IBM_CODES.get(status, 1000 + status), "message": message}
        if solution:
            err["solution"] = solution
        err["more_info"] = "See docs/emulator.md of qpusite."
        return {"errors": [err], "trace": trace, "status_code": status}
    if kind == "ibm-qs":  # the IBM Quantum System API: code is a string, more_info is required
        qs_err = {"code": str(IBM_CODES.get(status, 1000 + status)), "message": message, "more_info": solution or ""}
        return {"errors": [qs_err], "trace": trace, "status_code": status}
    if kind == "iam":
        return {"errorCode": iam_code, "errorMessage": message, "context": {"requestId": trace}}
    if kind == "pasqal":
        return {"status": "fail", "code": status, "message": message, "data": {"description": message}}
    if kind == "pasqal-auth":
        return {"error": "access_denied" if status in (401, 403) else "invalid_request", "error_description": message}
    if kind == "iqm":  # IQMServerError, which iqm-client turns back into its exception
        return {"message": message, "error_code": f"http_{status}", "source": "iqm-server"}
    return {"detail": message}


def response_for(
    path: str,
    status: int,
    message: str,
    solution: str = "",
    iam_code: str = "BXNIM0415E",
    retry_after: int | None = None,
) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body_for(path, status, message, solution, iam_code), status_code=status, headers=headers)
