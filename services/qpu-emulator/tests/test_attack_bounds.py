"""Issue 11, finding 3 and 8 (emulator side): a submission is refused with a 4xx naming the
bound it passes, before anything is built from it, and the service's memory does not grow.

Each class is tried in several forms and at sizes just above its bound: qubit registers
(OpenQASM 3 `qubit[N]`, `qubit` singles adding up, old-style `qreg`, physical `$N`, huge
literals, non-literal sizes), classical bits, statements, QPY headers, compressed bombs in
every encoding the API accepts (QPY payloads, encoded ndarrays, gzip and deflate bodies),
Pulser durations, registers and variables, request bodies with and without Content-Length
and chunked, NaN/huge numbers and non-object JSON bodies. The test services run under an
address-space limit (conftest.SERVICE_RLIMIT_AS), so a regression fails here instead of
taking the shared machine's memory.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import http.client
import io
import json
import struct
import time
import urllib.parse
import zlib
from typing import Any

import pytest
from conftest import (
    IBM_KEYS,
    PASQAL_TOKEN,
    Emulator,
    bell_qasm,
    iam_token,
    ibm_headers,
    sampler_job,
    tree_rss,
    wait_ibm_final,
)
from sequences import pi_pulse

PASQAL = {"Authorization": f"Bearer {PASQAL_TOKEN}"}
BATCHES = "/core-fast/api/v1/batches"
TWIN_QUBITS = 5  # ideal_twin in conftest
BODY_LIMIT = 256 * 1024  # max_request_bytes in conftest
MAX_INSTRUCTIONS = 20000
MAX_CLBITS = 64
MAX_INFLATED = 1024 * 1024
MAX_DURATION_NS = 6000  # FRESNEL's pulser_device
MAX_ATOMS = 12
# Refusing must be fast and cheap: no import, no allocation proportional to the declaration.
FAST_S = 5.0
MEMORY_GROWTH_BYTES = 400 * 1024**2


def ibm_error(status: int, body: Any, *words: str) -> None:
    assert 400 <= status < 500, (status, body)
    message = body["errors"][0]["message"]
    for w in words:
        assert w.lower() in message.lower(), message


def submit(emulator: Emulator, qasm: Any, shots: int = 100, **params: Any) -> tuple[int, Any, float]:
    job = sampler_job("", shots=shots)
    job["params"]["pubs"][0][0] = qasm
    job["params"].update(params)
    t0 = time.monotonic()
    status, body = emulator.json("POST", "/v1/jobs", job, ibm_headers(emulator))
    return status, body, time.monotonic() - t0


@pytest.fixture
def memory_watch(emulator: Emulator) -> Any:
    """The service's resident memory (main process, workers, checkers) must not grow by much."""
    assert emulator.proc is not None
    before = tree_rss(emulator.proc.pid)
    yield
    after = tree_rss(emulator.proc.pid)
    assert after - before < MEMORY_GROWTH_BYTES, f"service RSS grew {(after - before) >> 20} MiB"
    status, _ = emulator.json("GET", "/health")
    assert status == 200


MEASURE = "bit[1] c;\nc[0] = measure q[0];\n"
HEADER = 'OPENQASM 3.0;\ninclude "stdgates.inc";\n'

