"""Job-facing side of the credential exchange: qrmid's IAM endpoint (job key →
short-lived bearer token) and the forwarding proxy that swaps a job credential for
the site's before calling the real QPU service.

The proxy is also where a job is kept to its own acquisition: it may use its own
session, and read only the tasks/batches it created, even though every job shares
the site's one service account upstream. How a request is read, matched and
rebuilt is in vendor_routes.py: the path checked is byte for byte the path sent.

Order of work for one request: canonical path and query (no I/O) → allow-listed
route → the job credential (401 before anything else is said, except on the
public device list) → every id scoped to the acquisition → the body, bounded and
rewritten → upstream, with the site's credential only on authenticated routes.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from qrmid import credentials as creds
from qrmid import ibm_qs, job_tokens, utilisation
from qrmid import vendor_routes as vr
from qrmid.config import Config, Resource
from qrmid.store import Store

if TYPE_CHECKING:
    from qrmid.task_queue import TaskQueue

Denied = vr.Refused  # the proxy's refusals: a 4xx status and a message for the job
DEBIAN_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
UNKNOWN_QPU = "other"  # the metrics label of anything that is not a proxied QPU (as metrics.OTHER)
# the largest answer from a QPU service qrmid passes on (sampler results of big jobs are a few MB)
MAX_UPSTREAM_BYTES = 64 * 2**20


def tls_context() -> ssl.SSLContext:
    """Verify upstream with the system's CA store (where a site installs its own CA), not certifi's."""
    cafile = os.environ.get("SSL_CERT_FILE") or (DEBIAN_CA_BUNDLE if os.path.exists(DEBIAN_CA_BUNDLE) else None)
    return ssl.create_default_context(cafile=cafile)


async def read_capped(chunks: AsyncIterator[bytes], limit: int, too_big: Denied) -> bytes:
    """Join a streamed body, raising ``too_big`` as soon as it passes ``limit`` bytes (never
    holding more): request bodies from jobs and answers from the QPU service alike."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise too_big
        parts.append(chunk)
    return b"".join(parts)


# a scoped listing names at most this many of the job's newest objects upstream (each one a
# query pair: 100 UUIDs keep the request line near 4 KiB)
MAX_LISTED = 100


def empty_listing(query: Mapping[str, str]) -> bytes:
    """Pasqal's answer to a listing that matches nothing (the job created no batch yet)."""
    offset = int(query.get("offset", "0"))
    page = {"total": 0, "start": offset, "end": offset}
    return json.dumps({"status": "success", "code": 200, "message": "OK.", "data": [], "pagination": page}).encode()


@dataclass(frozen=True)
class Upstream:
    """The QPU service's answer, read whole (and bounded) before it is passed on."""

    status_code: int
    headers: httpx.Headers
    content: bytes


@dataclass(frozen=True)
class JobGrant:
    acquisition_id: str
    qpu: str
    session: str | None
    expires_at: float


@dataclass(frozen=True)
class Prepared:
    """A request qrmid has decided to forward: everything but the body."""

    resource: Resource
    match: vr.Match
    grant: JobGrant | None  # None: a public route, sent with no credential
    context: vr.Context
    local: bytes | None = None  # qrmid's own answer (a scoped listing with nothing in it, a queued task): not sent
    local_status: int = 200


