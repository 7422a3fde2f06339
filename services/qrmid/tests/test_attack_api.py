"""qrmid's API attacked as a cluster user or a network peer would (issue 11): bodies above
every bound, parsing before authentication, metric series from unknown names, another
job's acquisition by its job id, hostile numbers and dates, anonymous upstream calls,
values that would break the env line protocol. Against the real daemon, real munged."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness
import pytest
from conftest import without_windows
from test_acquire import acquire

API_LIMIT = 64 * 1024
HARD_LIMIT = 4 * 1024 * 1024


@pytest.fixture
def backend() -> str:
    """These attacks do not depend on the database backend: SQLite only (keeps the suite short)."""
    return "sqlite"


def raw_http(url: str, head: bytes, chunks: list[bytes] = (), timeout: float = 20) -> tuple[int, bytes]:  # type: ignore[assignment]
    """Send a hand-made request; returns (status, the answer's bytes). The peer may answer (and
    close) before the body is sent: that is what a bound is for."""
    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head)
        try:
            for c in chunks:
                s.sendall(c)
        except OSError:
            pass
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data) < 12:
                part = s.recv(65536)
                if not part:
                    break
                data += part
        except OSError:
            pass
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.parametrize("path", ["/v1/acquisitions", "/v1/qpus/sc_twin/maintenance", "/iam/sc_twin/identity/token",
                                  "/proxy/sc_twin/v1/jobs", "/api/v1/jobs/spark/circuit",
                                  "/s3/qs1/input_00000000-0000-0000-0000-000000000000.json"])
def test_bodies_above_the_bound_are_refused_before_they_are_read(qrmid: harness.Qrmid, path: str) -> None:
    # the job routes (IAM, proxy, the IQM API at the root, the S3 gate) take up to 4 MiB, qrmid's API 64 KiB
    limit = HARD_LIMIT if path.startswith(("/iam/", "/proxy/", "/api/", "/s3/")) else API_LIMIT
    assert qrmid.proc is not None
    before = rss_kib(qrmid.proc.pid)
    # a declared length one byte above the bound: refused without the body ever being sent
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {limit + 1}\r\n\r\n").encode()
    t0 = time.monotonic()
    code, _ = raw_http(qrmid.url, head)
    assert code == 413 and time.monotonic() - t0 < 5
    # a huge declared length
    head = (f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 400000000\r\n\r\n").encode()
    assert raw_http(qrmid.url, head)[0] in (405, 413)
    # chunked: no length declared, counted while it streams; one byte above the bound
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    piece = b"x" * 8192
    n = limit // len(piece)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * n + [b"1\r\nx\r\n", b"0\r\n\r\n"]
    assert raw_http(qrmid.url, head, chunks)[0] == 413
    # and then 40 MB streamed chunked without a length: refused, memory does not follow
    big = [b"%x\r\n%s\r\n" % (len(piece) * 8, piece * 8)] * 600
    assert raw_http(qrmid.url, head, big)[0] == 413
    assert rss_kib(qrmid.proc.pid) - before < 30 * 1024
    # a body at the bound is still read (and then refused for what it is, not for its size)
    ok = json.dumps({"job_id": "1", "pad": "x" * (API_LIMIT - 200)}).encode()
    ok += b" " * (API_LIMIT - len(ok))
    head = f"POST /v1/acquisitions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(ok)}\r\n\r\n".encode()
    assert raw_http(qrmid.url, head, [ok])[0] == 401
    _, m = harness.Client(qrmid.url, "").request("GET", "/healthz", auth=None)
    assert m["status"] == "ok"


def test_unauthenticated_bodies_are_never_parsed(client: harness.Client) -> None:
    """Authentication comes first: a malformed body without a credential is 401, not 422."""
    for raw in (b"{not json", b"[" * 5000, b'{"job_id": NaN}', b"\xff\xfe"):
        code, _ = client.request("POST", "/v1/acquisitions", raw=raw, auth=None)
        assert code == 401, raw[:20]
        code, _ = client.request("PUT", "/v1/qpus/sc_twin/maintenance", raw=raw, auth=None)
        assert code == 401, raw[:20]


def test_unknown_names_create_no_metric_series(client: harness.Client) -> None:
    _, before = client.request("GET", "/metrics", auth=None)
    for i in range(20):
        for path in (f"/v1/qpus/nope{i}", f"/v1/qpus/nope{i}?refresh=true", f"/proxy/nope{i}/v1/backends",
                     f"/iam/nope{i}/identity/token", f"/proxy/NOPE{i}%2f/x"):
            method = "POST" if path.startswith("/iam/") else "GET"
            client.request(method, path, auth=None)
    _, after = client.request("GET", "/metrics", auth=None)
    assert "nope" not in after.lower()
    series = [ln for ln in after.splitlines() if ln and not ln.startswith("#")]
    old = [ln for ln in before.splitlines() if ln and not ln.startswith("#")]
    assert len(series) <= len(old) + 10, set(series) - set(old)


def test_refresh_needs_authentication(client: harness.Client) -> None:
    code, _ = client.request("GET", "/v1/qpus/sc_twin?refresh=true", auth=None)
    assert code == 401
    code, _ = client.request("GET", "/v1/qpus/sc_twin?refresh=1", auth=None)
    assert code == 401
    code, q = client.request("GET", "/v1/qpus/sc_twin?refresh=true", auth=f"Bearer {harness.OPERATOR_TOKEN}")
    assert code == 200 and q["name"] == "sc_twin"
    assert client.request("GET", "/v1/qpus/sc_twin", auth=None)[0] == 200


# ------------------------------------------------------------------ identity (finding 5)
def test_an_acquisition_belongs_to_its_cluster_job_user_and_uid(client: harness.Client) -> None:
    code, a = acquire(client, "7001", qpus=["FRESNEL"])
    assert code == 201 and a["environment"]
    for other in ({"user": "mallory", "uid": 1001}, {"user": "bob", "uid": 1002},
                  {"user": "mallory", "uid": 2000}):
        code, answer = acquire(client, "7001", qpus=["FRESNEL"], **other)
        assert code == 409, answer
        text = json.dumps(answer)
        assert a["id"] not in text and "qrmid-job-" not in text and "environment" not in answer
        assert "7001" in answer["detail"] and "another" in answer["detail"]
    # the same job id on another cluster is another job: its own acquisition (here: waits for the slot)
    code, b = acquire(client, "7001", qpus=["sc_twin"], cluster="other-cluster")
    assert code == 201 and b["id"] != a["id"], b
    # …and there, too, the job id belongs to its user
    code, answer = acquire(client, "7001", qpus=["sc_twin"], cluster="other-cluster", user="mallory", uid=2000)
    assert code == 409 and b["id"] not in json.dumps(answer)
    code, c = acquire(client, "7001", qpus=["FRESNEL"], cluster="third", wait_s=0)
    assert code in (201, 202) and c["id"] not in (a["id"], b["id"])
    # the owner's retry still gets its own acquisition
    code, again = acquire(client, "7001", qpus=["FRESNEL"])
    assert code == 201 and again["id"] == a["id"]
    # cluster names are checked
    for bad in ("", "a/b", "x" * 65, "lab\n", "../x"):
        code, _ = acquire(client, "7002", cluster=bad)
        assert code == 422, bad
    # a release by job id names its cluster: the other cluster's job 7001 keeps its QPU
    code, rows = client.request("DELETE", "/v1/jobs/7001/acquisitions?wait_s=10")
    assert code == 200 and [r["id"] for r in rows] == [a["id"]]
    _, b2 = client.request("GET", f"/v1/acquisitions/{b['id']}")
    assert b2["state"] == "granted"
    code, rows = client.request("DELETE", "/v1/jobs/7001/acquisitions?wait_s=10&cluster=other-cluster")
    assert code == 200 and [r["id"] for r in rows] == [b["id"]]
    code, rows = client.request("DELETE", "/v1/jobs/7001/acquisitions?wait_s=10&cluster=third")
    assert code == 200 and [r["id"] for r in rows] == [c["id"]]


# ------------------------------------------------------------------ hostile values (finding 8)
def test_hostile_numbers_bodies_and_dates_get_4xx(client: harness.Client) -> None:
    good: dict[str, Any] = {"job_id": "7101", "user": "bob", "uid": 1001, "qpus": ["FRESNEL"]}
    raws = [b'{"job_id": "7101", "user": "bob", "uid": 1001, "qpus": ["FRESNEL"], "wait_s": NaN}',
            b'{"job_id": "7101", "user": "bob", "uid": 1001, "qpus": ["FRESNEL"], "wait_s": Infinity}',
            b'{"job_id": "7101", "user": "bob", "uid": 1001, "qpus": ["FRESNEL"], "time_limit_s": 1e400}',
            b"[]", b"null", b"1", b'"x"', b"", b"[" * 3000 + b"]" * 3000]
    for raw in raws:
        code, _ = client.request("POST", "/v1/acquisitions", raw=raw)
        assert 400 <= code < 500, raw[:40]
    for extra in ({"uid": 10**30}, {"uid": 2**63}, {"time_limit_s": 10**30}, {"time_limit_s": 2**63},
                  {"uid": -1}, {"wait_s": 1e308}, {"groups": ["x"] * 10000}, {"qpus": ["FRESNEL"] * 1000},
                  {"profile": "p" * 10000}, {"uid": True}):
        code, answer = client.request("POST", "/v1/acquisitions", {**good, **extra})
        assert 400 <= code < 500, (extra if len(str(extra)) < 80 else list(extra), answer)
    op = f"Bearer {harness.OPERATOR_TOKEN}"
    for until in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00",
                  "1969-01-01T00:00:00Z", "+275760-09-13T00:00:00Z"):
        code, _ = client.request("PUT", "/v1/qpus/FRESNEL/maintenance", {"message": "m", "until": until}, auth=op)
        assert 400 <= code < 500, until
    for raw in (b"[]", b"null", b'{"message": "m", "until": NaN}', b'{"message": 1e999}'):
        code, _ = client.request("PUT", "/v1/qpus/FRESNEL/maintenance", raw=raw, auth=op)
        assert 400 <= code < 500, raw
    for q in ("since=0001-01-01T00:00:00%2B14:00", "until=9999-12-31T23:59:59-12:00", "since=nan", "since=1e400"):
        code, _ = client.request("GET", f"/v1/accounting?{q}", auth=op)
        assert 400 <= code < 500 or code == 200, q
        assert code != 500
    for q in ("wait_s=nan", "wait_s=inf", "wait_s=1e400", "limit=99999999999999999999"):
        assert 400 <= client.request("GET", f"/v1/acquisitions?{q}", auth=op)[0] < 500 or q.startswith("wait")
        assert 400 <= client.request("DELETE", f"/v1/jobs/1/acquisitions?{q}")[0] < 500 or q.startswith("limit")
    # nothing of it landed, and the daemon is well
    _, rows = client.request("GET", "/v1/acquisitions?job_id=7101", auth=op)
    assert rows == []
    _, q = client.request("GET", "/v1/qpus/FRESNEL", auth=None)
    assert q["block"] is None


def test_delete_with_wait_0_returns_while_the_acquire_is_in_flight(make_qrmid, site, munged) -> None:
    """An acquire that hangs at the service (a QPU service that accepts connections but never
    answers): `DELETE …?wait_s=0` returns at once, the job's acquisition never gets granted."""
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(64)
    port = hang.getsockname()[1]
    try:
        q = make_qrmid(qpus=without_windows(site))
        cfg = json.loads(q.config.read_text())
        for r in cfg["resources"]:
            if r["name"] == "sc_twin":
                for k, v in r["environment"].items():
                    if v.startswith(("http://", "https://")):  # the lab serves https; tests use plain loopback
                        rest = v.split("/", 3)[3] if v.count("/") >= 3 else ""
                        r["environment"][k] = f"http://127.0.0.1:{port}/{rest}"
        q.stop()
        q.config.write_text(json.dumps(cfg))
        q.start()
        client = harness.Client(q.url, munged.socket)
        code, a = acquire(client, "7201", wait_s=0)
        assert code == 202 and a["state"] in ("acquiring", "waiting"), a
        t0 = time.monotonic()
        code, rows = client.request("DELETE", "/v1/jobs/7201/acquisitions?wait_s=0", timeout=30)
        took = time.monotonic() - t0
        assert code == 200 and took < 2, (took, rows)
        # the acquisition never hands out an environment any more
        _, a2 = client.request("GET", f"/v1/acquisitions/{a['id']}")
        assert "environment" not in a2
        assert a2["state"] not in ("granted",)
    finally:
        hang.close()


