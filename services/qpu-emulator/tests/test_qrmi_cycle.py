"""The full qrmi.QuantumResource cycle against the running service, with physics checks."""

from __future__ import annotations

import json
import math

import pytest
from conftest import Emulator, bell_qasm, qrmi_ibm, qrmi_pasqal, twins, wait_final
from sequences import pi_pulse

qrmi = pytest.importorskip("qrmi")

SHOTS = 4000


def counts_from_samples(result: dict, reg: str = "c") -> dict[str, int]:
    data = result["results"][0]["data"][reg]
    counts: dict[str, int] = {}
    for s in data["samples"]:
        key = format(int(s, 16), f"0{data['num_bits']}b")
        counts[key] = counts.get(key, 0) + 1
    return counts


def run_sampler(resource, qasm: str, shots: int = SHOTS) -> tuple[dict, list]:
    inp = json.dumps({"pubs": [[qasm, None, shots]], "version": 2, "support_qiskit": False})
    task = resource.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    status, seen = wait_final(resource, task)
    assert status == qrmi.TaskStatus.Completed, seen
    return json.loads(resource.task_result(task).value), seen


def test_ibm_cycle_bell_on_noiseless_twin(emulator: Emulator) -> None:
    r = qrmi_ibm(emulator, "ideal_twin")
    st = r.status().to_dict()
    assert st["status"] == "online"
    token = r.acquire()
    assert token
    inp = json.dumps({"pubs": [[bell_qasm(), None, SHOTS]], "version": 2, "support_qiskit": False})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    status, seen = wait_final(r, task)
    assert status == qrmi.TaskStatus.Completed, seen
    counts = counts_from_samples(json.loads(r.task_result(task).value))
    assert sum(counts.values()) == SHOTS
    # Ideal Bell state: only 00 and 11, each with p=1/2 (5 sigma bound).
    assert set(counts) <= {"00", "11"}
    sigma = math.sqrt(SHOTS * 0.25)
    assert abs(counts.get("00", 0) - SHOTS / 2) < 5 * sigma
    logs = r.task_logs(task)
    assert "sampler" in logs and str(SHOTS) in logs
    r.release(token)


def test_ibm_noisy_twin_shows_its_noise(emulator: Emulator) -> None:
    r = qrmi_ibm(emulator, "noisy_twin")
    token = r.acquire()
    result, _ = run_sampler(r, bell_qasm())
    counts = counts_from_samples(result)
    odd = counts.get("01", 0) + counts.get("10", 0)
    # readout 4 % per bit + 8 % two-qubit depolarising: ~10 % odd outcomes expected; an ideal twin gives none.
    assert odd / SHOTS > 0.04, counts
    assert odd / SHOTS < 0.30, counts
    r.release(token)


def test_ibm_target_reflects_the_twin(emulator: Emulator) -> None:
    r = qrmi_ibm(emulator, "noisy_twin")
    target = json.loads(r.target().value)
    spec = next(t for t in twins() if t["name"] == "noisy_twin")
    conf, props = target["configuration"], target["properties"]
    assert conf["backend_name"] == "noisy_twin"
    assert conf["n_qubits"] == spec["num_qubits"]
    assert sorted(map(tuple, conf["coupling_map"])) == sorted(map(tuple, spec["coupling_map"]))
    assert conf["basis_gates"] == spec["basis_gates"]
    assert conf["max_shots"] == spec["max_shots"]
    readout = {p["name"]: p["value"] for p in props["qubits"][0]}
    assert readout["readout_error"] == pytest.approx(0.04)
    assert readout["T1"] == pytest.approx(50)
    cz = next(g for g in props["gates"] if g["gate"] == "cz")
    assert {p["name"]: p["value"] for p in cz["parameters"]}["gate_error"] == pytest.approx(0.08)


