"""Attacks on qrmid's proxy from inside a job, against the real qrmid, munged and emulator.

Two jobs hold the same QPUs: a victim (bob) with a session, a finished IBM task and a
finished Pasqal batch, and an attacker (alice) with its own. The attacker sends each
variant as raw bytes (nothing normalised on the way) with its own valid credentials.
Every variant must be refused by qrmid itself (its {"detail"} answer: nothing reached
the QPU service, whose errors have another shape) and change nothing: afterwards the
victim still reads its task, its results and its batch, and its session is still open.

Classes (issue 11, findings 1, 2, 3 and 8): dot segments, encoded separators, empty
segments, query keys read twice or differently, unknown query keys, other jobs' ids,
methods off the allow-list, non-object and non-finite JSON, bodies just above the
bound, the anonymous Pasqal device path, metric labels from unknown QPU names.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import harness
import pytest
from conftest import without_windows
from proxy_attack import (
    IQM_QPU,
    Job,
    Reply,
    bell_circuit,
    new_job,
    refused_by_qrmid,
    run_ibm_task,
    run_iqm_job,
    run_pasqal_batch,
    send,
)
from qrmid.vendor_routes import MAX_BODY_BYTES


@pytest.fixture
def backend() -> str:
    """The proxy's scoping reads one table (remote_objects): SQLite is enough here."""
    return "sqlite"


@dataclass
class World:
    qrmid: harness.Qrmid
    client: harness.Client
    victim: Job
    attacker: Job

    def fill(self, text: str) -> str:
        v, a = self.victim, self.attacker
        ids = {"V_TASK": v.task, "V_SESSION": v.session, "V_BATCH": v.batch, "V_PJOB": v.pasqal_job,
               "OWN_TASK": a.task, "OWN_SESSION": a.session, "OWN_BATCH": a.batch, "OWN_PJOB": a.pasqal_job,
               "V_IJOB": v.iqm_job, "OWN_IJOB": a.iqm_job}
        return PLACEHOLDER.sub(lambda m: ids[m.group(1)], text)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, site: dict[str, Any], emulator: harness.Emulator, munged: harness.Munged
) -> Iterator[World]:
    from job_sample import pi_pulse

    tmp = tmp_path_factory.mktemp("attack-proxy")
    port = harness.free_port()
    qpus = [{**q, "slots": 2} for q in without_windows(site)]
    cfg = harness.qrmid_config(tmp, site, emulator.url, munged.socket, port, qpus=qpus)
    q = harness.Qrmid(cfg, f"http://127.0.0.1:{port}", tmp / "qrmid.log").start()
    try:
        client = harness.Client(q.url, munged.socket)
        victim = new_job(client, "7001", "bob", 2002)
        attacker = new_job(client, "7002", "alice", 2001)
        victim.task = run_ibm_task(victim)
        attacker.task = run_ibm_task(attacker)
        sequence = pi_pulse()
        victim.batch, victim.pasqal_job = run_pasqal_batch(victim, sequence)
        attacker.batch, attacker.pasqal_job = run_pasqal_batch(attacker, sequence)
        victim.iqm_job = run_iqm_job(victim)
        attacker.iqm_job = run_iqm_job(attacker)
        yield World(q, client, victim, attacker)
    finally:
        q.stop()


PLACEHOLDER = re.compile(r"\{((?:V|OWN)_(?:TASK|SESSION|BATCH|PJOB|IJOB))\}")
VICTIM_DATA = ("OPENQASM", '"samples"', '"counter"', "sequence_builder", '"accepting_jobs"', '"measurement_keys"',
               '"instructions"')


def assert_intact(w: World) -> None:
    """The victim's objects are as they were: task readable and completed, results readable,
    session open and accepting, batch readable and done."""
    v = w.victim
    r = v.ibm_get(f"/v1/jobs/{v.task}")
    assert r.status == 200 and r.body["state"]["status"] == "Completed", r.text[:300]
    assert v.ibm_get(f"/v1/jobs/{v.task}/results").status == 200
    s = v.ibm_get(f"/v1/sessions/{v.session}")
    assert s.status == 200 and s.body["state"] != "closed" and s.body["accepting_jobs"], s.text[:300]
    b = v.pasqal_get(f"/core-fast/api/v2/batches/{v.batch}")
    assert b.status == 200 and b.body["data"]["status"] == "DONE", b.text[:300]
    j = v.iqm_get(f"/api/v1/jobs/{v.iqm_job}")
    assert j.status == 200 and j.body["status"] == "completed", j.text[:300]
    assert v.iqm_get(f"/api/v1/jobs/{v.iqm_job}/artifacts/measurements").status == 200


def assert_refused(w: World, r: Reply) -> None:
    assert refused_by_qrmid(r), f"not refused by qrmid: {r.status} {r.text[:400]}"
    for marker in VICTIM_DATA:
        assert marker not in r.text, f"victim data in the refusal: {r.text[:400]}"
    assert_intact(w)


# ------------------------------------------------------------------------- the variants
# (api, method, raw path after …/proxy/<qpu>, body); {V_…} are the victim's ids, {OWN_…} the attacker's.
Attack = tuple[str, str, str, str | None]

