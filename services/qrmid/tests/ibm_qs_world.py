"""The world of the ibm-quantum-system tests through qrmid: moto's S3 server, the emulator with an
IBM Quantum System twin that reads and writes it, and qrmid with that QPU added to the lab's; helpers
that act as a job (qrmi's resource from the job's variables, a raw SigV4-signed S3 call)."""


from __future__ import annotations

import datetime as dt
import http.client
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import harness
import pytest

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
def qs_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_server.S3]:
    with s3_server.running(tmp_path_factory.mktemp("s3"), harness.free_port()) as store:
        yield store


@pytest.fixture(scope="module")
def qs_emulator(tmp_path_factory: pytest.TempPathFactory, qs_s3: s3_server.S3) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("qs-emulator")
    port = harness.free_port()
    twin = {"name": QPU, "backend_name": QPU, "api": "ibm-quantum-system", "num_qubits": 5,
            "coupling_map": [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2], [3, 4], [4, 3]],
            "basis_gates": ["cz", "id", "rz", "sx", "x"], "noise": {"readout_error": 0.02},
            "credentials": {"api_keys": [SITE_QS_KEY]}}
    cfg = {"listen": {"host": "127.0.0.1", "port": port}, "state_dir": str(tmp / "state"), "workers": 1,
           "s3_endpoints": [qs_s3.url], "twins": [twin]}
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
              qs_s3: s3_server.S3, munged: harness.Munged) -> Iterator[harness.Client]:
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
            "QRMI_IBM_QS_S3_ENDPOINT": qs_s3.url, "QRMI_IBM_QS_S3_BUCKET": qs_s3.bucket,
            "QRMI_IBM_QS_S3_REGION": qs_s3.region,
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
    import qrmi

    return qrmi.QuantumResource.from_config(QPU, qrmi.ResourceType.IBMQuantumSystem, job_config(env))


def run_bell(r: Any) -> str:
    import qrmi

    inp = json.dumps({"pubs": [[BELL, None, SHOTS]], "version": 2, "support_qiskit": False})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    for _ in range(1200):
        st = r.task_status(task)
        if st in (qrmi.TaskStatus.Completed, qrmi.TaskStatus.Failed, qrmi.TaskStatus.Cancelled):
            break
        time.sleep(0.1)
    assert st == qrmi.TaskStatus.Completed, st
    return str(task)


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


