"""The IBM Quantum System surface (/quantum-system): qrmi's own ibm-quantum-system resource
against the twin with a real S3-compatible store (moto's server), and the API's refusals."""

from __future__ import annotations

import json
import math
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import s3_server
from conftest import LINE, Emulator, bell_qasm, free_port, start, stop, wait_final

qrmi = pytest.importorskip("qrmi")
pytest.importorskip("moto")

KEYS = {"qs_ideal": "qs-key-ideal-0123", "qs_noisy": "qs-key-noisy-4567"}
SHOTS = 2000
QS = "/quantum-system"


def qs_twins() -> list[dict[str, Any]]:
    base = {
        "api": "ibm-quantum-system",
        "modality": "superconducting",
        "num_qubits": 5,
        "coupling_map": LINE,
        "basis_gates": ["cz", "id", "rz", "sx", "x"],
        "max_shots": 20000,
    }
    return [
        {**base, "name": "qs_ideal", "backend_name": "qs_ideal", "credentials": {"api_keys": [KEYS["qs_ideal"]]}},
        {
            **base,
            "name": "qs_noisy",
            "backend_name": "qs_noisy",
            "noise": {"single_qubit_error": 0.01, "two_qubit_error": 0.08, "readout_error": 0.04},
            "credentials": {"api_keys": [KEYS["qs_noisy"]]},
        },
    ]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_server.S3]:
    with s3_server.running(tmp_path_factory.mktemp("s3"), free_port()) as store:
        yield store


@pytest.fixture(scope="module")
def qs_emulator(tmp_path_factory: pytest.TempPathFactory, s3: s3_server.S3) -> Iterator[Emulator]:
    emu = start(tmp_path_factory.mktemp("qs-emulator"), twins=qs_twins(), s3_endpoints=[s3.url])
    yield emu
    stop(emu)


def qrmi_qs(emu: Emulator, s3: s3_server.S3, twin: str = "qs_ideal", **extra: str) -> Any:
    env = {
        "QRMI_IBM_QS_ENDPOINT": emu.url + QS,
        "QRMI_IBM_QS_IAM_ENDPOINT": emu.url,
        "QRMI_IBM_QS_IAM_APIKEY": KEYS.get(twin, "none"),
        "QRMI_IBM_QS_SERVICE_CRN": "crn:v1:lab:private:quantum-computing:lab:a/lab::",
        "QRMI_IBM_QS_AWS_ACCESS_KEY_ID": s3.access_key,
        "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "QRMI_IBM_QS_S3_ENDPOINT": s3.url,
        "QRMI_IBM_QS_S3_BUCKET": s3.bucket,
        "QRMI_IBM_QS_S3_REGION": s3.region,
        "QRMI_JOB_TIMEOUT_SECONDS": "120",
        **extra,
    }
    return qrmi.QuantumResource.from_config(twin, qrmi.ResourceType.IBMQuantumSystem, env)


def counts(result: dict, reg: str = "c") -> dict[str, int]:
    data = result["results"][0]["data"][reg]
    out: dict[str, int] = {}
    for s in data["samples"]:
        key = format(int(s, 16), f"0{data['num_bits']}b")
        out[key] = out.get(key, 0) + 1
    return out


def sampler_input(shots: int = SHOTS) -> str:
    return json.dumps({"pubs": [[bell_qasm(), None, shots]], "version": 2, "support_qiskit": False})


def headers(emu: Emulator, twin: str = "qs_ideal") -> dict[str, str]:
    form = urllib.parse.urlencode({"grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": KEYS[twin]})
    status, body = emu.json(
        "POST", "/identity/token", raw=form.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}", "Service-CRN": "crn:v1:test"}


# -- qrmi's own resource ------------------------------------------------------------------------


def test_qrmi_cycle_bell_on_noiseless_twin(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    r = qrmi_qs(qs_emulator, s3)
    st = r.status().to_dict()
    assert st["status"] == "online"
    token = r.acquire()
    assert token
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=sampler_input(), program_id="sampler"))
    uuid.UUID(task)  # the client chose the id
    status, seen = wait_final(r, task)
    assert status == qrmi.TaskStatus.Completed, seen
    got = counts(json.loads(r.task_result(task).value))
    assert sum(got.values()) == SHOTS
    assert set(got) <= {"00", "11"}
    assert abs(got.get("00", 0) - SHOTS / 2) < 5 * math.sqrt(SHOTS / 4)
    logs = r.task_logs(task)
    assert "sampler" in logs and str(SHOTS) in logs
    # the payloads went through the store: input, results and logs objects of this task
    keys = {o["Key"] for o in s3.client().list_objects_v2(Bucket=s3.bucket).get("Contents", [])}
    assert {f"input_{task}.json", f"results_{task}.json", f"logs_{task}.json"} <= keys
    r.release(token)


