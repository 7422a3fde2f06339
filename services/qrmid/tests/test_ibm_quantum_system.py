"""qrmid brokers an ibm-quantum-system QPU: qrmi's own resource inside a job (IAM, QS API and S3
all through qrmid, with job-scoped credentials) against the emulator's twin and a real S3 server
(moto), and the scoping of job ids and S3 objects between two jobs (ibm_qs.py)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import math
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import harness
import pytest
from test_acquire import acquire

qrmi = pytest.importorskip("qrmi")
pytest.importorskip("moto")
sys.path.insert(0, str(harness.REPO / "services" / "qpu-emulator" / "tests"))
import s3_server  # noqa: E402

QPU = "qs_twin"
SITE_QS_KEY = "site-qs-apikey-DO-NOT-LEAK-3b7d"
SECRETS = {"vault_qs_apikey": SITE_QS_KEY, "vault_qs_s3_id": s3_server.ACCESS_KEY,
           "vault_qs_s3_secret": s3_server.SECRET_KEY}
SHOTS = 1000
BELL = ('OPENQASM 3.0;\ninclude "stdgates.inc";\nbit[2] c;\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n'
        "c[0] = measure q[0];\nc[1] = measure q[1];\n")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_server.S3]:
    with s3_server.running(tmp_path_factory.mktemp("s3"), harness.free_port()) as store:
        yield store


@pytest.fixture(scope="module")
def qs_emulator(tmp_path_factory: pytest.TempPathFactory, s3: s3_server.S3) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("qs-emulator")
    port = harness.free_port()
    twin = {"name": QPU, "backend_name": QPU, "api": "ibm-quantum-system", "num_qubits": 5,
            "coupling_map": [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2], [3, 4], [4, 3]],
            "basis_gates": ["cz", "id", "rz", "sx", "x"], "noise": {"readout_error": 0.02},
            "credentials": {"api_keys": [SITE_QS_KEY]}}
    cfg = {"listen": {"host": "127.0.0.1", "port": port}, "state_dir": str(tmp / "state"), "workers": 1,
           "s3_endpoints": [s3.url], "twins": [twin]}
    (tmp / "emulator.json").write_text(json.dumps(cfg))
    with open(tmp / "emulator.log", "wb") as out:
        proc = harness.subprocess.Popen(
            [sys.executable, "-m", "qpu_emulator", "--config", str(tmp / "emulator.json"), "--log-level", "warning"],
            stdout=out, stderr=harness.subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    harness.wait_http(url + "/health", 120, proc)
    yield url
    harness.stop(proc)


@pytest.fixture
def qs_client(tmp_path: Path, site: dict[str, Any], emulator: harness.Emulator, qs_emulator: str,
              s3: s3_server.S3, munged: harness.Munged) -> Iterator[harness.Client]:
    """qrmid with the lab's QPUs plus an ibm-quantum-system QPU on the test twin and store."""
    port = harness.free_port()
    qpus = [{**q, "calibration_windows": []} for q in site["qpusite_qpus"]]
    qpus.append({**qpus[0], "name": QPU, "type": "ibm-quantum-system", "qubits": 5, "slots": 2})
    cfg_path = harness.qrmid_config(tmp_path, site, emulator.url, munged.socket, port, qpus=qpus)
    cfg = json.loads(cfg_path.read_text())
    for profile in cfg["policy_profiles"]:
        profile["qpus"].append(QPU)
        if profile["name"] == "production":
            profile["users"].append("eve")
    cfg["resources"].append({
        "name": QPU, "type": "ibm-quantum-system", "resource_type": "IBMQuantumSystem",
        "environment": {
            "QRMI_IBM_QS_ENDPOINT": qs_emulator + "/quantum-system", "QRMI_IBM_QS_IAM_ENDPOINT": qs_emulator,
            "QRMI_IBM_QS_SERVICE_CRN": "crn:v1:lab:private:quantum-computing:lab:a/lab::",
            "QRMI_IBM_QS_S3_ENDPOINT": s3.url, "QRMI_IBM_QS_S3_BUCKET": s3.bucket, "QRMI_IBM_QS_S3_REGION": s3.region,
        },
        "secrets": {"QRMI_IBM_QS_IAM_APIKEY": "vault_qs_apikey", "QRMI_IBM_QS_AWS_ACCESS_KEY_ID": "vault_qs_s3_id",
                    "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY": "vault_qs_s3_secret"},
    })
    cfg_path.write_text(json.dumps(cfg))
    secrets_file = Path(cfg["secrets_file"])
    secrets_file.write_text(json.dumps({**json.loads(secrets_file.read_text()), **SECRETS}))
    q = harness.Qrmid(cfg_path, f"http://127.0.0.1:{port}", tmp_path / "qrmid.log").start()
    yield harness.Client(q.url, munged.socket)
    q.stop()


def job_config(env: dict[str, str]) -> dict[str, str]:
    """What a job's QRMI reads for the QPU: its `<name>_` variables, unprefixed (qrmi's from_config)."""
    return {k.removeprefix(f"{QPU}_"): v for k, v in env.items() if k.startswith(f"{QPU}_")}


