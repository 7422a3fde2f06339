"""What qrmid's proxy forwards, and in which one canonical form.

The proxy never forwards the path or query string it received. It reads the raw
bytes of both (still percent-encoded, exactly as the client sent them), refuses
anything that two parsers could read differently, matches what is left against
an allow-list of (method, path template) per vendor API, and builds the upstream
request from the matched template, the validated ids and the re-encoded query.
What qrmid checks is then byte for byte what it sends.

Canonical form, by construction:

- a path segment is 1..128 characters of ``[A-Za-z0-9_-]``. Nothing qrmid forwards
  needs more, so every percent-encoding (``%2e``, ``%2f``, ``%5c``, ``%252e`` …), every
  dot segment (``.``, ``..``), backslash, empty segment (``//``, a trailing ``/``),
  non-ASCII byte and control character is refused with 400 before anything else;
- a query is ``key=value`` pairs joined by ``&``: each key at most once (compared after
  percent-decoding, so ``session%5Fid`` is ``session_id``), no needless encodings
  (``%5F`` for ``_``), only the keys the template lists, each value matching its
  pattern; upstream gets the pairs re-encoded by qrmid;
- every id in a template names what it is (the job's QPU, its session, an object it
  created) and the proxy scopes each one to the job's acquisition (see proxy.py);
- JSON bodies are bounded, must be an object, may not hold NaN/Infinity, and are
  re-serialised by qrmid after the fields that bind them to the job are forced.

The routes are those the ``qrmi`` client (0.26) and the vendor SDKs call, as the
project's emulator serves them (services/qpu-emulator: api_ibm.py, api_pasqal.py,
api_iqm.py).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

IBM = "ibm-quantum-compute-service"
IBM_QS = "ibm-quantum-system"
PASQAL = "pasqal-cloud"
IQM = "iqm-server"

MAX_PATH_BYTES = 2048
MAX_QUERY_BYTES = 2048
MAX_BODY_BYTES = 4 * 1024 * 1024  # a job's request body; bigger ones get 413 before they are read
MAX_JSON_DEPTH = 64

SEGMENT = re.compile(rb"[A-Za-z0-9_-]{1,128}")
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")  # upstream task/batch/job/session ids
QUERY_BYTES = re.compile(rb"[A-Za-z0-9._~%=&:-]*")
KEY = re.compile(r"[a-z][a-z_]{0,63}")
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
HEX = frozenset(b"0123456789abcdefABCDEF")


class Refused(Exception):
    """A request qrmid will not forward; ``status`` is the 4xx it answers."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Scope(Enum):
    """What an id in a path or a query value names, hence whose it must be."""

    NONE = "none"  # no job-owned object (a pattern check only)
    QPU = "qpu"  # the job's own QPU (backend / device name)
    SESSION = "session"  # the job's own session (its acquisition token upstream)
    OWNED = "owned"  # an object (task, batch, job) created through the proxy by this acquisition


class Body(Enum):
    NONE = "none"  # nothing is forwarded (a body sent anyway is bounded, then dropped)
    IBM_JOB = "ibm-job"
    IBM_SESSION_UPDATE = "ibm-session-update"
    PASQAL_BATCH = "pasqal-batch"
    PASQAL_JOBS = "pasqal-jobs"  # jobs added to an open batch: a JSON array of {runs, variables}
    IBM_QS_JOB = "ibm-qs-job"  # rewritten by ibm_qs.rewrite_job (the site's presigned URLs go in)
    IQM_JOB = "iqm-job"  # a circuit job (RunRequest): a JSON object, re-serialised


class Records(Enum):
    NOTHING = "nothing"
    IBM_JOB = "ibm-job"  # POST v1/jobs created a task: remember its id
    PASQAL_BATCH = "pasqal-batch"  # a batch response: its id when created, its jobs' ids as parts
    PASQAL_PARTS = "pasqal-parts"  # a batch response after jobs were added: its jobs' ids as parts
    IQM_JOB = "iqm-job"  # POST api/v1/jobs/{qc}/circuit created a job: remember its id


