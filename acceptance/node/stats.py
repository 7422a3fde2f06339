"""Estimators used by the benchmarks (numpy only, no quantum SDK).

Counts are ``{bitstring: shots}`` with qubit 0 as the rightmost character
(Qiskit's convention); probabilities are arrays indexed by the integer value of
that bitstring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

QV_THRESHOLD = 2.0 / 3.0  # heavy-output probability an ideal-enough device beats
QV_SIGMAS = 2.0  # one-sided ~97.7 % confidence, as the QV protocol asks


def total(counts: Mapping[str, int]) -> int:
    return int(sum(counts.values()))


def heavy_outputs(probabilities: Sequence[float] | np.ndarray) -> set[int]:
    """Outputs whose ideal probability is strictly above the median of all 2^n probabilities."""
    p = np.asarray(probabilities, dtype=float)
    median = float(np.median(p))
    return {int(i) for i in np.flatnonzero(p > median)}


def heavy_output_fraction(counts: Mapping[str, int], heavy: set[int]) -> float:
    n = total(counts)
    if n == 0:
        raise ValueError("no shots")
    return sum(c for b, c in counts.items() if int(b, 2) in heavy) / n


def qv_passes(hops: Sequence[float]) -> tuple[bool, float, float]:
    """Heavy-output test over trials: (pass, mean, lower bound = mean - 2 sigma).

    sigma is the binomial-like spread of the mean over trials, sqrt(h(1-h)/T),
    as in the protocol's original statement (each trial a Bernoulli on 'heavy').
    """
    if not hops:
        raise ValueError("no trials")
    h = float(np.mean(hops))
    sigma = math.sqrt(max(h * (1 - h), 0.0) / len(hops))
    lower = h - QV_SIGMAS * sigma
    return lower > QV_THRESHOLD, h, lower


def parity_expectation(counts: Mapping[str, int]) -> float:
    """<Z⊗…⊗Z> from counts: +1 for even numbers of 1s, -1 for odd."""
    n = total(counts)
    if n == 0:
        raise ValueError("no shots")
    return sum(c * (-1 if b.count("1") % 2 else 1) for b, c in counts.items()) / n


def ghz_populations(counts: Mapping[str, int], n_qubits: int) -> float:
    """P(0…0) + P(1…1)."""
    n = total(counts)
    return (counts.get("0" * n_qubits, 0) + counts.get("1" * n_qubits, 0)) / n


def ghz_phases(n_qubits: int) -> list[float]:
    """Phases at which parity is measured: 2n+2 equally spaced points resolve frequency n."""
    k = 2 * n_qubits + 2
    return [2 * math.pi * j / k for j in range(k)]


def ghz_coherence(parities: Sequence[float], phases: Sequence[float], n_qubits: int) -> float:
    """|rho_{0..0,1..1}| from parity oscillations P(phi) = 2|c| cos(n phi + theta).

    The Fourier component at frequency n over equally spaced phases gives |c|
    without fitting.
    """
    if len(parities) != len(phases) or not phases:
        raise ValueError("one parity per phase")
    k = len(phases)
    amplitude = abs(sum(p * complex(math.cos(n_qubits * ph), -math.sin(n_qubits * ph))
                        for p, ph in zip(parities, phases, strict=True))) * 2 / k
    return amplitude / 2


def ghz_fidelity(populations: float, coherence: float) -> float:
    """F = (P(0…0) + P(1…1)) / 2 + |rho_{0..0,1..1}|."""
    return min(1.0, max(0.0, populations / 2 + coherence))


def survival(counts: Mapping[str, int], expected: str) -> float:
    n = total(counts)
    if n == 0:
        raise ValueError("no shots")
    return counts.get(expected, 0) / n


def wilson_lower(successes: int, trials: int, z: float = 2.0) -> float:
    """Lower end of the Wilson score interval of a binomial proportion."""
    if trials <= 0:
        raise ValueError("no trials")
    phat = successes / trials
    denom = 1 + z * z / trials
    centre = phat + z * z / (2 * trials)
    margin = z * math.sqrt(phat * (1 - phat) / trials + z * z / (4 * trials * trials))
    return max(0.0, (centre - margin) / denom)
