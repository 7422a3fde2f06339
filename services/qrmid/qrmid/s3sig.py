"""AWS Signature Version 4 for S3, the part qrmid needs: check a job's signed request (header
or presigned query), sign the request it forwards with the site's key, and mint presigned URLs.

Only what the ``ibm-quantum-system`` client sends is accepted: path-style requests, the
``AWS4-HMAC-SHA256`` algorithm, the ``s3`` service, a payload hash that is the body's
SHA-256 (or ``UNSIGNED-PAYLOAD`` for a body qrmid does not forward), a date within
``MAX_SKEW_S``. Everything is compared in constant time; nothing is decoded twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_S = 15 * 60
MAX_PRESIGN_S = 7 * 24 * 3600  # S3's own ceiling for a presigned URL

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/\s,]{1,2048})/([0-9]{8})/([a-z0-9-]{1,32})/s3/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]{1,1024}),\s*Signature=([0-9a-f]{64})"
)
_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_HASH = re.compile(r"[0-9a-f]{64}")


class SignatureError(Exception):
    """The request is not signed the way qrmid checks (message for the job, no secret in it)."""


@dataclass(frozen=True)
class Signed:
    """What a job's signature names: its access key id, date scope and region."""

    access_key_id: str
    date: str
    region: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    payload_hash: str


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str) -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, "s3")
    return _hmac(k, "aws4_request")


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    enc = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in enc)


def _string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])


def _canonical(
    method: str, raw_path: str, query: list[tuple[str, str]], headers: Mapping[str, str], signed: tuple[str, ...],
    payload_hash: str,
) -> str:
    lines = [f"{h}:{' '.join(headers[h].strip().split())}" for h in signed]
    return "\n".join([method, raw_path, canonical_query(query), "\n".join(lines) + "\n", ";".join(signed),
                      payload_hash])


def _amz_time(amz_date: str) -> dt.datetime:
    return dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def parse_header(authorization: str, headers: Mapping[str, str]) -> Signed:
    m = _AUTH.fullmatch(authorization.strip())
    if m is None:
        raise SignatureError("not an AWS4-HMAC-SHA256 S3 signature")
    akid, date, region, signed, sig = m.groups()
    names = tuple(signed.split(";"))
    if "host" not in names or list(names) != sorted(set(names)):
        raise SignatureError("SignedHeaders must be sorted, unique and include host")
    if any(n not in headers for n in names):
        raise SignatureError("a signed header is missing from the request")
    amz_date = headers.get("x-amz-date", "")
    payload = headers.get("x-amz-content-sha256", "")
    if not _DATE.fullmatch(amz_date) or not amz_date.startswith(date):
        raise SignatureError("x-amz-date is missing or does not match the credential's date")
    if payload != UNSIGNED and not _HASH.fullmatch(payload):
        raise SignatureError("x-amz-content-sha256 must be the body's SHA-256 or UNSIGNED-PAYLOAD")
    return Signed(akid, date, region, names, sig, amz_date, payload)


def parse_presigned(query: Mapping[str, str]) -> Signed:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise SignatureError("not an AWS4-HMAC-SHA256 presigned URL")
    cred = query.get("X-Amz-Credential", "").split("/")
    if len(cred) != 5 or cred[3:] != ["s3", "aws4_request"] or not re.fullmatch(r"[0-9]{8}", cred[1]):
        raise SignatureError("malformed X-Amz-Credential")
    amz_date = query.get("X-Amz-Date", "")
    if not _DATE.fullmatch(amz_date) or not amz_date.startswith(cred[1]):
        raise SignatureError("malformed X-Amz-Date")
    expires = query.get("X-Amz-Expires", "")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGN_S:
        raise SignatureError("malformed X-Amz-Expires")
    names = tuple(query.get("X-Amz-SignedHeaders", "").split(";"))
    sig = query.get("X-Amz-Signature", "")
    if "host" not in names or not _HASH.fullmatch(sig):
        raise SignatureError("malformed presigned URL")
    return Signed(cred[0], cred[1], cred[2], names, sig, amz_date, UNSIGNED)


def verify(
    signed: Signed, secret: str, method: str, raw_path: str, query: list[tuple[str, str]],
    headers: Mapping[str, str], now: dt.datetime, *, presigned: bool,
) -> None:
    """Raise SignatureError unless `signed` is a valid signature of this request with `secret`."""
    when = _amz_time(signed.amz_date)
    if presigned:
        expires = int(dict(query)["X-Amz-Expires"])
        if not when - dt.timedelta(seconds=MAX_SKEW_S) <= now <= when + dt.timedelta(seconds=expires):
            raise SignatureError("the presigned URL has expired")
        query = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    elif abs((now - when).total_seconds()) > MAX_SKEW_S:
        raise SignatureError("the request's date is more than 15 minutes from qrmid's clock")
    scope = f"{signed.date}/{signed.region}/s3/aws4_request"
    canonical = _canonical(method, raw_path, query, headers, signed.signed_headers, signed.payload_hash)
    want = hmac.new(signing_key(secret, signed.date, signed.region),
                    _string_to_sign(signed.amz_date, scope, canonical).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, signed.signature):
        raise SignatureError("the signature does not match (wrong key or altered request)")


def sign_headers(
    method: str, host: str, raw_path: str, query: list[tuple[str, str]], payload: bytes | None,
    access_key_id: str, secret: str, region: str, now: dt.datetime,
) -> dict[str, str]:
    """The headers that sign an outgoing request (Host is `host`, as the client will send it)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    payload_hash = hashlib.sha256(payload).hexdigest() if payload is not None else EMPTY_SHA256
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = tuple(sorted(headers))
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    canonical = _canonical(method, raw_path, query, headers, signed, payload_hash)
    sig = hmac.new(signing_key(secret, amz_date[:8], region), _string_to_sign(amz_date, scope, canonical).encode(),
                   hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items() if k != "host"}
    out["Authorization"] = (f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(signed)}, "
                            f"Signature={sig}")
    return out


def presign(
    method: str, scheme_host: str, host: str, raw_path: str, access_key_id: str, secret: str, region: str,
    expires_s: int, now: dt.datetime,
) -> str:
    """A presigned URL (query authentication, UNSIGNED-PAYLOAD) for one object and method."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    query = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(max(1, min(expires_s, MAX_PRESIGN_S)))),
        ("X-Amz-SignedHeaders", "host"),
    ]
    canonical = _canonical(method, raw_path, query, {"host": host}, ("host",), UNSIGNED)
    sig = hmac.new(signing_key(secret, amz_date[:8], region), _string_to_sign(amz_date, scope, canonical).encode(),
                   hashlib.sha256).hexdigest()
    return f"{scheme_host}{raw_path}?{canonical_query(query)}&X-Amz-Signature={sig}"
