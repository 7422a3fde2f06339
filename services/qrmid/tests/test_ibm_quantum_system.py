"""qrmid brokers an ibm-quantum-system QPU: qrmi's own resource inside a job (IAM, QS API and S3
all through qrmid, with job-scoped credentials) against the emulator's twin and a real S3 server
(moto); qrmid's SigV4 check against botocore's. Attacks: test_attack_ibm_qs.py."""

from __future__ import annotations

import datetime as dt
import json
import math

import harness
import pytest
from test_acquire import acquire

qrmi = pytest.importorskip("qrmi")
pytest.importorskip("moto")
from ibm_qs_world import BELL, QPU, SHOTS, SITE_QS_KEY, bearer, job_config, resource, run_bell, s3_server  # noqa: E402


def test_qrmi_cycle_through_qrmid_keeps_the_site_keys(qs_client: harness.Client, qs_s3: s3_server.S3) -> None:
    code, a = acquire(qs_client, "9101", qpus=[QPU])
    assert code == 201, a
    env = a["environment"]
    assert env["QRMI_JOB_QPU_TYPES"] == "ibm-quantum-system"
    cfg = job_config(env)
    assert cfg["QRMI_IBM_QS_ENDPOINT"] == qs_client.url + f"/proxy/{QPU}"
    assert cfg["QRMI_IBM_QS_S3_ENDPOINT"] == qs_client.url + "/s3/"
    assert cfg["QRMI_IBM_QS_S3_BUCKET"] == QPU
    assert "QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI" not in cfg
    for secret in (SITE_QS_KEY, qs_s3.access_key, qs_s3.secret_key, *harness.SITE_SECRETS):
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


def test_qrmi_task_stop_through_qrmid(qs_client: harness.Client) -> None:
    code, a = acquire(qs_client, "9501", qpus=[QPU])
    assert code == 201, a
    r = resource(a["environment"])
    inp = json.dumps({"pubs": [[BELL, None, 20000]], "version": 2, "support_qiskit": False})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    r.task_stop(task)  # cancel if running, then delete: both through the proxy, on the job's own task
    auth = f"Bearer {bearer(qs_client, a['environment'])}"
    code, _ = qs_client.request("GET", f"/proxy/{QPU}/v1/jobs/{task}", auth=auth)
    assert code == 404


def test_an_ended_quantum_system_job_is_accounted_in_qpu_seconds() -> None:
    from qrmid import utilisation

    done = {"id": "t1", "status": "Completed", "usage": {"quantum_nanoseconds": 2_500_000_000}}
    assert utilisation.ended_task("qs.job", done) == ("t1", 2.5)
    assert utilisation.ended_task("qs.job", {**done, "status": "Running"}) is None
    assert utilisation.ended_task("qs.job", {"id": "t2", "status": "Cancelled"}) == ("t2", 0.0)
    assert utilisation.ended_task("qs.job", {**done, "usage": {"quantum_nanoseconds": "2"}}) is None
    assert utilisation.ended_task("qs.job", {**done, "usage": {"quantum_nanoseconds": 10**30}}) is None
