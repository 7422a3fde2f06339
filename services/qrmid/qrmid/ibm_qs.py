"""IBM Quantum System (``ibm-quantum-system``): the job's S3 access and its job submissions.

The QS API carries no payload: a client uploads ``input_<id>.json`` to an S3 bucket, submits
a job naming three presigned URLs (input to read, ``results_<id>.json`` and ``logs_<id>.json``
to write), then reads the results from S3. The site's S3 key pair, like its IAM key, stays in
qrmid. The trust boundary:

- The job talks S3 to qrmid's **S3 gate** (``/s3/<qpu>/<key>``, path-style; its "bucket" is
  its QPU's name) with a job-scoped key pair: the access key id is its job key (a JWT qrmid
  signed, alive as long as the acquisition) and the secret is derived from it with qrmid's
  token key (never stored). qrmid checks the SigV4 signature (header or presigned query), then
  allows exactly: PUT ``input_<uuid>.json`` (the first upload claims that UUID for the job's
  acquisition; another acquisition's UUID is refused) and GET ``input_|results_|logs_<uuid>.json``
  of a UUID the acquisition owns. Nothing else: no listing, no delete, no other key, no other
  bucket. It forwards the request to the site's store signed with the site's key.
- ``POST v1/jobs`` is forwarded only for a UUID the acquisition owns, on its own QPU; the three
  presigned URLs the job sent are dropped and qrmid mints its own with the site's key against the
  store as the QPU service reaches it (``S3_ENDPOINT_FOR_QSAPI``, else ``S3_ENDPOINT``), for that
  job's three objects only, valid for the job's timeout. The QPU service never sees a job key and
  never needs to reach qrmid.
- Answers that would carry those presigned URLs (a job, the job list) are passed on without them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from qrmid import s3sig
from qrmid import vendor_routes as vr
from qrmid.config import Resource

if TYPE_CHECKING:
    from qrmid.proxy import CredentialExchange, JobGrant

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
GATE_PATH = re.compile(rb"/s3/([A-Za-z][A-Za-z0-9_]{0,62})/(input|results|logs)_(" + UUID.encode() + rb")\.json")
JOB_KEYS = frozenset({"id", "backend", "program_id", "log_level", "timeout_secs", "storage"})
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
MAX_TIMEOUT_S = s3sig.MAX_PRESIGN_S
PRESIGN_MARGIN_S = 3600  # results are written after the job ran its timeout at most
PRESIGNED_KEYS = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                            "X-Amz-SignedHeaders", "X-Amz-Signature", "x-id"})
SDK_QUERY = {"PUT": "PutObject", "GET": "GetObject"}


def _site_store(res: Resource, for_service: bool) -> tuple[str, str]:
    """(scheme://host[:port][/path], Host header) of the site's store; as the QPU service reaches it if asked."""
    env = res.environment
    url = (env.get("QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI") if for_service else None) or env["QRMI_IBM_QS_S3_ENDPOINT"]
    parts = urlsplit(url.rstrip("/"))
    return f"{parts.scheme}://{parts.netloc}{parts.path}", parts.netloc


def _site_keys(ex: CredentialExchange, res: Resource) -> tuple[str, str]:
    s = ex.secrets.get(res.name, {})
    return s.get("QRMI_IBM_QS_AWS_ACCESS_KEY_ID", ""), s.get("QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY", "")


def _object_path(res: Resource, base: str, key: str) -> str:
    return urlsplit(base).path + "/" + res.environment["QRMI_IBM_QS_S3_BUCKET"] + "/" + key


# ----------------------------------------------------------------------------- POST v1/jobs
def rewrite_job(ex: CredentialExchange, res: Resource, grant: JobGrant, body: bytes) -> bytes:
    """The job submission sent upstream: the job's own UUID on its own QPU, with qrmid's presigned URLs."""
    doc = vr.parse_json_object(body)
    unknown = set(doc) - JOB_KEYS
    if unknown:
        raise vr.Refused(400, f"unknown job field(s): {', '.join(sorted(unknown))[:200]}")
    job_id = doc.get("id")
    if not isinstance(job_id, str) or not re.fullmatch(UUID, job_id):
        raise vr.Refused(400, "id must be a lower-case UUID")
    if ex.store.remote_owner(res.name, job_id) != grant.acquisition_id:
        raise vr.Refused(403, "id must name input this job uploaded through qrmid's S3 gate (input_<id>.json)")
    if doc.get("backend") not in (None, res.name):
        raise vr.Refused(403, "jobs must run on this job's QPU")
    if doc.get("program_id") not in ("sampler", "estimator"):
        raise vr.Refused(400, "program_id must be sampler or estimator")
    level = doc.get("log_level", "warning")
    if level not in LOG_LEVELS:
        raise vr.Refused(400, f"log_level must be one of {', '.join(LOG_LEVELS)}")
    timeout = doc.get("timeout_secs")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_S:
        raise vr.Refused(400, f"timeout_secs must be a whole number of seconds, 1..{MAX_TIMEOUT_S}")
    if not isinstance(doc.get("storage"), dict):
        raise vr.Refused(400, "storage must be an object (qrmid replaces its presigned URLs)")
    base, host = _site_store(res, for_service=True)
    akid, secret = _site_keys(ex, res)
    region = res.environment["QRMI_IBM_QS_S3_REGION"]
    now = dt.datetime.now(dt.UTC)
    expires = min(MAX_TIMEOUT_S, timeout + PRESIGN_MARGIN_S)

    def link(method: str, kind: str) -> dict[str, str]:
        path = _object_path(res, base, f"{kind}_{job_id}.json")
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        url = s3sig.presign(method, origin, host, path, akid, secret, region, expires, now)
        return {"type": "s3_compatible", "presigned_url": url}

    out = {
        "id": job_id,
        "backend": res.name,
        "program_id": doc["program_id"],
        "log_level": level,
        "timeout_secs": timeout,
        "storage": {"input": link("GET", "input"), "results": link("PUT", "results"), "logs": link("PUT", "logs")},
    }
    return json.dumps(out, separators=(",", ":")).encode()


# ----------------------------------------------------------------------------- the S3 gate
def _query_pairs(raw: bytes) -> list[tuple[str, str]]:
    """The S3 request's query: the SDK's x-id, or a presigned URL's X-Amz-* keys, each once."""
    if not raw:
        return []
    if len(raw) > 8192:
        raise vr.Refused(414, "query string too long")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for part in raw.split(b"&"):
        key_raw, sep, value_raw = part.partition(b"=")
        if not sep:
            raise vr.Refused(400, "query parameter without a value")
        key, _ = vr._unquote(key_raw)
        value, _ = vr._unquote(value_raw)
        if key not in PRESIGNED_KEYS:
            raise vr.Refused(400, "query parameter is not accepted by qrmid's S3 gate")
        if key in seen:
            raise vr.Refused(400, f"query parameter {key} given more than once")
        seen.add(key)
        pairs.append((key, value))
    return pairs


def gate_check(
    ex: CredentialExchange, method: str, raw_path: bytes, raw_query: bytes, headers: dict[str, str], body: bytes,
) -> tuple[Resource, str, JobGrant]:
    """(resource, object key, grant) of an S3 request the job may make; or Refused. The signature is
    checked before anything about the object is said."""
    if method not in SDK_QUERY:
        raise vr.Refused(405, "qrmid's S3 gate takes GET and PUT of a job's own objects only")
    m = GATE_PATH.fullmatch(raw_path)
    if m is None:
        raise vr.Refused(403, "qrmid's S3 gate serves /s3/<qpu>/(input|results|logs)_<uuid>.json only")
    qpu, kind, job_id = (g.decode("ascii") for g in m.groups())
    res = ex.proxied(qpu)
    if res is None or res.type != vr.IBM_QS:
        raise vr.Refused(404, "no IBM Quantum System QPU by that name")
    query = _query_pairs(raw_query)
    qmap = dict(query)
    if "x-id" in qmap and qmap["x-id"] != SDK_QUERY[method]:
        raise vr.Refused(400, "x-id does not match the method")
    try:
        if "X-Amz-Signature" in qmap:
            signed = s3sig.parse_presigned(qmap)
        else:
            signed = s3sig.parse_header(headers.get("authorization", ""), headers)
    except s3sig.SignatureError as exc:
        raise vr.Refused(401, str(exc)) from None
    grant, _ = ex.check(signed.access_key_id, qpu, "job-key")
    try:
        s3sig.verify(signed, ex.tokens.derive("s3", signed.access_key_id), method, raw_path.decode("ascii"), query,
                     headers, dt.datetime.now(dt.UTC), presigned="X-Amz-Signature" in qmap)
    except s3sig.SignatureError as exc:
        raise vr.Refused(401, str(exc)) from None
    if method == "PUT":
        if kind != "input":
            raise vr.Refused(403, "a job writes only its input (input_<uuid>.json); the QPU service writes the rest")
        if signed.payload_hash == s3sig.UNSIGNED or hashlib.sha256(body).hexdigest() != signed.payload_hash:
            raise vr.Refused(400, "the body's SHA-256 must be signed (x-amz-content-sha256)")
        ex.store.add_remote_object(grant.acquisition_id, qpu, job_id, "task")  # claims an unused UUID
    if ex.store.remote_owner(qpu, job_id) != grant.acquisition_id:
        raise vr.Refused(404, "no such object in this job's acquisition")
    return res, f"{kind}_{job_id}.json", grant


def gate_request(
    ex: CredentialExchange, res: Resource, method: str, key: str, body: bytes
) -> tuple[str, dict[str, str]]:
    """(URL, headers) of the request to the site's store, signed with the site's key."""
    base, host = _site_store(res, for_service=False)
    akid, secret = _site_keys(ex, res)
    path = _object_path(res, base, key)
    headers = s3sig.sign_headers(method, host, path, [], body if method == "PUT" else None, akid, secret,
                                 res.environment["QRMI_IBM_QS_S3_REGION"], dt.datetime.now(dt.UTC))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
    return origin + path, headers


def s3_error(status: int, message: str) -> bytes:
    """S3's XML error shape, so the job's SDK reports qrmid's refusal in its own words."""
    code = {400: "InvalidRequest", 401: "AccessDenied", 403: "AccessDenied", 404: "NoSuchKey",
            405: "MethodNotAllowed", 413: "EntityTooLarge", 414: "InvalidURI"}.get(status, "InvalidRequest")
    safe = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>qrmid: {safe}</Message>'
            "</Error>").encode()

