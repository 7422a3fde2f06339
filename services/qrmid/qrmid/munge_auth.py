"""Verify munge credentials with the real munged through libmunge (ctypes).

A credential authenticates a request only if munged decodes it, it was not seen
before (munged rejects replays it remembers; qrmid also keeps its own persistent
replay cache so a munged restart does not reopen the window), and its payload
binds it to this exact request: ``"<METHOD> <path?query>\\n<body>"`` (bodies are
small JSON documents; carrying them whole keeps the C client free of a hash library).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
from dataclasses import dataclass

EMUNGE_CRED_REPLAYED = 17
MUNGE_OPT_SOCKET = 8  # enum munge_opt in munge.h


class MungeError(Exception):
    def __init__(self, message: str, code: int = 0):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class MungeIdentity:
    uid: int
    gid: int
    payload: bytes
    digest: str  # sha256 of the credential text, for the replay cache


def request_payload(method: str, path: str, body: bytes) -> bytes:
    return f"{method.upper()} {path}\n".encode() + body


class Munge:
    def __init__(self, socket: str | None = None):
        name = ctypes.util.find_library("munge") or "libmunge.so.2"
        self._lib = ctypes.CDLL(name)
        self._lib.munge_decode.restype = ctypes.c_int
        self._lib.munge_decode.argtypes = [
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_uint),
        ]
        self._lib.munge_encode.restype = ctypes.c_int
        self._lib.munge_encode.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
        self._lib.munge_strerror.restype = ctypes.c_char_p
        self._lib.munge_ctx_create.restype = ctypes.c_void_p
        self._lib.munge_ctx_set.restype = ctypes.c_int
        self._lib.munge_ctx_destroy.argtypes = [ctypes.c_void_p]
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self._free = libc.free
        self._free.argtypes = [ctypes.c_void_p]
        self._socket = socket

    def _ctx(self) -> int | None:
        if not self._socket:
            return None
        ctx: int | None = self._lib.munge_ctx_create()
        self._lib.munge_ctx_set(ctypes.c_void_p(ctx), MUNGE_OPT_SOCKET, ctypes.c_char_p(self._socket.encode()))
        return ctx

    def decode(self, credential: str) -> MungeIdentity:
        ctx = self._ctx()
        buf = ctypes.c_void_p()
        length = ctypes.c_int()
        uid = ctypes.c_uint()
        gid = ctypes.c_uint()
        try:
            rc = self._lib.munge_decode(
                credential.encode(), ctx, ctypes.byref(buf), ctypes.byref(length), ctypes.byref(uid), ctypes.byref(gid)
            )
            payload = ctypes.string_at(buf, length.value) if buf.value else b""
        finally:
            if buf.value:
                self._free(buf)
            if ctx:
                self._lib.munge_ctx_destroy(ctypes.c_void_p(ctx))
        if rc != 0:
            raise MungeError(self._lib.munge_strerror(rc).decode(), rc)
        return MungeIdentity(uid.value, gid.value, payload, hashlib.sha256(credential.encode()).hexdigest())

    def encode(self, payload: bytes) -> str:
        """Create a credential as the calling process (used by tests and the CLI client)."""
        ctx = self._ctx()
        cred = ctypes.c_char_p()
        try:
            rc = self._lib.munge_encode(ctypes.byref(cred), ctx, ctypes.c_char_p(payload), len(payload))
            if rc != 0:
                raise MungeError(self._lib.munge_strerror(rc).decode(), rc)
            value = cred.value or b""
            self._free(ctypes.cast(cred, ctypes.c_void_p))
            return value.decode()
        finally:
            if ctx:
                self._lib.munge_ctx_destroy(ctypes.c_void_p(ctx))
