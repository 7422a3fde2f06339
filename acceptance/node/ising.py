"""Exact reference for the quench check on analog neutral-atom devices (numpy only).

L atoms on a ring, all in the ground state, driven at constant Rabi frequency
Omega and detuning delta (Pulser's convention, hbar = 1, rad/µs):

    H = Omega/2 * sum_i X_i - delta * sum_i n_i + sum_{i<j} C6 / r_ij^6 * n_i n_j

with n = |r><r|. The Rydberg interaction makes this a transverse-field Ising
ring. After a time t the connected correlation of neighbours,
<Z_i Z_{i+1}>_c = <Z_i Z_{i+1}> - <Z_i><Z_{i+1}> (Z = 1 - 2n), averaged over the
ring, is compared between the device and this exact evolution. Readout errors
(P(read 1 | 0) = eps, P(read 0 | 1) = eps') are applied to the exact
distribution so the comparison is like for like. Bit i of a state's integer
index is atom i; bitstrings are written atom 0 first (Pulser's order).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def ring_positions(n_atoms: int, spacing_um: float) -> list[tuple[float, float]]:
    radius = spacing_um / (2 * math.sin(math.pi / n_atoms))
    return [(radius * math.cos(2 * math.pi * k / n_atoms), radius * math.sin(2 * math.pi * k / n_atoms))
            for k in range(n_atoms)]


def hamiltonian(positions: Sequence[tuple[float, float]], omega: float, delta: float, c6: float) -> np.ndarray:
    n = len(positions)
    dim = 2**n
    idx = np.arange(dim)
    occ = np.array([(idx >> i) & 1 for i in range(n)], dtype=float)  # occ[i, s] = n_i in state s
    diag = -delta * occ.sum(axis=0)
    for i in range(n):
        for j in range(i + 1, n):
            r = math.dist(positions[i], positions[j])
            diag = diag + (c6 / r**6) * occ[i] * occ[j]
    h = np.diag(diag).astype(complex)
    for i in range(n):
        flipped = idx ^ (1 << i)
        h[flipped, idx] += omega / 2
    return h


def evolve_probabilities(h: np.ndarray, t_us: float) -> np.ndarray:
    """|<s| exp(-i H t) |0…0>|^2 for every basis state s."""
    vals, vecs = np.linalg.eigh(h)
    psi0 = np.zeros(h.shape[0], dtype=complex)
    psi0[0] = 1.0
    psi = vecs @ (np.exp(-1j * vals * t_us) * (vecs.conj().T @ psi0))
    p = np.abs(psi) ** 2
    return p / p.sum()


def apply_readout(p: np.ndarray, n_atoms: int, eps: float, eps_prime: float) -> np.ndarray:
    """Independent per-atom bit flips: 0->1 with eps, 1->0 with eps'."""
    out = p.reshape([2] * n_atoms)  # axis k is bit (n-1-k) of the index
    confusion = np.array([[1 - eps, eps_prime], [eps, 1 - eps_prime]])  # [measured, true]
    for axis in range(n_atoms):
        out = np.moveaxis(np.tensordot(confusion, out, axes=([1], [axis])), 0, axis)
    return out.reshape(-1)


def neighbour_zz_connected(p: np.ndarray, n_atoms: int) -> float:
    """Ring average of <Z_i Z_{i+1}> - <Z_i><Z_{i+1}> for a distribution over basis states."""
    idx = np.arange(p.size)
    z = np.array([1 - 2 * ((idx >> i) & 1) for i in range(n_atoms)], dtype=float)
    mean_z = z @ p
    values = []
    for i in range(n_atoms):
        j = (i + 1) % n_atoms
        values.append(float((z[i] * z[j]) @ p - mean_z[i] * mean_z[j]))
    return float(np.mean(values))


def distribution_from_counts(counts: Mapping[str, int], n_atoms: int) -> np.ndarray:
    """Counts with atom 0 as the first character → probability array indexed by bit i = atom i."""
    p = np.zeros(2**n_atoms)
    shots = sum(counts.values())
    for bits, c in counts.items():
        if len(bits) != n_atoms:
            raise ValueError(f"bitstring {bits!r} has {len(bits)} atoms, expected {n_atoms}")
        index = sum(1 << i for i, b in enumerate(bits) if b == "1")
        p[index] += c / shots
    return p


def reference_correlations(
    n_atoms: int, spacing_um: float, omega: float, delta: float, c6: float, times_us: Sequence[float],
    eps: float = 0.0, eps_prime: float = 0.0,
) -> list[float]:
    h = hamiltonian(ring_positions(n_atoms, spacing_um), omega, delta, c6)
    out = []
    for t in times_us:
        p = apply_readout(evolve_probabilities(h, t), n_atoms, eps, eps_prime)
        out.append(neighbour_zz_connected(p, n_atoms))
    return out
