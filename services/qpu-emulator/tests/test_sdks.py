"""The vendors' own clients against the service.

- qrmi's Qiskit primitives (qrmi.primitives.ibm): unchanged, through a QuantumResource.
- qiskit-ibm-runtime (QiskitRuntimeService + SamplerV2/EstimatorV2): works once its IBM
  Cloud instance lookup is bypassed. Its constructor lists the account's instances through
  IBM Cloud Global Search (a host derived from the URL, not the service); that is the one
  piece the emulator cannot stand in for, so the test replaces that lookup alone.
- pasqal-cloud (PasqalCloudClient): unchanged, with custom endpoints and its password-grant
  token provider pointed at the service's token endpoint.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import vendor_job
from conftest import (
    CRN,
    IBM_KEYS,
    PASQAL_CLIENT,
    PASQAL_TOKEN,
    Emulator,
    bell_qasm,
    ibm_headers,
    qrmi_ibm,
    sampler_job,
    twins,
    wait_ibm_final,
)
from sequences import pi_pulse


def bell() -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def test_qrmi_primitives_backend_and_sampler(emulator: Emulator) -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit import transpile
    from qrmi.primitives.ibm import SamplerV2, get_backend

    r = qrmi_ibm(emulator, "noisy_twin")
    backend = get_backend(r)
    spec = next(t for t in twins() if t["name"] == "noisy_twin")
    assert backend.name == "noisy_twin"
    assert backend.target.num_qubits == spec["num_qubits"]
    assert {"cz", "sx", "x", "rz"} <= set(backend.target.operation_names)
    cz_error = backend.target["cz"][(0, 1)].error
    assert cz_error == pytest.approx(0.08)
    assert (0, 2) not in backend.target["cz"]  # the twin's coupling map, not all-to-all

    ideal = qrmi_ibm(emulator, "ideal_twin")
    job = SamplerV2(ideal).run([transpile(bell(), get_backend(ideal))], shots=1000)
    counts = job.result()[0].data.c.get_counts()  # decoded by qiskit-ibm-runtime's ResultDecoder
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
    assert 350 < counts.get("00", 0) < 650
    del job
    gc.collect()


def test_qrmi_primitives_estimator(emulator: Emulator) -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp
    from qrmi.primitives.ibm import EstimatorV2

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    job = EstimatorV2(qrmi_ibm(emulator, "ideal_twin")).run(
        [(qc, [SparsePauliOp("ZZ"), SparsePauliOp("XI")])], precision=0.01
    )
    evs = job.result()[0].data.evs
    assert evs[0] == pytest.approx(1.0, abs=0.06)
    assert evs[1] == pytest.approx(0.0, abs=0.06)
    del job
    gc.collect()


def test_qiskit_ibm_runtime(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("qiskit_ibm_runtime")
    from qiskit import transpile
    from qiskit_ibm_runtime import EstimatorV2, QiskitRuntimeService, SamplerV2
    from qiskit_ibm_runtime.accounts.account import Account

    # IAM at the emulator (the SDK's own switch) and the instance lookup answered locally.
    monkeypatch.setenv("IAM_URL", emulator.url)
    monkeypatch.setattr(
        Account,
        "list_instances",
        lambda self: [{"crn": CRN, "plan": "open", "name": "lab", "tags": [], "pricing_type": "free"}],
    )
    service = QiskitRuntimeService(
        channel="ibm_cloud",
        token=IBM_KEYS["ideal_twin"],
        instance=CRN,
        url="http://localhost",
        url_resolver=lambda *_: emulator.url + "/v1",
    )
    backend = service.backend("ideal_twin")
    assert backend.num_qubits == 5
    isa = transpile(bell(), backend)
    result = SamplerV2(mode=backend).run([isa], shots=800).result()
    counts = result[0].data.c.get_counts()
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 800

    from qiskit.quantum_info import SparsePauliOp

    unmeasured = bell().remove_final_measurements(inplace=False)
    isa = transpile(unmeasured, backend)
    obs = SparsePauliOp("ZZ").apply_layout(isa.layout)
    evs = EstimatorV2(mode=backend).run([(isa, obs)], precision=0.02).result()[0].data.evs
    assert float(evs) == pytest.approx(1.0, abs=0.1)


def test_pasqal_cloud_sdk(emulator: Emulator) -> None:
    pytest.importorskip("pasqal_cloud")
    from pasqal_cloud.authentication import PasswordGrantTokenProvider
    from pasqal_cloud.endpoints import Endpoints, TokenProviderConf
    from pasqal_cloud.pasqal_cloud_client import PasqalCloudClient

    conf = TokenProviderConf(
        token_endpoint=emulator.url + "/auth/token",
        public_client_id="sdk",
        audience="lab",
        realm="lab",
        grant_type="http://auth0.com/oauth/grant-type/password-realm",
    )
    tokens = PasswordGrantTokenProvider(PASQAL_CLIENT[0], PASQAL_CLIENT[1], conf)
    client = PasqalCloudClient(
        token_provider=tokens,
        project_id="lab-project",
        endpoints=Endpoints(core=emulator.url + "/core-fast", account=emulator.url + "/account"),
    )
    batch = client.create_batch(pi_pulse(), jobs=[{"runs": 300}], device_type="FRESNEL", wait=True)
    assert batch.status == "DONE"
    (job,) = batch.ordered_jobs
    assert sum(job.result.values()) == 300
    assert job.result.get("1", 0) / 300 > 0.9


JOB = Path(__file__).with_name("vendor_job.py")


def laptop_environment(emulator: Emulator) -> dict[str, str]:
    """What a user on a laptop sets for the twins: the variables a QRMI job gets, pointing
    at the emulator directly with the twins' own credentials."""
    return {
        "QRMI_JOB_QPU_RESOURCES": "ideal_twin,FRESNEL",
        "QRMI_JOB_QPU_TYPES": "ibm-quantum-compute-service,pasqal-cloud",
        "ideal_twin_QRMI_IBM_QCS_ENDPOINT": emulator.url + "/v1",
        "ideal_twin_QRMI_IBM_QCS_IAM_ENDPOINT": emulator.url,
        "ideal_twin_QRMI_IBM_QCS_IAM_APIKEY": IBM_KEYS["ideal_twin"],
        "ideal_twin_QRMI_IBM_QCS_SERVICE_CRN": CRN,
        "FRESNEL_QRMI_PASQAL_CLOUD_BASE_URL": emulator.url,
        "FRESNEL_QRMI_PASQAL_CLOUD_AUTH_TOKEN": PASQAL_TOKEN,
        "FRESNEL_QRMI_PASQAL_CLOUD_PROJECT_ID": "lab-project",
    }