# ------------------------------------------------------------------ env line protocol
def test_env_format_never_emits_control_characters(make_qrmid, site, munged) -> None:
    q = make_qrmid(qpus=without_windows(site))
    cfg = json.loads(q.config.read_text())
    for r in cfg["resources"]:
        if r["name"] == "FRESNEL":
            r["environment"]["QRMI_PASQAL_CLOUD_PROJECT_ID"] = "lab-project\nenv=LD_PRELOAD=/tmp/evil.so"
    bad = q.config.with_name("bad.json")
    bad.write_text(json.dumps(cfg))
    out = subprocess.run([sys.executable, "-m", "qrmid", "--check", "--config", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "control character" in out.stderr, out
    for key in ("LD_PRELOAD", "QRMI_X\nenv=LD_PRELOAD", "PATH", "qrmi_lower"):
        cfg2 = json.loads(q.config.read_text())
        for r in cfg2["resources"]:
            if r["name"] == "FRESNEL":
                r["environment"][key] = "/tmp/evil.so"
        bad.write_text(json.dumps(cfg2))
        out = subprocess.run([sys.executable, "-m", "qrmid", "--check", "--config", str(bad)],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and "environment" in out.stderr, (key, out)
    # and the daemon itself refuses to start with it (the role's check is not the only guard)
    q.stop()
    q.config.write_text(json.dumps(cfg))
    with pytest.raises(RuntimeError):
        q.start()


def test_env_format_lines(client: harness.Client) -> None:
    body = {"job_id": "7301", "user": "bob", "uid": 1001, "qpus": ["FRESNEL"], "wait_s": 20}
    code, text = client.request("POST", "/v1/acquisitions?format=env", body)
    assert code == 201
    for line in text.splitlines():
        key, _, value = line.partition("=")
        assert key in ("state", "acquisition", "message", "until", "env"), line
        if key == "env":
            name = value.split("=", 1)[0]
            assert name.startswith(("QRMI_", "QRMID_", "SLURM_JOB_QPU_", "FRESNEL_QRMI_")), name
    client.request("DELETE", "/v1/jobs/7301/acquisitions?wait_s=10")


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../../etc/passwd", "", "UTC\n"])
def test_an_invalid_timezone_is_refused_by_check_and_start(tmp_path: Path, site, emulator, munged, tz: str) -> None:
    cfg = harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, harness.free_port(), timezone=tz)
    out = subprocess.run([sys.executable, "-m", "qrmid", "--check", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "timezone" in out.stderr, out
    out = subprocess.run([sys.executable, "-m", "qrmid", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "timezone" in out.stderr, out


# ------------------------------------------------------------------ TLS
def test_tls_serves_https_and_check_validates_the_files(tmp_path: Path, site, emulator, munged) -> None:
    import ssl
    import urllib.request

    def cert(name: str) -> tuple[Path, Path]:
        crt, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True, timeout=60)
        key.chmod(0o600)
        return crt, key

    crt, key = cert("qrmid")
    other_crt, other_key = cert("other")
    port = harness.free_port()

    def config(tls: dict[str, str]) -> Path:
        return harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port,
                                    qpus=without_windows(site), public_url=f"https://127.0.0.1:{port}", tls=tls)

    def check(tls: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "qrmid", "--check", "--config", str(config(tls))],
                              capture_output=True, text=True, timeout=60)

    for bad in ({"certificate_file": str(crt), "key_file": str(other_key)},
                {"certificate_file": str(tmp_path / "missing.crt"), "key_file": str(key)},
                {"certificate_file": str(key), "key_file": str(key)}):
        out = check(bad)
        assert out.returncode == 2 and "tls" in out.stderr, (bad, out)
    other_key.chmod(0o644)
    out = check({"certificate_file": str(other_crt), "key_file": str(other_key)})
    assert out.returncode == 2 and "readable by other users" in out.stderr, out
    good = {"certificate_file": str(crt), "key_file": str(key)}
    assert check(good).returncode == 0
    cfg = config(good)
    log = tmp_path / "qrmid.log"
    with open(log, "ab") as out_f:
        proc = subprocess.Popen([sys.executable, "-m", "qrmid", "--config", str(cfg)], stdout=out_f,
                                stderr=subprocess.STDOUT)
    try:
        ctx = ssl.create_default_context(cafile=str(crt))
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=2) as r:  # noqa: S310
                    assert json.loads(r.read())["status"] == "ok"
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        # plain HTTP on the same port gets no API answer
        code, _ = raw_http(f"http://127.0.0.1:{port}", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
        assert code != 200
    finally:
        harness.stop(proc)