QUBIT_DECLARATIONS = {
    "register just above": f"{HEADER}qubit[{TWIN_QUBITS + 1}] q;\n{MEASURE}",
    "register of 20 million": f"{HEADER}qubit[20000000] q;\n{MEASURE}",
    "register of 2 billion": f"{HEADER}qubit[2000000000] q;\n{MEASURE}",
    "register of 10**20": f"{HEADER}qubit[100000000000000000000] q;\n{MEASURE}",
    "register of 4400 digits": f"{HEADER}qubit[{'9' * 4400}] q;\n{MEASURE}",
    "no spaces": f"{HEADER}qubit[20000000]q;{MEASURE}",
    "spaces inside brackets": f"{HEADER}qubit[ 20000000 ] q;\n{MEASURE}",
    "newlines": f"{HEADER}qubit\n[\n20000000\n]\nq\n;\n{MEASURE}",
    "singles adding up": HEADER + "".join(f"qubit q{i};\n" for i in range(TWIN_QUBITS + 1)) + "bit[1] c;\n",
    "registers adding up": f"{HEADER}qubit[3] q;\nqubit[3] r;\n{MEASURE}",
    "many registers adding up": HEADER + "".join(f"qubit[1000] q{i};\n" for i in range(200)) + MEASURE,
    "qreg just above": f"{HEADER}qreg q[{TWIN_QUBITS + 1}];\n{MEASURE}",
    "qreg of 20 million": f"{HEADER}qreg q[20000000];\n{MEASURE}",
    "qregs adding up": f"{HEADER}qreg a[3];\nqreg b[3];\n{MEASURE}",
    "qubit and qreg adding up": f"{HEADER}qubit[3] q;\nqreg r[3];\n{MEASURE}",
    "const size": f"{HEADER}const uint n = 20000000;\nqubit[n] q;\n{MEASURE}",
    "expression size": f"{HEADER}qubit[2**25] q;\n{MEASURE}",
    "hex size": f"{HEADER}qubit[0x1312D00] q;\n{MEASURE}",
    "physical qubit far away": f"{HEADER}bit[1] c;\nx $20000000;\nc[0] = measure $0;\n",
    "physical qubit just above": f"{HEADER}bit[1] c;\nx ${TWIN_QUBITS};\nc[0] = measure $0;\n",
    "hidden after a comment": f"{HEADER}/* qubit[1] q; */ qubit[20000000] q;\n{MEASURE}",
    "after a block on the same line": f"{HEADER}qubit[1] a; qubit[20000000] q; {MEASURE}",
}


@pytest.mark.parametrize("qasm", list(QUBIT_DECLARATIONS.values()), ids=list(QUBIT_DECLARATIONS))
def test_qubit_declarations_above_the_twin_are_refused_before_building(
    emulator: Emulator, memory_watch: Any, qasm: str
) -> None:
    status, body, seconds = submit(emulator, qasm)
    ibm_error(status, body)
    assert seconds < FAST_S, f"refusing took {seconds:.1f} s"
    message = body["errors"][0]["message"]
    assert "qubit" in message.lower() or "literal" in message.lower(), message


CLASSICAL = {
    "bit register just above": f"{HEADER}qubit[1] q;\nbit[{MAX_CLBITS + 1}] c;\nc[0] = measure q[0];\n",
    "bit register of 20 million": f"{HEADER}qubit[1] q;\nbit[20000000] c;\nc[0] = measure q[0];\n",
    "creg of 20 million": f"{HEADER}qubit[1] q;\ncreg c[20000000];\nc[0] = measure q[0];\n",
    "output bit register": f"{HEADER}qubit[1] q;\noutput bit[20000000] c;\nc[0] = measure q[0];\n",
    "bit registers adding up": f"{HEADER}qubit[1] q;\nbit[40] c;\nbit[40] d;\nc[0] = measure q[0];\n",
}


@pytest.mark.parametrize("qasm", list(CLASSICAL.values()), ids=list(CLASSICAL))
def test_classical_bits_above_the_bound_are_refused(emulator: Emulator, memory_watch: Any, qasm: str) -> None:
    status, body, seconds = submit(emulator, qasm)
    ibm_error(status, body, "classical bits")
    assert seconds < FAST_S


def test_statements_above_the_bound_are_refused(emulator: Emulator, memory_watch: Any) -> None:
    body_ops = "x q[0];\n" * (MAX_INSTRUCTIONS + 1)
    status, body, _ = submit(emulator, f"{HEADER}qubit[1] q;\n{MEASURE}{body_ops}")
    ibm_error(status, body, "at most")


def test_circuits_within_the_bounds_still_run(emulator: Emulator) -> None:
    """No false positives: comments, strings, subroutine parameters and exactly-at-the-bound sizes."""
    qasm = (
        f"{HEADER}// qubit[20000000] r;\n/* qreg big[9999]; */\n"
        f"qubit[{TWIN_QUBITS}] q;\nbit[{TWIN_QUBITS}] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n"
    )
    status, body, _ = submit(emulator, qasm)
    assert status == 200, body
    job = wait_ibm_final(emulator, body["id"], ibm_headers(emulator))
    assert job["status"] == "Completed", job


