"""The quench reference against an independent solver (pulser-simulation / QuTiP)."""

from __future__ import annotations

import numpy as np
import pytest

from acceptance.node import ising

C6 = 5420158.53  # rad µm^6 / µs (Pulser's AnalogDevice at the lab model's level)


def test_nothing_is_correlated_before_the_quench_or_without_interactions() -> None:
    assert ising.reference_correlations(5, 10.0, 4.0, 0.0, C6, [0.0]) == [pytest.approx(0.0)]
    far = ising.reference_correlations(5, 200.0, 4.0, 0.0, C6, [0.3, 0.7, 1.1])
    assert far == [pytest.approx(0.0, abs=1e-6)] * 3


def test_blockade_makes_neighbours_anticorrelated() -> None:
    (g,) = ising.reference_correlations(6, 6.0, 4.0, 0.0, C6, [0.5])
    assert g < -0.1


def test_readout_errors_keep_a_distribution_normalised_and_mix_it() -> None:
    p = np.zeros(8)
    p[0] = 1.0
    q = ising.apply_readout(p, 3, 0.1, 0.2)
    assert q.sum() == pytest.approx(1.0)
    assert q[0] == pytest.approx(0.9**3) and q[7] == pytest.approx(0.1**3)


def test_counts_to_distribution_uses_atom_zero_first() -> None:
    p = ising.distribution_from_counts({"100": 3, "001": 1}, 3)
    assert p[1] == pytest.approx(0.75) and p[4] == pytest.approx(0.25)


def test_reference_matches_pulser_simulation() -> None:
    from pulser import Pulse, Register, Sequence
    from pulser.devices import MockDevice
    from pulser_simulation import QutipEmulator

    atoms, spacing, omega, t_ns = 5, 9.0, 4.0, 600
    reg = Register.from_coordinates(ising.ring_positions(atoms, spacing), prefix="q")
    seq = Sequence(reg, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=t_ns, amplitude=omega, detuning=0, phase=0), "ryd")
    sim = QutipEmulator.from_sequence(seq)
    state = sim.run().get_final_state()
    amps = np.asarray(state.full()).ravel()
    # Pulser's basis: |r> = (1,0), |g> = (0,1), atom 0 is the most significant factor.
    probs = np.zeros(2**atoms)
    for k, a in enumerate(amps):
        bits = format(k, f"0{atoms}b")  # '0' at position i means atom i is in |r>
        index = sum(1 << i for i, b in enumerate(bits) if b == "0")
        probs[index] += abs(a) ** 2
    pulser_g = ising.neighbour_zz_connected(probs, atoms)
    (ours,) = ising.reference_correlations(atoms, spacing, omega, 0.0, float(MockDevice.interaction_coeff),
                                           [t_ns / 1000])
    assert ours == pytest.approx(pulser_g, abs=2e-3)
