"""Helpers for test_attack_proxy.py: a raw HTTP client (the request line goes out byte for
byte, with no client-side normalisation of dot segments or encodings) and the two jobs
of the attack: a victim that owns a session, an IBM task, a Pasqal batch and an IQM job,
and an attacker with its own acquisition on the same QPUs."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import harness

IQM_QPU = "spark"  # the lab's IQM Server twin

IAM_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nbit[2] c;\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n'
    "c[0] = measure q[0];\nc[1] = measure q[1];\n"
)


@dataclass
class Reply:
    status: int
    body: Any
    raw: bytes

    @property
    def text(self) -> str:
        return self.raw.decode(errors="replace")


def send(
    base: str,
    method: str,
    target: bytes | str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
    chunked: bool = False,
    terminate: bool = True,
) -> Reply:
    """One request on a fresh connection; `target` is appended to `base`'s path unchanged."""
    u = urllib.parse.urlsplit(base)
    path = u.path.encode() + (target.encode() if isinstance(target, str) else target)
    hdrs = {"Host": u.netloc, "Connection": "close", "Accept": "application/json", **(headers or {})}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json")
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
        else:
            hdrs["Content-Length"] = str(len(body) if content_length is None else content_length)
    elif content_length is not None:
        hdrs["Content-Length"] = str(content_length)
    head = method.encode() + b" " + path + b" HTTP/1.1\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in hdrs.items()) + b"\r\n"
    sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=60)
    try:
        sock.sendall(head)
        try:
            if body is not None and chunked:
                for i in range(0, len(body), 65536):
                    piece = body[i : i + 65536]
                    sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                if terminate:
                    sock.sendall(b"0\r\n\r\n")
            elif body is not None and content_length is None:
                sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before taking the whole body: read its answer
        resp = http.client.HTTPResponse(sock, method=method)
        resp.begin()
        raw = resp.read()
        ctype = resp.getheader("content-type") or ""
    finally:
        sock.close()
    parsed: Any = raw.decode(errors="replace")
    if "json" in ctype:
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw or b"null")
    return Reply(resp.status, parsed, raw)


def iam_token(env: dict[str, str]) -> str:
    form = urllib.parse.urlencode({"grant_type": IAM_GRANT, "apikey": env["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"]})
    r = send(env["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"], "POST", "/identity/token", body=form.encode(),
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r.body
    return str(r.body["access_token"])


@dataclass
class Job:
    """One acquisition's view: its endpoints, credentials and the objects it created."""

    env: dict[str, str]
    ibm_token: str
    session: str
    task: str = ""
    batch: str = ""
    pasqal_job: str = ""
    iqm_job: str = ""

    @property
    def ibm(self) -> str:  # …/proxy/sc_twin  (paths below start with /v1)
        return self.env["sc_twin_QRMI_IBM_QCS_ENDPOINT"].removesuffix("/v1")

    @property
    def pasqal(self) -> str:  # …/proxy/FRESNEL (paths below start with /core-fast)
        return self.env["FRESNEL_QRMI_PASQAL_CLOUD_BASE_URL"]

    @property
    def pasqal_token(self) -> str:
        return self.env["FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN"]

    @property
    def iqm(self) -> str:  # qrmid's root (paths below start with /api/v1; the token names the QPU)
        return self.env[f"{IQM_QPU}_QRMI_IQM_ISA_ENDPOINT"]

    @property
    def iqm_token(self) -> str:
        return self.env[f"{IQM_QPU}_QRMI_IQM_ISA_TOKEN"]

    def iqm_get(self, path: str) -> Reply:
        return send(self.iqm, "GET", path, token=self.iqm_token)

    def ibm_get(self, path: str) -> Reply:
        return send(self.ibm, "GET", path, token=self.ibm_token)

    def pasqal_get(self, path: str) -> Reply:
        return send(self.pasqal, "GET", path, token=self.pasqal_token)


def new_job(client: harness.Client, job_id: str, user: str, uid: int) -> Job:
    body = {"job_id": job_id, "user": user, "uid": uid, "qpus": ["sc_twin", "FRESNEL", IQM_QPU], "time_limit_s": 1800,
            "wait_s": 30}
    code, a = client.request("POST", "/v1/acquisitions", body)
    assert code == 201, a
    env = a["environment"]
    return Job(env, iam_token(env), env["sc_twin_QRMI_JOB_ACQUISITION_TOKEN"])


def run_ibm_task(job: Job) -> str:
    params = {"pubs": [[BELL, None, 10]], "version": 2, "support_qiskit": False}
    doc = {"program_id": "sampler", "backend": "sc_twin", "params": params}
    r = send(job.ibm, "POST", "/v1/jobs", token=job.ibm_token, body=json.dumps(doc).encode())
    assert r.status == 200, r.body
    task = str(r.body["id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = job.ibm_get(f"/v1/jobs/{task}").body["state"]["status"]
        if state == "Completed":
            return task
        assert state in ("Queued", "Running"), state
        time.sleep(0.2)
    raise TimeoutError(task)


def run_pasqal_batch(job: Job, sequence: str) -> tuple[str, str]:
    doc = {"sequence_builder": sequence, "jobs": [{"runs": 10}], "device_type": "FRESNEL",
           "project_id": job.env.get("FRESNEL_QRMI_PASQAL_CLOUD_PROJECT_ID", "")}
    r = send(job.pasqal, "POST", "/core-fast/api/v1/batches", token=job.pasqal_token, body=json.dumps(doc).encode())
    assert r.status == 200, r.body
    batch, pjob = str(r.body["data"]["id"]), str(r.body["data"]["jobs"][0]["id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = job.pasqal_get(f"/core-fast/api/v2/batches/{batch}").body["data"]["status"]
        if status == "DONE":
            return batch, pjob
        assert status in ("PENDING", "RUNNING"), status
        time.sleep(0.2)
    raise TimeoutError(batch)


def bell_circuit(a: str = "QB1", b: str = "QB3") -> dict[str, Any]:
    """A Bell pair in IQM's native operations on a coupled pair (the lab twin is a star around QB3)."""
    half = 1.5707963267948966

    def prx(q: str, angle: float) -> dict[str, Any]:
        return {"name": "prx", "locus": [q], "args": {"angle": angle, "phase": half}}

    return {"name": "bell", "instructions": [
        prx(a, half), prx(b, -half), {"name": "cz", "locus": [a, b], "args": {}}, prx(b, half),
        {"name": "measure", "locus": [a, b], "args": {"key": "m"}},
    ]}


def run_iqm_job(job: Job) -> str:
    body = json.dumps({"circuits": [bell_circuit()], "shots": 10}).encode()
    r = send(job.iqm, "POST", f"/api/v1/jobs/{IQM_QPU}/circuit?use_timeslot=false", token=job.iqm_token, body=body)
    assert r.status == 200, r.body
    task = str(r.body["id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = job.iqm_get(f"/api/v1/jobs/{task}").body["status"]
        if status == "completed":
            return task
        assert status in ("waiting", "processing"), status
        time.sleep(0.2)
    raise TimeoutError(task)


def refused_by_qrmid(r: Reply) -> bool:
    """A 4xx that qrmid itself gave (its {"detail"} shape), not one the QPU service gave after
    the request was forwarded (IBM: {"errors"}, Pasqal: JSend {"status": "fail"}, IQM: {"error_code"})."""
    return (
        400 <= r.status < 500
        and isinstance(r.body, dict)
        and "detail" in r.body
        and "errors" not in r.body
        and "error_code" not in r.body
        and r.body.get("status") != "fail"
    )