def resource(env: dict[str, str]) -> Any:
    return qrmi.QuantumResource.from_config(QPU, qrmi.ResourceType.IBMQuantumSystem, job_config(env))


def run_bell(r: Any) -> str:
    inp = json.dumps({"pubs": [[BELL, None, SHOTS]], "version": 2, "support_qiskit": False})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    for _ in range(1200):
        st = r.task_status(task)
        if st in (qrmi.TaskStatus.Completed, qrmi.TaskStatus.Failed, qrmi.TaskStatus.Cancelled):
            break
        time.sleep(0.1)
    assert st == qrmi.TaskStatus.Completed, st
    return str(task)


def test_qrmi_cycle_through_qrmid_keeps_the_site_keys(qs_client: harness.Client, s3: s3_server.S3) -> None:
    code, a = acquire(qs_client, "9101", qpus=[QPU])
    assert code == 201, a
    env = a["environment"]
    assert env["QRMI_JOB_QPU_TYPES"] == "ibm-quantum-system"
    cfg = job_config(env)
    assert cfg["QRMI_IBM_QS_ENDPOINT"] == qs_client.url + f"/proxy/{QPU}"
    assert cfg["QRMI_IBM_QS_S3_ENDPOINT"] == qs_client.url + "/s3/"
    assert cfg["QRMI_IBM_QS_S3_BUCKET"] == QPU
    assert "QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI" not in cfg
    for secret in (SITE_QS_KEY, s3.access_key, s3.secret_key, *harness.SITE_SECRETS):
        assert secret not in json.dumps(env)
    r = resource(env)
    assert r.status().to_dict()["status"] == "online"
    token = r.acquire()
    task = run_bell(r)
    result = json.loads(r.task_result(task).value)
    data = result["results"][0]["data"]["c"]
    counts: dict[str, int] = {}
    for s in data["samples"]:
        counts[s] = counts.get(s, 0) + 1
    assert sum(counts.values()) == SHOTS
    odd = counts.get("0x1", 0) + counts.get("0x2", 0)
    assert 0 < odd < SHOTS * 0.15, counts  # 2 % readout error per bit shows, an ideal Bell state would give none
    assert abs(counts.get("0x0", 0) - SHOTS / 2) < 5 * math.sqrt(SHOTS / 4) + odd
    assert "sampler" in r.task_logs(task)
    target = json.loads(r.target().value)
    assert target["configuration"]["n_qubits"] == 5
    # the job's view of its job carries no presigned URL (those are signed with the site's key)
    job = qs_client.request("GET", f"/proxy/{QPU}/v1/jobs/{task}", auth=f"Bearer {bearer(qs_client, env)}")
    assert job[0] == 200 and job[1]["storage"] == {} and job[1]["status"] == "Completed", job
    r.release(token)
    qs_client.request("DELETE", "/v1/jobs/9101/acquisitions")
    with pytest.raises(Exception):  # noqa: B017 - any refusal: the credentials died with the acquisition
        resource(env).task_result(task)