DOT_SEGMENTS: list[Attack] = [
    ("ibm", "GET", "/v1/backends/%2e%2e/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/%2E%2E/jobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/backends/%2e%2E/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/.%2e/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/%2e./jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/../jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/%252e%252e/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/%25%32%65%25%32%65/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/%c0%ae%c0%ae/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/%u002e%u002e/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/sc_twin/status/%2e%2e/%2e%2e/%2e%2e/jobs/{V_TASK}/logs", None),
    ("ibm", "GET", "/v1/sessions/{OWN_SESSION}/%2e%2e/%2e%2e/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/sessions/{OWN_SESSION}/%2e%2e/{V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}/%2e%2e/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}/./../{V_TASK}", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}/.", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}/results/.", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}/%2e", None),
    ("ibm", "GET", "/v1/backends/%2e%2e/jobs", None),
    ("ibm", "GET", "/v1/backends/%2e%2e/jobs?limit=200", None),
    ("ibm", "POST", "/v1/backends/%2e%2e/sessions", '{"backend": "sc_twin", "mode": "dedicated"}'),
    ("ibm", "DELETE", "/v1/backends/%2e%2e/sessions/{V_SESSION}/close", None),
    ("ibm", "PATCH", "/v1/sessions/{OWN_SESSION}/%2e%2e/{V_SESSION}", '{"accepting_jobs": false}'),
    ("ibm", "POST", "/v1/jobs/{OWN_TASK}/%2E%2E/{V_TASK}/cancel", None),
    ("ibm", "DELETE", "/v1/jobs/{OWN_TASK}/%2e%2e/{V_TASK}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/%2e%2e/batches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/%2E%2E/batches/{V_BATCH}/full_results", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/.%2E/v2/batches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/%252e%252e/batches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/specs/%2e%2e/%2e%2e/batches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches/{OWN_BATCH}/%2e%2e/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs/{OWN_PJOB}/../{V_PJOB}", None),
    ("pasqal", "PATCH", "/core-fast/api/v1/devices/%2e%2e/%2e%2e/v2/batches/{V_BATCH}/cancel", None),
]

# IQM Server (issue 16): the same classes against api/v1 (a job's id is a UUID, the quantum computer its alias)
IQM_ATTACKS: list[Attack] = [
    # dot segments
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}/%2e%2e/{V_IJOB}", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}/../{V_IJOB}/artifacts/measurements", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}/artifacts/%2e%2e/%2e%2e/{V_IJOB}/artifacts/measurement_counts", None),
    ("iqm", "GET", "/api/v1/quantum-computers/spark/%2E%2E/%2E%2E/jobs/{V_IJOB}", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}/.", None),
    ("iqm", "POST", "/api/v1/jobs/{OWN_IJOB}/%2e%2e/{V_IJOB}/cancel", None),
    # encoded separators
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}%2f..%2f{V_IJOB}", None),
    ("iqm", "GET", "/api/v1/jobs/{V_IJOB}%2fartifacts%2fmeasurements", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}%2F..%2F{V_IJOB}/artifacts/measurements", None),
    ("iqm", "GET", "/api/v1/jobs/..%5c{V_IJOB}", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}%252f..%252f{V_IJOB}", None),
    ("iqm", "GET", "/api/v1//jobs/{V_IJOB}", None),
    # query keys: unknown, repeated, encoded, out of bounds
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}?job_id={V_IJOB}", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}?wait_until_terminal=true&wait%5Funtil_terminal=false", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}?timeout_seconds=30&timeout_seconds=3600", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}?timeout_seconds=3600", None),
    ("iqm", "GET", "/api/v1/jobs/{OWN_IJOB}/artifacts/measurements?job={V_IJOB}", None),
    ("iqm", "POST", "/api/v1/jobs/spark/circuit?use_timeslot=false&qc=garnet", '{"circuits": [], "shots": 1}'),
    ("iqm", "POST", "/api/v1/jobs/spark/circuit?tag=a%2fb", '{"circuits": [], "shots": 1}'),
    ("iqm", "GET", "/api/v1/quantum-computers?alias=garnet", None),
    # another job's job, another quantum computer
    ("iqm", "GET", "/api/v1/jobs/{V_IJOB}", None),
    ("iqm", "GET", "/api/v1/jobs/{V_IJOB}/artifacts/measurements", None),
    ("iqm", "GET", "/api/v1/jobs/{V_IJOB}/artifacts/measurement_counts", None),
    ("iqm", "POST", "/api/v1/jobs/{V_IJOB}/cancel", None),
    ("iqm", "GET", "/api/v1/jobs/{V_IJOB}/payload", None),
    ("iqm", "DELETE", "/api/v1/jobs/{V_IJOB}", None),
    ("iqm", "POST", "/api/v1/jobs/garnet/circuit", '{"circuits": [], "shots": 1}'),
    ("iqm", "POST", "/api/v1/jobs/sc_twin/circuit", '{"circuits": [], "shots": 1}'),
    ("iqm", "GET", "/api/v1/quantum-computers/sc_twin", None),
    ("iqm", "GET", "/api/v1/calibration-sets/garnet/default/dynamic-quantum-architecture", None),
    ("iqm", "GET", "/api/v1/jobs", None),
    # methods and bodies
    ("iqm", "PUT", "/api/v1/jobs/{OWN_IJOB}", "{}"),
    ("iqm", "POST", "/api/v1/jobs/spark/pulse", "{}"),
    ("iqm", "POST", "/api/v1/tokens", "{}"),
    ("iqm", "POST", "/api/v1/jobs/spark/circuit", "[]"),
    ("iqm", "POST", "/api/v1/jobs/spark/circuit", '{"circuits": [], "shots": NaN}'),
    ("iqm", "POST", "/api/v1/jobs/spark/circuit", '{"shots": 1}'),
]

