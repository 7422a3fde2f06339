"""The plugin's side of the wire: qrmid over HTTPS with a verified certificate, and
whatever qrmid answers treated as data (issue 11: a newline in a QRMI setting became
an extra `env=LD_PRELOAD=...` line exported into every job).

HTTPS: a TLS relay (certificate made here, for 127.0.0.1) in front of the real qrmid.
Hostile answers: a small fake qrmid on 127.0.0.1 that grants anything and answers
what each test sets, in qrmid's JSON and (for the old plugin) its line format."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import slurm_harness
from conftest import PROFILE_USER
from test_sbatch import acquisitions, env_lines, output, script


@contextlib.contextmanager
def plugstack(slurm, munged, url: str, *extra: str) -> Iterator[None]:
    """Jobs submitted inside use these plugin arguments (slurmstepd reads plugstack.conf per job)."""
    path = slurm.dir / "plugstack.conf"
    before = path.read_text()
    path.write_text(slurm_harness.plugstack_line(url, munged.socket, f"cluster={slurm_harness.CLUSTER}", *extra))
    try:
        yield
    finally:
        path.write_text(before)


def run_job(slurm, workdir: Path, qpu: str = "sc_twin") -> tuple[str, dict[str, str], str, str]:
    job_path = script(workdir, "transport", "true")
    r = slurm.run("sbatch", "--parsable", f"--output={workdir}/job-%j.out", f"--error={workdir}/job-%j.err",
                  f"--qpu={qpu}", str(job_path), user=PROFILE_USER)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip()
    st = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, 180)
    out, err = output(workdir, job)
    env_file = workdir / f"job-{job}.env"
    env = env_lines(env_file) if env_file.exists() else {}
    return st["JobState"], env, out, err


# ------------------------------------------------------------------ HTTPS


@pytest.fixture(scope="module")
def tls_relay(stack) -> Iterator[tuple[str, Path]]:
    """https://127.0.0.1:<port> → qrmid, with a self-made certificate (returned as the CA file)."""
    q, _ = stack
    tmp = Path(tempfile.mkdtemp(prefix="spank-qrmid-tls-"))
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    upstream = ("127.0.0.1", int(q.url.rsplit(":", 1)[1]))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def pump(client: socket.socket) -> None:
        try:
            tls = ctx.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        with tls, socket.create_connection(upstream) as up:
            while not stop.is_set():
                if not tls.pending():
                    ready, _, _ = select.select([tls, up], [], [], 1)
                else:
                    ready = [tls]
                try:
                    for s in ready:
                        data = s.recv(65536)
                        if not data:
                            return
                        (up if s is tls else tls).sendall(data)
                except (ssl.SSLError, OSError):
                    return

    def serve() -> None:
        listener.settimeout(0.5)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=pump, args=(client,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}", cert
    stop.set()
    thread.join(5)
    listener.close()


def test_https_with_the_site_ca_file(stack, munged, workdir, tls_relay) -> None:
    q, slurm = stack
    url, ca = tls_relay
    with plugstack(slurm, munged, url, f"ca_file={ca}"):
        state, env, out, err = run_job(slurm, workdir)
    assert state == "COMPLETED", (out, err)
    job = env["QRMI_JOB_ID"]
    assert env["QRMID_ACQUISITION_ID"] == acquisitions(q, job)[0]["id"]


def test_https_refuses_a_certificate_it_cannot_verify(stack, munged, workdir, tls_relay) -> None:
    q, slurm = stack
    url, _ = tls_relay
    with plugstack(slurm, munged, url):  # the system CA store does not know the relay's certificate
        state, env, out, err = run_job(slurm, workdir)
    assert state == "FAILED", (out, err)
    assert "certificate" in err.lower() and "no QPU acquired" in err, err
    assert not any(k.startswith("QRMI") for k in env)


def test_a_url_that_is_not_scheme_host_port_is_refused(stack, munged, workdir) -> None:
    q, slurm = stack
    with plugstack(slurm, munged, q.url + "/v1/../x"):
        state, env, out, err = run_job(slurm, workdir)
    assert state == "FAILED", (out, err)
    assert "url= must be http(s)://host[:port]" in err, err


# ------------------------------------------------------------------ hostile answers