# ----------------------------------------------------------------------------- attacks
def bearer(client: harness.Client, env: dict[str, str]) -> str:
    form = f"grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey={job_config(env)['QRMI_IBM_QS_IAM_APIKEY']}"
    code, body = client.request("POST", f"/iam/{QPU}/identity/token", raw=form.encode(), auth=None,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == 200, body
    return str(body["access_token"])


def s3_call(client: harness.Client, env: dict[str, str], method: str, path: str, query: str = "",
            body: bytes = b"", sign_path: str | None = None, secret: str | None = None) -> tuple[int, bytes]:
    """A raw S3 request to qrmid's gate, SigV4-signed with the job's key pair (path sent as given)."""
    from qrmid import s3sig

    cfg = job_config(env)
    host = urlsplit(client.url).netloc
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")] if query else []
    key_id, key = cfg["QRMI_IBM_QS_AWS_ACCESS_KEY_ID"], secret or cfg["QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY"]
    headers = s3sig.sign_headers(method, host, sign_path or path, pairs, body if method == "PUT" else None,
                                 key_id, key, cfg["QRMI_IBM_QS_S3_REGION"], dt.datetime.now(dt.UTC))
    conn = http.client.HTTPConnection(host, timeout=30)
    try:
        conn.request(method, path + (f"?{query}" if query else ""), body=body or None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_another_jobs_ids_and_objects_are_out_of_reach(qs_client: harness.Client, s3: s3_server.S3) -> None:
    code, a = acquire(qs_client, "9201", qpus=[QPU])
    assert code == 201, a
    task = run_bell(resource(a["environment"]))
    code, b = acquire(qs_client, "9202", qpus=[QPU], user="eve", uid=1002)
    assert code == 201, b
    eve = b["environment"]
    auth = f"Bearer {bearer(qs_client, eve)}"
    # the QS API: another job's id
    for method, path in (("GET", f"v1/jobs/{task}"), ("POST", f"v1/jobs/{task}/cancel"), ("DELETE", f"v1/jobs/{task}")):
        code, _ = qs_client.request(method, f"/proxy/{QPU}/{path}", auth=auth)
        assert code == 404, (method, path, code)
    job = {"id": task, "backend": QPU, "program_id": "sampler", "log_level": "info", "timeout_secs": 60,
           "storage": {}}
    assert qs_client.request("POST", f"/proxy/{QPU}/v1/jobs", job, auth=auth)[0] == 403
    fresh = str(uuid.uuid4())  # an id whose input this job never uploaded
    assert qs_client.request("POST", f"/proxy/{QPU}/v1/jobs", {**job, "id": fresh}, auth=auth)[0] == 403
    # the listing names jobs without their storage
    code, listed = qs_client.request("GET", f"/proxy/{QPU}/v1/jobs", auth=auth)
    assert code == 200 and all(j["storage"] == {} for j in listed["jobs"]), listed
    assert "X-Amz-Signature" not in json.dumps(listed)
    # S3: another job's objects, read or overwritten
    for kind in ("results", "logs", "input"):
        code, err = s3_call(qs_client, eve, "GET", f"/s3/{QPU}/{kind}_{task}.json", "x-id=GetObject")
        assert code == 404 and b"NoSuchKey" in err, (kind, code, err)
    assert s3_call(qs_client, eve, "PUT", f"/s3/{QPU}/input_{task}.json", "x-id=PutObject", b"{}")[0] == 404
    # a job writes only input objects
    own = str(uuid.uuid4())
    assert s3_call(qs_client, eve, "PUT", f"/s3/{QPU}/results_{own}.json", "x-id=PutObject", b"{}")[0] == 403
    # path and query tricks, each refused before any object is touched
    tricks = [
        ("GET", f"/s3/{QPU}/../{QPU}/results_{task}.json", "x-id=GetObject"),
        ("GET", f"/s3/{QPU}/%2e%2e/results_{task}.json", "x-id=GetObject"),
        ("GET", f"/s3/{QPU}%2Fresults_{task}.json", "x-id=GetObject"),
        ("GET", f"/s3/{QPU}/results_{task}.json%00", "x-id=GetObject"),
        ("GET", f"/s3/{QPU}//results_{task}.json", "x-id=GetObject"),
        ("GET", f"/s3/sc_twin/results_{task}.json", "x-id=GetObject"),
        ("GET", f"/s3/{QPU}/results_{task}.json", "x-id=GetObject&x-id=GetObject"),
        ("GET", f"/s3/{QPU}/results_{task}.json", "list-type=2"),
        ("GET", f"/s3/{QPU}/results_{task}.json", "x-id=PutObject"),
        ("GET", f"/s3/{QPU}", "list-type=2"),
        ("DELETE", f"/s3/{QPU}/input_{task}.json", "x-id=DeleteObject"),
    ]
    for method, path, query in tricks:
        code, _ = s3_call(qs_client, eve, method, path, query)
        assert code in (400, 403, 404, 405), (method, path, query, code)
    # a bad signature is refused as such
    code, err = s3_call(qs_client, eve, "GET", f"/s3/{QPU}/results_{task}.json", "x-id=GetObject", secret="x" * 64)
    assert code == 401 and b"signature" in err
    # the owner still reads its own results
    assert s3_call(qs_client, a["environment"], "GET", f"/s3/{QPU}/results_{task}.json", "x-id=GetObject")[0] == 200


def test_signatures_agree_with_botocore() -> None:
    """qrmid's SigV4 check accepts what botocore signs and refuses it once altered."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from qrmid import s3sig

    body = b'{"pubs": []}'
    req = AWSRequest("PUT", "http://127.0.0.1:9/s3/qs/input_x.json?x-id=PutObject", data=body,
                     headers={"x-amz-content-sha256": __import__("hashlib").sha256(body).hexdigest()})
    S3SigV4Auth(Credentials("AKID.jwt-like_key", "secret"), "s3", "us-east-1").add_auth(req)
    headers = {k.lower(): v for k, v in req.headers.items()}
    headers["host"] = "127.0.0.1:9"
    signed = s3sig.parse_header(headers["authorization"], headers)
    now = dt.datetime.now(dt.UTC)
    s3sig.verify(signed, "secret", "PUT", "/s3/qs/input_x.json", [("x-id", "PutObject")], headers, now, presigned=False)
    for bad in ({"method": "GET"}, {"path": "/s3/qs/input_y.json"}, {"secret": "other"}):
        with pytest.raises(s3sig.SignatureError):
            s3sig.verify(signed, bad.get("secret", "secret"), bad.get("method", "PUT"),
                         bad.get("path", "/s3/qs/input_x.json"), [("x-id", "PutObject")], headers, now,
                         presigned=False)
    with pytest.raises(s3sig.SignatureError, match="15 minutes"):
        s3sig.verify(signed, "secret", "PUT", "/s3/qs/input_x.json", [("x-id", "PutObject")], headers,
                     now + dt.timedelta(hours=1), presigned=False)
