"""Benchmark estimators against exactly known states (node environment: numpy, qiskit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acceptance.node import circuits, stats


def exact_counts(circuit: object, shots: int = 100_000) -> dict[str, int]:
    """Counts proportional to the exact output distribution (no sampling noise)."""
    from qiskit.quantum_info import Statevector

    qc = circuit.remove_final_measurements(inplace=False)  # type: ignore[attr-defined]
    probs = Statevector(qc).probabilities_dict()
    return {k: round(v * shots) for k, v in probs.items() if round(v * shots)}


def test_heavy_outputs_are_those_above_the_median() -> None:
    assert stats.heavy_outputs([0.1, 0.4, 0.2, 0.3]) == {1, 3}
    assert stats.heavy_outputs([0.25] * 4) == set()  # nothing is strictly above a flat median
    assert stats.heavy_output_fraction({"01": 30, "11": 50, "00": 20}, {1, 3}) == pytest.approx(0.8)


def test_qv_criterion_uses_two_sigma_of_the_mean() -> None:
    passed, mean, lower = stats.qv_passes([0.8] * 100)
    assert passed and mean == pytest.approx(0.8) and lower == pytest.approx(0.8 - 2 * math.sqrt(0.16 / 100))
    assert not stats.qv_passes([0.8] * 10)[0]  # same mean, too few trials for the bound
    assert not stats.qv_passes([0.6] * 1000)[0]


def test_ideal_qv_model_circuits_have_the_expected_heavy_output_probability() -> None:
    # For Haar-like circuits the ideal HOP is ~0.85 as n grows and well above 2/3 at n=3.
    rng = np.random.default_rng(1)
    hops = []
    for _ in range(30):
        model = circuits.qv_model_circuit(3, rng)
        probs = circuits.ideal_probabilities(model)
        heavy = stats.heavy_outputs(probs)
        hops.append(float(sum(probs[i] for i in heavy)))
    assert 0.75 < float(np.mean(hops)) < 0.92


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_ghz_fidelity_of_the_ideal_state_is_one(n: int) -> None:
    phases = stats.ghz_phases(n)
    pops = stats.ghz_populations(exact_counts(circuits.ghz_population_circuit(n)), n)
    parities = [stats.parity_expectation(exact_counts(circuits.ghz_parity_circuit(n, ph))) for ph in phases]
    assert parities[0] == pytest.approx(1.0, abs=1e-3)  # <X...X> of GHZ
    fidelity = stats.ghz_fidelity(pops, stats.ghz_coherence(parities, phases, n))
    assert fidelity == pytest.approx(1.0, abs=2e-3)


def test_ghz_fidelity_of_the_classical_mixture_is_one_half() -> None:
    # (|0..0><0..0| + |1..1><1..1|)/2 has full populations and no coherence: parity is flat zero.
    n = 3
    phases = stats.ghz_phases(n)
    coherence = stats.ghz_coherence([0.0] * len(phases), phases, n)
    assert stats.ghz_fidelity(1.0, coherence) == pytest.approx(0.5)
    # A phase-shifted GHZ keeps its fidelity: the estimator does not depend on where the fringes start.
    shifted = [math.cos(n * ph + 0.7) for ph in phases]
    assert stats.ghz_coherence(shifted, phases, n) == pytest.approx(0.5)


def test_mirror_circuits_return_their_expected_bitstring_ideally() -> None:
    rng = np.random.default_rng(4)
    for width, depth in [(2, 2), (3, 5), (5, 8)]:
        m = circuits.mirror_circuit(width, depth, rng)
        counts = exact_counts(m.circuit)
        assert stats.survival(counts, m.expected) == pytest.approx(1.0, abs=1e-6)


def test_wilson_bound_is_below_the_estimate() -> None:
    assert 0 < stats.wilson_lower(90, 100) < 0.9
    assert stats.wilson_lower(0, 10) == 0.0


def test_qaoa_angles_beat_random_on_a_triangle() -> None:
    edges = [(0, 1), (1, 2), (0, 2)]
    _g, _b, expected_cut = circuits.best_qaoa_angles(3, edges)
    assert circuits.max_cut(3, edges) == 2
    assert expected_cut > len(edges) / 2  # random assignment cuts half the edges


def test_munge_payload_matches_what_qrmid_verifies() -> None:
    qrmid_auth = pytest.importorskip("qrmid.munge_auth")
    from acceptance.remote_http import munge_payload

    for method, path, body in (("GET", "/v1/accounting?job_id=5", b""), ("PUT", "/v1/qpus/x/maintenance", b'{"a":1}')):
        assert munge_payload(method, path, body) == qrmid_auth.request_payload(method, path, body)
