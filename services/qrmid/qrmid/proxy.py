"""Job-facing side of the credential exchange: qrmid's IAM endpoint (job key →
short-lived bearer token) and the forwarding proxy that swaps a job credential for
the site's before calling the real QPU service.

The proxy is also where a job is kept to its own acquisition: it may use its own
session, and read only the tasks/batches it created, even though every job shares
the site's one service account upstream.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx

from qrmid import credentials as creds
from qrmid.config import Config, Resource
from qrmid.store import Store

HOP_BY_HOP = {
    "host", "authorization", "content-length", "connection", "keep-alive", "transfer-encoding", "te", "trailer",
    "upgrade", "proxy-authorization", "accept-encoding",
}


PASQAL_PUBLIC = re.compile(r"core-fast/api/v1/devices(/public-specs|/specs/\w+)?")


class Denied(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class JobGrant:
    acquisition_id: str
    qpu: str
    session: str | None
    expires_at: float


class CredentialExchange:
    def __init__(self, config: Config, store: Store, secrets: dict[str, dict[str, str]]):
        self.config = config
        self.store = store
        self.secrets = secrets
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self._site_tokens: dict[str, tuple[str, float]] = {}

    async def close(self) -> None:
        await self.client.aclose()

    # --------------------------------------------------------- validation
    def check(self, credential: str, qpu: str, kind: str) -> JobGrant:
        rec = self.store.credential(creds.digest(credential))
        now = time.time()
        if rec is None or rec["kind"] != kind or rec["qpu"] != qpu:
            raise Denied(401, "unknown credential for this QPU")
        if rec["revoked"] or rec["expires_at"] <= now:
            raise Denied(401, "credential expired: the job's QPU acquisition has ended")
        acq = self.store.get(rec["acquisition_id"])
        if acq is None or acq["state"] != "granted":
            raise Denied(401, "credential expired: the job's QPU acquisition has ended")
        hold = next((h for h in self.store.holds(acq["id"]) if h["qpu"] == qpu), None)
        return JobGrant(acq["id"], qpu, hold["qrmi_token"] if hold else None, rec["expires_at"])

    # --------------------------------------------------------- IAM (IBM)
    def issue_bearer(self, qpu: str, apikey: str) -> dict[str, Any]:
        grant = self.check(apikey, qpu, "job-key")
        now = time.time()
        expires = min(now + self.config.job_token_ttl_s, grant.expires_at)
        token = creds.new_secret("qrmid-bearer")
        self.store.add_credential(creds.digest(token), grant.acquisition_id, qpu, "bearer", expires)
        life = max(1, int(expires - now))
        return {"access_token": token, "refresh_token": "not_supported", "token_type": "Bearer",
                "expires_in": life, "expiration": int(expires), "scope": "qrmid-job"}

    async def site_ibm_token(self, res: Resource) -> str:
        cached = self._site_tokens.get(res.name)
        if cached and cached[1] > time.time() + 60:
            return cached[0]
        iam = res.environment["QRMI_IBM_QCS_IAM_ENDPOINT"].rstrip("/") + "/identity/token"
        r = await self.client.post(
            iam,
            data={"grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                  "apikey": self.secrets.get(res.name, {}).get("QRMI_IBM_QCS_IAM_APIKEY", "")},
            headers={"Accept": "application/json"},
        )
        if r.status_code != 200:
            raise Denied(502, f"the QPU service's IAM refused qrmid's site key ({r.status_code})")
        body = r.json()
        self._site_tokens[res.name] = (body["access_token"], time.time() + float(body.get("expires_in", 600)))
        return str(body["access_token"])

    # --------------------------------------------------------- proxy
    async def forward(
        self, qpu: str, path: str, method: str, query: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        res = self.config.resource(qpu)
        if res is None or res.type not in creds.PROXY_TYPES:
            raise Denied(404, f"no proxied QPU named {qpu}")
        auth = headers.get("authorization", "")
        fwd = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        if res.type == "pasqal-cloud" and method == "GET" and PASQAL_PUBLIC.fullmatch(path.strip("/")):
            # Device list and specs: qrmi's status() and target() send no job token. Reading them needs no
            # job scope; qrmid adds the site's own token (the service may require one for specs, and the
            # job never sees it), so status() and target() work from a job.
            base = res.environment["QRMI_PASQAL_CLOUD_BASE_URL"].rstrip("/")
            site_token = self.secrets.get(qpu, {}).get("QRMI_PASQAL_CLOUD_AUTH_TOKEN", "")
            if site_token:
                fwd["Authorization"] = f"Bearer {site_token}"
            return await self.client.request(method, f"{base}/{path}" + (f"?{query}" if query else ""), headers=fwd)
        if not auth.lower().startswith("bearer "):
            raise Denied(401, "missing job credential")
        credential = auth.split(None, 1)[1].strip()
        if res.type == "ibm-quantum-compute-service":
            grant = self.check(credential, qpu, "bearer")
            body = self._scope_ibm(grant, method, path, query, body)
            upstream_token = await self.site_ibm_token(res)
            base = re.sub(r"/v1/?$", "", res.environment["QRMI_IBM_QCS_ENDPOINT"].rstrip("/"))
        else:
            grant = self.check(credential, qpu, "job-key")
            self._scope_pasqal(grant, method, path)
            upstream_token = self.secrets.get(qpu, {}).get("QRMI_PASQAL_CLOUD_AUTH_TOKEN", "")
            base = res.environment["QRMI_PASQAL_CLOUD_BASE_URL"].rstrip("/")
        fwd["Authorization"] = f"Bearer {upstream_token}"
        url = f"{base}/{path}" + (f"?{query}" if query else "")
        resp = await self.client.request(method, url, headers=fwd, content=body)
        if resp.status_code < 300:
            self._record_created(grant, res.type, method, path, resp)
        return resp

    # A job may use only its own session and the tasks it created.
    def _owned(self, grant: JobGrant, remote_id: str) -> None:
        if self.store.remote_owner(grant.qpu, remote_id) != grant.acquisition_id:
            raise Denied(404, f"no task {remote_id} in this job's acquisition")

    def _scope_ibm(self, grant: JobGrant, method: str, path: str, query: str, body: bytes) -> bytes:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise Denied(403, "only the /v1 API is reachable through qrmid")
        what = parts[1] if len(parts) > 1 else ""
        if what == "backends" and method == "GET":
            return body
        if what == "sessions":
            if len(parts) == 2:
                raise Denied(403, f"sessions are opened by qrmid; this job's session is {grant.session}")
            if parts[2] != grant.session:
                raise Denied(403, "this job may use only its own session")
            return body
        if what == "jobs":
            if len(parts) == 2 and method == "GET":
                q = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                # qrmi's status() counts the backend's pending jobs: allowed without their inputs
                # (exclude_params); anything else must stay within the job's own session
                backend_queue = q.get("backend") == grant.qpu and q.get("exclude_params") == "true"
                if q.get("session_id") != grant.session and not backend_queue:
                    raise Denied(403, "list jobs with session_id=<this job's session>")
                return body
            if len(parts) == 2 and method == "POST":
                try:
                    doc = json.loads(body or b"{}")
                except ValueError:
                    raise Denied(400, "job request body is not JSON") from None
                if doc.get("session_id") not in (None, grant.session):
                    raise Denied(403, "tasks must run in this job's session")
                doc["session_id"] = grant.session  # tasks always land in the acquired session
                return json.dumps(doc).encode()
            self._owned(grant, parts[2])
            return body
        raise Denied(403, f"/{path} is not reachable through qrmid")

    def _scope_pasqal(self, grant: JobGrant, method: str, path: str) -> None:
        m = re.fullmatch(r"core-fast/api/v(\d)/(\w[\w-]*)(?:/([^/]+))?(?:/.*)?", path.strip("/"))
        if m is None:
            raise Denied(403, f"/{path} is not reachable through qrmid")
        what, ident = m.group(2), m.group(3)
        if what == "devices" and method == "GET":
            return
        if what == "batches" and ident is None and method == "POST":
            return
        if what in ("batches", "jobs") and ident is not None:
            self._owned(grant, ident)
            return
        raise Denied(403, f"/{path} is not reachable through qrmid")

    def _record_created(self, grant: JobGrant, rtype: str, method: str, path: str, resp: httpx.Response) -> None:
        try:
            doc = resp.json()
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        p = path.strip("/")
        if rtype == "ibm-quantum-compute-service":
            if method == "POST" and p == "v1/jobs" and doc.get("id"):
                self.store.add_remote_object(grant.acquisition_id, grant.qpu, str(doc["id"]))
            return
        data = doc.get("data")
        if not isinstance(data, dict):
            return
        if (method == "POST" and p.endswith("/batches")) or "/batches/" in p:
            if data.get("id") and method == "POST":
                self.store.add_remote_object(grant.acquisition_id, grant.qpu, str(data["id"]))
            ids = list(data.get("job_ids") or []) + [j.get("id") for j in data.get("jobs") or [] if isinstance(j, dict)]
            for jid in ids:
                if jid:
                    self.store.add_remote_object(grant.acquisition_id, grant.qpu, str(jid), "part")