class Answer(Enum):
    """What qrmid does to a successful upstream answer before the job sees it."""

    AS_IS = "as-is"
    PASQAL_OWN_SPECS = "pasqal-own-specs"  # {"data": {device: specs}}: the job's own device only
    IBM_LIMIT_ONLY = "ibm-limit-only"  # the site instance's usage: whether its limit is reached, no figures
    QS_JOB = "qs-job"  # an IBM Quantum System job without its storage (the site's presigned URLs)
    QS_JOBS = "qs-jobs"  # the QPU's jobs: id, state and times only, no storage, other QPUs' jobs left out
    IQM_OWN_QC = "iqm-own-qc"  # {"quantum_computers": [...]}: the job's own quantum computer only


@dataclass(frozen=True)
class Param:
    pattern: re.Pattern[str]
    scope: Scope = Scope.NONE


@dataclass(frozen=True)
class Context:
    """What binds a request to the job: its QPU, session and the site's project."""

    qpu: str
    session: str | None
    project_id: str | None = None


QueryRule = Callable[[dict[str, str], Context], dict[str, str]]


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    template: tuple[str, ...]  # literal segments and "{param}" placeholders
    params: Mapping[str, Scope] = field(default_factory=dict)
    query: Mapping[str, Param] = field(default_factory=dict)
    rule: QueryRule | None = None
    body: Body = Body.NONE
    authenticated: bool = True  # False: public data, forwarded with no credential at all
    records: Records = Records.NOTHING
    answer: Answer = Answer.AS_IS
    # a listing qrmid scopes itself: this query key, repeated, names the objects the job created
    owned_filter: str | None = None


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]
    query: dict[str, str]
    # qrmid's own repeated query values (the owned_filter's ids), after the job's query
    repeated: tuple[tuple[str, str], ...] = ()

    def upstream_path(self) -> str:
        """The path sent upstream: the template with validated ids (no encoding is ever needed)."""
        segs = [self.params[s[1:-1]] if s.startswith("{") else s for s in self.route.template]
        return "/" + "/".join(segs)

    def upstream_query(self) -> str:
        pairs = [*self.query.items(), *self.repeated]
        return "&".join(f"{k}={quote(v, safe='')}" for k, v in pairs)


# ----------------------------------------------------------------------------- parsing
def split_path(raw: bytes) -> list[str]:
    """The segments of a raw (still percent-encoded) path, or Refused(400)."""
    if len(raw) > MAX_PATH_BYTES:
        raise Refused(414, "path too long")
    if not raw.startswith(b"/"):
        raise Refused(400, "the path must start with /")
    out: list[str] = []
    for seg in raw[1:].split(b"/"):
        if not seg:
            raise Refused(400, "empty path segment (// or a trailing /)")
        if b"%" in seg:
            raise Refused(400, "percent-encoded path segment: no path qrmid forwards needs one")
        if b"\\" in seg:
            raise Refused(400, "backslash in the path")
        if seg.strip(b".") == b"":
            raise Refused(400, "dot segment in the path")
        if not SEGMENT.fullmatch(seg):
            raise Refused(400, "path segment outside [A-Za-z0-9_-]")
        out.append(seg.decode("ascii"))
    return out


def _unquote(raw: bytes) -> tuple[str, bool]:
    """Strict percent-decoding: (text, whether an encoding was needless). Refused on a bad
    escape, a non-ASCII or control byte."""
    out = bytearray()
    needless = False
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # %
            if i + 2 >= len(raw):
                raise Refused(400, "truncated percent-encoding in the query")
            hi, lo = raw[i + 1], raw[i + 2]
            if hi not in HEX or lo not in HEX:
                raise Refused(400, "invalid percent-encoding in the query")
            c = int(raw[i + 1 : i + 3], 16)
            needless = needless or c in UNRESERVED
            i += 3
        else:
            i += 1
        if c < 0x21 or c > 0x7E:
            raise Refused(400, "control, space or non-ASCII character in the query")
        out.append(c)
    return out.decode("ascii"), needless