# The same IQM variants under /proxy/<qpu> (the job's endpoint is qrmid's root, where IQM's client
# needs it; /proxy/spark serves the same API with the same checks)
IQM_PROXY_ATTACKS: list[Attack] = [("iqm-proxy", m, t, b) for _, m, t, b in IQM_ATTACKS]

# The IQM Server API at qrmid's root (issue 16): the path names no QPU, the job token does. Tokens that
# are not a live iqm-server job token (none, another type's, forged, alg none) and paths that leave the
# IQM allow-list or name another QPU or job are refused before anything is forwarded.
ROOT_ATTACKS: list[Attack] = [
    ("root-anon", "GET", "/api/v1/quantum-computers", None),
    ("root-anon", "GET", "/about", None),
    ("root-anon", "GET", "/api/v1/jobs/{V_IJOB}", None),
    ("root-anon", "POST", "/api/v1/jobs/spark/circuit", '{"circuits": [], "shots": 1}'),
    ("root-pasqal", "GET", "/api/v1/quantum-computers", None),
    ("root-pasqal", "GET", "/api/v1/jobs/{V_IJOB}", None),
    ("root-pasqal", "GET", "/about", None),
    ("root-ibm", "GET", "/api/v1/quantum-computers/spark", None),
    ("root-ibm", "GET", "/api/v1/jobs/{V_IJOB}/artifacts/measurements", None),
    ("root-ibmkey", "GET", "/api/v1/jobs/{V_IJOB}/artifacts/measurements", None),
    ("root-ibmkey", "POST", "/api/v1/jobs/spark/circuit", '{"circuits": [], "shots": 1}'),
    ("root-forged", "GET", "/api/v1/jobs/{V_IJOB}", None),
    ("root-forged", "GET", "/api/v1/quantum-computers", None),
    ("root-none", "GET", "/api/v1/jobs/{V_IJOB}", None),
    ("root-victim-key", "GET", "/api/v1/jobs/{V_IJOB}", None),  # the victim's token with the attacker's claims
    # out of /api through dot segments and encodings, into qrmid's other routes or another type's API
    ("iqm", "GET", "/api/v1/../../proxy/FRESNEL/core-fast/api/v1/batches/{V_BATCH}", None),
    ("iqm", "GET", "/api/%2e%2e/proxy/sc_twin/v1/jobs/{V_TASK}/results", None),
    ("iqm", "GET", "/api/v1/%2e%2e/%2e%2e/v1/acquisitions", None),
    ("iqm", "GET", "/api/v1/jobs/..%2f..%2f..%2fproxy%2fsc_twin%2fv1%2fjobs%2f{V_TASK}", None),
    ("iqm", "GET", "/api//v1/quantum-computers", None),
    ("iqm", "GET", "/api/v1/quantum-computers/", None),
    ("iqm", "GET", "/api/v2/quantum-computers", None),
    ("iqm", "GET", "/api/v1", None),
    ("iqm", "GET", "/api/v1/core-fast/api/v1/batches/{V_BATCH}", None),
    ("iqm", "GET", "/api/v1/jobs/{V_TASK}", None),  # an IBM task of the victim's, named as an IQM job
    ("iqm", "GET", "/api/v1/jobs/{OWN_TASK}", None),  # the attacker's own IBM task: not an IQM job of its
    ("iqm", "GET", "/api/v1/quantum-computers/FRESNEL", None),
    ("iqm", "GET", "/api/v1/calibration-sets/sc_twin/default/dynamic-quantum-architecture", None),
    ("iqm", "POST", "/api/v1/jobs/FRESNEL/circuit", '{"circuits": [], "shots": 1}'),
    ("iqm", "GET", "/about?x=1", None),
    ("iqm", "POST", "/about", "{}"),
    ("iqm", "DELETE", "/about", None),
]

