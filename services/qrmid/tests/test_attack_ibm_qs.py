"""Attacks on the ibm-quantum-system routes through qrmid (proxy and S3 gate): a second job
against the first's job id and S3 objects, path and query tricks, signatures."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import harness
import proxy_attack
import pytest
from test_acquire import acquire

qrmi = pytest.importorskip("qrmi")
pytest.importorskip("moto")
from ibm_qs_world import QPU, bearer, job_config, resource, run_bell, s3_call, s3_server  # noqa: E402


def test_another_jobs_ids_and_objects_are_out_of_reach(qs_client: harness.Client, qs_s3: s3_server.S3) -> None:
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




def test_proxy_tricks_on_the_quantum_system_routes(qs_client: harness.Client) -> None:
    """The QS API routes through the proxy: dot segments, encoded separators, query keys."""
    import proxy_attack

    code, a = acquire(qs_client, "9301", qpus=[QPU])
    assert code == 201, a
    token = bearer(qs_client, a["environment"])
    task = run_bell(resource(a["environment"]))
    refused = [
        ("GET", f"/proxy/{QPU}/v1/jobs/../jobs/{task}"),
        ("GET", f"/proxy/{QPU}/v1/jobs/%2e%2e/jobs/{task}"),
        ("GET", f"/proxy/{QPU}/v1/jobs%2F{task}"),
        ("GET", f"/proxy/{QPU}/v1/backends/sc_twin"),  # another QPU
        ("GET", f"/proxy/{QPU}/v1/backends/sc_twin/lanes"),
        ("GET", f"/proxy/{QPU}/v1/jobs?backend={QPU}"),  # no query key is accepted on these routes
        ("GET", f"/proxy/{QPU}/v1/jobs/{task}?exclude_params=true&exclude_params=true"),
        ("GET", f"/proxy/{QPU}/v1/jobs/{task}/results"),  # not a QS route (results are in S3)
        ("PATCH", f"/proxy/{QPU}/v1/jobs/{task}"),
        ("GET", f"/proxy/{QPU}/v1/backends/{QPU}/defaults"),
    ]
    for method, target in refused:
        reply = proxy_attack.send(qs_client.url, method, target, token=token)
        assert reply.status in (400, 403, 404, 405), (method, target, reply.status, reply.text[:200])
    assert proxy_attack.send(qs_client.url, "GET", f"/proxy/{QPU}/v1/jobs/{task}", token=token).status == 200
    # a submission with fields the API does not take, or for another QPU, is refused before upstream
    job = {"id": task, "backend": QPU, "program_id": "sampler", "timeout_secs": 60, "storage": {}}
    for bad in ({**job, "backend": "sc_twin"}, {**job, "remote_storage": {}}, {**job, "timeout_secs": 10**9},
                {**job, "program_id": "circuit-runner"}, {**job, "id": task.upper()}):
        reply = proxy_attack.send(qs_client.url, "POST", f"/proxy/{QPU}/v1/jobs", token=token,
                                  body=json.dumps(bad).encode())
        assert reply.status in (400, 403), (bad, reply.status, reply.text[:200])


def test_presigned_urls_through_the_gate_are_scoped_too(qs_client: harness.Client) -> None:
    """A presigned GET the job signs with its own key pair works for its own results only, and not
    once expired or altered."""
    import http.client
    from urllib.parse import urlsplit

    from qrmid import s3sig

    code, a = acquire(qs_client, "9401", qpus=[QPU])
    assert code == 201, a
    task = run_bell(resource(a["environment"]))
    code, b = acquire(qs_client, "9402", qpus=[QPU], user="eve", uid=1002)
    assert code == 201, b
    host = urlsplit(qs_client.url).netloc

    def presigned_get(env: dict[str, str], path: str, when: dt.datetime, expires: int = 300) -> int:
        cfg = job_config(env)
        url = s3sig.presign("GET", qs_client.url, host, path, cfg["QRMI_IBM_QS_AWS_ACCESS_KEY_ID"],
                            cfg["QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY"], cfg["QRMI_IBM_QS_S3_REGION"], expires, when)
        conn = http.client.HTTPConnection(host, timeout=30)
        try:
            conn.request("GET", url.removeprefix(qs_client.url))
            return conn.getresponse().status
        finally:
            conn.close()

    now = dt.datetime.now(dt.UTC)
    path = f"/s3/{QPU}/results_{task}.json"
    assert presigned_get(a["environment"], path, now) == 200
    assert presigned_get(b["environment"], path, now) == 404
    assert presigned_get(a["environment"], path, now - dt.timedelta(hours=2), expires=60) == 401
    # a URL signed for one object does not open another
    cfg = job_config(a["environment"])
    url = s3sig.presign("GET", qs_client.url, host, path, cfg["QRMI_IBM_QS_AWS_ACCESS_KEY_ID"],
                        cfg["QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY"], cfg["QRMI_IBM_QS_S3_REGION"], 300, now)
    other = url.removeprefix(qs_client.url).replace("results_", "logs_")
    conn = http.client.HTTPConnection(host, timeout=30)
    conn.request("GET", other)
    assert conn.getresponse().status == 401
    conn.close()


def test_job_bodies_above_the_api_bound_reach_the_gate(qs_client: harness.Client) -> None:
    """A job's S3 upload is bounded like its proxy requests (4 MiB), not like qrmid's own API (64 KiB):
    a 200 KiB input (a few circuits' QPY) is stored; one past 4 MiB is refused (413) unread."""
    from qrmid.vendor_routes import MAX_BODY_BYTES

    code, a = acquire(qs_client, "9301", qpus=[QPU])
    assert code == 201, a
    env = a["environment"]
    big = json.dumps({"pubs": [], "pad": "x" * 200 * 1024}).encode()
    own = str(uuid.uuid4())
    code, err = s3_call(qs_client, env, "PUT", f"/s3/{QPU}/input_{own}.json", "x-id=PutObject", big)
    assert code == 200, (code, err[:300])
    code, got = s3_call(qs_client, env, "GET", f"/s3/{QPU}/input_{own}.json", "x-id=GetObject")
    assert code == 200 and got == big
    # past the job routes' bound: refused from the declared length, before the body or its signature is read
    r = proxy_attack.send(qs_client.url, "PUT", f"/s3/{QPU}/input_{uuid.uuid4()}.json?x-id=PutObject",
                          content_length=MAX_BODY_BYTES + 1)
    assert r.status == 413, (r.status, r.text[:300])