def test_ibm_estimator_bell_correlations(emulator: Emulator) -> None:
    r = qrmi_ibm(emulator, "ideal_twin")
    token = r.acquire()
    from qiskit import QuantumCircuit, qasm3

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    inp = json.dumps(
        {
            "pubs": [[qasm3.dumps(qc), [{"ZZ": 1.0}, {"XX": 1.0}, {"ZI": 1.0}], None, 0.01]],
            "version": 2,
            "support_qiskit": False,
        }
    )
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="estimator"))
    status, seen = wait_final(r, task)
    assert status == qrmi.TaskStatus.Completed, seen
    evs = json.loads(r.task_result(task).value)["results"][0]["data"]["evs"]
    assert evs[0] == pytest.approx(1.0, abs=0.06)
    assert evs[1] == pytest.approx(1.0, abs=0.06)
    assert evs[2] == pytest.approx(0.0, abs=0.06)
    r.release(token)


def test_ibm_parametrised_sampler(emulator: Emulator) -> None:
    from qiskit import QuantumCircuit, qasm3
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    r = qrmi_ibm(emulator, "ideal_twin")
    inp = json.dumps({"pubs": [[qasm3.dumps(qc), [[0.0], [math.pi]], 200]], "version": 2})
    task = r.task_start(qrmi.Payload.QiskitPrimitive(input=inp, program_id="sampler"))
    assert wait_final(r, task)[0] == qrmi.TaskStatus.Completed
    samples = json.loads(r.task_result(task).value)["results"][0]["data"]["c"]["samples"]
    assert len(samples) == 2 and len(samples[0]) == 200
    assert set(samples[0]) == {"0x0"}  # theta = 0 never flips
    assert set(samples[1]) == {"0x1"}  # theta = pi always flips


def test_pasqal_cycle_pi_pulse_excites_the_atom(emulator: Emulator) -> None:
    r = qrmi_pasqal(emulator)
    assert r.status().to_dict()["status"] == "online"
    token = r.acquire()
    task = r.task_start(qrmi.Payload.PasqalCloud(sequence=pi_pulse(), job_runs=500))
    status, seen = wait_final(r, task)
    assert status == qrmi.TaskStatus.Completed, seen
    counter = json.loads(r.task_result(task).value)["counter"]
    assert sum(counter.values()) == 500
    # π pulse: excited ('1') except for the twin's 3 % false-negative readout.
    assert counter.get("1", 0) / 500 > 0.9, counter
    assert counter.get("0", 0) > 0, "the twin's readout_false_negative should show"
    assert isinstance(r.task_logs(task), str)
    r.release(token)


def test_pasqal_target_is_the_twin_device(emulator: Emulator) -> None:
    from pulser.abstract_repr import deserialize_device

    r = qrmi_pasqal(emulator)
    specs = json.loads(r.target().value)
    entry = next(s for s in specs if s["device_type"] == "FRESNEL")
    device = deserialize_device(entry["specs"])
    want = next(t for t in twins() if t["name"] == "FRESNEL")["pulser_device"]
    assert device.name == want["name"]
    assert device.max_atom_num == want["max_atom_num"]
    assert device.min_atom_distance == pytest.approx(want["min_atom_distance_um"])
    assert device.max_sequence_duration == want["max_sequence_duration_ns"]
    assert device.channel_objects[0].max_amp == pytest.approx(want["max_rabi_frequency_rad_us"])


def test_pasqal_with_client_credentials(emulator: Emulator) -> None:
    """QRMI's service-account path: no static token, the client fetches one from /auth/token."""
    from conftest import PASQAL_CLIENT

    r = qrmi_pasqal(
        emulator,
        QRMI_PASQAL_CLOUD_AUTH_TOKEN="",
        QRMI_PASQAL_CLOUD_CLIENT_ID=PASQAL_CLIENT[0],
        QRMI_PASQAL_CLOUD_CLIENT_SECRET=PASQAL_CLIENT[1],
    )
    task = r.task_start(qrmi.Payload.PasqalCloud(sequence=pi_pulse(), job_runs=50))
    assert wait_final(r, task)[0] == qrmi.TaskStatus.Completed