class FakeQrmid:
    def __init__(self) -> None:
        self.environment: dict[str, Any] = {}
        self.raw: bytes | None = None  # a body sent as is instead
        self.requests: list[tuple[str, str, bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, code: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append(("POST", self.path, body))
                if fake.raw is not None:
                    return self._answer(201, fake.raw)
                if "format=env" in self.path:  # the old plugin's line format
                    lines = ["state=granted", "acquisition=acq-fake"]
                    lines += [f"env={k}={v}" for k, v in fake.environment.items()]
                    return self._answer(201, ("\n".join(lines) + "\n").encode(), "text/plain")
                self._answer(201, json.dumps({"id": "acq-fake", "state": "granted", "message": None,
                                              "environment": fake.environment}).encode())

            def do_GET(self) -> None:  # noqa: N802
                fake.requests.append(("GET", self.path, b""))
                self._answer(200, b"[]")

            def do_DELETE(self) -> None:  # noqa: N802
                fake.requests.append(("DELETE", self.path, b""))
                self._answer(200, b"[]")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(stack, munged) -> Iterator[FakeQrmid]:
    f = FakeQrmid()
    _, slurm = stack
    with plugstack(slurm, munged, f.url):
        yield f
    f.close()


HOSTILE = {
    "QRMI_JOB_QPU_RESOURCES": "sc_twin",
    "sc_twin_QRMI_IBM_QCS_ENDPOINT": "http://127.0.0.1:9/v1",
    # a newline: in the line format this value made an extra line, a variable of its own
    "sc_twin_QRMI_IBM_QCS_SERVICE_CRN": "crn:x\nenv=LD_PRELOAD=/nonexistent/evil.so",
    "sc_twin_QRMI_ESCAPE": "a\x1b[2Jb",
    "LD_PRELOAD": "/nonexistent/evil.so",
    "BASH_ENV": "/nonexistent/evil.sh",
    "PYTHONSTARTUP": "/nonexistent/evil.py",
    "FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN": "not-this-job's-qpu",
    "QRMI_lower_case": "x",
    "QRMI_": "empty word",
    "SLURM_JOB_QPU_TYPES": 7,  # not a string
}


def test_only_clean_qrmi_contract_variables_are_exported(stack, workdir, fake) -> None:
    _, slurm = stack
    fake.environment = HOSTILE
    state, env, out, err = run_job(slurm, workdir)
    assert state == "COMPLETED", (out, err)
    assert env["QRMI_JOB_QPU_RESOURCES"] == "sc_twin"
    assert env["sc_twin_QRMI_IBM_QCS_ENDPOINT"] == "http://127.0.0.1:9/v1"
    for key in ("LD_PRELOAD", "BASH_ENV", "PYTHONSTARTUP", "sc_twin_QRMI_IBM_QCS_SERVICE_CRN", "sc_twin_QRMI_ESCAPE",
                "FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN", "QRMI_lower_case", "QRMI_",
                "SLURM_JOB_QPU_TYPES"):
        assert key not in env, (key, env.get(key))
    assert "were not exported" in err, err
    # the request: qrmid's JSON API, the cluster with job, user and uid
    method, path, body = fake.requests[0]
    assert (method, path) == ("POST", "/v1/acquisitions?format=json")
    req = json.loads(body)
    assert req["cluster"] == slurm_harness.CLUSTER and req["job_id"] == env["SLURM_JOB_ID"]
    assert req["user"] == PROFILE_USER and req["uid"] == int(env["SLURM_JOB_UID"]) and req["qpus"] == ["sc_twin"]
    # released on its cluster when the batch script ends
    assert ("DELETE", f"/v1/jobs/{env['SLURM_JOB_ID']}/acquisitions?cluster={slurm_harness.CLUSTER}", b"") in \
        fake.requests


def test_too_many_variables_fail_the_job(stack, workdir, fake) -> None:
    _, slurm = stack
    fake.environment = {f"QRMI_K{i}": "v" for i in range(300)}
    state, env, out, err = run_job(slurm, workdir)
    assert state == "FAILED", (out, err)
    assert "more than the 256" in err, err
    assert "QRMI_K0" not in env


def test_an_oversized_answer_fails_the_job(stack, workdir, fake) -> None:
    _, slurm = stack
    fake.environment = {"QRMI_BIG": "x" * (600 * 1024)}
    state, env, out, err = run_job(slurm, workdir)
    assert state == "FAILED", (out, err)
    assert "larger than" in err, err
    assert "QRMI_BIG" not in env


@pytest.mark.parametrize("raw", [
    b"state=granted\nenv=QRMI_JOB_ID=1\n",  # the line format
    b"[1, 2]",
    b'{"id": "a", "id": "b", "environment": {"QRMI_JOB_ID": "1"}}',  # duplicate keys
    b'{"id": "a", "environment": {"QRMI_JOB_ID": "1\\u0000; evil"}}',  # NUL inside a value
    b'{"id": "a", "environment": {"QRMI_JOB_ID": "1"}',  # truncated
])
def test_an_answer_that_is_not_qrmids_json_fails_the_job(stack, workdir, fake, raw) -> None:
    _, slurm = stack
    fake.raw = raw
    state, env, out, err = run_job(slurm, workdir)
    assert state == "FAILED", (out, err)
    assert "no QPU acquired" in err, err
    assert "QRMI_JOB_ID" not in env
