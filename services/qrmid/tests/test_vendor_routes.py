"""The proxy's canonical form and allow-list, without services: what is accepted is sent
byte for byte as received; what two parsers could read differently is refused."""

from __future__ import annotations

import json

import pytest
from qrmid import vendor_routes as vr

# What qrmi 0.26.4 sends through qrmid (recorded from its traffic against the emulator: acquire,
# status, target, task_start/status/result/logs/stop, qrmi.primitives.ibm's SamplerV2).
QRMI_REQUESTS = [
    (vr.IBM, "GET", "/v1/backends"),
    (vr.IBM, "GET", "/v1/backends/sc_twin/configuration"),
    (vr.IBM, "GET", "/v1/backends/sc_twin/properties"),
    (vr.IBM, "GET", "/v1/backends/sc_twin/status"),
    (vr.IBM, "GET", "/v1/jobs?limit=200&offset=0&pending=true&backend=sc_twin&sort=DESC&exclude_params=true"),
    (vr.IBM, "POST", "/v1/jobs"),
    (vr.IBM, "GET", "/v1/jobs/d3f1a0c2-1b7e-4c52-9a43-7f0e5d1c2b3a"),
    (vr.IBM, "GET", "/v1/jobs/d3f1a0c2-1b7e-4c52-9a43-7f0e5d1c2b3a/results"),
    (vr.IBM, "GET", "/v1/jobs/d3f1a0c2-1b7e-4c52-9a43-7f0e5d1c2b3a/logs"),
    (vr.IBM, "POST", "/v1/jobs/d3f1a0c2-1b7e-4c52-9a43-7f0e5d1c2b3a/cancel"),
    (vr.PASQAL, "GET", "/core-fast/api/v1/devices?device_type=FRESNEL"),
    (vr.PASQAL, "GET", "/core-fast/api/v1/devices/specs/FRESNEL"),
    (vr.PASQAL, "POST", "/core-fast/api/v1/batches"),
    (vr.PASQAL, "GET", "/core-fast/api/v2/batches/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f"),
    (vr.PASQAL, "GET", "/core-fast/api/v2/jobs/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f"),
    (vr.PASQAL, "GET", "/core-fast/api/v1/batches/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f/full_results"),
    (vr.PASQAL, "PATCH", "/core-fast/api/v2/batches/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f/cancel"),
    # qrmi's iqm-server resource (status, target, task_start/status/result/logs/stop) and iqm-client 35
    (vr.IQM, "GET", "/api/v1/quantum-computers/spark"),
    (vr.IQM, "GET", "/api/v1/quantum-computers/spark/health"),
    (vr.IQM, "GET", "/api/v1/quantum-computers/spark/artifacts/static-quantum-architectures"),
    (vr.IQM, "GET", "/api/v1/calibration-sets/spark/default"),
    (vr.IQM, "GET", "/api/v1/calibration-sets/spark/default/dynamic-quantum-architecture"),
    (vr.IQM, "GET", "/api/v1/calibration-sets/spark/default/metrics"),
    (vr.IQM, "POST", "/api/v1/jobs/spark/circuit?use_timeslot=false"),
    (vr.IQM, "GET", "/api/v1/jobs/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f?wait_until_terminal=true&timeout_seconds=30"),
    (vr.IQM, "GET", "/api/v1/jobs/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f/artifacts/measurements"),
    (vr.IQM, "GET", "/api/v1/jobs/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f/artifacts/measurement_counts"),
    (vr.IQM, "POST", "/api/v1/jobs/0b9c6f2e-5d0a-4e1b-8c7d-2a3b4c5d6e7f/cancel"),
]


@pytest.mark.parametrize(("api", "method", "target"), QRMI_REQUESTS)
def test_what_qrmi_sends_is_allowed_and_sent_unchanged(api: str, method: str, target: str) -> None:
    path, _, query = target.partition("?")
    segments = vr.split_path(b"/proxy/q" + path.encode())[2:]
    m = vr.match(api, method, segments, vr.parse_query(query.encode()))
    assert m.upstream_path() == path
    assert m.upstream_query() == query


