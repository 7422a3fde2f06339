"""Job-scoped credentials as signed JWTs (RFC 7519, JWS compact form, HS256).

Vendor clients read the tokens they are given: ibm-cloud-sdk-core decodes an IAM
``access_token`` to learn its ``exp``/``iat`` (an opaque token fails with "Not enough
segments"), pasqal-cloud's token providers read ``exp`` the same way. So every
credential qrmid mints for a job is a JWT; qrmid alone issues and verifies them,
with a key that never leaves the QPU access host (a symmetric HMAC key is enough:
nobody else verifies).

Verification is strict and runs before any database lookup:

- the token is ``header.payload.signature`` in canonical form: base64url without
  padding and without stray bits, each part exactly what qrmid itself would encode
  (JSON with sorted keys, no spaces), at most MAX_TOKEN_BYTES;
- the header's ``alg`` is on an allow-list of one (``HS256``; ``none`` and every
  other algorithm are refused before the signature is looked at), ``typ`` is ``JWT``
  and ``kid`` names the current key;
- the HMAC matches (constant-time comparison);
- the claims are exactly those qrmid writes, with their types; ``iss`` is qrmid,
  ``nbf``/``iat`` are not in the future, ``exp`` is not past;
- scope: the token's QPU and kind are those of the request; its acquisition (which
  names the job's cluster, job id and user) is checked against the database.

The signature proves qrmid minted the token; the database (digests only) still
decides whether it is alive: release, the reaper and the hold deadline revoke it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("qrmid.tokens")

ALGORITHMS = {"HS256": hashlib.sha256}  # the allow-list: never "none"
ALGORITHM = "HS256"
ISSUER = "qrmid"
SCOPE = "qrmid-job"
KINDS = ("job-key", "bearer")
MAX_TOKEN_BYTES = 2048
KEY_BYTES = 32
PART = re.compile(r"[A-Za-z0-9_-]{1,1400}")
# the claims qrmid writes, and their types: a token with any other set is not one of its own
CLAIMS: dict[str, type] = {
    "iss": str, "sub": str, "cluster": str, "job": str, "acq": str, "qpu": str, "kind": str, "scope": str,
    "iat": int, "nbf": int, "exp": int, "jti": str,
}


class InvalidToken(Exception):
    """Not a live token of this qrmid for this use; the message says why (no secret in it)."""


@dataclass(frozen=True)
class Claims:
    acquisition_id: str
    qpu: str
    kind: str
    job_id: str
    cluster: str
    user: str
    issued_at: int
    expires_at: int
    jti: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(part: str, what: str) -> bytes:
    """Strict base64url: no padding, no characters outside the alphabet, no stray bits."""
    if not PART.fullmatch(part):
        raise InvalidToken(f"malformed token {what}")
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken(f"malformed token {what}") from None
    if _b64(raw) != part:
        raise InvalidToken(f"token {what} is not in canonical base64url")
    return raw


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise InvalidToken("token with a duplicated claim")
    return out


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw, object_pairs_hook=_no_duplicates)
    except InvalidToken:
        raise
    except (ValueError, RecursionError):
        raise InvalidToken(f"token {what} is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidToken(f"token {what} is not a JSON object")
    if _canonical(doc) != raw:
        raise InvalidToken(f"token {what} is not in qrmid's canonical form")
    return doc


class Signer:
    """Mints and verifies job tokens with one HMAC key."""

    def __init__(self, key: bytes):
        if len(key) < KEY_BYTES:
            raise ValueError(f"the job token key must have at least {KEY_BYTES} bytes")
        self._key = key
        # names the key without revealing it: tokens of a replaced key are refused by kid first
        self.kid = hashlib.sha256(b"qrmid-job-token-kid:" + key).hexdigest()[:16]
        self._header = _b64(_canonical({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}))

    def _sign(self, signing_input: str) -> str:
        return _b64(hmac.new(self._key, signing_input.encode("ascii"), ALGORITHMS[ALGORITHM]).digest())

    def mint(self, *, kind: str, acquisition_id: str, qpu: str, job_id: str, cluster: str, user: str,
             expires_at: float, now: float | None = None) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown token kind {kind!r}")
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": ISSUER, "sub": user, "cluster": cluster, "job": job_id, "acq": acquisition_id,
            "qpu": qpu, "kind": kind, "scope": SCOPE, "iat": issued, "nbf": issued,
            # whole seconds, never past the acquisition's own end
            "exp": max(issued + 1, int(expires_at)), "jti": secrets.token_urlsafe(16),
        }
        signing_input = f"{self._header}.{_b64(_canonical(claims))}"
        return f"{signing_input}.{self._sign(signing_input)}"

    def derive(self, purpose: str, token: str) -> str:
        """A secret bound to one token and one purpose (a job's S3 secret key for its job key): qrmid
        recomputes it from the token, so it is never stored."""
        return hmac.new(self._key, f"qrmid-derived:{purpose}:{token}".encode("ascii"), hashlib.sha256).hexdigest()

    def verify(self, token: str, *, qpu: str, kind: str, now: float | None = None) -> Claims:
        """The token's claims, if qrmid minted it for this QPU and use and it has not expired."""
        claims = self.verified_claims(token, now=now)
        if claims.qpu != qpu or claims.kind != kind:
            raise InvalidToken("unknown credential for this QPU")
        return claims

    def verified_claims(self, token: str, *, now: float | None = None) -> Claims:
        """The claims of a token qrmid minted and that has not expired, whatever its QPU and use: what
        routes a request that names no QPU (the IQM Server API at qrmid's root). The caller still
        scopes it with verify() or its record."""
        if len(token) > MAX_TOKEN_BYTES or not token.isascii():
            raise InvalidToken("malformed token")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token (a JWT has three parts)")
        header = _json_object(_unb64(parts[0], "header"), "header")
        # the algorithm first: "none" or a foreign algorithm never reaches a signature check
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken(f"token algorithm not accepted (only {', '.join(ALGORITHMS)})")
        if set(header) != {"alg", "kid", "typ"} or header["typ"] != "JWT":
            raise InvalidToken("token header is not qrmid's")
        if header["kid"] != self.kid:
            raise InvalidToken("token signed with another key")
        signature = _unb64(parts[2], "signature")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode("ascii"), ALGORITHMS[header["alg"]]).digest()
        if not hmac.compare_digest(signature, expected):
            raise InvalidToken("bad token signature")
        claims = _json_object(_unb64(parts[1], "payload"), "payload")
        if set(claims) != set(CLAIMS) or any(
            type(claims[k]) is not t for k, t in CLAIMS.items()  # noqa: E721 - bool is not an int here
        ):
            raise InvalidToken("token claims are not qrmid's")
        if claims["iss"] != ISSUER or claims["scope"] != SCOPE:
            raise InvalidToken("token not issued by qrmid for a job")
        t = time.time() if now is None else now
        if claims["nbf"] > t or claims["iat"] > t:
            raise InvalidToken("token not valid yet")
        if claims["exp"] <= t:
            raise InvalidToken("credential expired: the job's QPU acquisition has ended")
        return Claims(claims["acq"], claims["qpu"], claims["kind"], claims["job"], claims["cluster"],
                      claims["sub"], claims["iat"], claims["exp"], claims["jti"])


