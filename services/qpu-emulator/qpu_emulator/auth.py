"""Credentials and tokens.

Issued tokens are JWTs signed with HS256 by the service's own key, so they stay
valid across a restart without being stored, and clients that read a JWT's
``exp`` (QRMI's Pasqal client does) see the real expiry. A token names the
twins its holder may use; requests for other twins are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from qpu_emulator.config import Config
from qpu_emulator.errors import ApiError

ANONYMOUS = "anonymous"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _same(a: str, b: str) -> bool:
    """Constant-time comparison; on bytes, because compare_digest refuses non-ASCII str."""
    return hmac.compare_digest(a.encode(), b.encode())


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_signing_key(config: Config) -> bytes:
    """The configured key, or one generated once and kept in the state directory (0600)."""
    if config.signing_key:
        return config.signing_key.encode()
    path = Path(config.state_dir) / "signing.key"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key


@dataclass(frozen=True)
class Principal:
    """Who is calling and which twins (by name) they may use."""

    name: str
    twins: frozenset[str]

    def may_use(self, twin_name: str) -> bool:
        return twin_name in self.twins


class Authority:
    def __init__(self, config: Config, key: bytes) -> None:
        self._config = config
        self._key = key

    # -- issuing ---------------------------------------------------------------
    def issue(self, subject: str, twins: set[str], now: float | None = None) -> tuple[str, int]:
        iat = int(now if now is not None else time.time())
        exp = iat + self._config.token_ttl_s
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps({"sub": subject, "twins": sorted(twins), "iat": iat, "exp": exp}).encode())
        sig = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        return f"{header}.{payload}.{sig}", exp

    def fingerprint(self, secret: str) -> str:
        """A stable name for a secret that reveals nothing of it: keyed with the service's own
        signing key, so it cannot be checked against guesses by anyone who sees it."""
        return hmac.new(self._key, b"subject|" + secret.encode(), hashlib.sha256).hexdigest()[:16]

    def api_key_subject(self, api_key: str) -> str:
        return "apikey:" + self.fingerprint(api_key)

    def twins_for_api_key(self, api_key: str) -> set[str]:
        return {
            t.name
            for t in self._config.twins
            if t.api in ("ibm", "ibm-quantum-system") and any(_same(api_key, k) for k in t.credentials.api_keys)
        }

    def twins_for_client(self, client_id: str, client_secret: str) -> set[str]:
        out = set()
        for t in self._config.twins:
            want = t.credentials.clients.get(client_id)
            if want is not None and _same(client_secret, want):
                out.add(t.name)
        return out

    # -- signed links (like a store's presigned URL) ----------------------------
    def sign(self, text: str, expires: int) -> str:
        return _b64(hmac.new(self._key, f"{text}|{expires}".encode(), hashlib.sha256).digest())

    def link_ok(self, text: str, expires: int, signature: str) -> bool:
        return expires > time.time() and _same(signature, self.sign(text, expires))

    # -- checking --------------------------------------------------------------
    def _verify_jwt(self, token: str) -> Principal | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, payload, sig = parts
        want = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        if not _same(sig, want):
            return None
        try:
            claims = json.loads(_unb64(payload))
            exp = int(claims["exp"])
            subject = str(claims["sub"])
            twins = frozenset(str(t) for t in claims["twins"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp <= time.time():
            raise ApiError(401, "The access token has expired; request a new one from the token endpoint.")
        return Principal(subject, twins)

    def _static_token(self, token: str) -> Principal | None:
        twins = {t.name for t in self._config.twins if any(_same(token, s) for s in t.credentials.tokens)}
        return Principal("token:" + self.fingerprint(token), frozenset(twins)) if twins else None

    def principal(self, authorization: str | None) -> Principal:
        """The caller behind an ``Authorization`` header, or an ApiError(401)."""
        if not authorization:
            if self._config.allow_anonymous:
                return Principal(ANONYMOUS, frozenset(t.name for t in self._config.twins))
            raise ApiError(401, "Authentication required: send 'Authorization: Bearer <token>'.")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Malformed Authorization header: expected 'Bearer <token>'.")
        found = self._verify_jwt(token) or self._static_token(token)
        if found is None:
            raise ApiError(401, "The access token is not valid for this service.")
        return found
