"""Request dependencies shared by both vendor APIs: the running service and the
authenticated caller (from the request's Authorization header)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from qpu_emulator.auth import Principal
from qpu_emulator.service import Service


def service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return service(request).auth.principal(authorization)


Svc = Annotated[Service, Depends(service)]
Caller = Annotated[Principal, Depends(principal)]