def load_key(path: str) -> bytes:
    """The signing key from ``path``, created (0600, random) the first time.

    The file is qrmid's alone: one readable by other users is refused, as the secrets file is.
    Replacing it (and restarting qrmid) invalidates every job token minted with the old key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(_b64(secrets.token_bytes(KEY_BYTES)) + "\n")
        log.info("created the job token signing key %s", path)
    st = os.stat(path)
    if st.st_mode & (stat.S_IRWXO | stat.S_IRWXG):
        raise ValueError(f"{path} is readable by other users (mode {oct(st.st_mode & 0o777)}); chmod 0600 it")
    with open(path) as f:
        text = f.read().strip()
    try:
        key = _unb64(text, "key")
    except InvalidToken:
        raise ValueError(f"{path} does not hold a base64url key; delete it to let qrmid create one") from None
    if len(key) < KEY_BYTES:
        raise ValueError(f"{path} holds a key shorter than {KEY_BYTES} bytes; delete it to let qrmid create one")
    return key


def signer_for(key_file: str | None, database: object) -> Signer:
    """The daemon's signer: the configured key file, else one next to a SQLite database, else
    (PostgreSQL without a key file) a key for this process only, which a restart replaces."""
    path = key_file
    if path is None and isinstance(database, str):
        path = os.path.join(os.path.dirname(os.path.abspath(database)), "job-token.key")
    if path is None:
        log.warning("no job_token_key_file: job tokens are signed with a key of this process only "
                    "and stop working when qrmid restarts")
        return Signer(secrets.token_bytes(KEY_BYTES))
    return Signer(load_key(path))