ENCODED_SEPARATORS: list[Attack] = [
    ("ibm", "GET", "/v1/backends%2f..%2fjobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends%2F..%2Fjobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/x%2f..%2f..%2fjobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends/x/..%2f..%2fjobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/backends%252f..%252fjobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/backends/..%5cjobs%5c{V_TASK}", None),
    ("ibm", "GET", "/v1/backends/..%5Cjobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/backends/..\\jobs\\{V_TASK}", None),
    ("ibm", "GET", "/v1/jobs/{V_TASK}%2fresults", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}%2f..%2f{V_TASK}", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}%2F..%2F{V_TASK}/results", None),
    ("ibm", "GET", "/v1/sessions/{OWN_SESSION}%2f..%2f{V_SESSION}", None),
    ("ibm", "DELETE", "/v1/sessions/{OWN_SESSION}%2f..%2f{V_SESSION}/close", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices%2f..%2fbatches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches/{OWN_BATCH}%2f..%2f{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/specs/..%2f..%2fbatches/{V_BATCH}", None),
    ("pasqal", "PUT", "/core-fast/api/v1/batches/{OWN_BATCH}%2F..%2F{V_BATCH}/cancel", None),
]

EMPTY_SEGMENTS: list[Attack] = [
    ("ibm", "GET", "/v1//jobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/jobs//{V_TASK}/results", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}/", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}//", None),
    ("ibm", "GET", "//v1/jobs/{OWN_TASK}", None),
    ("ibm", "GET", "/v1/backends//../jobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/sessions/{OWN_SESSION}//../../jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}//..//..//jobs/{V_TASK}", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches//{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast//api/v2/batches/{OWN_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices//../batches/{V_BATCH}", None),
]

QUERY: list[Attack] = [
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&session%5Fid={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&session%5fid={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session%5Fid={V_SESSION}&session_id={OWN_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&session_id={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={V_SESSION}&session_id={OWN_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?%73ession_id={V_SESSION}&session_id={OWN_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&SESSION_ID={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&Session_Id={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=true&exclude%5Fparams=false", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=true&exclude%5fparams=false", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=true&exclude_params=false", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=true&EXCLUDE_PARAMS=false", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=true&session%5Fid={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=1", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=%74rue", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin&exclude_params=true&session_id=", None),
    ("ibm", "GET", "/v1/jobs?backend=sc%5Ftwin&exclude_params=true", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&foo=bar", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&limit=100000", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&pending=True", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}&&pending=true", None),
    ("ibm", "GET", "/v1/jobs?session_id", None),
    ("ibm", "GET", "/v1/jobs?session_id=%zz", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}%00&session_id={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}%26session_id%3D{V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION};session_id={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={OWN_SESSION}+&session_id={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?session_id={V_SESSION}", None),
    ("ibm", "GET", "/v1/jobs?backend=sc_twin", None),
    ("ibm", "GET", "/v1/jobs", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}?exclude_params=false&exclude%5Fparams=true", None),
    ("ibm", "GET", "/v1/jobs/{OWN_TASK}?id={V_TASK}", None),
    ("ibm", "GET", "/v1/backends?session_id={V_SESSION}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs?batch_id={OWN_BATCH}&batch%5Fid={V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs?batch_id={OWN_BATCH}&batch_id={V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs?batch_id={V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs?BATCH_ID={OWN_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs", None),
    ("pasqal", "GET", "/core-fast/api/v2/batches/{OWN_BATCH}?batch_id={V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices?device_type=FRESNEL&device%5Ftype=sc_twin", None),
]

OTHER_JOBS_OBJECTS: list[Attack] = [
    ("ibm", "GET", "/v1/jobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/jobs/{V_TASK}/results", None),
    ("ibm", "GET", "/v1/jobs/{V_TASK}/logs", None),
    ("ibm", "POST", "/v1/jobs/{V_TASK}/cancel", None),
    ("ibm", "DELETE", "/v1/jobs/{V_TASK}", None),
    ("ibm", "GET", "/v1/sessions/{V_SESSION}", None),
    ("ibm", "PATCH", "/v1/sessions/{V_SESSION}", '{"accepting_jobs": false}'),
    ("ibm", "DELETE", "/v1/sessions/{V_SESSION}/close", None),
    ("ibm", "POST", "/v1/sessions", '{"backend": "sc_twin", "mode": "dedicated"}'),
    ("ibm", "POST", "/v1/jobs", '{"program_id": "sampler", "backend": "sc_twin", "session_id": "{V_SESSION}", '
                                '"params": {"pubs": [], "version": 2}}'),
    ("ibm", "POST", "/v1/jobs", '{"program_id": "sampler", "backend": "ibm_other", "params": {"pubs": []}}'),
    ("ibm", "POST", "/v1/jobs", '{"program_id": "sampler", "backend": "sc_twin", "params": {"pubs": []}, '
                                '"remote_storage": {"type": "ibmcloud_cos", "region": "x"}}'),
    ("ibm", "GET", "/v1/backends/ibm_other/properties", None),
    ("ibm", "GET", "/v1/backends/ibm_other/configuration", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v2/batches/{V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches/{V_BATCH}/full_results", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches/{V_BATCH}/status", None),
    ("pasqal", "PUT", "/core-fast/api/v1/batches/{V_BATCH}/cancel", None),
    ("pasqal", "PATCH", "/core-fast/api/v2/batches/{V_BATCH}/cancel", None),
    ("pasqal", "GET", "/core-fast/api/v1/jobs/{V_PJOB}", None),
    ("pasqal", "GET", "/core-fast/api/v2/jobs/{V_PJOB}", None),
    ("pasqal", "GET", "/core-fast/api/v1/jobs/{V_PJOB}/status", None),
    ("pasqal", "GET", "/core-fast/api/v1/jobs/{V_PJOB}/results_link", None),
    ("pasqal", "PATCH", "/core-fast/api/v2/jobs/{V_PJOB}/cancel", None),
    ("pasqal", "GET", "/core-fast/api/v1/devices/specs/sc_twin", None),
    ("ibm", "GET", "/v1/jobs/{V_TASK}/metrics", None),
    ("pasqal", "POST", "/core-fast/api/v2/batches/{V_BATCH}/jobs", '[{"runs": 1}]'),
    ("pasqal", "PATCH", "/core-fast/api/v2/batches/{V_BATCH}/complete", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches?id={V_BATCH}", None),
    ("pasqal", "GET", "/core-fast/api/v1/batches?device_type=sc_twin", None),
    ("pasqal", "POST", "/core-fast/api/v1/batches", '{"sequence_builder": "{}", "jobs": [{"runs": 1}], '
                                                     '"device_type": "OTHER_DEVICE"}'),
    ("pasqal", "POST", "/core-fast/api/v1/batches", '{"sequence_builder": "{}", "jobs": [{"runs": 1}], '
                                                     '"device_type": "FRESNEL", "project_id": "someone-elses"}'),
]

METHODS: list[Attack] = [
    ("ibm", "PUT", "/v1/jobs/{OWN_TASK}", "{}"),
    ("ibm", "PATCH", "/v1/jobs/{OWN_TASK}", "{}"),
    ("ibm", "POST", "/v1/jobs/{OWN_TASK}", "{}"),
    ("ibm", "DELETE", "/v1/backends", None),
    ("ibm", "POST", "/v1/backends/sc_twin/status", "{}"),
    ("ibm", "PUT", "/v1/sessions/{OWN_SESSION}", '{"accepting_jobs": true}'),
    ("ibm", "POST", "/v1/sessions/{OWN_SESSION}/close", None),
    ("ibm", "GET", "/v1/sessions", None),
    ("ibm", "DELETE", "/v1/jobs", None),
    ("ibm", "OPTIONS", "/v1/jobs", None),
    ("ibm", "HEAD", "/v1/jobs/{OWN_TASK}", None),
    ("ibm", "TRACE", "/v1/jobs/{OWN_TASK}", None),
    ("ibm", "POST", "/v1/instances/usage", None),
    ("ibm", "GET", "/v1/versions", None),
    ("ibm", "GET", "/v2/jobs/{OWN_TASK}", None),
    ("ibm", "GET", "/identity/token", None),
    ("pasqal", "DELETE", "/core-fast/api/v1/batches/{OWN_BATCH}", None),
    ("pasqal", "POST", "/core-fast/api/v1/devices", "{}"),
    ("pasqal", "DELETE", "/core-fast/api/v1/batches", None),
    ("pasqal", "GET", "/core-fast/api/v2/batches/{OWN_BATCH}/jobs", None),
    ("pasqal", "GET", "/core-fast/api/v1/jobs", None),
    ("pasqal", "POST", "/core-fast/api/v2/batches/{OWN_BATCH}/cancel", None),
    ("pasqal", "PUT", "/core-fast/api/v2/batches/{OWN_BATCH}/cancel", None),
    ("pasqal", "POST", "/core-fast/api/v1/batches/{OWN_BATCH}/jobs", '{"jobs": [{"runs": 1}]}'),
    ("pasqal", "GET", "/core-fast/results/{OWN_PJOB}", None),
    ("pasqal", "POST", "/auth/token", None),
]

JOB = '{{"program_id": "sampler", "backend": "sc_twin", "params": {{"pubs": [], "version": 2, "x": {}}}}}'
BODIES: list[Attack] = [
    ("ibm", "POST", "/v1/jobs", "[]"),
    ("ibm", "POST", "/v1/jobs", '"sampler"'),
    ("ibm", "POST", "/v1/jobs", "1"),
    ("ibm", "POST", "/v1/jobs", "null"),
    ("ibm", "POST", "/v1/jobs", "true"),
    ("ibm", "POST", "/v1/jobs", '[{"program_id": "sampler", "backend": "sc_twin"}]'),
    ("ibm", "POST", "/v1/jobs", JOB.format("NaN")),
    ("ibm", "POST", "/v1/jobs", JOB.format("Infinity")),
    ("ibm", "POST", "/v1/jobs", JOB.format("-Infinity")),
    ("ibm", "POST", "/v1/jobs", JOB.format("1e999")),
    ("ibm", "POST", "/v1/jobs", JOB.format("[" * 100 + "]" * 100)),
    ("ibm", "POST", "/v1/jobs", "{"),
    ("ibm", "POST", "/v1/jobs", '{"program_id": "sampler", "backend": "sc_twin", "params": {}'),
    ("ibm", "PATCH", "/v1/sessions/{OWN_SESSION}", "[]"),
    ("ibm", "PATCH", "/v1/sessions/{OWN_SESSION}", '{"accepting_jobs": NaN}'),
    ("ibm", "PATCH", "/v1/sessions/{OWN_SESSION}", '{"accepting_jobs": "no"}'),
    ("ibm", "PATCH", "/v1/sessions/{OWN_SESSION}", '{"accepting_jobs": true, "state": "closed"}'),
    ("pasqal", "POST", "/core-fast/api/v1/batches", "[]"),
    ("pasqal", "POST", "/core-fast/api/v1/batches", '"batch"'),
    ("pasqal", "POST", "/core-fast/api/v1/batches", '{"sequence_builder": "x", "jobs": [{"runs": NaN}], '
                                                     '"device_type": "FRESNEL"}'),
    ("pasqal", "POST", "/core-fast/api/v1/batches", '{"sequence_builder": "x", "jobs": [{"runs": 1, '
                                                     '"variables": {"t": Infinity}}], "device_type": "FRESNEL"}'),
]


def _cases(name: str, attacks: list[Attack]) -> list[Any]:
    return [pytest.param(*a, id=f"{name}-{i}-{a[1]}") for i, a in enumerate(attacks)]


ALL = (
    _cases("dot", DOT_SEGMENTS) + _cases("sep", ENCODED_SEPARATORS) + _cases("empty", EMPTY_SEGMENTS)
    + _cases("query", QUERY) + _cases("foreign", OTHER_JOBS_OBJECTS) + _cases("method", METHODS)
    + _cases("body", BODIES) + _cases("iqm", IQM_ATTACKS) + _cases("iqm-proxy", IQM_PROXY_ATTACKS)
    + _cases("root", ROOT_ATTACKS)
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return doc


def _payload(claims: dict[str, Any]) -> str:
    return _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())


def forged(token: str, **claims: Any) -> str:
    """``token`` with its claims changed, its signature kept."""
    head, _, sig = token.split(".")
    return f"{head}.{_payload({**_claims(token), **claims})}.{sig}"


def alg_none(token: str) -> str:
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return f"{_b64(json.dumps({**head, 'alg': 'none'}, separators=(',', ':'), sort_keys=True).encode())}." \
           f"{token.split('.')[1]}."


def base_and_token(w: World, api: str) -> tuple[str, str | None]:
    a, v, root = w.attacker, w.victim, w.qrmid.url
    return {
        "ibm": (a.ibm, a.ibm_token), "pasqal": (a.pasqal, a.pasqal_token), "iqm": (a.iqm, a.iqm_token),
        "iqm-proxy": (f"{root}/proxy/{IQM_QPU}", a.iqm_token),
        "root-anon": (root, None),
        "root-pasqal": (root, a.pasqal_token),  # a live job token of the job's Pasqal QPU
        "root-ibm": (root, a.ibm_token),  # a live IAM bearer of the job's IBM QPU
        "root-ibmkey": (root, a.env["sc_twin_QRMI_IBM_QCS_IAM_APIKEY"]),  # a live IBM job key
        "root-forged": (root, forged(a.pasqal_token, qpu=IQM_QPU)),  # a Pasqal token re-pointed at spark
        "root-none": (root, alg_none(a.iqm_token)),
        "root-victim-key": (root, forged(v.iqm_token, acq=_claims(a.iqm_token)["acq"])),
    }[api]


@pytest.mark.parametrize(("api", "method", "target", "body"), ALL)
def test_attack_is_refused_by_qrmid_and_changes_nothing(
    world: World, api: str, method: str, target: str, body: str | None
) -> None:
    base, token = base_and_token(world, api)
    raw_body = world.fill(body).encode() if body is not None else None
    r = send(base, method, world.fill(target).encode(), token=token, body=raw_body)
    if method == "HEAD":  # no body to tell who refused: a 4xx and nothing changed
        assert 400 <= r.status < 500, r.status
        assert_intact(world)
        return
    assert_refused(world, r)


# ------------------------------------------------------------------------- controls
def test_the_job_still_reaches_its_own_objects(world: World) -> None:
    """Positive control: everything qrmi does for its own job still works through the proxy."""
    a = world.attacker
    assert a.ibm_get("/v1/backends").status == 200
    for what in ("status", "configuration", "properties"):
        assert a.ibm_get(f"/v1/backends/sc_twin/{what}").status == 200
    assert a.ibm_get(f"/v1/sessions/{a.session}").status == 200
    assert a.ibm_get(f"/v1/jobs/{a.task}").status == 200
    assert a.ibm_get(f"/v1/jobs/{a.task}?exclude_params=true").status == 200
    assert a.ibm_get(f"/v1/jobs/{a.task}/results").status == 200
    assert a.ibm_get(f"/v1/jobs/{a.task}/logs").status == 200
    own = a.ibm_get(f"/v1/jobs?session_id={a.session}&limit=10")
    assert own.status == 200 and [j["id"] for j in own.body["jobs"]] == [a.task]
    # qrmi's status(): the QPU's queue, without anyone's inputs
    queue = a.ibm_get("/v1/jobs?limit=200&offset=0&pending=true&backend=sc_twin&sort=DESC&exclude_params=true")
    assert queue.status == 200, queue.text[:300]
    listed = a.ibm_get("/v1/jobs?backend=sc_twin&exclude_params=true")
    assert listed.status == 200 and listed.body["jobs"] and all("params" not in j for j in listed.body["jobs"])
    assert a.pasqal_get(f"/core-fast/api/v1/batches/{a.batch}").status == 200
    assert a.pasqal_get(f"/core-fast/api/v1/batches/{a.batch}/full_results").status == 200
    assert a.pasqal_get(f"/core-fast/api/v1/batches/{a.batch}/status").status == 200
    assert a.pasqal_get(f"/core-fast/api/v2/jobs/{a.pasqal_job}").status == 200
    assert a.pasqal_get(f"/core-fast/api/v1/jobs/{a.pasqal_job}/status").status == 200
    jobs = a.pasqal_get(f"/core-fast/api/v2/jobs?batch_id={a.batch}")
    assert jobs.status == 200 and [j["id"] for j in jobs.body["data"]] == [a.pasqal_job]
    assert a.pasqal_get("/core-fast/api/v1/devices/specs/FRESNEL").status == 200
    # the routes the vendors' SDKs add (issue 16): each scoped to the job
    assert a.ibm_get(f"/v1/jobs/{a.task}/metrics").status == 200
    usage = a.ibm_get("/v1/instances/usage")
    assert usage.status == 200 and usage.body == {"usage_limit_reached": False}, usage.text[:300]  # no figures
    specs = a.pasqal_get("/core-fast/api/v1/devices/specs")
    assert specs.status == 200 and list(specs.body["data"]) == ["FRESNEL"], specs.text[:300]
    listed = a.pasqal_get("/core-fast/api/v1/batches?offset=0&limit=100")
    assert listed.status == 200 and [b["id"] for b in listed.body["data"]] == [a.batch], listed.text[:300]
    assert listed.body["pagination"]["total"] == 1
    # IQM Server: what qrmi's iqm-server resource and iqm-client read, for the job's own QPU and jobs
    qcs = a.iqm_get("/api/v1/quantum-computers")
    assert qcs.status == 200 and [q["alias"] for q in qcs.body["quantum_computers"]] == [IQM_QPU], qcs.text[:300]
    for path in ("", "/health", "/artifacts/static-quantum-architectures"):
        assert a.iqm_get(f"/api/v1/quantum-computers/{IQM_QPU}{path}").status == 200, path
    for path in ("", "/dynamic-quantum-architecture", "/metrics"):
        assert a.iqm_get(f"/api/v1/calibration-sets/{IQM_QPU}/default{path}").status == 200, path
    assert a.iqm_get(f"/api/v1/jobs/{a.iqm_job}?wait_until_terminal=true&timeout_seconds=30").status == 200
    counts = a.iqm_get(f"/api/v1/jobs/{a.iqm_job}/artifacts/measurement_counts")
    assert counts.status == 200 and sum(counts.body[0]["counts"].values()) == 10, counts.text[:300]
    # the job's IQM endpoint is qrmid's root (IQM's client takes no path); /proxy/<qpu> serves the same API
    assert a.iqm == world.qrmid.url
    assert send(a.iqm, "GET", "/about", token=a.iqm_token).status == 200
    proxied = send(f"{world.qrmid.url}/proxy/{IQM_QPU}", "GET", f"/api/v1/jobs/{a.iqm_job}", token=a.iqm_token)
    assert proxied.status == 200 and proxied.body["status"] == "completed", proxied.text[:300]
    assert_intact(world)


# ------------------------------------------------------------------------- bounded bodies
def big_job_body(size: int) -> bytes:
    head, tail = b'{"program_id": "sampler", "backend": "sc_twin", "params": {"pad": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize("how", ["content-length", "declared-only", "chunked"])
@pytest.mark.parametrize("api", ["ibm", "pasqal"])
def test_a_body_just_above_the_bound_is_refused(world: World, how: str, api: str) -> None:
    a = world.attacker
    base, token, path = (
        (a.ibm, a.ibm_token, "/v1/jobs") if api == "ibm" else (a.pasqal, a.pasqal_token, "/core-fast/api/v1/batches")
    )
    body = big_job_body(MAX_BODY_BYTES + 1)
    if how == "content-length":
        r = send(base, "POST", path, token=token, body=body)
    elif how == "declared-only":  # refused from the header alone: the body is never sent
        r = send(base, "POST", path, token=token, content_length=MAX_BODY_BYTES + 1)
    else:  # chunked, no Content-Length: refused while counting (the final chunk is never sent)
        r = send(base, "POST", path, token=token, body=body, chunked=True, terminate=False)
    assert r.status == 413, (r.status, r.text[:300])
    assert refused_by_qrmid(r)
    assert_intact(world)


def test_an_iqm_job_above_the_api_bound_is_forwarded_from_the_root(world: World) -> None:
    """At qrmid's root (/api/…) a job's IQM request is bounded like under /proxy/ (4 MiB), not like
    qrmid's own API (64 KiB): a 200 KiB circuit job reaches the twin and runs; past 4 MiB is a 413."""
    a = world.attacker
    circuit = bell_circuit()
    pad = [{"name": "prx", "locus": ["QB1"], "args": {"angle": 0.0, "phase": 0.0}}] * 3000
    circuit["instructions"] = pad + circuit["instructions"]
    body = json.dumps({"circuits": [circuit], "shots": 10}).encode()
    assert len(body) > 200 * 1024
    r = send(a.iqm, "POST", f"/api/v1/jobs/{IQM_QPU}/circuit", token=a.iqm_token, body=body)
    assert r.status == 200 and r.body["status"] in ("waiting", "processing", "completed"), (r.status, r.text[:300])
    r = send(a.iqm, "POST", f"/api/v1/jobs/{IQM_QPU}/circuit", token=a.iqm_token,
             content_length=MAX_BODY_BYTES + 1)
    assert r.status == 413 and refused_by_qrmid(r), (r.status, r.text[:300])


def test_a_body_at_the_bound_is_read_and_judged(world: World) -> None:
    """At the bound the body is read and parsed: a bad one is refused for what it is, not its size."""
    a = world.attacker
    body = b" " * (MAX_BODY_BYTES - 2) + b"[]"
    r = send(a.ibm, "POST", "/v1/jobs", token=a.ibm_token, body=body)
    assert r.status == 400 and refused_by_qrmid(r), (r.status, r.text[:300])


def test_an_oversized_iam_request_is_refused(world: World) -> None:
    a = world.attacker
    form = b"grant_type=x&apikey=" + b"k" * (16 * 1024)
    r = send(a.env["sc_twin_QRMI_IBM_QCS_IAM_ENDPOINT"], "POST", "/identity/token", body=form,
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 413, (r.status, r.text[:300])


# ------------------------------------------------------------------------- anonymous requests
def test_anonymous_requests_get_public_data_only(world: World) -> None:
    """The Pasqal device list is public upstream and is served without any credential; the
    device specs (qrmi's target() sends its job token) and everything else need a job credential."""
    a = world.attacker
    listed = send(a.pasqal, "GET", "/core-fast/api/v1/devices?device_type=FRESNEL")
    assert listed.status == 200 and listed.body["data"][0]["device_type"] == "FRESNEL"
    assert send(a.pasqal, "GET", "/core-fast/api/v1/devices").status == 200
    assert send(a.pasqal, "GET", "/core-fast/api/v1/devices/public-specs").status == 200
    for target in (
        "/core-fast/api/v1/devices/specs/FRESNEL",
        "/core-fast/api/v1/devices/specs/OTHER",
        f"/core-fast/api/v1/batches/{world.victim.batch}",
        "/core-fast/api/v1/devices/%2e%2e/batches",
        "/core-fast/api/v2/jobs",
    ):
        r = send(a.pasqal, "GET", target)
        assert r.status == 401 and refused_by_qrmid(r), (target, r.status, r.text[:300])
    for target in ("/core-fast/api/v1/devices?device_type=sc_twin", "/core-fast/api/v1/devices?device%5Ftype=X",
                   "/core-fast/api/v1/devices?device_type=FRESNEL&device_type=X"):
        r = send(a.pasqal, "GET", target)
        assert 400 <= r.status < 500 and refused_by_qrmid(r), (target, r.status, r.text[:300])
    for target in ("/v1/backends", f"/v1/jobs/{world.victim.task}", "/v1/backends/%2e%2e/jobs"):
        r = send(a.ibm, "GET", target)
        assert r.status == 401 and refused_by_qrmid(r), (target, r.status, r.text[:300])
    # a Pasqal job token is no IBM bearer token, and the reverse
    assert send(a.ibm, "GET", "/v1/backends", token=a.pasqal_token).status == 401
    assert send(a.pasqal, "GET", "/core-fast/api/v1/devices/specs/FRESNEL", token=a.ibm_token).status == 401
    assert_intact(world)


class Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        Recorder.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        data = json.dumps({"status": "success", "code": 200, "message": "OK.", "data": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_the_anonymous_device_list_goes_upstream_without_any_credential(
    tmp_path: Path, site: dict[str, Any], munged: harness.Munged
) -> None:
    """What reaches the service for an anonymous request: no Authorization (neither the site's
    token nor anything the caller sent), none of the caller's other headers, the canonical query."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = harness.free_port()
    upstream = f"http://127.0.0.1:{server.server_address[1]}"
    cfg = harness.qrmid_config(tmp_path, site, upstream, munged.socket, port, qpus=without_windows(site))
    q = harness.Qrmid(cfg, f"http://127.0.0.1:{port}", tmp_path / "qrmid.log").start()
    try:
        Recorder.seen.clear()
        hdrs = {"Cookie": "session=abc", "X-Forwarded-For": "10.0.0.1", "Service-CRN": "crn:other",
                "Accept": "application/json"}
        r = send(f"{q.url}/proxy/FRESNEL", "GET", "/core-fast/api/v1/devices?device_type=FRESNEL", headers=hdrs)
        assert r.status == 200, r.text[:300]
        r = send(f"{q.url}/proxy/FRESNEL", "GET", "/core-fast/api/v1/devices/public-specs", token="made-up",
                 headers=hdrs)
        assert r.status == 200, r.text[:300]
    finally:
        q.stop()
        server.shutdown()
    mine = [(m, p, h) for m, p, h in Recorder.seen if h.get("user-agent") == "qrmid"]  # not qrmid's own qrmi calls
    paths = [(m, p) for m, p, _ in mine]
    assert paths == [("GET", "/core-fast/api/v1/devices?device_type=FRESNEL"),
                     ("GET", "/core-fast/api/v1/devices/public-specs")], Recorder.seen
    for _, _, headers in mine:
        assert "authorization" not in headers, headers
        assert not {"cookie", "x-forwarded-for", "service-crn"} & set(headers), headers
        assert harness.SITE_TOKEN not in json.dumps(headers)


class Flood(BaseHTTPRequestHandler):
    """A QPU service whose answer is larger than qrmid passes on: declared (Content-Length)
    or undeclared (sent until the connection closes)."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        from qrmid.proxy import MAX_UPSTREAM_BYTES

        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if "declared" in self.path:
            self.send_header("Content-Length", str(MAX_UPSTREAM_BYTES + 1))
            self.end_headers()
            return
        self.end_headers()
        block = b" " * 2**20
        with contextlib.suppress(OSError):  # qrmid hangs up once it has seen enough
            for _ in range(MAX_UPSTREAM_BYTES // len(block) + 1):
                self.wfile.write(block)
            self.wfile.write(b"[]")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("how", ["declared", "streamed"])
def test_an_answer_above_the_bound_costs_one_call_not_qrmids_memory(
    tmp_path: Path, site: dict[str, Any], munged: harness.Munged, how: str
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flood)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = harness.free_port()
    upstream = f"http://127.0.0.1:{server.server_address[1]}/{how}"
    cfg = harness.qrmid_config(tmp_path, site, upstream, munged.socket, port, qpus=without_windows(site))
    q = harness.Qrmid(cfg, f"http://127.0.0.1:{port}", tmp_path / "qrmid.log").start()
    try:
        r = send(f"{q.url}/proxy/FRESNEL", "GET", "/core-fast/api/v1/devices?device_type=FRESNEL")
        assert r.status == 502 and "bound" in r.text, (r.status, r.text[:300])
        assert send(q.url, "GET", "/healthz").status == 200
    finally:
        q.stop()
        server.shutdown()


# ------------------------------------------------------------------------- metrics
def test_unknown_qpu_names_share_one_metrics_series(world: World) -> None:
    names = [f"nosuchqpu{i}" for i in range(5)] + ["sc_twin%5F", "FRESNEL2"]
    for name in names:
        r = send(world.qrmid.url, "GET", f"/proxy/{name}/v1/backends")
        assert 400 <= r.status < 500, r.status
    with urllib.request.urlopen(world.qrmid.url + "/metrics", timeout=30) as resp:  # noqa: S310
        text = resp.read().decode()
    labels = set(re.findall(r'qrmid_proxy_requests_total\{[^}]*qpu="([^"]*)"', text))
    assert labels <= {"sc_twin", "FRESNEL", IQM_QPU, "other"}, labels
    assert "other" in labels
