"""Pulser sequences the tests send (serialised with Pulser's abstract representation)."""

from __future__ import annotations

import math


def pi_pulse(atoms: int = 1, spacing_um: float = 20.0, device: object | None = None) -> str:
    """A resonant π pulse on far-apart atoms: each ends up mostly in the Rydberg state ('1')."""
    from pulser import Pulse, Register, Sequence
    from pulser.devices import AnalogDevice

    reg = Register.from_coordinates([(i * spacing_um, 0.0) for i in range(atoms)], prefix="q")
    seq = Sequence(reg, device or AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    omega = 2 * math.pi  # rad/µs; 500 ns gives area π
    seq.add(Pulse.ConstantPulse(duration=500, amplitude=omega, detuning=0, phase=0), "ryd")
    return str(seq.to_abstract_repr())


def long_sequence(atoms: int = 12) -> str:
    """Many interacting atoms for the longest duration the twin allows: seconds of simulation."""
    from pulser import Pulse, Register, Sequence
    from pulser.devices import AnalogDevice

    reg = Register.rectangle(2, atoms // 2, spacing=6, prefix="q")
    seq = Sequence(reg, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=6000, amplitude=6, detuning=-3, phase=0), "ryd")
    return str(seq.to_abstract_repr())


def too_many_atoms(n: int) -> str:
    from pulser import Pulse, Register, Sequence
    from pulser.devices import MockDevice

    reg = Register.from_coordinates([(i * 6.0, 0.0) for i in range(n)], prefix="q")
    seq = Sequence(reg, MockDevice)
    seq.declare_channel("ryd", "rydberg_global")
    seq.add(Pulse.ConstantPulse(duration=100, amplitude=1, detuning=0, phase=0), "ryd")
    return str(seq.to_abstract_repr())


def parametrised_rotation() -> str:
    """One atom, a resonant pulse whose duration is a variable `t` (ns): t=500 is a π pulse, t=0... none."""
    from pulser import Pulse, Register, Sequence
    from pulser.devices import AnalogDevice

    reg = Register.from_coordinates([(0.0, 0.0)], prefix="q")
    seq = Sequence(reg, AnalogDevice)
    seq.declare_channel("ryd", "rydberg_global")
    t = seq.declare_variable("t", dtype=int)
    seq.add(Pulse.ConstantPulse(duration=t, amplitude=2 * math.pi, detuning=0, phase=0), "ryd")
    return str(seq.to_abstract_repr())