@pytest.mark.parametrize("raw", [
    b"/a/%2e%2e/b", b"/a/%2E%2E/b", b"/a/.%2e/b", b"/a/%2e./b", b"/a/../b", b"/a/./b", b"/a/.", b"/a/..",
    b"/a/%252e%252e/b", b"/a/%25%32%65/b", b"/a/%c0%ae/b", b"/a/%u002e/b", b"/a/...", b"/a/.b",
    b"/a%2fb", b"/a%2Fb", b"/a%252fb", b"/a%5cb", b"/a%5Cb", b"/a\\b",
    b"/a//b", b"//a", b"/a/", b"/", b"a/b",
    b"/a/b\x00", b"/a/b\x7f", b"/a/\xc3\xa9", b"/a/b c", b"/a/b;c", b"/a/b?c", b"/a/b#c", b"/a/~b", b"/a/b+c",
    b"/a/" + b"b" * 129, b"/" + b"a/" * 1100 + b"a",
])
def test_a_path_outside_the_canonical_form_is_refused(raw: bytes) -> None:
    with pytest.raises(vr.Refused) as err:
        vr.split_path(raw)
    assert 400 <= err.value.status < 500


@pytest.mark.parametrize("raw", [
    b"a=1&a=2", b"a=1&%61=2", b"session_id=x&session%5Fid=y", b"session%5Fid=y", b"exclude%5Fparams=false",
    b"a=%74rue", b"a=%zz", b"a=%4", b"a=%", b"a=%00", b"a=%0a", b"a=%20", b"a=%C3%A9", b"a=b+c", b"a=b;c=d",
    b"a", b"a=1&", b"&a=1", b"a=1&&b=2", b"A=1", b"a-b=1", b"a=b c", b"a=\xc3\xa9", b"=1", b"a=" + b"x" * 3000,
])
def test_a_query_two_parsers_could_read_differently_is_refused(raw: bytes) -> None:
    with pytest.raises(vr.Refused) as err:
        vr.parse_query(raw)
    assert 400 <= err.value.status < 500


def test_a_query_is_forwarded_re_encoded() -> None:
    q = vr.parse_query(b"created_after=2026-01-01T00:00:00%2B01:00&limit=5")
    m = vr.match(vr.IBM, "GET", ["v1", "jobs"], q)
    assert m.query == {"created_after": "2026-01-01T00:00:00+01:00", "limit": "5"}
    assert m.upstream_query() == "created_after=2026-01-01T00%3A00%3A00%2B01%3A00&limit=5"


@pytest.mark.parametrize(("api", "method", "segments", "status"), [
    (vr.IBM, "PUT", ["v1", "jobs", "x"], 405),
    (vr.IBM, "POST", ["v1", "sessions"], 403),
    (vr.IBM, "GET", ["v1", "sessions"], 403),
    (vr.IBM, "POST", ["v1", "instances", "usage"], 405),
    (vr.IBM, "GET", ["v2", "jobs", "x"], 403),
    (vr.PASQAL, "DELETE", ["core-fast", "api", "v1", "batches", "x"], 405),
    (vr.PASQAL, "PUT", ["core-fast", "api", "v1", "batches"], 405),
    (vr.PASQAL, "GET", ["core-fast", "api", "v2", "batches", "x", "jobs"], 405),
    (vr.PASQAL, "PUT", ["core-fast", "api", "v2", "batches", "x", "complete"], 405),
    (vr.PASQAL, "GET", ["core-fast", "api", "v1", "jobs"], 403),
    ("iqm-server", "GET", ["v1", "jobs"], 403),
])
def test_only_allow_listed_routes_match(api: str, method: str, segments: list[str], status: int) -> None:
    with pytest.raises(vr.Refused) as err:
        vr.match(api, method, segments, {})
    assert err.value.status == status


def test_query_keys_are_allow_listed_per_route() -> None:
    with pytest.raises(vr.Refused):
        vr.match(vr.IBM, "GET", ["v1", "jobs", "x"], {"session_id": "s"})
    with pytest.raises(vr.Refused):
        vr.match(vr.IBM, "GET", ["v1", "backends"], {"fields": "x"})
    with pytest.raises(vr.Refused):
        vr.match(vr.IBM, "GET", ["v1", "jobs"], {"exclude_params": "1"})


CTX = vr.Context("sc_twin", "own-session", "site-project")


@pytest.mark.parametrize("body", [
    b"[]", b'"x"', b"1", b"null", b"true", b"{", b"\xff", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
    b'{"a": 1e999}', b'{"a": ' + b"[" * 80 + b"]" * 80 + b"}", b'{"a": 1' + b"0" * 5000 + b"}",
    b'{"session_id": "other"}', b'{"backend": "other"}', b'{"backend_name": "other"}',
    b'{"remote_storage": {}}', b" " * vr.MAX_BODY_BYTES + b"{}",
])
def test_a_job_body_that_is_not_a_bounded_finite_object_for_this_job_is_refused(body: bytes) -> None:
    with pytest.raises(vr.Refused) as err:
        vr.rewrite_body(vr.Body.IBM_JOB, body, CTX)
    assert 400 <= err.value.status < 500


