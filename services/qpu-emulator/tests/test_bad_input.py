"""Bad input gets a 4xx in the vendor's own error shape, never a 5xx, and the service lives on."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import pytest
from conftest import (
    PASQAL_CLIENT,
    PASQAL_TOKEN,
    Emulator,
    bell_qasm,
    iam_token,
    ibm_headers,
    qrmi_ibm,
    sampler_job,
    wait_ibm_final,
)
from sequences import pi_pulse, too_many_atoms

PASQAL = {"Authorization": f"Bearer {PASQAL_TOKEN}"}


def assert_ibm_error(status: int, body: dict, want: int, *words: str) -> None:
    assert status == want, body
    assert set(body) >= {"errors", "trace"}, body
    message = body["errors"][0]["message"]
    assert isinstance(body["errors"][0]["code"], int)
    for w in words:
        assert w.lower() in message.lower(), message


def assert_pasqal_error(status: int, body: dict, want: int, *words: str) -> None:
    assert status == want, body
    assert body["status"] == "fail" and body["code"] == want, body
    for w in words:
        assert w.lower() in body["message"].lower(), body["message"]


# -- IBM ---------------------------------------------------------------------------------------


def test_malformed_qasm(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/v1/jobs", sampler_job("OPENQASM 3.0; qubit[2 q; h q[0];"), ibm_headers(emulator))
    assert_ibm_error(s, b, 400, "OpenQASM 3", "pubs[0]")


def test_more_qubits_than_the_twin(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm(n_extra_qubits=4)), ibm_headers(emulator))
    assert_ibm_error(s, b, 400, "6 qubits", "has 5")


def test_too_many_shots(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm(), shots=10**9), ibm_headers(emulator))
    assert_ibm_error(s, b, 400, "shots")


def test_unknown_backend(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm(), backend="ibm_nowhere"), ibm_headers(emulator))
    assert_ibm_error(s, b, 404, "ibm_nowhere")
    s, b = emulator.json("GET", "/v1/backends/ibm_nowhere/configuration", headers=ibm_headers(emulator))
    assert_ibm_error(s, b, 404, "ibm_nowhere")


def test_unknown_program(emulator: Emulator) -> None:
    job = sampler_job(bell_qasm()) | {"program_id": "circuit-runner"}
    s, b = emulator.json("POST", "/v1/jobs", job, ibm_headers(emulator))
    assert_ibm_error(s, b, 400, "program_id")


def test_wrong_api_key(emulator: Emulator) -> None:
    s, b = iam_token(emulator, "not-a-key")
    assert s == 400 and b["errorCode"] == "BXNIM0415E" and "API key" in b["errorMessage"]


def test_wrong_token(emulator: Emulator) -> None:
    s, b = emulator.json("GET", "/v1/backends", headers={"Authorization": "Bearer forged.token.value"})
    assert_ibm_error(s, b, 401, "not valid")


def test_missing_token(emulator: Emulator) -> None:
    s, b = emulator.json("GET", "/v1/backends/ideal_twin/status")
    assert_ibm_error(s, b, 401, "Authentication required")


def test_expired_token(emulator: Emulator) -> None:
    key = (emulator.state_dir / "signing.key").read_bytes().strip()

    def b64(d: bytes) -> str:
        return base64.urlsafe_b64encode(d).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"sub": "x", "twins": ["ideal_twin"], "iat": 1, "exp": int(time.time()) - 5}).encode())
    sig = b64(hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest())
    s, b = emulator.json("GET", "/v1/backends", headers={"Authorization": f"Bearer {head}.{body}.{sig}"})
    assert_ibm_error(s, b, 401, "expired")


def test_token_for_another_twin(emulator: Emulator) -> None:
    s, b = emulator.json("GET", "/v1/backends/noisy_twin/status", headers=ibm_headers(emulator, "ideal_twin"))
    assert_ibm_error(s, b, 403, "noisy_twin")


def test_oversize_payload(emulator: Emulator) -> None:
    big = sampler_job(bell_qasm() + "// " + "x" * (300 * 1024) + "\n")
    s, b = emulator.json("POST", "/v1/jobs", big, ibm_headers(emulator))
    assert_ibm_error(s, b, 413, "larger than")


def test_malformed_json(emulator: Emulator) -> None:
    s, b = emulator.json(
        "POST",
        "/v1/jobs",
        raw=b'{"program_id": "sampler", ',
        headers=ibm_headers(emulator) | {"Content-Type": "application/json"},
    )
    assert_ibm_error(s, b, 400, "invalid request")


def test_cancel_finished_job(emulator: Emulator) -> None:
    h = ibm_headers(emulator)
    s, b = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm()), h)
    assert s == 200, b
    assert wait_ibm_final(emulator, b["id"], h)["status"] == "Completed"
    s, body = emulator.json("POST", f"/v1/jobs/{b['id']}/cancel", headers=h)
    assert_ibm_error(s, body, 409, "Completed")


def test_unknown_job(emulator: Emulator) -> None:
    s, b = emulator.json("GET", "/v1/jobs/00000000-0000-0000-0000-000000000000/results", headers=ibm_headers(emulator))
    assert_ibm_error(s, b, 404, "not found")


def test_qrmi_reports_the_message(emulator: Emulator) -> None:
    """The vendor-shaped message reaches a QRMI user as the exception text."""
    import qrmi

    r = qrmi_ibm(emulator)
    inp = json.dumps({"pubs": [["OPENQASM 3.0; qubit[2] q; frobnicate q[0];", None, 10]], "version": 2})
    with pytest.raises(Exception, match="OpenQASM 3"):
        r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))


# -- Pasqal ------------------------------------------------------------------------------------------


def batch(sequence: str, device: str = "FRESNEL", runs: int = 50) -> dict:
    return {"sequence_builder": sequence, "jobs": [{"runs": runs}], "device_type": device, "project_id": "p"}


def test_pasqal_unknown_device(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch(pi_pulse(), device="EMU_NOWHERE"), PASQAL)
    assert_pasqal_error(s, b, 404, "EMU_NOWHERE")
    s, b = emulator.json("GET", "/core-fast/api/v1/devices?device_type=EMU_NOWHERE")
    assert_pasqal_error(s, b, 404, "EMU_NOWHERE")


def test_pasqal_malformed_sequence(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch('{"version": "1", "register": 3}'), PASQAL)
    assert_pasqal_error(s, b, 400, "sequence")


def test_pasqal_too_many_atoms(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch(too_many_atoms(20)), PASQAL)
    assert_pasqal_error(s, b, 400, "20 atoms", "12")


def test_pasqal_too_many_runs(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch(pi_pulse(), runs=5000), PASQAL)
    assert_pasqal_error(s, b, 400, "5000 runs")


def test_pasqal_wrong_token(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch(pi_pulse()), {"Authorization": "Bearer nope"})
    assert_pasqal_error(s, b, 401, "not valid")


def test_pasqal_wrong_client_secret(emulator: Emulator) -> None:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": PASQAL_CLIENT[0], "client_secret": "wrong"}
    ).encode()
    s, b = emulator.json("POST", "/auth/token", raw=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert s == 401 and b["error"] == "access_denied", b


def test_pasqal_oversize(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch("x" * (300 * 1024)), PASQAL)
    assert_pasqal_error(s, b, 413, "larger than")


def test_pasqal_cancel_finished_batch(emulator: Emulator) -> None:
    s, b = emulator.json("POST", "/core-fast/api/v1/batches", batch(pi_pulse(), runs=20), PASQAL)
    assert s == 200, b
    bid = b["data"]["id"]
    for _ in range(600):
        _, got = emulator.json("GET", f"/core-fast/api/v2/batches/{bid}", headers=PASQAL)
        if got["data"]["status"] == "DONE":
            break
        time.sleep(0.1)
    s, b = emulator.json("PATCH", f"/core-fast/api/v2/batches/{bid}/cancel", headers=PASQAL)
    assert_pasqal_error(s, b, 409, "DONE")


# -- afterwards --------------------------------------------------------------------------------------


def test_zz_no_5xx_and_still_healthy(emulator: Emulator) -> None:
    """Runs last in this module: everything above left no 5xx behind and the service is up."""
    s, b = emulator.json("GET", "/health")
    assert s == 200 and b["status"] == "ok"
    _, _, metrics = emulator.request("GET", "/metrics")
    text = metrics.decode()
    counted = [ln for ln in text.splitlines() if ln.startswith("qpu_emulator_http_errors_total{")]
    assert any('status="401"' in ln and 'surface="ibm"' in ln for ln in counted), counted
    for line in text.splitlines():
        if line.startswith("qpu_emulator_http_errors_total") and 'status="5' in line:
            raise AssertionError(f"a 5xx was sent: {line}")
