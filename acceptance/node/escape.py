"""Negative drill run inside a ``--qpu`` job: try to reach another job's objects through
qrmid's proxy with this job's own credentials, the ways an attacker with a login would.

``plant`` runs one small task and reports its id (the *foreign* object of the next job);
``escape --foreign ID`` sends each attack as raw bytes (no client-side normalisation, so
the proxy sees exactly what is written here) and reports every status. A positive control
reads the job's own task through the same API: a proxy that refuses everything fails it.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import urllib.parse
from dataclasses import dataclass
from typing import Any

from acceptance.node.qpu import Qpu, QpuError, held, pulser_device_or_none, wait
from acceptance.node.samples import sampler_input

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the site CA is installed into the system store


@dataclass(frozen=True)
class Endpoint:
    scheme: str
    netloc: str
    base_path: str  # percent-encoded, no trailing slash
    authorization: str

    def send(self, method: str, raw_path: str, body: bytes | None = None) -> int:
        """Send ``raw_path`` (appended to the base path) byte for byte; the status, or -1."""
        conn = connection(self.scheme, self.netloc)
        headers = {"Authorization": self.authorization, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self.base_path + raw_path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read(1 << 20)
            return resp.status
        except OSError:
            return -1
        finally:
            conn.close()


def connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    if scheme != "https":
        return http.client.HTTPConnection(netloc, timeout=30)
    cafile = os.environ.get("SSL_CERT_FILE") or (CA_BUNDLE if os.path.exists(CA_BUNDLE) else None)
    return http.client.HTTPSConnection(netloc, timeout=30, context=ssl.create_default_context(cafile=cafile))


def _env(qpu: Qpu, key: str) -> str:
    value = os.environ.get(f"{qpu.name}_{key}")
    if not value:
        raise QpuError(f"{qpu.name}_{key} is not in the job's environment (is this a --qpu job through qrmid?)")
    return value


def _split(url: str) -> tuple[str, str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc, parts.path.rstrip("/")


def endpoint(qpu: Qpu) -> Endpoint:
    if qpu.kind == "ibm":
        iam = _env(qpu, "QRMI_IBM_QCS_IAM_ENDPOINT").rstrip("/") + "/identity/token"
        scheme, netloc, path = _split(iam)
        form = urllib.parse.urlencode({"grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                                       "apikey": _env(qpu, "QRMI_IBM_QCS_IAM_APIKEY")}).encode()
        conn = connection(scheme, netloc)
        conn.request("POST", path, body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        doc = json.loads(resp.read(1 << 16) or b"{}")
        conn.close()
        if resp.status != 200 or "access_token" not in doc:
            raise QpuError(f"{qpu.name}: qrmid's IAM refused this job's own key ({resp.status})")
        scheme, netloc, base = _split(_env(qpu, "QRMI_IBM_QCS_ENDPOINT"))  # …/proxy/<qpu>/v1
        return Endpoint(scheme, netloc, base, f"Bearer {doc['access_token']}")
    if qpu.kind == "pasqal":
        scheme, netloc, base = _split(_env(qpu, "QRMI_PASQAL_CLOUD_BASE_URL"))
        return Endpoint(scheme, netloc, base + "/core-fast/api", f"Bearer {_env(qpu, 'QRMI_PASQAL_CLOUD_AUTH_TOKEN')}")
    raise QpuError(f"no escape drill for QPU type {qpu.type}")


def _own_task(qpu: Qpu) -> str:
    """Run one tiny task through qrmi (the way user code does) and return its id."""
    import qrmi

    if qpu.kind == "ibm":
        from acceptance.node import circuits

        text = sampler_input([circuits.to_qasm(circuits.ghz_population_circuit(2))], 20, 1)
        task = qpu.resource.task_start(qrmi.Payload.QiskitPrimitive(input=text, program_id="sampler"))
    else:
        from acceptance.node.programs import _pi_pulse_sequence

        sequence = _pi_pulse_sequence(pulser_device_or_none(qpu))
        task = qpu.resource.task_start(qrmi.Payload.PasqalCloud(sequence=sequence, job_runs=20))
    if wait(qpu, task, 300) != "Completed":
        raise QpuError(f"{qpu.name}: the drill's own task {task} did not complete")
    return str(task)


def plant(qpu: Qpu) -> dict[str, Any]:
    with held(qpu):
        task = _own_task(qpu)
    return {"benchmark": "plant", "qpu": qpu.name, "value": task, "detail": {}}


def attacks(kind: str, foreign: str) -> list[tuple[str, str, bytes | None]]:
    """(method, raw path after the base, body) — every one must be refused with a 4xx."""
    f = urllib.parse.quote(foreign, safe="")
    if kind == "ibm":
        return [
            ("GET", f"/jobs/{f}", None),
            ("GET", f"/jobs/{f}/results", None),
            ("GET", f"/backends/%2e%2e/jobs/{f}/results", None),
            ("GET", f"/backends/%2E%2E/jobs/{f}", None),
            ("GET", f"/backends/%252e%252e/jobs/{f}/results", None),
            ("GET", f"/backends/.%2e/jobs/{f}/results", None),
            ("GET", f"/backends/x/..%2f..%2fjobs/{f}/results", None),
            ("GET", f"/backends%2f..%2fjobs/{f}/results", None),
            ("GET", f"/jobs//{f}/results", None),
            ("GET", f"/jobs/{f}%2fresults", None),
            ("GET", "/jobs", None),
            ("GET", "/jobs?session_id=&session%5Fid=x", None),
            ("GET", "/jobs?backend=x&exclude_params=true&exclude%5Fparams=false", None),
            ("GET", "/backends/%2e%2e/jobs", None),
            ("POST", f"/jobs/{f}/cancel", None),
            ("DELETE", f"/jobs/{f}", None),
            ("POST", "/sessions", b"{}"),
        ]
    return [
        ("GET", f"/v1/batches/{f}", None),
        ("GET", f"/v2/batches/{f}", None),
        ("GET", f"/v1/devices/%2e%2e/batches/{f}", None),
        ("GET", f"/v1/devices/%2E%2E/batches/{f}/full_results", None),
        ("GET", f"/v1/devices/%252e%252e/batches/{f}", None),
        ("GET", f"/v1/devices/specs/..%2f..%2fbatches/{f}", None),
        ("GET", f"/v1/batches//{f}", None),
        ("PUT", f"/v1/batches/{f}/cancel", None),
        ("PATCH", f"/v2/batches/{f}/cancel", None),
        ("GET", "/v2/jobs", None),
        ("GET", f"/v2/jobs?batch_id={f}&batch%5Fid={f}", None),
    ]


def control_path(kind: str, own: str) -> str:
    o = urllib.parse.quote(own, safe="")
    return f"/jobs/{o}" if kind == "ibm" else f"/v1/batches/{o}"


def escape(qpu: Qpu, foreign: str) -> dict[str, Any]:
    with held(qpu):
        own = _own_task(qpu)
        ep = endpoint(qpu)
        control = ep.send("GET", control_path(qpu.kind, own))
        tried = [(m, p, ep.send(m, p, b)) for m, p, b in attacks(qpu.kind, foreign)]
    attempts = [{"method": m, "path": p, "status": status} for m, p, status in tried]
    leaked = [a for a, (_, _, status) in zip(attempts, tried, strict=True) if not 400 <= status < 500]
    return {"benchmark": "escape", "qpu": qpu.name, "value": len(leaked),
            "detail": {"control_status": control, "attempts": attempts, "not_refused": leaked}}