def test_a_job_body_is_bound_to_the_job() -> None:
    out = vr.rewrite_body(vr.Body.IBM_JOB, b'{"program_id": "sampler", "params": {"pubs": [1]}}', CTX)
    assert out == b'{"program_id":"sampler","params":{"pubs":[1]},"session_id":"own-session","backend":"sc_twin"}'
    batch = vr.rewrite_body(vr.Body.PASQAL_BATCH, b'{"jobs": [{"runs": 1}]}', vr.Context("FRESNEL", None, "p1"))
    assert batch == b'{"jobs":[{"runs":1}],"device_type":"FRESNEL","project_id":"p1"}'
    with pytest.raises(vr.Refused):
        vr.rewrite_body(vr.Body.PASQAL_BATCH, b'{"project_id": "p2"}', vr.Context("FRESNEL", None, "p1"))
    assert vr.rewrite_body(vr.Body.NONE, b"{}", CTX) is None


def test_only_allow_listed_headers_pass() -> None:
    sent = {"accept": "application/json", "ibm-api-version": "2025-01-01", "cookie": "a=b", "host": "evil",
            "x-forwarded-for": "1.2.3.4", "service-crn": "crn:other", "authorization": "Bearer x",
            "transfer-encoding": "chunked", "content-length": "5"}
    assert vr.forward_headers(sent) == {"accept": "application/json", "ibm-api-version": "2025-01-01"}
    assert vr.forward_headers({"accept": "a\r\nX-Injected: 1"}) == {}


def test_the_new_vendor_routes_are_scoped() -> None:
    """IBM job metrics and Pasqal's open-batch routes name an object the job created; the
    batch listing is scoped by qrmid (owned ids), the device specs answer by the job's device."""
    m = vr.match(vr.IBM, "GET", ["v1", "jobs", "t1", "metrics"], {})
    assert m.route.params == {"task": vr.Scope.OWNED}
    m = vr.match(vr.PASQAL, "POST", ["core-fast", "api", "v2", "batches", "b1", "jobs"], {})
    assert m.route.params == {"batch": vr.Scope.OWNED} and m.route.body is vr.Body.PASQAL_JOBS
    m = vr.match(vr.PASQAL, "PATCH", ["core-fast", "api", "v2", "batches", "b1", "complete"], {})
    assert m.route.params == {"batch": vr.Scope.OWNED}
    m = vr.match(vr.PASQAL, "GET", ["core-fast", "api", "v1", "batches"], {"offset": "0", "limit": "100"})
    assert m.route.owned_filter == "id" and m.route.authenticated
    with pytest.raises(vr.Refused) as err:  # the job cannot name ids itself
        vr.match(vr.PASQAL, "GET", ["core-fast", "api", "v1", "batches"], {"id": "someone-elses"})
    assert err.value.status == 400
    scoped = vr.Match(m.route, {}, m.query, (("id", "b1"), ("id", "b2")))
    assert scoped.upstream_query() == "offset=0&limit=100&id=b1&id=b2"
    m = vr.match(vr.PASQAL, "GET", ["core-fast", "api", "v1", "devices", "specs"], {})
    assert m.route.answer is vr.Answer.PASQAL_OWN_SPECS and m.route.authenticated


def test_device_specs_answer_names_the_jobs_device_only() -> None:
    ctx = vr.Context("FRESNEL", None)
    upstream = json.dumps({"status": "success", "data": {"FRESNEL": "{}", "EMU_MPS": "{}"}}).encode()
    seen = json.loads(vr.filter_answer(vr.Answer.PASQAL_OWN_SPECS, upstream, ctx))
    assert seen["data"] == {"FRESNEL": "{}"}
    with pytest.raises(vr.Refused):
        vr.filter_answer(vr.Answer.PASQAL_OWN_SPECS, b'{"data": []}', ctx)


def test_instance_usage_tells_the_limit_only() -> None:
    ctx = vr.Context("sc_twin", "s1")
    m = vr.match(vr.IBM, "GET", ["v1", "instances", "usage"], {})
    upstream = b'{"usage_consumed_seconds": 1234.5, "usage_limit_seconds": 3600, "usage_limit_reached": false}'
    assert json.loads(vr.filter_answer(m.route.answer, upstream, ctx)) == {"usage_limit_reached": False}
    assert json.loads(vr.filter_answer(m.route.answer, b'{"usage_limit_reached": true}', ctx)) == {
        "usage_limit_reached": True}