# -- QPY -------------------------------------------------------------------------------------------


def qpy_bytes(num_qubits: int = 2) -> bytes:
    from qiskit import QuantumCircuit, qpy

    qc = QuantumCircuit(num_qubits, 1)
    qc.h(0)
    qc.measure(0, 0)
    buf = io.BytesIO()
    qpy.dump(qc, buf)
    return buf.getvalue()


def circuit_header_offset(data: bytes) -> int:
    version = data[6]
    offset = struct.calcsize("!6sBBBBQc" if version >= 10 else "!6sBBBBQ") + 1
    if version >= 16:
        offset = struct.unpack_from("!Q", data, offset)[0]
    return offset


def patched(data: bytes, field: int, value: int) -> bytes:
    """The QPY bytes with one header field replaced: 3 = num_qubits, 4 = num_clbits, 7 = num_instructions."""
    offset = circuit_header_offset(data)
    fmt = "!H1cHIIQIQ"
    fields = list(struct.unpack_from(fmt, data, offset))
    fields[field] = value
    return data[:offset] + struct.pack(fmt, *fields) + data[offset + struct.calcsize(fmt) :]


def encoded(data: bytes, compress: bool = True) -> dict[str, str]:
    payload = zlib.compress(data, 9) if compress else data
    return {"__type__": "QuantumCircuit", "__value__": base64.standard_b64encode(payload).decode()}


QPY_ATTACKS = {
    "circuit just above the twin": lambda: encoded(qpy_bytes(TWIN_QUBITS + 1)),
    "header declares 20 million qubits": lambda: encoded(patched(qpy_bytes(), 3, 20_000_000)),
    "header declares 2**32-1 qubits": lambda: encoded(patched(qpy_bytes(), 3, 2**32 - 1)),
    "header declares 20 million qubits, uncompressed": lambda: encoded(patched(qpy_bytes(), 3, 20_000_000), False),
    "header declares 20 million clbits": lambda: encoded(patched(qpy_bytes(), 4, 20_000_000)),
    "header declares 2**40 instructions": lambda: encoded(patched(qpy_bytes(), 7, 2**40)),
    "zlib bomb (64 MiB of zeros)": lambda: encoded(b"\0" * (64 << 20)),
    "zlib bomb just above the bound": lambda: encoded(qpy_bytes() + b"\0" * MAX_INFLATED),
    "zlib bomb behind a valid header": lambda: encoded(patched(qpy_bytes(), 3, 2) + b"\0" * (32 << 20)),
}


@pytest.mark.parametrize("make", list(QPY_ATTACKS.values()), ids=list(QPY_ATTACKS))
def test_qpy_payloads_are_bounded_before_loading(emulator: Emulator, memory_watch: Any, make: Any) -> None:
    payload = make()
    assert len(json.dumps(payload)) < BODY_LIMIT  # the attack fits in an accepted body
    status, body, seconds = submit(emulator, payload)
    ibm_error(status, body)
    assert seconds < FAST_S


def test_valid_qpy_still_runs(emulator: Emulator) -> None:
    status, body, _ = submit(emulator, encoded(qpy_bytes(2)))
    assert status == 200, body
    assert wait_ibm_final(emulator, body["id"], ibm_headers(emulator))["status"] == "Completed"


def ndarray(data: bytes) -> dict[str, str]:
    return {"__type__": "ndarray", "__value__": base64.standard_b64encode(zlib.compress(data, 9)).decode()}


def npy(shape: tuple[int, ...], data: bytes = b"") -> bytes:
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}, }}".encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