def parse_query(raw: bytes) -> dict[str, str]:
    """The query as upstream reads it (one value per key), or Refused(400)."""
    if not raw:
        return {}
    if len(raw) > MAX_QUERY_BYTES:
        raise Refused(414, "query string too long")
    if not QUERY_BYTES.fullmatch(raw):
        raise Refused(400, "query string with characters outside [A-Za-z0-9._~%=&:-] (encode them, no '+' or ';')")
    out: dict[str, str] = {}
    for part in raw.split(b"&"):
        if not part:
            raise Refused(400, "empty query parameter (&& or a trailing &)")
        key_raw, sep, value_raw = part.partition(b"=")
        if not sep:
            raise Refused(400, "query parameter without a value")
        key, key_needless = _unquote(key_raw)
        value, value_needless = _unquote(value_raw)
        if key in out:
            raise Refused(400, f"query parameter {key} given more than once")
        if key_needless or value_needless or key_raw != key.encode():
            raise Refused(400, f"needless percent-encoding in query parameter {key}")
        if not KEY.fullmatch(key):
            raise Refused(400, "query parameter name outside [a-z_]")
        out[key] = value
    return out


# ----------------------------------------------------------------------------- values
BOOL = re.compile(r"true|false")
PY_BOOL = re.compile(r"true|false|True|False")
COUNT = re.compile(r"[0-9]{1,6}")
WORD = re.compile(r"[A-Za-z0-9_-]{1,64}")
SORT = re.compile(r"ASC|DESC")
DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
PAGE = {"limit": Param(COUNT), "offset": Param(COUNT)}


def _ibm_job_list(query: dict[str, str], ctx: Context) -> dict[str, str]:
    """List jobs: of the job's own session, or the QPU's queue without anyone's inputs (what
    qrmi's status() asks for: it sees those jobs' ids, states and times, never their params)."""
    if "session_id" in query:
        return query  # the value is scoped to the job's session already
    if query.get("backend") == ctx.qpu and query.get("exclude_params") == "true":
        return query
    raise Refused(403, "list jobs with session_id=<this job's session>, or backend=<QPU>&exclude_params=true")


def _ibm_limit(query: dict[str, str], ctx: Context) -> dict[str, str]:
    if "limit" in query and not 1 <= int(query["limit"]) <= 200:
        raise Refused(400, "limit must be 1..200")
    return query


def _both(*rules: QueryRule) -> QueryRule:
    def rule(query: dict[str, str], ctx: Context) -> dict[str, str]:
        for r in rules:
            query = r(query, ctx)
        return query

    return rule


def _pasqal_job_list(query: dict[str, str], ctx: Context) -> dict[str, str]:
    if "batch_id" not in query:
        raise Refused(403, "list jobs with batch_id=<a batch this job created>")
    if "limit" in query and not 1 <= int(query["limit"]) <= 1000:
        raise Refused(400, "limit must be 1..1000")
    return query


def _pasqal_batch_list(query: dict[str, str], ctx: Context) -> dict[str, str]:
    if "limit" in query and not 1 <= int(query["limit"]) <= 100:
        raise Refused(400, "limit must be 1..100")
    return query


