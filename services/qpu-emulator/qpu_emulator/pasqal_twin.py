"""A neutral-atom twin as Pulser sees it: its device, checking a serialised
sequence against it, and running the sequence on pulser-simulation (QuTiP).

The device starts from Pulser's AnalogDevice (one global Rydberg channel) and
takes every limit from the site model. Pulser fixes C6 through the Rydberg
level, so the twin uses the level whose C6 is closest to the model's figure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import warnings
from collections import Counter
from typing import Any

from qpu_emulator import limits
from qpu_emulator.config import PulserDevice, Twin
from qpu_emulator.errors import ApiError


@functools.lru_cache(maxsize=16)
def _rydberg_level_for(c6: float) -> int:
    from pulser.devices import AnalogDevice

    best, best_gap = AnalogDevice.rydberg_level, math.inf
    for level in range(50, 101):
        try:
            coeff = dataclasses.replace(AnalogDevice, rydberg_level=level).interaction_coeff
        except Exception:  # noqa: S112 - levels Pulser does not tabulate are skipped
            continue
        gap = abs(coeff - c6)
        if gap < best_gap:
            best, best_gap = level, gap
    return best


def _device_from(spec_json: str) -> Any:
    from pulser.abstract_repr import deserialize_device

    return deserialize_device(spec_json)


def build_device(spec: PulserDevice) -> Any:
    from pulser.channels import Rydberg
    from pulser.devices import AnalogDevice

    base_channel = AnalogDevice.channel_objects[0]
    channel = dataclasses.replace(
        base_channel, max_amp=spec.max_rabi_frequency_rad_us, max_abs_detuning=spec.max_abs_detuning_rad_us
    )
    assert isinstance(channel, Rydberg)
    return dataclasses.replace(
        AnalogDevice,
        name=spec.name,
        dimensions=spec.dimensions,
        rydberg_level=_rydberg_level_for(spec.interaction_coeff_rad_um6_us),
        max_atom_num=spec.max_atom_num,
        min_atom_distance=spec.min_atom_distance_um,
        max_radial_distance=int(spec.max_radial_distance_um),
        max_sequence_duration=spec.max_sequence_duration_ns,
        max_runs=spec.max_runs,
        channel_objects=(channel,),
        channel_ids=("rydberg_global",),
        requires_layout=False,
        accepts_new_layouts=True,
        pre_calibrated_layouts=(),
    )


@functools.lru_cache(maxsize=16)
def device_specs_json(spec_json: str) -> str:
    """The device's abstract representation (what Pasqal's public-specs endpoint serves)."""
    spec = PulserDevice.model_validate_json(spec_json)
    return str(build_device(spec).to_abstract_repr())


def specs_for(twin: Twin) -> str:
    assert twin.pulser_device is not None
    return device_specs_json(twin.pulser_device.model_dump_json())


def _load_sequence(text: str) -> Any:
    from pulser import Sequence

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Sequence.from_abstract_repr(text)


def prescan_sequence(text: Any, runs: Any, variables: Any, twin: Twin) -> int:
    """What can be checked without building the sequence: runs, register size, every
    duration the JSON states, the variables. Returns the runs. Raises ApiError(400)."""
    assert twin.pulser_device is not None
    dev = twin.pulser_device
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "sequence_builder must be a Pulser abstract-representation JSON string.")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs <= 0:
        raise ApiError(400, f"jobs[].runs must be a positive integer, got {runs!r}.")
    limit = min(dev.max_runs, twin.max_shots)
    if runs > limit:
        raise ApiError(400, f"{runs} runs exceed the {limit} the device {twin.backend_name} accepts.")
    limits.check_sequence_text(text, variables, dev.max_atom_num, dev.max_sequence_duration_ns)
    return runs


def _check_duration(seq: Any, dev: PulserDevice, twin: Twin) -> None:
    duration = seq.get_duration()
    if duration > dev.max_sequence_duration_ns:
        raise ApiError(
            400,
            f"The sequence lasts {duration} ns; {twin.backend_name} allows at most {dev.max_sequence_duration_ns} ns.",
        )


def check_sequence(text: Any, runs: Any, variables: Any, twin: Twin) -> int:
    """Validate a serialised sequence for the twin; returns the runs. Raises ApiError(400)."""
    assert twin.pulser_device is not None
    dev = twin.pulser_device
    prescan_sequence(text, runs, variables, twin)
    try:
        seq = _load_sequence(text)
    except Exception as exc:  # Pulser raises several types for a bad serialisation
        raise ApiError(400, f"The sequence could not be deserialised: {str(exc)[:300]}") from None
    n_atoms = len(seq.register.qubit_ids)
    if n_atoms > dev.max_atom_num:
        raise ApiError(
            400, f"The register has {n_atoms} atoms but {twin.backend_name} holds at most {dev.max_atom_num}."
        )
    try:
        if seq.is_parametrized():
            if not isinstance(variables, dict):
                raise ApiError(400, "The sequence is parametrized: jobs[].variables must give its values.")
            seq = seq.build(**variables)
        _check_duration(seq, dev, twin)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq.switch_device(build_device(dev), strict=False)
    except ApiError:
        raise
    except Exception as exc:  # the device's limits, as Pulser reports them
        raise ApiError(400, f"The sequence does not fit device {twin.backend_name}: {str(exc)[:300]}") from None
    return int(runs)


def _apply_readout(counts: Counter[str], p_fp: float, p_fn: float, rng: Any) -> Counter[str]:
    """Flip measured bits: 0->1 with p_fp, 1->0 with p_fn (independent per atom and shot)."""
    if p_fp == 0 and p_fn == 0:
        return counts
    import numpy as np

    shots = []
    for bits, n in counts.items():
        shots.extend([bits] * n)
    arr = np.array([[c == "1" for c in s] for s in shots], dtype=bool)
    u = rng.random(arr.shape)
    flipped = np.where(arr, u >= p_fn, u < p_fp)
    return Counter("".join("1" if b else "0" for b in row) for row in flipped)


def run_sequence(text: str, runs: int, variables: Any, twin: Twin, seed: int | None = None) -> dict[str, Any]:
    """Simulate the sequence on the twin; returns Pasqal's per-job result document."""
    import numpy as np
    from pulser.noise_model import NoiseModel
    from pulser_simulation import QutipEmulator

    assert twin.pulser_device is not None
    dev = twin.pulser_device
    prescan_sequence(text, runs, variables, twin)
    seq = _load_sequence(text)
    if seq.is_parametrized():
        seq = seq.build(**(variables or {}))
    _check_duration(seq, dev, twin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = seq.switch_device(build_device(dev), strict=False)
        noise = None
        if dev.state_prep_error > 0:
            # Pulser re-draws the missing atoms per run; a few runs keep it fast.
            n_runs = min(10, runs)
            noise = NoiseModel(
                state_prep_error=dev.state_prep_error, runs=n_runs, samples_per_run=max(1, math.ceil(runs / n_runs))
            )
        sim = QutipEmulator.from_sequence(seq, noise_model=noise)
        result = sim.run()
        counts = Counter(result.sample_final_state(N_samples=runs))
    # Readout errors are applied to the samples directly: exact, and independent of the solver.
    rng = np.random.default_rng(seed)
    counts = _apply_readout(counts, dev.readout_false_positive, dev.readout_false_negative, rng)
    total = sum(counts.values())
    if total != runs:  # state-prep sampling rounds up per run; trim to what was asked
        raw = [b for b, n in counts.items() for _ in range(n)]
        rng.shuffle(raw)
        counts = Counter(raw[:runs])
    raw = [b for b, n in sorted(counts.items()) for _ in range(n)]
    return {"counter": dict(sorted(counts.items())), "raw": raw, "serialised_results": None}


def result_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc)