@pytest.mark.parametrize(
    "values",
    [
        ndarray(b"\0" * (64 << 20)),
        ndarray(npy((1,)) + b"\0" * (32 << 20)),
        ndarray(npy((2**40,))),
        ndarray(npy((1 << 20, 1 << 20), b"\0" * 64)),
    ],
    ids=["zlib bomb", "bomb behind an npy header", "header declares 8 TB", "2-d header declares 8 TB"],
)
def test_encoded_parameter_values_are_bounded(emulator: Emulator, memory_watch: Any, values: Any) -> None:
    from qiskit import QuantumCircuit, qasm3
    from qiskit.circuit import Parameter

    qc = QuantumCircuit(1, 1)
    qc.rx(Parameter("a"), 0)
    qc.measure(0, 0)
    job = sampler_job(qasm3.dumps(qc))
    job["params"]["pubs"][0][1] = values
    t0 = time.monotonic()
    status, body = emulator.json("POST", "/v1/jobs", job, ibm_headers(emulator))
    ibm_error(status, body)
    assert time.monotonic() - t0 < FAST_S


# -- numbers and bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shots", [10**30, 10**400, -1, 0, 1.5, "100", True], ids=["1e30", "1e400", "-1", "0", "float", "string", "bool"]
)
def test_shots_out_of_range(emulator: Emulator, shots: Any) -> None:
    status, body, _ = submit(emulator, bell_qasm(), shots=shots)
    ibm_error(status, body)
    message = body["errors"][0]["message"]
    assert "shots" in message or "digits" in message, message


def raw_job(emulator: Emulator, text: str, path: str = "/v1/jobs", headers: dict[str, str] | None = None) -> Any:
    hdrs = {"Content-Type": "application/json", **(headers if headers is not None else ibm_headers(emulator))}
    return emulator.request("POST", path, headers=hdrs, raw=text.encode())


JOB = '{"program_id":"%s","backend":"ideal_twin",%s"params":{"pubs":[[%%s%s]]%s}}'
NUMBERS = {
    "NaN shots": JOB % ("sampler", "", ",null,NaN", ""),
    "Infinity shots": JOB % ("sampler", "", ",null,Infinity", ""),
    "NaN in options": JOB % ("sampler", "", "", ',"options":{"x":NaN}'),
    "-Infinity precision": JOB % ("estimator", "", ',"ZZ",null,-Infinity', ""),
    "1e999 precision": JOB % ("estimator", "", ',"ZZ",null,1e999', ""),
    "NaN precision": JOB % ("estimator", "", ',"ZZ",null,NaN', ""),
    "huge cost": JOB % ("sampler", '"cost":1000000000000000000000000000000,', "", ""),
    "5000-digit integer": JOB % ("sampler", "", ",null," + "9" * 5000, ""),
    "huge seed": JOB % ("sampler", "", "", ',"options":{"simulator":{"seed_simulator":100000000000000000000000}}'),
}


@pytest.mark.parametrize("template", list(NUMBERS.values()), ids=list(NUMBERS))
def test_nan_and_huge_numbers_get_4xx(emulator: Emulator, template: str) -> None:
    status, _, data = raw_job(emulator, template % json.dumps(bell_qasm()))
    assert 400 <= status < 500, (status, data[:300])
    # and nothing was stored that could later break a listing
    s, _, listing = emulator.request("GET", "/v1/jobs?limit=200", headers=ibm_headers(emulator))
    assert s == 200, listing[:300]


@pytest.mark.parametrize("text", ["[]", '"sampler"', "1", "null", "true", "[{}]", '{"params": []}'])
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/sessions", BATCHES, "/core-fast/api/v2/batches/x/cancel"])
def test_non_object_bodies_get_4xx(emulator: Emulator, text: str, path: str) -> None:
    headers = ibm_headers(emulator) if path.startswith("/v1") else PASQAL
    status, _, data = raw_job(emulator, text, path, headers)
    assert 400 <= status < 500, (status, data[:300])


@pytest.mark.parametrize(
    "query",
    [
        "/core-fast/results/x?expires=100000000000000000000000000000&sig=x",
        "/core-fast/results/x?expires=-100000000000000000000000000000&sig=x",
        "/core-fast/results/x?expires=" + "9" * 5000 + "&sig=x",
        "/v1/backends/ideal_twin/properties?updated_before=99999-12-31T25:61:61Z",
        "/v1/backends/ideal_twin/properties?updated_before=-999999999-01-01",
        "/v1/jobs?limit=100000000000000000000",
        "/v1/jobs?offset=100000000000000000000",
        "/core-fast/api/v2/jobs?offset=100000000000000000000",
    ],
)
def test_extreme_dates_and_numbers_in_queries_get_no_5xx(emulator: Emulator, query: str) -> None:
    headers = ibm_headers(emulator) if query.startswith("/v1") else PASQAL
    status, _, data = emulator.request("GET", query, headers=headers)
    assert status < 500, (status, data[:300])


