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
from typing import Any

import pytest
from conftest import CRN, IBM_KEYS, PASQAL_CLIENT, Emulator, qrmi_ibm, twins
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