class CredentialExchange:
    def __init__(self, config: Config, store: Store, secrets: dict[str, dict[str, str]],
                 tokens: job_tokens.Signer | None = None):
        self.config = config
        self.store = store
        self.secrets = secrets
        self.tokens = tokens or job_tokens.signer_for(config.job_token_key_file, config.database)
        # trust_env off: an http(s)_proxy or ~/.netrc in qrmid's environment must not
        # redirect or re-authenticate calls that carry the site credential
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(60.0, connect=10.0), verify=tls_context(), follow_redirects=False, trust_env=False
        )
        self._site_tokens: dict[str, tuple[str, float]] = {}
        self.queue: TaskQueue | None = None  # task-level sharing (task_queue.py), set by the application

    async def close(self) -> None:
        await self.client.aclose()

    def proxied(self, qpu: str) -> Resource | None:
        res = self.config.resource(qpu)
        return res if res is not None and res.type in creds.PROXY_TYPES else None

    def metric_label(self, qpu: str) -> str:
        """Only configured QPU names become metric labels: anything else is one series, not one each."""
        return qpu if self.proxied(qpu) is not None else UNKNOWN_QPU

    # --------------------------------------------------------- validation
    def check(self, credential: str, qpu: str, kind: str) -> tuple[JobGrant, job_tokens.Claims]:
        """A live job credential of this QPU and kind: the JWT verified first (signature, algorithm,
        expiry, scope; no database access), then its record (revocation, the acquisition's state)."""
        try:
            claims = self.tokens.verify(credential, qpu=qpu, kind=kind)
        except job_tokens.InvalidToken as exc:
            raise Denied(401, str(exc)) from None
        rec = self.store.credential(creds.digest(credential))
        now = time.time()
        if rec is None or rec["kind"] != kind or rec["qpu"] != qpu or rec["acquisition_id"] != claims.acquisition_id:
            raise Denied(401, "unknown credential for this QPU")
        if rec["revoked"] or rec["expires_at"] <= now:
            raise Denied(401, "credential expired: the job's QPU acquisition has ended")
        acq = self.store.get(rec["acquisition_id"])
        if acq is None or acq["state"] != "granted":
            raise Denied(401, "credential expired: the job's QPU acquisition has ended")
        hold = next((h for h in self.store.holds(acq["id"]) if h["qpu"] == qpu), None)
        return JobGrant(acq["id"], qpu, hold["qrmi_token"] if hold else None, rec["expires_at"]), claims

    # --------------------------------------------------------- IAM (IBM)
    def issue_bearer(self, qpu: str, apikey: str) -> dict[str, Any]:
        """IAM's answer: a signed JWT bearer (ibm-cloud-sdk-core reads its exp and iat) for the
        job key's acquisition, job and QPU, living job_token_ttl_s at most."""
        grant, key = self.check(apikey, qpu, "job-key")
        now = time.time()
        expires = min(now + self.config.job_token_ttl_s, grant.expires_at)
        token = self.tokens.mint(kind="bearer", acquisition_id=grant.acquisition_id, qpu=qpu, job_id=key.job_id,
                                 cluster=key.cluster, user=key.user, expires_at=expires, now=now)
        self.store.add_credential(creds.digest(token), grant.acquisition_id, qpu, "bearer", expires)
        life = max(1, int(expires - now))
        return {"access_token": token, "refresh_token": "not_supported", "token_type": "Bearer",
                "expires_in": life, "expiration": int(expires), "scope": job_tokens.SCOPE}

    async def site_ibm_token(self, res: Resource) -> str:
        cached = self._site_tokens.get(res.name)
        if cached and cached[1] > time.time() + 60:
            return cached[0]
        prefix = "QRMI_IBM_QS_" if res.type == vr.IBM_QS else "QRMI_IBM_QCS_"
        iam = res.environment[f"{prefix}IAM_ENDPOINT"].rstrip("/") + "/identity/token"
        r = await self.client.post(
            iam,
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                  "apikey": self.secrets.get(res.name, {}).get(f"{prefix}IAM_APIKEY", "")},
            headers={"Accept": "application/json"},
        )
        if r.status_code != 200:
            raise Denied(502, f"the QPU service's IAM refused qrmid's site key ({r.status_code})")
        body = r.json()
        self._site_tokens[res.name] = (body["access_token"], time.time() + float(body.get("expires_in", 600)))
        return str(body["access_token"])

    # --------------------------------------------------------- proxy
    def authenticate(self, res: Resource, authorization: str) -> JobGrant:
        scheme, _, value = authorization.partition(" ")
        credential = value.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Denied(401, "missing job credential")
        kind = "bearer" if res.type in (vr.IBM, vr.IBM_QS) else "job-key"
        return self.check(credential, res.name, kind)[0]

    def prepare(self, method: str, raw_path: bytes, raw_query: bytes, authorization: str) -> Prepared:
        """Decide whether (and what) to forward, from the raw request line (``/proxy/<qpu>/…``); or Denied."""
        head = raw_path.split(b"/", 3)
        if len(head) < 4 or head[0] or head[1] != b"proxy" or not vr.SEGMENT.fullmatch(head[2]):
            raise Denied(400, "not a proxy path in canonical form")
        res = self.proxied(head[2].decode("ascii"))
        if res is None:
            raise Denied(404, "no proxied QPU by that name")
        return self._prepare(res, method, raw_path, 2, raw_query, authorization)

    def prepare_at_root(self, method: str, raw_path: bytes, raw_query: bytes, authorization: str) -> Prepared:
        """The IQM Server API at qrmid's root (``/api/v1/…``, ``/about``), for IQM's own client: it takes
        a server's root URL only. The path names no QPU, so the job credential does: its QPU (from the
        verified token) must be an ``iqm-server`` QPU, and the request is then checked exactly as on
        ``/proxy/<qpu>`` (same allow-list, same scoping, same canonical form). Every request here needs
        the credential, ``/about`` too."""
        res = self.resource_of_token(authorization)
        return self._prepare(res, method, raw_path, 0, raw_query, authorization, credential_always=True)

    def resource_of_token(self, authorization: str) -> Resource:
        """The iqm-server QPU a job credential was minted for (signature, form and expiry checked;
        the credential's record is checked by authenticate() next); or Denied."""
        scheme, _, value = authorization.partition(" ")
        credential = value.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Denied(401, "missing job credential")
        try:
            claims = self.tokens.verified_claims(credential)
        except job_tokens.InvalidToken as exc:
            raise Denied(401, str(exc)) from None
        res = self.proxied(claims.qpu)
        if res is None or res.type != vr.IQM or claims.kind != "job-key":
            raise Denied(403, "qrmid's root serves the IQM Server API to iqm-server job tokens only; "
                              "other QPUs are reached under /proxy/<qpu>")
        return res

    def _prepare(self, res: Resource, method: str, raw_path: bytes, skip: int, raw_query: bytes,
                 authorization: str, credential_always: bool = False) -> Prepared:
        """Match the request (its path's segments after the first ``skip``) against the resource's
        allow-list, authenticate and scope it."""
        m: vr.Match | None = None
        refusal: vr.Refused | None = None
        try:
            m = vr.match(res.type, method, vr.split_path(raw_path)[skip:], vr.parse_query(raw_query))
        except vr.Refused as exc:
            refusal = exc
        if m is not None and not m.route.authenticated:
            if credential_always:
                self.authenticate(res, authorization)
            ctx = vr.Context(res.name, None)
            self._scope_query(m, ctx, None)
            return Prepared(res, vr.apply_rule(m, ctx), None, ctx)
        # every other answer needs a valid job credential first, a refusal included
        grant = self.authenticate(res, authorization)
        if m is None:
            raise refusal or Denied(403, "this path is not reachable through qrmid")
        ctx = vr.Context(res.name, grant.session, res.environment.get("QRMI_PASQAL_CLOUD_PROJECT_ID") or None)
        for name, value in m.params.items():
            self._scope(m.route.params.get(name, vr.Scope.NONE), value, name, ctx, grant)
        self._scope_query(m, ctx, grant)
        m = vr.apply_rule(m, ctx)
        if self.queue is not None and self.queue.shares(res.name):
            resolved = self._resolve_minted(Prepared(res, m, grant, ctx))
            if not isinstance(resolved, vr.Match):
                return resolved
            m = resolved
        if m.route.owned_filter is not None:
            owned = self.store.remote_ids(grant.acquisition_id, grant.qpu, "task", MAX_LISTED)
            if not owned:
                return Prepared(res, m, grant, ctx, local=empty_listing(m.query))
            m = vr.Match(m.route, m.params, m.query, tuple((m.route.owned_filter, i) for i in owned))
        return Prepared(res, m, grant, ctx)

    def _resolve_minted(self, p: Prepared) -> vr.Match | Prepared:
        """Ids qrmid minted for queued tasks (already scoped to the job): the service's ids once the
        task was dispatched, or qrmid's own answer while it is queued."""
        assert self.queue is not None
        m = p.match
        params, query = dict(m.params), dict(m.query)
        for where, scopes in ((params, m.route.params), (query, {k: q.scope for k, q in m.route.query.items()})):
            for name, value in list(where.items()):
                if scopes.get(name) is not vr.Scope.OWNED:
                    continue
                got = self.queue.resolve(p, name, value)
                if not isinstance(got, str):
                    return Prepared(p.resource, m, p.grant, p.context, local=got.content, local_status=got.status)
                where[name] = got
        return vr.Match(m.route, params, query, m.repeated)

    def grant_of(self, acquisition_id: str, qpu: str) -> JobGrant | None:
        """The grant of a live acquisition (what a job credential would give), for qrmid's own calls."""
        acq = self.store.get(acquisition_id)
        if acq is None or acq["state"] != "granted":
            return None
        hold = next((h for h in self.store.holds(acquisition_id) if h["qpu"] == qpu), None)
        return JobGrant(acquisition_id, qpu, hold["qrmi_token"] if hold else None, float(acq["deadline"] or 0))

    def prepared(self, qpu: str, method: str, path: str, query: dict[str, str], grant: JobGrant) -> Prepared:
        """A request qrmid itself sends for a job (a queued task's dispatch, a status poll)."""
        res = self.proxied(qpu)
        if res is None:
            raise Denied(404, "no proxied QPU by that name")
        m = vr.match(res.type, method, path.split("/"), query)
        ctx = vr.Context(res.name, grant.session, res.environment.get("QRMI_PASQAL_CLOUD_PROJECT_ID") or None)
        return Prepared(res, m, grant, ctx)

    def _scope_query(self, m: vr.Match, ctx: vr.Context, grant: JobGrant | None) -> None:
        for key, value in m.query.items():
            self._scope(m.route.query[key].scope, value, key, ctx, grant)

    def _scope(self, scope: vr.Scope, value: str, name: str, ctx: vr.Context, grant: JobGrant | None) -> None:
        if scope is vr.Scope.NONE:
            return
        if scope is vr.Scope.QPU:
            if value != ctx.qpu:
                raise Denied(403, f"{name}: this job may use only its own QPU, {ctx.qpu}")
            return
        if grant is None:  # a public route never names a job-owned object
            raise Denied(403, f"{name} needs a job credential")
        if scope is vr.Scope.SESSION:
            if grant.session is None or value != grant.session:
                raise Denied(403, "this job may use only its own session")
            return
        if self.store.remote_owner(grant.qpu, value) != grant.acquisition_id:
            raise Denied(404, f"no object {value} in this job's acquisition")

    def upstream_url(self, p: Prepared) -> str:
        res = p.resource
        if res.type == vr.IBM:
            base = re.sub(r"/v1/?$", "", res.environment["QRMI_IBM_QCS_ENDPOINT"].rstrip("/"))
        elif res.type == vr.IBM_QS:
            base = res.environment["QRMI_IBM_QS_ENDPOINT"].rstrip("/")
        elif res.type == vr.IQM:
            base = res.environment["QRMI_IQM_ISA_ENDPOINT"].rstrip("/")
        else:
            base = res.environment["QRMI_PASQAL_CLOUD_BASE_URL"].rstrip("/")
        path, query = p.match.upstream_path(), p.match.upstream_query()
        url = base + path + (f"?{query}" if query else "")
        # what httpx will put on the wire must be what was checked (no dot-segment or other rewriting)
        sent = httpx.URL(url).raw_path
        expected = httpx.URL(base).raw_path.rstrip(b"/") + path.encode() + (b"?" + query.encode() if query else b"")
        if sent != expected:
            raise RuntimeError(f"upstream URL changed on the way out: {sent!r} != {expected!r}")
        return url

    async def send(self, p: Prepared, headers: Mapping[str, str], body: bytes) -> Upstream:
        """Forward a prepared request with the site's credential (none on public routes)."""
        if p.match.route.body is vr.Body.IBM_QS_JOB:
            assert p.grant is not None
            content: bytes | None = ibm_qs.rewrite_job(self, p.resource, p.grant, body)
        else:
            content = vr.rewrite_body(p.match.route.body, body, p.context)
        if p.local is not None:
            return Upstream(p.local_status, httpx.Headers({"content-type": "application/json"}), p.local)
        if self.queue is not None and self.queue.queues(p):
            return await self.queue.submit(p, content)
        return await self.forward(p, headers, content)

    async def forward(self, p: Prepared, headers: Mapping[str, str], content: bytes | None) -> Upstream:
        """Send a prepared request (its body rewritten already) upstream and read the answer."""
        fwd = vr.forward_headers(headers)
        fwd["User-Agent"] = "qrmid"
        if content is not None:
            fwd["Content-Type"] = "application/json"
        res = p.resource
        if p.grant is not None:
            if res.type in (vr.IBM, vr.IBM_QS):
                fwd["Authorization"] = f"Bearer {await self.site_ibm_token(res)}"
                prefix = "QRMI_IBM_QS_" if res.type == vr.IBM_QS else "QRMI_IBM_QCS_"
                crn = res.environment.get(f"{prefix}SERVICE_CRN")
                if crn:
                    fwd["Service-CRN"] = crn  # the site's instance, whatever the job names
            elif res.type == vr.IQM:
                token = self.secrets.get(res.name, {}).get("QRMI_IQM_ISA_TOKEN", "")
                if token:  # an IQM Server without tokens gets none (never the job's)
                    fwd["Authorization"] = f"Bearer {token}"
            else:
                token = self.secrets.get(res.name, {}).get("QRMI_PASQAL_CLOUD_AUTH_TOKEN", "")
                fwd["Authorization"] = f"Bearer {token}"
        request = self.client.build_request(p.match.route.method, self.upstream_url(p), headers=fwd, content=content)
        streamed = await self.client.send(request, stream=True)
        try:
            resp = Upstream(streamed.status_code, streamed.headers, await self._read_bounded(streamed))
        finally:
            await streamed.aclose()
        if resp.status_code < 300 and p.grant is not None and p.match.route.records is not vr.Records.NOTHING:
            self._record_created(p, resp)
        if resp.status_code < 300 and p.grant is not None and p.match.route.name in utilisation.TASK_ROUTES:
            self._record_ended(p, resp)
            if self.queue is not None and self.queue.shares(p.grant.qpu):
                self.queue.seen(p.match.route.name, p.grant.qpu, resp.content)
        if resp.status_code == 200 and p.match.route.answer is not vr.Answer.AS_IS:
            resp = Upstream(200, resp.headers, vr.filter_answer(p.match.route.answer, resp.content, p.context))
        return resp

    async def s3_gate(self, method: str, raw_path: bytes, raw_query: bytes, headers: dict[str, str],
                      body: bytes) -> Upstream:
        """A job's S3 request for one of its own objects, forwarded to the site's store (ibm_qs.py)."""
        res, key, _ = ibm_qs.gate_check(self, method, raw_path, raw_query, headers, body)
        url, fwd = ibm_qs.gate_request(self, res, method, key, body)
        fwd["User-Agent"] = "qrmid"
        request = self.client.build_request(method, url, headers=fwd, content=body if method == "PUT" else None)
        streamed = await self.client.send(request, stream=True)
        try:
            return Upstream(streamed.status_code, streamed.headers, await self._read_bounded(streamed))
        finally:
            await streamed.aclose()

    @staticmethod
    async def _read_bounded(resp: httpx.Response) -> bytes:
        """The service's answer, never more than MAX_UPSTREAM_BYTES: a huge or endless
        answer costs one refused call, not qrmid's memory."""
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_UPSTREAM_BYTES:
            raise Denied(502, f"the QPU service's answer ({declared} bytes) exceeds qrmid's bound "
                              f"({MAX_UPSTREAM_BYTES // 2**20} MiB)")
        too_big = Denied(502, f"the QPU service's answer exceeds qrmid's bound ({MAX_UPSTREAM_BYTES // 2**20} MiB)")
        return await read_capped(resp.aiter_bytes(), MAX_UPSTREAM_BYTES, too_big)

    def _record_ended(self, p: Prepared, resp: Upstream) -> None:
        """A task of the job has ended: its QPU time is accounted (once) and counted in the metrics."""
        assert p.grant is not None
        try:
            ended = utilisation.ended_task(p.match.route.name, json.loads(resp.content))
        except ValueError:
            return
        if ended is not None:
            self.store.record_task_end(p.grant.acquisition_id, p.grant.qpu, ended[0], ended[1])

    def _record_created(self, p: Prepared, resp: Upstream) -> None:
        assert p.grant is not None
        try:
            doc = json.loads(resp.content)
        except ValueError:
            return
        for remote_id, kind in vr.created_ids(p.match.route.records, p.match.route.method, doc):
            self.store.add_remote_object(p.grant.acquisition_id, p.grant.qpu, remote_id, kind)