def _t(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


OWN, QPU, SESSION = Scope.OWNED, Scope.QPU, Scope.SESSION
IBM_ROUTES: tuple[Route, ...] = (
    # qiskit-ibm-runtime asks with include_mocks=True|False (Python's spelling)
    Route("backends", "GET", _t("v1/backends"), query={"include_mocks": Param(PY_BOOL)}),
    Route("backend.status", "GET", _t("v1/backends/{backend}/status"), {"backend": QPU}),
    Route("backend.configuration", "GET", _t("v1/backends/{backend}/configuration"), {"backend": QPU}),
    Route("backend.properties", "GET", _t("v1/backends/{backend}/properties"), {"backend": QPU},
          {"updated_before": Param(DATE), "calibration_id": Param(WORD)}),
    Route("session", "GET", _t("v1/sessions/{session}"), {"session": SESSION}),
    Route("session.update", "PATCH", _t("v1/sessions/{session}"), {"session": SESSION}, body=Body.IBM_SESSION_UPDATE),
    Route("session.close", "DELETE", _t("v1/sessions/{session}/close"), {"session": SESSION}),
    Route("jobs", "GET", _t("v1/jobs"), query={
        **PAGE, "pending": Param(BOOL), "program": Param(WORD), "backend": Param(WORD, QPU),
        "session_id": Param(ID, SESSION), "exclude_params": Param(BOOL), "sort": Param(SORT),
        "created_after": Param(DATE), "created_before": Param(DATE),
    }, rule=_both(_ibm_limit, _ibm_job_list)),
    Route("job.create", "POST", _t("v1/jobs"), body=Body.IBM_JOB, records=Records.IBM_JOB),
    Route("job", "GET", _t("v1/jobs/{task}"), {"task": OWN}, {"exclude_params": Param(BOOL)}),
    Route("job.results", "GET", _t("v1/jobs/{task}/results"), {"task": OWN}),
    Route("job.logs", "GET", _t("v1/jobs/{task}/logs"), {"task": OWN}),
    Route("job.cancel", "POST", _t("v1/jobs/{task}/cancel"), {"task": OWN}),
    # qiskit-ibm-runtime checks the instance before each job: the job learns whether the site's
    # instance is out of time, not how much the site's other jobs consumed
    Route("instance.usage", "GET", _t("v1/instances/usage"), answer=Answer.IBM_LIMIT_ONLY),
    # job.metrics(), job.usage(), job.properties() of qiskit-ibm-runtime
    Route("job.metrics", "GET", _t("v1/jobs/{task}/metrics"), {"task": OWN}),
    Route("job.delete", "DELETE", _t("v1/jobs/{task}"), {"task": OWN}),
)

PASQAL_ROUTES: tuple[Route, ...] = (
    # public data, as upstream serves it: no credential is needed and none is attached
    Route("devices", "GET", _t("core-fast/api/v1/devices"), query={"device_type": Param(WORD, QPU)},
          authenticated=False),
    Route("devices.public-specs", "GET", _t("core-fast/api/v1/devices/public-specs"), authenticated=False),
    # qrmi's target() sends the job token here: the site's token is attached for the job's own device only
    Route("device.specs", "GET", _t("core-fast/api/v1/devices/specs/{device}"), {"device": QPU}),
    # pasqal-cloud's get_device_specs_dict(), Pulser's fetch_available_devices(): the job's device only
    Route("devices.specs", "GET", _t("core-fast/api/v1/devices/specs"), answer=Answer.PASQAL_OWN_SPECS),
    # get_batches(): qrmid names the batches (those this acquisition created) with repeated id=
    Route("batches", "GET", _t("core-fast/api/v1/batches"), query={
        **PAGE, "device_type": Param(WORD, QPU), "status": Param(WORD), "open": Param(BOOL),
    }, rule=_pasqal_batch_list, owned_filter="id"),
    Route("batch.create", "POST", _t("core-fast/api/v1/batches"), body=Body.PASQAL_BATCH, records=Records.PASQAL_BATCH),
    Route("batch.v1", "GET", _t("core-fast/api/v1/batches/{batch}"), {"batch": OWN}, records=Records.PASQAL_BATCH),
    Route("batch.v2", "GET", _t("core-fast/api/v2/batches/{batch}"), {"batch": OWN}, records=Records.PASQAL_BATCH),
    Route("batch.status", "GET", _t("core-fast/api/v1/batches/{batch}/status"), {"batch": OWN}),
    Route("batch.results", "GET", _t("core-fast/api/v1/batches/{batch}/full_results"), {"batch": OWN}),
    Route("batch.cancel.v1", "PUT", _t("core-fast/api/v1/batches/{batch}/cancel"), {"batch": OWN}),
    Route("batch.cancel.v2", "PATCH", _t("core-fast/api/v2/batches/{batch}/cancel"), {"batch": OWN}),
    # open batches (Pulser's QPUBackend.open_batch()): add jobs, then close
    Route("batch.jobs.add", "POST", _t("core-fast/api/v2/batches/{batch}/jobs"), {"batch": OWN},
          body=Body.PASQAL_JOBS, records=Records.PASQAL_PARTS),
    Route("batch.complete", "PATCH", _t("core-fast/api/v2/batches/{batch}/complete"), {"batch": OWN},
          records=Records.PASQAL_PARTS),
    Route("jobs.v2", "GET", _t("core-fast/api/v2/jobs"), query={
        **PAGE, "batch_id": Param(ID, OWN), "order_by": Param(WORD), "order_by_direction": Param(SORT),
    }, rule=_pasqal_job_list),
    Route("job.v1", "GET", _t("core-fast/api/v1/jobs/{job}"), {"job": OWN}),
    Route("job.v2", "GET", _t("core-fast/api/v2/jobs/{job}"), {"job": OWN}),
    Route("job.status", "GET", _t("core-fast/api/v1/jobs/{job}/status"), {"job": OWN}),
    Route("job.results_link", "GET", _t("core-fast/api/v1/jobs/{job}/results_link"), {"job": OWN}),
    Route("job.cancel.v1", "PUT", _t("core-fast/api/v1/jobs/{job}/cancel"), {"job": OWN}),
    Route("job.cancel.v2", "PATCH", _t("core-fast/api/v2/jobs/{job}/cancel"), {"job": OWN}),
)

# IBM Quantum System (on-prem), as qrmi's ibm-quantum-system resource calls it. A job's id is a UUID the
# client chooses; it becomes the job's when the job uploads its input through qrmid's S3 gate (ibm_qs.py).
IBM_QS_ROUTES: tuple[Route, ...] = (
    Route("qs.backends", "GET", _t("v1/backends")),
    Route("qs.backend", "GET", _t("v1/backends/{backend}"), {"backend": QPU}),
    Route("qs.backend.lanes", "GET", _t("v1/backends/{backend}/lanes"), {"backend": QPU}),
    Route("qs.backend.configuration", "GET", _t("v1/backends/{backend}/configuration"), {"backend": QPU}),
    Route("qs.backend.properties", "GET", _t("v1/backends/{backend}/properties"), {"backend": QPU}),
    Route("qs.jobs", "GET", _t("v1/jobs"), answer=Answer.QS_JOBS),
    Route("qs.job.create", "POST", _t("v1/jobs"), body=Body.IBM_QS_JOB),
    Route("qs.job", "GET", _t("v1/jobs/{task}"), {"task": OWN}, answer=Answer.QS_JOB),
    Route("qs.job.cancel", "POST", _t("v1/jobs/{task}/cancel"), {"task": OWN}),
    Route("qs.job.delete", "DELETE", _t("v1/jobs/{task}"), {"task": OWN}),
)

def _iqm_wait(query: dict[str, str], ctx: Context) -> dict[str, str]:
    """A long poll on a job's status holds one of qrmid's connections: at most a minute."""
    if "timeout_seconds" in query and not 1 <= int(query["timeout_seconds"]) <= 60:
        raise Refused(400, "timeout_seconds must be 1..60")
    return query


# IQM Server API v1 as iqm-client (35) and qrmi's iqm-server resource call it: {qc} is the quantum
# computer's alias (the QPU's name), {calibration_set} a calibration set id (a UUID, or "default")
IQM_ROUTES: tuple[Route, ...] = (
    Route("iqm.about", "GET", _t("about"), authenticated=False),
    Route("iqm.qcs", "GET", _t("api/v1/quantum-computers"), answer=Answer.IQM_OWN_QC),
    Route("iqm.qc", "GET", _t("api/v1/quantum-computers/{qc}"), {"qc": QPU}),
    Route("iqm.qc.health", "GET", _t("api/v1/quantum-computers/{qc}/health"), {"qc": QPU}),
    Route("iqm.qc.static", "GET", _t("api/v1/quantum-computers/{qc}/artifacts/static-quantum-architectures"),
          {"qc": QPU}),
    Route("iqm.calset", "GET", _t("api/v1/calibration-sets/{qc}/{calibration_set}"), {"qc": QPU}),
    Route("iqm.calset.dynamic", "GET",
          _t("api/v1/calibration-sets/{qc}/{calibration_set}/dynamic-quantum-architecture"), {"qc": QPU}),
    Route("iqm.calset.metrics", "GET", _t("api/v1/calibration-sets/{qc}/{calibration_set}/metrics"), {"qc": QPU}),
    Route("iqm.job.create", "POST", _t("api/v1/jobs/{qc}/circuit"), {"qc": QPU},
          {"use_timeslot": Param(BOOL), "tag": Param(WORD)}, body=Body.IQM_JOB, records=Records.IQM_JOB),
    Route("iqm.job", "GET", _t("api/v1/jobs/{task}"), {"task": OWN},
          {"wait_until_terminal": Param(BOOL), "timeout_seconds": Param(COUNT)}, rule=_iqm_wait),
    Route("iqm.job.measurements", "GET", _t("api/v1/jobs/{task}/artifacts/measurements"), {"task": OWN}),
    Route("iqm.job.counts", "GET", _t("api/v1/jobs/{task}/artifacts/measurement_counts"), {"task": OWN}),
    Route("iqm.job.cancel", "POST", _t("api/v1/jobs/{task}/cancel"), {"task": OWN}),
)

ROUTES: dict[str, tuple[Route, ...]] = {IBM: IBM_ROUTES, PASQAL: PASQAL_ROUTES, IBM_QS: IBM_QS_ROUTES,
                                        IQM: IQM_ROUTES}


def match(api: str, method: str, segments: list[str], query: dict[str, str]) -> Match:
    """The allow-listed route for (method, segments), its ids (pattern-checked, not yet
    scoped) and its query (keys allow-listed, values pattern-checked); or Refused."""
    method_mismatch = False
    for route in ROUTES.get(api, ()):
        params = _bind(route.template, segments)
        if params is None:
            continue
        if route.method != method:
            method_mismatch = True
            continue
        for name, value in params.items():
            if not ID.fullmatch(value):
                raise Refused(400, f"malformed {name} id")
        for key, value in query.items():
            spec = route.query.get(key)
            if spec is None:
                raise Refused(400, f"query parameter {key} is not accepted here")
            if not spec.pattern.fullmatch(value):
                raise Refused(400, f"malformed value for query parameter {key}")
        return Match(route, params, dict(query))
    if method_mismatch:
        raise Refused(405, f"{method} is not allowed on this path through qrmid")
    raise Refused(403, "this path is not reachable through qrmid")


def _bind(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(template) != len(segments):
        return None
    params: dict[str, str] = {}
    for t, s in zip(template, segments, strict=True):
        if t.startswith("{"):
            params[t[1:-1]] = s
        elif t != s:
            return None
    return params


def apply_rule(m: Match, ctx: Context) -> Match:
    if m.route.rule is None:
        return m
    return Match(m.route, m.params, m.route.rule(dict(m.query), ctx), m.repeated)


# ----------------------------------------------------------------------------- bodies
def _no_constants(name: str) -> Any:
    raise Refused(400, f"{name} is not a number qrmid forwards")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused(400, f"{text[:20]} is not a finite number")
    return value


def parse_json(body: bytes, empty: bytes = b"{}") -> Any:
    """Strict JSON of a bounded body: no NaN/Infinity, not nested past MAX_JSON_DEPTH."""
    if len(body) > MAX_BODY_BYTES:
        raise Refused(413, f"request body larger than {MAX_BODY_BYTES} bytes")
    try:
        doc = json.loads(body or empty, parse_constant=_no_constants, parse_float=_finite)
    except Refused:
        raise
    except (ValueError, RecursionError):
        raise Refused(400, "the request body is not valid JSON") from None
    if _too_deep(doc):
        raise Refused(400, "the request body is nested too deeply")
    return doc


def parse_json_object(body: bytes) -> dict[str, Any]:
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise Refused(400, "the request body must be a JSON object")
    return doc


def inflate(body: bytes, encoding: str | None) -> bytes:
    """A request body without its Content-Encoding (pasqal-cloud gzips batches and added jobs),
    inflated incrementally and refused (413) as soon as it passes MAX_BODY_BYTES: a small
    compressed body cannot make qrmid hold a big one."""
    enc = (encoding or "identity").strip().lower()
    if enc == "identity":
        return body
    if enc not in ("gzip", "x-gzip", "deflate"):
        raise Refused(415, f"Content-Encoding {enc[:40]!r} is not accepted (gzip, deflate)")
    wbits = 16 + zlib.MAX_WBITS if enc != "deflate" else zlib.MAX_WBITS
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(body, MAX_BODY_BYTES + 1)
        if len(out) > MAX_BODY_BYTES or d.unconsumed_tail:
            raise Refused(413, f"request body larger than {MAX_BODY_BYTES} bytes once inflated")
        out += d.flush()
    except zlib.error:
        raise Refused(400, f"the request body is not valid {enc}") from None
    if len(out) > MAX_BODY_BYTES:
        raise Refused(413, f"request body larger than {MAX_BODY_BYTES} bytes once inflated")
    if not d.eof or d.unused_data:
        raise Refused(400, f"the request body is not one complete {enc} stream")
    return out


def _too_deep(doc: Any) -> bool:
    level, depth = [doc], 0
    while True:
        containers = [v for v in level if isinstance(v, dict | list)]
        if not containers:
            return False
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return True
        level = [x for c in containers for x in (c.values() if isinstance(c, dict) else c)]


def _dump_any(doc: Any) -> bytes:
    try:
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        raise Refused(400, "the request body cannot be forwarded as strict JSON") from None


def _dump(doc: dict[str, Any]) -> bytes:
    try:
        return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        raise Refused(400, "the request body cannot be forwarded as strict JSON") from None


def _force(doc: dict[str, Any], key: str, value: str | None, what: str) -> None:
    if doc.get(key) not in (None, value):
        raise Refused(403, f"{what}")
    if value is None:
        doc.pop(key, None)
    else:
        doc[key] = value


def rewrite_body(kind: Body, body: bytes, ctx: Context) -> bytes | None:
    """The body sent upstream (None: no body), bound to the job; or Refused."""
    if kind is Body.NONE:
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, f"request body larger than {MAX_BODY_BYTES} bytes")
        return None
    if kind is Body.PASQAL_JOBS:
        jobs = parse_json(body, b"[]")
        if not isinstance(jobs, list) or not jobs or len(jobs) > 100 or not all(isinstance(j, dict) for j in jobs):
            raise Refused(400, "jobs to add are a JSON array of 1..100 objects")
        return _dump_any(jobs)
    if kind is Body.IBM_QS_JOB:
        raise RuntimeError("an IBM Quantum System job body is rewritten by ibm_qs.rewrite_job")
    doc = parse_json_object(body)
    if kind is Body.IQM_JOB:
        # the quantum computer is the path's (scoped to the job's QPU); the body names no other object
        if not isinstance(doc.get("circuits"), list):
            raise Refused(400, "a circuit job is a RunRequest object with a circuits list")
        return _dump(doc)
    if kind is Body.IBM_JOB:
        if ctx.session is None:
            raise Refused(409, "this job holds no session on the QPU")
        _force(doc, "session_id", ctx.session, "tasks must run in this job's session")
        _force(doc, "backend", ctx.qpu, "tasks must run on this job's QPU")
        if doc.get("backend_name") not in (None, ctx.qpu):
            raise Refused(403, "tasks must run on this job's QPU")
        if "remote_storage" in doc:
            raise Refused(403, "remote_storage is not available through qrmid (the site's credential would reach it)")
        return _dump(doc)
    if kind is Body.IBM_SESSION_UPDATE:
        if set(doc) != {"accepting_jobs"} or not isinstance(doc["accepting_jobs"], bool):
            raise Refused(400, 'a session update is {"accepting_jobs": true|false}')
        return _dump(doc)
    # Body.PASQAL_BATCH
    _force(doc, "device_type", ctx.qpu, "batches must run on this job's QPU")
    if ctx.project_id:
        _force(doc, "project_id", ctx.project_id, "batches belong to the site's project")
    return _dump(doc)


# ----------------------------------------------------------------------------- headers
FORWARD_HEADERS: dict[str, re.Pattern[str]] = {
    "accept": re.compile(r"[A-Za-z0-9*/+.;=, -]{1,200}"),
    "ibm-api-version": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
}


def forward_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The client's headers qrmid passes on: an allow-list, each value pattern-checked."""
    out: dict[str, str] = {}
    for name, pattern in FORWARD_HEADERS.items():
        value = headers.get(name)
        if value is not None and pattern.fullmatch(value):
            out[name] = value
    return out


def created_ids(records: Records, method: str, doc: Any) -> list[tuple[str, str]]:
    """(id, kind) of the objects a successful upstream answer names as this job's."""
    found: list[tuple[str, str]] = []
    if not isinstance(doc, dict):
        return found
    if records in (Records.IBM_JOB, Records.IQM_JOB):
        if isinstance(doc.get("id"), str):
            found.append((doc["id"], "task"))
    elif records in (Records.PASQAL_BATCH, Records.PASQAL_PARTS):
        data = doc.get("data")
        if not isinstance(data, dict):
            return found
        if records is Records.PASQAL_BATCH and method == "POST" and isinstance(data.get("id"), str):
            found.append((data["id"], "task"))
        jobs, ids = data.get("jobs"), data.get("job_ids")
        named = [j.get("id") for j in jobs if isinstance(j, dict)] if isinstance(jobs, list) else []
        for j in [*(ids if isinstance(ids, list) else []), *named]:
            if isinstance(j, str):
                found.append((j, "part"))
    return [(i, k) for i, k in found if ID.fullmatch(i)]


QS_JOB_FIELDS = ("id", "backend", "program_id", "status", "created_time", "end_time", "log_level", "timeout_secs",
                 "usage", "reason_code", "reason_message", "reason_solution")
QS_LISTED_FIELDS = ("id", "backend", "program_id", "status", "created_time", "end_time")


def _qs_redacted(answer: Answer, doc: Any, ctx: Context) -> bytes:
    """A QS job (or the QPU's job list) without the presigned URLs qrmid minted with the site's key."""
    if answer is Answer.QS_JOB:
        if not isinstance(doc, dict):
            raise Refused(502, "the QPU service's job is not a JSON object")
        out: Any = {k: doc[k] for k in QS_JOB_FIELDS if k in doc}
        out["storage"] = {}
    else:
        jobs = doc.get("jobs") if isinstance(doc, dict) else None
        if not isinstance(jobs, list):
            raise Refused(502, "the QPU service's job list is not {jobs: [...]}")
        out = {"jobs": [{**{k: j[k] for k in QS_LISTED_FIELDS if k in j}, "storage": {}}
                        for j in jobs if isinstance(j, dict) and j.get("backend") == ctx.qpu]}
    return json.dumps(out, separators=(",", ":")).encode()


def filter_answer(answer: Answer, content: bytes, ctx: Context) -> bytes:
    """A successful upstream answer as the job may see it."""
    if answer is Answer.AS_IS:
        return content
    try:
        doc = json.loads(content)
    except ValueError:
        raise Refused(502, "the QPU service's answer is not JSON") from None
    if answer in (Answer.QS_JOB, Answer.QS_JOBS):
        return _qs_redacted(answer, doc, ctx)
    if answer is Answer.IQM_OWN_QC:
        qcs = doc.get("quantum_computers") if isinstance(doc, dict) else None
        if not isinstance(qcs, list):
            raise Refused(502, "the QPU service's quantum computers are not {quantum_computers: [...]}")
        own = [q for q in qcs if isinstance(q, dict) and q.get("alias") == ctx.qpu]
        return json.dumps({**doc, "quantum_computers": own}, separators=(",", ":")).encode()
    if answer is Answer.IBM_LIMIT_ONLY:
        reached = isinstance(doc, dict) and doc.get("usage_limit_reached") is True
        return json.dumps({"usage_limit_reached": reached}, separators=(",", ":")).encode()
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise Refused(502, "the QPU service's device specs are not {data: {device: specs}}")
    doc["data"] = {k: v for k, v in data.items() if k == ctx.qpu}
    return json.dumps(doc, separators=(",", ":")).encode()