# -- request bodies ---------------------------------------------------------------------------------


def raw_http(emulator: Emulator, path: str, body: bytes, headers: dict[str, str], chunked: bool = False) -> int:
    url = urllib.parse.urlsplit(emulator.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        if chunked:
            conn.putrequest("POST", path)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            step = 16 * 1024
            try:
                for i in range(0, len(body), step):
                    piece = body[i : i + step]
                    conn.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                conn.send(b"0\r\n\r\n")
            except OSError:
                pass  # the server may answer and close before the whole body is sent
        else:
            with contextlib.suppress(OSError):
                conn.request("POST", path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def big_json(size: int) -> bytes:
    doc = json.dumps({"program_id": "sampler", "backend": "ideal_twin", "params": {"pubs": [[bell_qasm()]], "pad": ""}})
    return doc.replace('"pad": ""', '"pad": "' + "x" * (size - len(doc)) + '"').encode()


@pytest.mark.parametrize("how", ["content-length", "chunked", "lying content-length"])
@pytest.mark.parametrize("size", [BODY_LIMIT + 1, 4 * BODY_LIMIT])
def test_bodies_above_the_limit_get_413(emulator: Emulator, memory_watch: Any, how: str, size: int) -> None:
    body = big_json(size)
    assert len(body) == size
    headers = {"Content-Type": "application/json", **ibm_headers(emulator)}
    if how == "lying content-length":
        headers["Content-Length"] = str(BODY_LIMIT + 10**12)
        body = body[:1000]
    assert raw_http(emulator, "/v1/jobs", body, headers, chunked=how == "chunked") == 413


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("inflated", [BODY_LIMIT + 1, 512 << 20])
def test_compressed_bodies_inflating_above_the_limit_get_413(
    emulator: Emulator, memory_watch: Any, encoding: str, inflated: int
) -> None:
    raw = big_json(BODY_LIMIT + 1) if inflated == BODY_LIMIT + 1 else b"[" + b" " * inflated + b"]"
    packed = gzip.compress(raw, 9) if encoding == "gzip" else zlib.compress(raw, 9)
    headers = {"Content-Type": "application/json", "Content-Encoding": encoding, **PASQAL}
    assert raw_http(emulator, BATCHES, packed, headers) == 413


def test_unknown_content_encoding_is_refused(emulator: Emulator) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": "br", **PASQAL}
    assert raw_http(emulator, BATCHES, b"\x00\x01", headers) == 415


# -- Pulser sequences ------------------------------------------------------------------------------------


def sequence(duration: int = 500, atoms: int = 1, delay: int = 0, variable: bool = False) -> str:
    from pulser import Pulse, Register, Sequence
    from pulser.devices import MockDevice

    reg = Register.from_coordinates([(i * 10.0, 0.0) for i in range(atoms)], prefix="q")
    seq = Sequence(reg, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    if delay:
        seq.delay(delay, "ryd")
    if variable:
        t = seq.declare_variable("t", dtype=int)
        seq.add(Pulse.ConstantPulse(duration=t, amplitude=1, detuning=0, phase=0), "ryd")
    else:
        seq.add(Pulse.ConstantPulse(duration=duration, amplitude=1, detuning=0, phase=0), "ryd")
    return str(seq.to_abstract_repr())


def batch(emulator: Emulator, seq: str, runs: Any = 10, variables: Any = None) -> tuple[int, Any, float]:
    job: dict[str, Any] = {"runs": runs}
    if variables is not None:
        job["variables"] = variables
    t0 = time.monotonic()
    status, body = emulator.json(
        "POST", BATCHES, {"sequence_builder": seq, "jobs": [job], "device_type": "FRESNEL"}, PASQAL
    )
    return status, body, time.monotonic() - t0


def with_duration(text: str, value: Any) -> str:
    doc = json.loads(text)
    for op in doc["operations"]:
        if op.get("op") == "pulse":
            op["amplitude"]["duration"] = value
            op["detuning"]["duration"] = value
    return json.dumps(doc)


PULSER = {
    "pulse just above": lambda: (sequence(MAX_DURATION_NS + 1), None),
    "pulse of 10**9 ns": lambda: (with_duration(sequence(), 10**9), None),
    "pulse of 2**62 ns": lambda: (with_duration(sequence(), 2**62), None),
    "delay of 10**9 ns": lambda: (sequence(delay=10**9), None),
    "pulses adding up": lambda: (sequence(MAX_DURATION_NS // 2 + 1, delay=MAX_DURATION_NS // 2 + 1), None),
    "variable duration of 10**9": lambda: (sequence(variable=True), {"t": [10**9]}),
    "variable duration just above": lambda: (sequence(variable=True), {"t": [MAX_DURATION_NS + 1]}),
    "register just above": lambda: (sequence(atoms=MAX_ATOMS + 1), None),
    "register of 2000 atoms": lambda: (sequence(atoms=2000), None),
}


@pytest.mark.parametrize("make", list(PULSER.values()), ids=list(PULSER))
def test_pulser_sequences_above_the_device_are_refused(emulator: Emulator, memory_watch: Any, make: Any) -> None:
    seq, variables = make()
    status, body, seconds = batch(emulator, seq, variables=variables)
    assert 400 <= status < 500 and body["status"] == "fail", (status, body)
    assert seconds < FAST_S


@pytest.mark.parametrize(
    "text",
    [
        '{"sequence_builder": %s, "jobs": [{"runs": 10, "variables": {"t": [NaN]}}], "device_type": "FRESNEL"}',
        '{"sequence_builder": %s, "jobs": [{"runs": 1e400}], "device_type": "FRESNEL"}',
        '{"sequence_builder": %s, "jobs": [{"runs": ' + "9" * 400 + '}], "device_type": "FRESNEL"}',
        '{"sequence_builder": %s, "jobs": [{"runs": 10, "variables": {"t": [1e308]}}], "device_type": "FRESNEL"}',
    ],
    ids=["NaN variable", "1e400 runs", "400-digit runs", "huge variables"],
)
def test_pulser_numbers_get_4xx(emulator: Emulator, text: str) -> None:
    status, _, data = raw_job(emulator, text % json.dumps(sequence(variable=True)), BATCHES, PASQAL)
    assert 400 <= status < 500, (status, data[:300])


def test_sequences_within_the_device_still_run(emulator: Emulator) -> None:
    status, body, _ = batch(emulator, pi_pulse(), runs=20)
    assert status == 200, body


# -- no part of a secret in what the service shows ------------------------------------------------------


def test_no_part_of_a_secret_is_shown_as_user_id(emulator: Emulator) -> None:
    key = IBM_KEYS["ideal_twin"]
    status, body = iam_token(emulator, key)
    assert status == 200
    claims = json.loads(base64.urlsafe_b64decode(body["access_token"].split(".")[1] + "=="))
    headers = ibm_headers(emulator)
    s, session = emulator.json("POST", "/v1/sessions", {"backend": "ideal_twin", "mode": "dedicated"}, headers)
    assert s == 200, session
    s, job = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm()), headers)
    assert s == 200, job
    s, job_doc = emulator.json("GET", f"/v1/jobs/{job['id']}", headers=headers)
    s2, b, _ = batch(emulator, pi_pulse(), runs=5)
    assert s2 == 200, b
    shown = [claims["sub"], session["user_id"], job_doc["user_id"], b["data"]["user_id"]]
    for secret in (key, PASQAL_TOKEN):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        pieces = {secret[:4], secret[-4:]} | {secret[i : i + 6] for i in range(len(secret) - 5)}
        for value in shown:
            named = value.split(":", 1)[-1]  # after the kind of credential ("apikey:", "token:")
            for piece in pieces:
                assert piece not in named, (value, f"shows {piece!r}, part of a secret")
            assert digest[:8] not in named, (value, "shows an unkeyed hash of a secret")
