"""An IQM twin: the IQM Server architecture documents of a twin, and IQM's circuit
format (``POST /api/v1/jobs/{qc}/circuit``) checked and run on qiskit-aer.

IQM circuits name physical qubits (``QB1`` … ``QBn``) and use IQM's native operations:
``prx`` (args ``angle``, ``phase``, radians: a rotation about an axis in the XY plane),
``cz`` on a coupled pair, ``measure`` (arg ``key``, one or more qubits) and ``barrier``.
Results are IQM's per-shot measurement results: per circuit, ``{key: [[bit, …] per shot]}``.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from qpu_emulator.config import Twin
from qpu_emulator.errors import ApiError

OPERATIONS = {"prx", "cz", "measure", "barrier"}
MAX_CIRCUITS = 100
MAX_INSTRUCTIONS = 10_000
# the twin's one calibration set: a fixed id per twin, so clients that cache by id keep working
NAMESPACE = uuid.UUID("5e1f6a52-3c1b-4f5e-9a53-0b7a1f0c2d10")


def qubits(twin: Twin) -> list[str]:
    return [f"QB{i + 1}" for i in range(twin.num_qubits)]


def couplers(twin: Twin) -> list[tuple[str, str]]:
    """Each coupled pair once, sorted (IQM's connectivity lists undirected couplers)."""
    pairs = {tuple(sorted((f"QB{a + 1}", f"QB{b + 1}"))) for a, b in (twin.coupling_map or [])}
    return sorted((a, b) for a, b in pairs)


def calibration_set_id(twin: Twin) -> str:
    return str(uuid.uuid5(NAMESPACE, twin.name))


def quantum_computer(twin: Twin) -> dict[str, Any]:
    return {"id": str(uuid.uuid5(NAMESPACE, "qc:" + twin.name)), "alias": twin.backend_name,
            "display_name": f"{twin.backend_name} (qpusite twin)"}


def quantum_computer_details(twin: Twin, ready: bool, queued: int, now: str) -> dict[str, Any]:
    """IQM Server's quantum computer details (what qrmi's ``status()`` reads): the list entry plus size,
    limits, operational state, health, queue length, pricing (none: a twin costs nothing) and links."""
    return {
        **quantum_computer(twin),
        "description": f"qpusite digital twin of {twin.backend_name} ({twin.num_qubits} qubits)",
        "backend_type": "qpu",
        "number_of_qubits": twin.num_qubits,
        "pulla_enabled": False,
        "limits": {"max_circuits_per_job": MAX_CIRCUITS, "max_executions_per_job": MAX_CIRCUITS * twin.max_shots,
                   "max_instructions_per_circuit": MAX_INSTRUCTIONS, "max_shots_per_circuit": twin.max_shots},
        "operational": "online" if ready else "maintenance",
        "health": {"healthy": ready, "updated_at": now},
        "queue_length": queued,
        "pricing": {"payg_price_per_second": "0.00"},
        "additional_info": {"academy_url": "", "best_suited_for": ["rehearsals"], "documentation_url": "",
                            "mock_url": ""},
    }


def static_architecture(twin: Twin) -> dict[str, Any]:
    return {"dut_label": f"{twin.backend_name}-twin", "qubits": qubits(twin), "computational_resonators": [],
            "connectivity": [list(p) for p in couplers(twin)]}


def dynamic_architecture(twin: Twin) -> dict[str, Any]:
    single = [[q] for q in qubits(twin)]

    def gate(impl: str, loci: list[list[str]]) -> dict[str, Any]:
        return {"implementations": {impl: {"loci": loci}}, "default_implementation": impl,
                "override_default_implementation": {}}

    return {
        "calibration_set_id": calibration_set_id(twin),
        "qubits": qubits(twin),
        "computational_resonators": [],
        "gates": {
            "prx": gate("drag_gaussian", single),
            "cz": gate("tgss", [list(p) for p in couplers(twin)]),
            "measure": gate("constant", single),
        },
    }


def _observations(twin: Twin) -> list[dict[str, Any]]:
    """The twin's noise as observations (dut_field, value, unit) per qubit and coupler."""
    n = twin.noise
    out: list[dict[str, Any]] = []
    for q in qubits(twin):
        out += [
            {"dut_field": f"metrics.rb.prx.{q}.fidelity", "value": 1 - n.single_qubit_error, "unit": ""},
            {"dut_field": f"metrics.ssro.measure.constant.{q}.fidelity", "value": 1 - n.readout_error, "unit": ""},
        ]
        out += [{"dut_field": f"characterization.model.{q}.{name}", "value": us * 1e-6, "unit": "s"}
                for name, us in (("t1_time", n.t1_us), ("t2_time", n.t2_us)) if us is not None]
    for a, b in couplers(twin):
        out.append({"dut_field": f"metrics.irb.cz.{a}__{b}.fidelity", "value": 1 - n.two_qubit_error, "unit": ""})
    return out


def calibration_set(twin: Twin) -> dict[str, Any]:
    return {"calibration_set_id": calibration_set_id(twin), "dut_label": f"{twin.backend_name}-twin",
            "is_invalid": False, "observations": _observations(twin)}


def quality_metrics(twin: Twin) -> dict[str, Any]:
    return {"calibration_set_id": calibration_set_id(twin), "dut_label": f"{twin.backend_name}-twin",
            "observations": _observations(twin)}


def _qubit(name: Any, known: dict[str, int], where: str) -> int:
    if not isinstance(name, str) or name not in known:
        raise ApiError(400, f"{where}: {str(name)[:20]!r} is not a qubit of this quantum computer")
    return known[name]


def check_circuits(circuits: Any, shots: Any, twin: Twin) -> list[dict[str, Any]]:
    """The circuits, checked against the twin (qubits, couplers, operations, sizes); or 400."""
    if not isinstance(circuits, list) or not 1 <= len(circuits) <= MAX_CIRCUITS:
        raise ApiError(400, f"circuits: give 1..{MAX_CIRCUITS} circuits")
    if not isinstance(shots, int) or isinstance(shots, bool) or not 1 <= shots <= twin.max_shots:
        raise ApiError(400, f"shots: 1..{twin.max_shots} on {twin.backend_name}")
    known = {q: i for i, q in enumerate(qubits(twin))}
    coupled = set(couplers(twin))
    for c, circuit in enumerate(circuits):
        instructions = circuit.get("instructions") if isinstance(circuit, dict) else None
        if not isinstance(instructions, list) or len(instructions) > MAX_INSTRUCTIONS:
            raise ApiError(400, f"circuits[{c}].instructions: a list of at most {MAX_INSTRUCTIONS}")
        keys: set[str] = set()
        for i, ins in enumerate(instructions):
            where = f"circuits[{c}].instructions[{i}]"
            if not isinstance(ins, dict) or ins.get("name") not in OPERATIONS:
                raise ApiError(400, f"{where}.name: one of {', '.join(sorted(OPERATIONS))}")
            locus = ins.get("locus", ins.get("qubits"))
            if not isinstance(locus, list) or not locus:
                raise ApiError(400, f"{where}.locus: a list of qubit names")
            idx = [_qubit(q, known, where) for q in locus]
            args = ins.get("args") or {}
            if not isinstance(args, dict):
                raise ApiError(400, f"{where}.args: an object")
            name = ins["name"]
            if name == "prx":
                if len(idx) != 1 or not all(isinstance(args.get(a), int | float) and math.isfinite(args[a])
                                            for a in ("angle", "phase")):
                    raise ApiError(400, f"{where}: prx acts on one qubit with finite args angle and phase")
            elif name == "cz":
                if len(idx) != 2 or tuple(sorted(locus)) not in coupled:
                    raise ApiError(400, f"{where}: cz acts on a coupled pair of {twin.backend_name}")
            elif name == "measure":
                key = args.get("key")
                if not isinstance(key, str) or not 1 <= len(key) <= 64 or key in keys:
                    raise ApiError(400, f"{where}.args.key: a new key of 1..64 characters")
                keys.add(key)
    return circuits


def run(circuits: list[dict[str, Any]], shots: int, twin: Twin, runtime: Any, seed: int | None) -> list[Any]:
    """Per circuit ``{key: [[bit per measured qubit] per shot]}``, from qiskit-aer with the twin's noise."""
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    known = {q: i for i, q in enumerate(qubits(twin))}
    out = []
    for circuit in circuits:
        qr = QuantumRegister(twin.num_qubits, "q")
        qc = QuantumCircuit(qr)
        regs: list[tuple[str, ClassicalRegister]] = []
        for ins in circuit["instructions"]:
            idx = [known[q] for q in ins.get("locus", ins.get("qubits"))]
            args = ins.get("args") or {}
            if ins["name"] == "prx":
                # rotation by angle about cos(phase) X + sin(phase) Y, in the twin's native gates
                qc.rz(-args["phase"], idx[0])
                qc.rx(args["angle"], idx[0])
                qc.rz(args["phase"], idx[0])
            elif ins["name"] == "cz":
                qc.cz(idx[0], idx[1])
            elif ins["name"] == "measure":
                creg = ClassicalRegister(len(idx), f"c{len(regs)}")
                qc.add_register(creg)
                qc.measure(idx, creg)
                regs.append((args["key"], creg))
            else:
                qc.barrier(idx)
        memory = _memory(runtime, qc, shots, seed)
        # qiskit's memory strings: registers separated by spaces, the last register first, bits reversed
        per_key: dict[str, list[list[int]]] = {key: [] for key, _ in regs}
        for word in memory:
            fields = word.split(" ")[::-1]
            for (key, _), bits in zip(regs, fields, strict=True):
                per_key[key].append([int(b) for b in reversed(bits)])
        out.append(per_key)
    return out


def _memory(runtime: Any, qc: Any, shots: int, seed: int | None) -> list[str]:
    """Per-shot outcomes of `qc` on the twin (its native gates and noise model, as IBM twins run)."""
    from qiskit_aer import AerSimulator

    sim = AerSimulator(**runtime.backend_options())
    result = sim.run(runtime.to_isa(qc), shots=shots, memory=True, seed_simulator=seed).result()
    return list(result.get_memory(0))