def test_added_jobs_are_a_bounded_array_of_objects() -> None:
    ctx = vr.Context("FRESNEL", None)
    body = vr.rewrite_body(vr.Body.PASQAL_JOBS, b'[{"runs": 10, "variables": {"t": 1.5}}]', ctx)
    assert json.loads(body or b"") == [{"runs": 10, "variables": {"t": 1.5}}]
    for bad in (b"{}", b"[]", b"[1]", b"[" + b'{"runs":1},' * 100 + b'{"runs":1}]', b'[{"runs": NaN}]'):
        with pytest.raises(vr.Refused) as err:
            vr.rewrite_body(vr.Body.PASQAL_JOBS, bad, ctx)
        assert err.value.status == 400


def test_compressed_bodies_are_inflated_within_the_bound() -> None:
    import gzip
    import zlib

    doc = b'{"runs": 1}'
    assert vr.inflate(gzip.compress(doc), "gzip") == doc
    assert vr.inflate(zlib.compress(doc), "deflate") == doc
    assert vr.inflate(doc, None) == doc
    bomb = gzip.compress(b"0" * (vr.MAX_BODY_BYTES + 1))  # a few KiB that inflate past the bound
    assert len(bomb) < 64 * 1024
    cases = [(bomb, "gzip", 413), (doc, "br", 415), (b"not gzip", "gzip", 400),
             (gzip.compress(doc)[:-4], "gzip", 400), (gzip.compress(doc) + b"trailing", "gzip", 400)]
    for body, enc, status in cases:
        with pytest.raises(vr.Refused) as err:
            vr.inflate(body, enc)
        assert err.value.status == status, (enc, status)


IQM_CTX = vr.Context("spark", None)


def _iqm(method: str, target: str) -> vr.Match:
    path, _, query = target.partition("?")
    return vr.match(vr.IQM, method, vr.split_path(path.encode())[0:], vr.parse_query(query.encode()))


@pytest.mark.parametrize(("method", "target", "status"), [
    ("GET", "/api/v1/jobs/j1?timeout_seconds=600", 400),  # a long poll would hold qrmid's connection
    ("GET", "/api/v1/jobs/j1?wait_until_terminal=yes", 400),
    ("GET", "/api/v1/jobs/j1?include=payload", 400),  # unknown query key
    ("GET", "/api/v1/jobs/j1/payload", 403),  # the job's input is not on the allow-list
    ("DELETE", "/api/v1/jobs/j1", 405),
    ("GET", "/api/v1/jobs", 403),  # no listing of the site's jobs
    ("POST", "/api/v1/jobs/spark/pulse", 403),  # only circuit jobs
    ("GET", "/api/v1/quantum-computers/spark/timeslots", 403),
    ("POST", "/api/v1/tokens", 403),
])
def test_iqm_requests_off_the_allow_list_are_refused(method: str, target: str, status: int) -> None:
    with pytest.raises(vr.Refused) as err:
        m = _iqm(method, target)
        vr.apply_rule(m, IQM_CTX)
    assert err.value.status == status


def test_iqm_quantum_computer_list_shows_only_the_jobs_qpu() -> None:
    doc = {"quantum_computers": [{"id": "a", "alias": "spark"}, {"id": "b", "alias": "garnet"}, "junk"]}
    out = json.loads(vr.filter_answer(vr.Answer.IQM_OWN_QC, json.dumps(doc).encode(), IQM_CTX))
    assert out == {"quantum_computers": [{"id": "a", "alias": "spark"}]}
    with pytest.raises(vr.Refused):
        vr.filter_answer(vr.Answer.IQM_OWN_QC, b'{"quantum_computers": {}}', IQM_CTX)


def test_iqm_circuit_job_body_is_checked_and_reserialised() -> None:
    body = b'{"circuits": [{"name": "c", "instructions": []}],   "shots": 10}'
    sent = b'{"circuits":[{"name":"c","instructions":[]}],"shots":10}'
    assert vr.rewrite_body(vr.Body.IQM_JOB, body, IQM_CTX) == sent
    for bad in (b"[]", b'{"shots": 10}', b'{"circuits": [], "shots": NaN}', b"{"):
        with pytest.raises(vr.Refused):
            vr.rewrite_body(vr.Body.IQM_JOB, bad, IQM_CTX)


def test_iqm_created_job_is_recorded() -> None:
    assert vr.created_ids(vr.Records.IQM_JOB, "POST", {"id": "0b9c6f2e-5d0a", "status": "waiting"}) == [
        ("0b9c6f2e-5d0a", "task")]
    assert vr.created_ids(vr.Records.IQM_JOB, "POST", {"id": "../x"}) == []