def run_vendor_job(env: dict[str, str], shots: int = 200) -> dict[str, dict[str, Any]]:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    done = subprocess.run([sys.executable, str(JOB), str(shots)], env=clean, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return {d["qpu"]: d for d in map(json.loads, done.stdout.splitlines())}


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("qiskit_ibm_runtime", "pasqal_cloud")),
                    reason="needs the vendors' SDKs")
def test_the_vendor_job_runs_against_the_twins_directly(emulator: Emulator) -> None:
    """A laptop: the job script, with the twins' endpoints and credentials in its environment."""
    vendor_job.check(run_vendor_job(laptop_environment(emulator)), "ideal_twin", "FRESNEL", 200)


def test_ibm_job_metrics_shape(emulator: Emulator) -> None:
    """GET /v1/jobs/{id}/metrics: usage stays pending until the job is final, then whole seconds."""
    auth = ibm_headers(emulator)
    code, job = emulator.json("POST", "/v1/jobs", sampler_job(bell_qasm()), auth)
    assert code == 200, job
    code, m = emulator.json("GET", f"/v1/jobs/{job['id']}/metrics", headers=auth)
    assert code == 200 and m["timestamps"]["created"]
    wait_ibm_final(emulator, job["id"], auth)
    code, m = emulator.json("GET", f"/v1/jobs/{job['id']}/metrics", headers=auth)
    assert code == 200 and m["usage"]["status"] == "completed"
    assert m["usage"]["qpu_charge_time_seconds"] >= 1 and m["timestamps"]["finished"]
    assert m["circuits_execution_time_ns"] > 0 and m["num_circuits"] == 1
    assert "bss" not in m and "seconds" not in m["usage"]  # gone from IBM's API since 2026-03
    assert emulator.json("GET", "/v1/jobs/no-such-job/metrics", headers=auth)[0] == 404
    assert emulator.json("GET", f"/v1/jobs/{job['id']}/metrics")[0] == 401
