"""A gate-based twin as Qiskit sees it: target, noise model, and the backend
configuration/properties documents the IBM API reports.

The numbers come from the site model (qubits, coupling map, basis gates, noise);
gate durations are typical superconducting figures, used only to turn T1/T2
into thermal-relaxation errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from qpu_emulator.config import Twin

DEFAULT_BASIS = ["cz", "id", "rz", "sx", "x"]
VIRTUAL_GATES = {"rz", "id", "delay"}  # frame changes: no error, no duration
GATE_TIME_S = {1: 35.5e-9, 2: 300e-9}
MEASURE_TIME_S = 1.5e-6
BACKEND_VERSION = "1.0.0"
ONLINE_DATE = "2026-01-01T00:00:00Z"

_TWO_QUBIT = {"cx", "cz", "ecr", "swap", "iswap", "rzz", "cy", "ch", "rxx", "ryy"}


def basis_gates(twin: Twin) -> list[str]:
    return list(twin.basis_gates or DEFAULT_BASIS)


def arity(gate: str) -> int:
    return 2 if gate in _TWO_QUBIT else 1


def coupling_edges(twin: Twin) -> list[list[int]]:
    if twin.coupling_map:
        return [list(p) for p in twin.coupling_map]
    n = twin.num_qubits
    return [[a, b] for a in range(n) for b in range(n) if a != b]


def build_target(twin: Twin) -> Any:
    from qiskit.transpiler import CouplingMap, Target

    return Target.from_configuration(
        basis_gates=[*basis_gates(twin), "measure", "reset", "delay"],
        num_qubits=twin.num_qubits,
        coupling_map=CouplingMap(coupling_edges(twin)),
    )


def _t1_t2(twin: Twin) -> tuple[float, float] | None:
    n = twin.noise
    if n.t1_us is None and n.t2_us is None:
        return None
    t1 = (n.t1_us or 1e12) * 1e-6
    t2 = (n.t2_us or n.t1_us or 1e12) * 1e-6
    return t1, min(t2, 2 * t1)  # physical bound T2 <= 2 T1


def build_noise_model(twin: Twin) -> Any:
    """An Aer NoiseModel for the twin, or None for a noiseless twin."""
    if twin.noise.is_noiseless:
        return None
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error, thermal_relaxation_error

    noise = twin.noise
    relax = _t1_t2(twin)
    model = NoiseModel(basis_gates=basis_gates(twin))
    for gate in basis_gates(twin):
        if gate in VIRTUAL_GATES:
            continue
        k = arity(gate)
        p = noise.single_qubit_error if k == 1 else noise.two_qubit_error
        error = depolarizing_error(p, k) if p > 0 else None
        if relax is not None:
            thermal = thermal_relaxation_error(relax[0], relax[1], GATE_TIME_S[k])
            if k == 2:
                thermal = thermal.expand(thermal_relaxation_error(relax[0], relax[1], GATE_TIME_S[k]))
            error = thermal if error is None else error.compose(thermal)
        if error is not None:
            model.add_all_qubit_quantum_error(error, [gate])
    if noise.readout_error > 0:
        p = noise.readout_error
        model.add_all_qubit_readout_error(ReadoutError([[1 - p, p], [p, 1 - p]]))
    return model


def _gate_entry(gate: str, edges: list[list[int]], n: int) -> dict[str, Any]:
    params = ["theta"] if gate in ("rz", "rx", "ry", "rzz") else []
    coupling = edges if arity(gate) == 2 else [[q] for q in range(n)]
    return {"name": gate, "parameters": params, "qasm_def": f"gate {gate}", "coupling_map": coupling}


def configuration(twin: Twin) -> dict[str, Any]:
    """A Qiskit backend configuration document (the shape IBM's API serves)."""
    n = twin.num_qubits
    edges = coupling_edges(twin)
    gates = basis_gates(twin)
    return {
        "backend_name": twin.backend_name,
        "backend_version": BACKEND_VERSION,
        "n_qubits": n,
        "basis_gates": gates,
        "gates": [_gate_entry(g, edges, n) for g in gates],
        "local": False,
        "simulator": False,
        "conditional": False,
        "open_pulse": False,
        "memory": True,
        "max_shots": twin.max_shots,
        "max_experiments": 300,
        "coupling_map": edges,
        "dynamic_reprate_enabled": True,
        "rep_delay_range": [0.0, 500.0],
        "default_rep_delay": 250.0,
        "supported_instructions": [*gates, "measure", "reset", "delay", "barrier"],
        "supported_features": ["qasm3"],
        "meas_levels": [1, 2],
        "online_date": ONLINE_DATE,
        "description": f"qpusite digital twin of {twin.name} ({twin.modality})",
        "processor_type": {"family": "qpusite-twin", "revision": 1},
        "dt": 0.2222e-9,
        "dtm": 0.2222e-9,
        "timing_constraints": {"acquire_alignment": 16, "granularity": 16, "min_length": 64, "pulse_alignment": 16},
        "quantum_volume": None,
        "credits_required": False,
        "u_channel_lo": [],
        "meas_lo_range": [],
        "qubit_lo_range": [],
    }


def properties(twin: Twin, now: dt.datetime | None = None) -> dict[str, Any]:
    """A Qiskit backend properties document reporting the twin's noise as calibration data."""
    stamp = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0).isoformat()
    noise = twin.noise
    relax = _t1_t2(twin)

    def nduv(name: str, unit: str, value: float) -> dict[str, Any]:
        return {"date": stamp, "name": name, "unit": unit, "value": value}

    qubits = []
    for _ in range(twin.num_qubits):
        entry = [
            nduv("readout_error", "", noise.readout_error),
            nduv("prob_meas0_prep1", "", noise.readout_error),
            nduv("prob_meas1_prep0", "", noise.readout_error),
            nduv("readout_length", "ns", MEASURE_TIME_S * 1e9),
        ]
        if relax is not None:
            entry += [nduv("T1", "us", relax[0] * 1e6), nduv("T2", "us", relax[1] * 1e6)]
        qubits.append(entry)
    gates = []
    for g in basis_gates(twin):
        k = arity(g)
        err = 0.0 if g in VIRTUAL_GATES else (noise.single_qubit_error if k == 1 else noise.two_qubit_error)
        length = 0.0 if g in VIRTUAL_GATES else GATE_TIME_S[k] * 1e9
        qargs = coupling_edges(twin) if k == 2 else [[q] for q in range(twin.num_qubits)]
        for qs in qargs:
            gates.append(
                {
                    "gate": g,
                    "qubits": qs,
                    "name": f"{g}{'_'.join(map(str, qs))}",
                    "parameters": [nduv("gate_error", "", err), nduv("gate_length", "ns", length)],
                }
            )
    return {
        "backend_name": twin.backend_name,
        "backend_version": BACKEND_VERSION,
        "last_update_date": stamp,
        "qubits": qubits,
        "gates": gates,
        "general": [],
    }