def test_qrmi_noisy_twin_shows_its_noise_and_target(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    r = qrmi_qs(qs_emulator, s3, "qs_noisy")
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=sampler_input(), program_id="sampler"))
    status, seen = wait_final(r, task)
    assert status == qrmi.TaskStatus.Completed, seen
    got = counts(json.loads(r.task_result(task).value))
    odd = got.get("01", 0) + got.get("10", 0)
    assert 0.04 < odd / SHOTS < 0.30, got
    target = json.loads(r.target().value)
    assert target["configuration"]["n_qubits"] == 5
    assert sorted(map(tuple, target["configuration"]["coupling_map"])) == sorted(map(tuple, LINE))
    readout = {p["name"]: p["value"] for p in target["properties"]["qubits"][0]}
    assert readout["readout_error"] == pytest.approx(0.04)


def test_qrmi_wrong_key_is_refused(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    r = qrmi_qs(qs_emulator, s3, "qs_ideal", QRMI_IBM_QS_IAM_APIKEY="not-a-key")
    with pytest.raises(Exception, match="(?i)api key|token|auth"):
        r.task_start(qrmi.Payload.QiskitPrimitive(input=sampler_input(), program_id="sampler"))


# -- the API's own answers ------------------------------------------------------------------------


def _job_body(s3: s3_server.S3, job_id: str, input_url: str | None = None, **over: Any) -> dict[str, Any]:
    c = s3.client()
    put = {
        k: c.generate_presigned_url(
            "put_object", Params={"Bucket": s3.bucket, "Key": f"{k}_{job_id}.json"}, ExpiresIn=600
        )
        for k in ("results", "logs")
    }
    get = input_url or c.generate_presigned_url(
        "get_object", Params={"Bucket": s3.bucket, "Key": f"input_{job_id}.json"}, ExpiresIn=600
    )
    body = {
        "id": job_id,
        "backend": "qs_ideal",
        "program_id": "sampler",
        "log_level": "info",
        "timeout_secs": 60,
        "storage": {
            "input": {"type": "s3_compatible", "presigned_url": get},
            "results": {"type": "s3_compatible", "presigned_url": put["results"]},
            "logs": {"type": "s3_compatible", "presigned_url": put["logs"]},
        },
    }
    body.update(over)
    return body


def _put_input(s3: s3_server.S3, job_id: str, data: bytes) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key=f"input_{job_id}.json", Body=data)


def _qs_error(body: Any) -> dict[str, Any]:
    """IBM Quantum System's error shape: errors[{code (a string), message, more_info}], status_code, trace."""
    assert set(body) >= {"errors", "status_code", "trace"}, body
    err = body["errors"][0]
    assert isinstance(err["code"], str) and isinstance(err["more_info"], str) and err["message"]
    return err


def test_submit_answers_204_and_duplicate_id_409(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    h = headers(qs_emulator)
    job_id = str(uuid.uuid4())
    _put_input(s3, job_id, sampler_input(100).encode())
    status, body = qs_emulator.json("POST", f"{QS}/v1/jobs", _job_body(s3, job_id), headers=h)
    assert status == 204, body
    status, body = qs_emulator.json("POST", f"{QS}/v1/jobs", _job_body(s3, job_id), headers=h)
    assert status == 409
    assert "exists" in _qs_error(body)["message"]
    status, listed = qs_emulator.json("GET", f"{QS}/v1/jobs", headers=h)
    assert status == 200 and job_id in {j["id"] for j in listed["jobs"]}


def test_presigned_url_to_another_host_is_refused_without_connecting(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    """A URL in a body is a request to connect: only the configured store is ever contacted."""
    h = headers(qs_emulator)
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/x",
        "file:///etc/passwd",
        s3.url.replace("127.0.0.1", "localhost") + "/qpu-jobs/x",
    ):
        job_id = str(uuid.uuid4())
        status, body = qs_emulator.json("POST", f"{QS}/v1/jobs", _job_body(s3, job_id, input_url=url), headers=h)
        assert status == 400, (url, body)
        assert "presigned_url" in _qs_error(body)["message"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not json", "not valid JSON"),
        (b'{"pubs": [], "version": 2, "x": NaN}', "NaN"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"pubs": [["OPENQASM 3.0; qubit[999999] q;", None, 10]], "version": 2}).encode(), "qubits"),
        (b"{" + b'"a":' * 0 + b'"pad": "' + b"x" * (300 * 1024) + b'"}', "larger than"),
    ],
)
def test_bad_input_in_the_store_is_400_in_ibm_shape(
    qs_emulator: Emulator, s3: s3_server.S3, data: bytes, words: str
) -> None:
    h = headers(qs_emulator)
    job_id = str(uuid.uuid4())
    _put_input(s3, job_id, data)
    status, body = qs_emulator.json("POST", f"{QS}/v1/jobs", _job_body(s3, job_id), headers=h)
    assert status == 400, body
    assert words in _qs_error(body)["message"]
    status, _ = qs_emulator.json("GET", f"{QS}/v1/jobs/{job_id}", headers=h)
    assert status == 404  # nothing was created


