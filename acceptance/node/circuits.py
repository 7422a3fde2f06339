"""Benchmark circuits (qiskit), written for this kit from the protocols' definitions.

All circuits measure every qubit into one register ("meas") and are exported as
OpenQASM 3 over a generic basis; the QPU service maps them onto its own target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

GENERIC_BASIS = ["rz", "sx", "x", "cx"]


def to_qasm(circuit: Any) -> str:
    from qiskit import qasm3, transpile

    flat = transpile(circuit, basis_gates=GENERIC_BASIS, optimization_level=0, seed_transpiler=7)
    return str(qasm3.dumps(flat))


def ghz_preparation(n: int) -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):  # a chain: nearest neighbours on line-like couplings
        qc.cx(i, i + 1)
    return qc


def ghz_population_circuit(n: int) -> Any:
    qc = ghz_preparation(n)
    qc.measure_all()
    return qc


def ghz_parity_circuit(n: int, phase: float) -> Any:
    """GHZ, then Rz(phase) and H on every qubit: the parity oscillates as cos(n * phase)."""
    qc = ghz_preparation(n)
    for q in range(n):
        qc.rz(phase, q)
        qc.h(q)
    qc.measure_all()
    return qc


def qv_model_circuit(n: int, rng: np.random.Generator) -> Any:
    """A square model circuit: n layers, each a random pairing with a Haar-random SU(4) per pair."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import random_unitary

    qc = QuantumCircuit(n)
    for _layer in range(n):
        order = rng.permutation(n)
        for k in range(0, n - 1, 2):
            u = random_unitary(4, seed=int(rng.integers(2**31)))
            qc.unitary(u, [int(order[k]), int(order[k + 1])])
    return qc


def ideal_probabilities(circuit: Any) -> np.ndarray:
    from qiskit.quantum_info import Statevector

    return np.asarray(Statevector(circuit).probabilities(), dtype=float)


ONE_QUBIT_CLIFFORD_LIKE = ("h", "s", "sdg", "x", "y", "z", "sx", "id")


@dataclass(frozen=True)
class Mirror:
    circuit: Any
    expected: str  # bitstring (qubit 0 rightmost) an ideal device returns every shot
    width: int
    depth: int


def mirror_circuit(width: int, depth: int, rng: np.random.Generator) -> Mirror:
    """Random Pauli frame, `depth` random layers (1-qubit gates + CX on disjoint neighbours),
    then the same layers inverted: an ideal device returns the Pauli frame's bitstring."""
    from qiskit import QuantumCircuit

    frame = [int(b) for b in rng.integers(0, 2, size=width)]
    body = QuantumCircuit(width)
    for _layer in range(depth):
        for q in range(width):
            getattr(body, str(rng.choice(ONE_QUBIT_CLIFFORD_LIKE)))(q)
        start = int(rng.integers(0, 2))
        for q in range(start, width - 1, 2):
            if rng.random() < 0.75:
                body.cx(q, q + 1) if rng.random() < 0.5 else body.cx(q + 1, q)
    qc = QuantumCircuit(width)
    for q, bit in enumerate(frame):
        if bit:
            qc.x(q)
    qc.barrier()
    qc.compose(body, inplace=True)
    qc.barrier()
    qc.compose(body.inverse(), inplace=True)
    qc.measure_all()
    expected = "".join(str(b) for b in reversed(frame))
    return Mirror(qc, expected, width, depth)


def random_graph(n: int, rng: np.random.Generator, p: float = 0.5) -> list[tuple[int, int]]:
    """Erdős–Rényi G(n, p) with at least one edge."""
    while True:
        edges = [(i, j) for i in range(n) for j in range(i + 1, n) if rng.random() < p]
        if edges:
            return edges


def qaoa_circuit(n: int, edges: list[tuple[int, int]], gamma: float, beta: float) -> Any:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n)
    qc.h(range(n))
    for i, j in edges:
        qc.rzz(2 * gamma, i, j)
    for q in range(n):
        qc.rx(2 * beta, q)
    qc.measure_all()
    return qc


def cut_value(bits: str, edges: list[tuple[int, int]]) -> int:
    n = len(bits)
    return sum(1 for i, j in edges if bits[n - 1 - i] != bits[n - 1 - j])


def best_qaoa_angles(n: int, edges: list[tuple[int, int]], grid: int = 12) -> tuple[float, float, float]:
    """p=1 angles by grid search on the exact statevector: (gamma, beta, expected cut)."""
    from qiskit.quantum_info import Statevector

    values = np.array([cut_value(format(s, f"0{n}b"), edges) for s in range(2**n)], dtype=float)
    best = (0.0, 0.0, -math.inf)
    for gamma in np.linspace(0, math.pi, grid, endpoint=False):
        for beta in np.linspace(0, math.pi / 2, grid, endpoint=False):
            qc = qaoa_circuit(n, edges, float(gamma), float(beta)).remove_final_measurements(inplace=False)
            expect = float(np.asarray(Statevector(qc).probabilities()) @ values)
            if expect > best[2]:
                best = (float(gamma), float(beta), expect)
    return best


def max_cut(n: int, edges: list[tuple[int, int]]) -> int:
    return max(cut_value(format(s, f"0{n}b"), edges) for s in range(2**n))