@pytest.mark.parametrize(
    "over",
    [
        {"id": "not-a-uuid-but-thirty-six-chars-long"},
        {"program_id": "circuit-runner"},
        {"timeout_secs": 0},
        {"storage": {"input": {"type": "ibmcloud_cos", "presigned_url": "http://x"}}},
        {"extra_field": 1},
    ],
)
def test_malformed_job_is_400(qs_emulator: Emulator, s3: s3_server.S3, over: dict[str, Any]) -> None:
    status, body = qs_emulator.json(
        "POST", f"{QS}/v1/jobs", _job_body(s3, str(uuid.uuid4()), **over), headers=headers(qs_emulator)
    )
    assert status == 400, body
    _qs_error(body)


def test_another_keys_job_and_backend_are_not_visible(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    h_ideal, h_noisy = headers(qs_emulator), headers(qs_emulator, "qs_noisy")
    job_id = str(uuid.uuid4())
    _put_input(s3, job_id, sampler_input(50).encode())
    assert qs_emulator.json("POST", f"{QS}/v1/jobs", _job_body(s3, job_id), headers=h_ideal)[0] == 204
    status, body = qs_emulator.json("GET", f"{QS}/v1/jobs/{job_id}", headers=h_noisy)
    assert status == 404
    _qs_error(body)
    assert qs_emulator.json("POST", f"{QS}/v1/jobs/{job_id}/cancel", headers=h_noisy)[0] == 404
    assert qs_emulator.json("DELETE", f"{QS}/v1/jobs/{job_id}", headers=h_noisy)[0] == 404
    assert qs_emulator.json("GET", f"{QS}/v1/backends/qs_ideal", headers=h_noisy)[0] == 403
    status, listed = qs_emulator.json("GET", f"{QS}/v1/backends", headers=h_noisy)
    assert [b["name"] for b in listed["backends"]] == ["qs_noisy"]
    # the Quantum Compute Service surface does not serve a Quantum System twin
    assert qs_emulator.json("GET", "/v1/backends/qs_ideal/status", headers=h_ideal)[0] == 404


def test_lanes_and_unauthenticated(qs_emulator: Emulator) -> None:
    status, lanes = qs_emulator.json("GET", f"{QS}/v1/backends/qs_ideal/lanes", headers=headers(qs_emulator))
    assert status == 200 and lanes["hpc_workload_manager"]["lanes"] >= 1
    status, body = qs_emulator.json("GET", f"{QS}/v1/jobs")
    assert status == 401
    _qs_error(body)


def test_config_refuses_a_store_that_is_not_a_url(tmp_path: Path) -> None:
    from qpu_emulator import config

    with pytest.raises(config.ConfigError, match="s3_endpoints"):
        config.parse({"s3_endpoints": ["ftp://store"], "twins": []})


def test_schemathesis_over_the_quantum_system_operations(qs_emulator: Emulator) -> None:
    """Generated requests (authenticated, so they reach the handlers) never get a 5xx."""
    schemathesis = pytest.importorskip("schemathesis")
    from test_schemathesis import _exercise

    schema = schemathesis.openapi.from_url(qs_emulator.url + "/openapi.json")
    schema.config.update(base_url=qs_emulator.url)
    ops = [r.ok() for r in schema.get_all_operations()]
    ops = [op for op in ops if op.path.startswith(QS + "/")]
    statuses: dict[int, int] = {}
    failures = []
    for op in ops:
        try:
            _exercise(op, headers(qs_emulator), statuses)
        except Exception as exc:  # report every operation's failure together
            failures.append(f"{op.method.upper()} {op.path}: {type(exc).__name__}: {str(exc)[:400]}")
    assert not failures, "\n".join(failures)
    assert len(ops) == 10, [op.path for op in ops]
    assert sum(statuses.values()) >= 5 * len(ops), statuses
    assert any(400 <= code < 500 for code in statuses), statuses


def test_qrmi_task_stop_cancels_and_deletes(qs_emulator: Emulator, s3: s3_server.S3) -> None:
    r = qrmi_qs(qs_emulator, s3)
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=sampler_input(20000), program_id="sampler"))
    r.task_stop(task)
    status, body = qs_emulator.json("GET", f"{QS}/v1/jobs/{task}", headers=headers(qs_emulator))
    assert status == 404, body
